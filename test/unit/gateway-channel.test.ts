import { expect } from 'chai';
import { gatewayChannelOptions } from '../../src/cli/gateway-channel.js';
import { MAX_MESSAGE_BYTES } from '../../src/client/ocr-client.js';
import { RETRY_BUFFER_OPTIONS } from '../../src/client/service-config.js';
import { NO_INSTANCE_RETRY_MS } from '../../src/http/cluster-backend.js';
import { requestFramingBytes } from '../../src/shared/image-limit.js';

const MIB = 2 ** 20;

describe("the gateway's channel to its cluster", () => {
  it("keeps the SDK's sizes for a gateway within them", () => {
    expect(gatewayChannelOptions(32 * MIB, 256, 128 * MIB)).to.deep.equal({
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      ...RETRY_BUFFER_OPTIONS,
      'grpc.max_reconnect_backoff_ms': NO_INSTANCE_RETRY_MS,
    });
  });

  it('sends, and keeps to resend, a request of its largest images, and every body it holds for the cluster at once', () => {
    const message = 100 * MIB + requestFramingBytes(256);
    const options = gatewayChannelOptions(100 * MIB, 256, 1024 * MIB);
    expect(options['grpc.max_send_message_length']).to.equal(message);
    expect(options['grpc.per_rpc_retry_buffer_size']).to.equal(message);
    expect(options['grpc.retry_buffer_size']).to.equal(1024 * MIB + message);
  });

  it("tries an instance that is down again at most as far apart as the Retry-After of its 503s, not grpc-js's two minutes", () => {
    expect(gatewayChannelOptions(32 * MIB, 256, 128 * MIB)['grpc.max_reconnect_backoff_ms']).to.equal(NO_INSTANCE_RETRY_MS);
  });
});
