/**
 * Callers from several addresses of a few IPv6 /64s, which this machine's loopback (::1 alone)
 * cannot give: a process in a network namespace of its own (`unshare --net`, which needs root),
 * whose loopback is given those addresses, starts `ocr serve` or `ocr gateway` there, opens a
 * connection from each address to its HTTP port, and reports how many it closed past
 * --max-connections-per-client. The machine's own network is never touched: the namespace ends
 * with its last process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { metricSample } from '../../src/dev/metric-sample.js';
import { spawnGateway, spawnServer } from '../../src/dev/server-process.js';
import { silentConnections } from './silent-connections.js';

const SELF = fileURLToPath(import.meta.url);

/** What runs in the namespace: the command, its flags, and where the connections come from. */
interface Neighbours {
  command: 'serve' | 'gateway';
  args: string[];
  sources: string[];
}

/** The shell line that gives the namespace's loopback `addresses`, then runs the rest of its arguments. */
const setUp = (addresses: readonly string[]): string =>
  ['ip link set lo up', ...addresses.map((a) => `ip -6 addr add ${a}/128 dev lo nodad`), 'exec "$@"'].join(' && ');

/** `command` in a new network namespace whose loopback has `addresses`. */
const inNamespace = (addresses: readonly string[], command: string[]): [string, string[]] => [
  'unshare',
  ['--net', '--', 'sh', '-c', setUp(addresses), 'sh', ...command],
];

/** Why no such namespace can be made here (not root, no unshare, a container without CAP_SYS_ADMIN); undefined where it can. */
export function namespaceUnavailable(): string | undefined {
  const [command, args] = inNamespace(['2001:db8::1'], ['true']);
  const probe = spawnSync(command, args, { encoding: 'utf8' });
  if (probe.error) return `unshare cannot run here (${probe.error.message})`;
  if (probe.status === 0) return undefined;
  return `no network namespace of its own can be made here (${probe.stderr.trim()}): it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN`;
}

/** Connections from `sources` in turn (IPv6 and IPv4 addresses) to `ocr <command> <args>` in a namespace of its own; how many it refused per client. */
export async function perClientRefusals(neighbours: Neighbours): Promise<number> {
  const addresses = [...new Set(neighbours.sources.filter((a) => net.isIPv6(a)))];
  const [command, args] = inNamespace(addresses, [process.execPath, SELF, JSON.stringify(neighbours)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  const report = /^\{"refused":(\d+)\}$/m.exec(out);
  if (code !== 0 || !report) throw new Error(`the namespace's process exited with ${code} without its report: ${out}${err}`);
  return Number(report[1]);
}

/** `ocr serve` or `ocr gateway` (of a cluster it never reaches) on every address of the namespace, and its HTTP port. */
async function listening({ command, args }: Neighbours): Promise<{ child: ChildProcess; httpPort: number }> {
  if (command === 'gateway') {
    const gateway = await spawnGateway(['--host', '::', '--target', '127.0.0.1:1', ...args]);
    return { child: gateway.child, httpPort: Number(new URL(gateway.url).port) };
  }
  const server = await spawnServer(['--host', '::', '--workers', '1', ...args]);
  return { child: server.child, httpPort: server.httpPort! };
}

/** In the namespace: the process, a connection from each source, and the count of those refused. */
async function run(neighbours: Neighbours): Promise<void> {
  const { child, httpPort } = await listening(neighbours);
  try {
    const sockets: net.Socket[] = [];
    for (const from of neighbours.sources) sockets.push(...(await silentConnections([httpPort], from, 1)).sockets);
    // Read on a connection of its own to the same port, accepted after every one above (a port's
    // connections are accepted in the order they opened): the count is final.
    const refused = await metricSample(httpPort, 'ocr_connections_refused_total{reason="per_client"}');
    process.stdout.write(`${JSON.stringify({ refused })}\n`);
    sockets.forEach((s) => s.destroy());
  } finally {
    child.kill('SIGKILL');
  }
}

if (process.argv[1] === SELF) void run(JSON.parse(process.argv[2]!) as Neighbours);
