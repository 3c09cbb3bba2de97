/**
 * The gateway's channel to its cluster, sized for what the gateway takes in. The SDK's own sizes (a
 * message of 64 MiB, 64 MiB a call and 256 MiB in all kept to resend a call an instance lost) are
 * for one caller's scans: a gateway with a larger --max-message-mb answered an image it had taken
 * in 413 in the SDK's words ("larger than this client sends in one message … recognizeLargeImage"),
 * and one with a larger --body-memory-mb sent calls past the retry buffer that a killed instance
 * failed 503, where each could have gone on to another instance. And grpc-js waits up to two minutes
 * between attempts to reconnect to an instance that is down: after the whole cluster had been away
 * for minutes, a gateway answered 503 for as long again once an instance was back, though its
 * Retry-After said 5 s.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES } from '../client/ocr-client.js';
import { RETRY_BUFFER_OPTIONS } from '../client/service-config.js';
import { NO_INSTANCE_RETRY_MS } from '../http/cluster-backend.js';
import { requestFramingBytes } from '../shared/image-limit.js';

/**
 * Channel options for a gateway that takes requests of at most `maxImageBytes` of images (up to
 * `maxLines` of them) and holds at most `heldBodyBytes` of bodies on their way to the cluster.
 */
export function gatewayChannelOptions(maxImageBytes: number, maxLines: number, heldBodyBytes: number): ChannelOptions {
  const message = Math.max(MAX_MESSAGE_BYTES, maxImageBytes + requestFramingBytes(maxLines));
  return {
    'grpc.max_send_message_length': message,
    'grpc.per_rpc_retry_buffer_size': Math.max(RETRY_BUFFER_OPTIONS['grpc.per_rpc_retry_buffer_size'], message),
    // A body larger than the held bound is held as the whole bound (held-bodies.ts): one message more covers it.
    'grpc.retry_buffer_size': Math.max(RETRY_BUFFER_OPTIONS['grpc.retry_buffer_size'], heldBodyBytes + message),
    // An instance back is connected to again within about the Retry-After of the 503s meanwhile.
    'grpc.max_reconnect_backoff_ms': NO_INSTANCE_RETRY_MS,
  };
}
