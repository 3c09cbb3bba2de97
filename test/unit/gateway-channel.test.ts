import { expect } from 'chai';
import { gatewayChannelOptions } from '../../src/cli/gateway-channel.js';
import { MAX_MESSAGE_BYTES } from '../../src/client/ocr-client.js';
import { RETRY_BUFFER_OPTIONS } from '../../src/client/service-config.js';
import { requestFramingBytes } from '../../src/shared/image-limit.js';

const MIB = 2 ** 20;

describe("the gateway's channel to its cluster", () => {
  it("keeps the SDK's sizes for a gateway within them", () => {
    expect(gatewayChannelOptions(32 * MIB, 256, 128 * MIB)).to.deep.equal({
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      ...RETRY_BUFFER_OPTIONS,
    });
  });

  it('sends, and keeps to resend, a request of its largest images, and every body it holds for the cluster at once', () => {
    const message = 100 * MIB + requestFramingBytes(256);
    const options = gatewayChannelOptions(100 * MIB, 256, 1024 * MIB);
    expect(options['grpc.max_send_message_length']).to.equal(message);
    expect(options['grpc.per_rpc_retry_buffer_size']).to.equal(message);
    expect(options['grpc.retry_buffer_size']).to.equal(1024 * MIB + message);
  });
});
