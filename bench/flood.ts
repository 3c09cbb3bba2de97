/**
 * `npm run bench:flood`: many connections, each with many Recognize calls that declare a large
 * message, send the first part of it and stall, as a client or attacker that opens uploads it does
 * not finish. One `ocr serve` with its default flags is warmed up; --connections connections then
 * open --calls calls each, every call sending --send-mb MB of a declared 32 MiB message, and hold
 * them --hold-s seconds before closing, while another process calls GetServerInfo every 50 ms on
 * its own channel (src/dev/latency-probe.ts). Prints the slowest GetServerInfo, the server's peak
 * resident memory above its level before, that level again after the connections closed, and how
 * long the next good call took (issue 15: 200 ms; + 1.5 GB). With --http, each connection is an
 * HTTP/1.1 one sending one `POST /api/ocr` body the same way (--calls is then 1). With --silent,
 * the connections send nothing at all, half to the gRPC port and half to the HTTP one, from
 * --addresses loopback addresses (127.0.0.2, 127.0.0.3, ...) in turn; it also prints how many the
 * server closed as they opened, and its most open files (connection-guard.ts). With --idle, the
 * connections go to the gRPC port from --addresses addresses and speak HTTP/2 as a gRPC channel
 * does, but make no call: enough of them fill --max-connections; a new caller then (on a connection
 * of its own, once they have been idle 1.5 s) calls GetServerInfo ten times in turn, and it prints
 * how many were answered and how fast.
 *   node dist/bench/flood.js [--connections 40] [--calls 25] [--send-mb 2] [--hold-s 5] [--http]
 *   node dist/bench/flood.js --silent --connections 15000 [--addresses 2] [--hold-s 15]
 *   node dist/bench/flood.js --idle --connections 5000 --addresses 20 [--hold-s 15]
 */
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { OcrClient } from '../src/client/index.js';
import { startLatencyProbe } from '../src/dev/latency-probe.js';
import { residentBytes, watchPeak } from '../src/dev/resident-memory.js';
import { startWarmServer } from '../src/dev/warm-server.js';
import { OCR_SERVICE } from '../src/shared/service-name.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '40' },
    calls: { type: 'string', default: '25' },
    'send-mb': { type: 'string', default: '2' },
    'hold-s': { type: 'string', default: '5' },
    http: { type: 'boolean', default: false },
    silent: { type: 'boolean', default: false },
    idle: { type: 'boolean', default: false },
    addresses: { type: 'string', default: '2' },
  },
});
const connections = Number(values.connections);
const calls = Number(values.calls);
const sendBytes = Math.round(Number(values['send-mb']) * 1024 * 1024);
const holdMs = Number(values['hold-s']) * 1000;
const DECLARED = 32 * 1024 * 1024;
if (![connections, calls].every((n) => Number.isInteger(n) && n >= 1) || !(sendBytes > 0) || !(sendBytes < DECLARED) || !(holdMs > 0)) {
  throw new Error('usage: --connections N (≥ 1) --calls N (≥ 1) --send-mb MB (> 0, < 32) --hold-s S (> 0) [--http]');
}
if (values.http && calls !== 1) throw new Error('--http sends one body a connection: --calls 1');
const addresses = Number(values.addresses);
if (!Number.isInteger(addresses) || addresses < 1 || addresses > 250) throw new Error('usage: --addresses N (1 to 250)');

const { server, pid, target, client, page, level: before } = await startWarmServer();

const memory = watchPeak(pid);
const probe = await startLatencyProbe(target);
// The message's length prefix, then its first part: the rest never comes.
const prefix = Buffer.alloc(5);
prefix.writeUInt32BE(DECLARED, 1);
const part = Buffer.alloc(sendBytes, 1);
const httpBodies = (): net.Socket[] =>
  Array.from({ length: connections }, () => {
    const socket = net.connect(server.httpPort!, '127.0.0.1').on('error', () => undefined);
    socket.write(`POST /api/ocr HTTP/1.1\r\nhost: flood\r\ncontent-type: image/jpeg\r\ncontent-length: ${DECLARED}\r\n\r\n`);
    socket.write(part);
    return socket;
  });
const grpcCalls = (): http2.ClientHttp2Session[] =>
  Array.from({ length: connections }, () => {
    const session = http2.connect(`http://${target}`).on('error', () => undefined);
    for (let i = 0; i < calls; i++) {
      const stream = session.request(
        { ':method': 'POST', ':path': `/${OCR_SERVICE}/Recognize`, 'content-type': 'application/grpc', te: 'trailers' },
        { endStream: false },
      );
      stream.on('error', () => undefined);
      stream.resume();
      stream.write(prefix);
      stream.write(part);
    }
    return session;
  });
/** Connections that send nothing, or (--idle) HTTP/2 sessions on the gRPC port that make no call; `closed` counts those the server closed. */
let closed = 0;
const from = (i: number): string => `127.0.0.${2 + (i % addresses)}`;
const silentConnections = async (): Promise<net.Socket[]> =>
  Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const socket = net.connect({ port: i % 2 === 0 ? server.port : server.httpPort!, host: '127.0.0.1', localAddress: from(i) });
      socket.on('error', () => undefined).once('close', () => closed++);
      await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
      return socket;
    }),
  );
const idleSessions = async (): Promise<http2.ClientHttp2Session[]> =>
  Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const session = http2.connect(`http://${target}`, {
        createConnection: () => net.connect({ port: server.port, host: '127.0.0.1', localAddress: from(i) }).on('error', () => undefined),
      });
      session.on('error', () => undefined).once('close', () => closed++);
      // once() rejects on 'error': a connection reset as it opens is one closed.
      await Promise.race([once(session, 'remoteSettings'), once(session, 'close')]).catch(() => undefined);
      return session;
    }),
  );
/** GetServerInfo ten times, each from a new client on a connection of its own: [answered, median ms]. */
const newCallers = async (): Promise<[number, number]> => {
  const answeredMs: number[] = [];
  for (let i = 0; i < 10; i++) {
    // A pool of its own: grpc-js would otherwise share the warm client's connection, opened before the flood.
    const caller = new OcrClient(target, { deadlineMs: 2000, maxAttempts: 1, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    const started = performance.now();
    try {
      await caller.getServerInfo();
      answeredMs.push(performance.now() - started);
    } catch {
      // Counted as not answered.
    } finally {
      caller.close();
    }
  }
  answeredMs.sort((a, b) => a - b);
  return [answeredMs.length, answeredMs[Math.floor(answeredMs.length / 2)] ?? NaN];
};
const openFiles = (): number => readdirSync(`/proc/${pid}/fd`).length;
let mostFiles = openFiles();
const files = setInterval(() => (mostFiles = Math.max(mostFiles, openFiles())), 100);
const connected: Array<{ destroy(): void }> = values.silent
  ? await silentConnections()
  : values.idle
    ? await idleSessions()
    : values.http
      ? httpBodies()
      : grpcCalls();
const holding = delay(holdMs);
let answered: [number, number] | undefined;
if (values.idle) {
  await delay(1500);
  answered = await newCallers();
}
await holding;
clearInterval(files);
const closedByServer = closed;
connected.forEach((c) => c.destroy());
const { slowestMs, latenciesMs } = await probe.stop();
const peakAbove = memory.stop() - before;
const afterClose = residentBytes(pid) - before;
const started = performance.now();
await client.recognize(page);
const nextMs = performance.now() - started;
client.close();
server.child.kill('SIGTERM');

const over = latenciesMs.filter((ms) => ms > 200).length;
console.log(
  values.silent
    ? `${connections} connections sending nothing from ${addresses} address(es), half to each port, held ${values['hold-s']} s: ` +
        `${closedByServer} closed by the server meanwhile; at most ${mostFiles} files open in the server`
    : values.idle
      ? `${connections} idle HTTP/2 connections to the gRPC port from ${addresses} address(es), held ${values['hold-s']} s: ` +
        `${closedByServer} closed by the server meanwhile; at most ${mostFiles} files open in the server; ` +
        `new callers: ${answered![0]} of 10 answered, median ${Math.round(answered![1])} ms`
      : `${connections} ${values.http ? 'HTTP' : 'gRPC'} connections × ${calls} calls, each ${values['send-mb']} MB sent of a declared 32 MiB, held ${values['hold-s']} s:`,
);
console.log('| GetServerInfo: calls, over 200 ms, slowest | peak RSS above before | RSS above before once closed | next good call |');
console.log('| --- | --- | --- | --- |');
console.log(
  `| ${latenciesMs.length}, ${over}, ${Math.round(slowestMs)} ms | ${(peakAbove / 1e9).toFixed(2)} GB | ${(afterClose / 1e9).toFixed(2)} GB | ${Math.round(nextMs)} ms |`,
);
console.log(
  `issue 15: slowest ≤ 200 ms: ${slowestMs <= 200 ? 'met' : 'NOT met'}; peak ≤ before + 1.5 GB: ${peakAbove <= 1.5e9 ? 'met' : 'NOT met'}`,
);
process.exit(0);
