/** The client's HTTP/2 keepalive: its channel options, and a call on a connection whose peer stops answering. */

import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { expect } from 'chai';
import { Server } from '@grpc/grpc-js';

import { CONNECTION_LOST, OcrCallError, OcrClient } from '../../src/client/index.js';
import { DEFAULT_KEEPALIVE_TIME_MS, DEFAULT_KEEPALIVE_TIMEOUT_MS, keepaliveChannelOptions } from '../../src/client/keepalive.js';
import { OcrServiceService, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { bindLoopback } from '../../src/dev/free-port.js';

/**
 * A TCP relay to `port` that can stop passing bytes, either way, without closing anything: to the
 * client, its peer looks like a frozen process, whose kernel still accepts connections and data.
 */
async function freezableRelay(port: number): Promise<{ port: number; freeze(): void; close(): void }> {
  const sockets: net.Socket[] = [];
  let frozen = false;
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) s.on('error', () => undefined);
    sockets.push(client, upstream);
    if (frozen) return;
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.push([client, upstream]);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as AddressInfo).port,
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close() {
      for (const s of sockets) s.destroy();
      relay.close();
    },
  };
}

describe('client keepalive', () => {
  it('pings every 5 s while calls are open and allows 5 s for the answer, unless told otherwise', () => {
    expect(keepaliveChannelOptions({ timeMs: DEFAULT_KEEPALIVE_TIME_MS, timeoutMs: DEFAULT_KEEPALIVE_TIMEOUT_MS })).to.deep.equal({
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 5000,
    });
    // grpc-js takes no fractions of a millisecond for its timers' sake; none is lost by rounding up.
    expect(keepaliveChannelOptions({ timeMs: 250.5, timeoutMs: 1000 })).to.deep.equal({
      'grpc.keepalive_time_ms': 251,
      'grpc.keepalive_timeout_ms': 1000,
    });
  });

  it('sends no pings for keepaliveTimeMs Infinity', () => {
    expect(keepaliveChannelOptions({ timeMs: Infinity, timeoutMs: 5000 })).to.deep.equal({});
  });

  it('refuses values that Node timers would misread, naming the option', () => {
    for (const timeMs of [0, -1, NaN, 2 ** 31]) {
      expect(() => new OcrClient('127.0.0.1:1', { keepaliveTimeMs: timeMs })).to.throw(RangeError, /keepaliveTimeMs/);
    }
    for (const timeoutMs of [0, Infinity, NaN]) {
      expect(() => new OcrClient('127.0.0.1:1', { keepaliveTimeoutMs: timeoutMs })).to.throw(RangeError, /keepaliveTimeoutMs/);
    }
  });

  it('ends a call on a connection whose peer stops answering once a ping goes unanswered, well before its deadline', async () => {
    const fake: Pick<OcrServiceServer, 'getServerInfo'> = {
      getServerInfo(_call, callback) {
        callback(null, {
          instanceId: 'fake',
          serverVersion: '0',
          manifest: '',
          models: [],
          dictionarySize: 0,
          workers: 1,
          threadsPerWorker: 1,
        });
      },
    };
    const server = new Server();
    server.addService(OcrServiceService, fake);
    const relay = await freezableRelay(await bindLoopback(server));
    // One attempt: the call's own end shows, not a retry's.
    const client = new OcrClient(`127.0.0.1:${relay.port}`, {
      maxAttempts: 1,
      deadlineMs: 60_000,
      keepaliveTimeMs: 200,
      keepaliveTimeoutMs: 500,
    });
    try {
      expect((await client.getServerInfo()).instanceId).to.equal('fake');
      relay.freeze();
      const err = await client.getServerInfo().then(
        () => expect.fail('a frozen peer answered'),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(OcrCallError);
      expect(err).to.include({ code: 'UNAVAILABLE', details: CONNECTION_LOST });
    } finally {
      client.close();
      relay.close();
      server.forceShutdown();
    }
  });
});
