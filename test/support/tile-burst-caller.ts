/**
 * A burst of tile streams, in a process of their own: `streams` RecognizeTiles calls spread over
 * `connections` channels, each sending one tile of `megabytes` MB (a 64×64 PNG padded with private
 * chunks: hostile-images.ts) and half-closing. Each tile is some 2 × its size of buffers in its
 * sender (the encoded message and grpc-js's framed copy): gigabytes a burst, which this process
 * takes with it when it exits, rather than leaving them to the test's garbage collector.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { OcrCallError, OcrClient, type TileCall } from '../../src/client/index.js';
import { paddedPng } from './hostile-images.js';

const SELF = fileURLToPath(import.meta.url);

export interface TileBurst {
  streams: number;
  connections: number;
  megabytes: number;
}

/** How each stream of a burst ended: OK, or its status's code. */
export interface TileBurstRun {
  /** Resolves once every stream's tile has been handed to its channel: the burst is on its way. */
  sending: Promise<void>;
  /** Each stream's code, once the caller's process has exited. */
  ended: Promise<string[]>;
}

/** Send the burst to `target` from a child process. */
export function sendTileBurst(target: string, burst: TileBurst): TileBurstRun {
  const child = fork(SELF, [target, JSON.stringify(burst)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let codes: string[] | undefined;
  let sent = (): void => undefined;
  const handedOver = new Promise<void>((resolve) => (sent = resolve));
  child.on('message', (message) => (message === 'sending' ? sent() : (codes = message as string[])));
  const ended = (async () => {
    // 'close' comes after the IPC channel has delivered everything, 'exit' possibly before.
    const [code] = (await once(child, 'close')) as [number | null];
    if (code !== 0 || !codes) throw new Error(`the tile burst's caller exited with ${code} without reporting its streams`);
    return codes;
  })();
  // A caller that fails before sending says so here too.
  return { sending: Promise.race([handedOver, ended.then(() => undefined)]), ended };
}

/** One stream: its tile sent, its answers read to the end; its status's code. */
async function oneTile(call: TileCall, image: Buffer): Promise<string> {
  const tile = { imageId: 'padded', x: 0, y: 0, imageWidth: 64, imageHeight: 64, tileIndex: 0, tileCount: 1, image, options: undefined };
  try {
    const written = call.write(tile).then(() => call.end());
    for await (const answer of call) void answer;
    await written;
    return 'OK';
  } catch (err) {
    if (!(err instanceof OcrCallError)) throw err;
    return err.code;
  }
}

async function burst(target: string, { streams, connections, megabytes }: TileBurst): Promise<void> {
  const image = await paddedPng(megabytes, false);
  // A channel each, on a connection of its own; no keepalive pings: encoding the tiles blocks this
  // process's event loop for seconds, and a ping's timeout would drop a healthy connection.
  const clients = Array.from(
    { length: connections },
    () =>
      new OcrClient(target, {
        deadlineMs: 120_000,
        maxAttempts: 1,
        keepaliveTimeMs: Infinity,
        channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
      }),
  );
  const calls = Array.from({ length: streams }, (_, i) => clients[i % connections]!.recognizeTiles());
  const codes = calls.map((call) => oneTile(call, image));
  process.send!('sending');
  const ended = await Promise.all(codes);
  for (const client of clients) client.close();
  process.send!(ended, () => process.disconnect());
}

if (process.argv[1] === SELF && process.send) void burst(process.argv[2]!, JSON.parse(process.argv[3]!) as TileBurst);
