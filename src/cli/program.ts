/**
 * The `ocr` command line: commands, options, their help, and the parsing of option values. The
 * commands themselves load lazily, so `ocr --help` is quick and `ocr serve` alone loads the engine.
 */

import { machineCores, machineMemoryBytes } from '../shared/machine-resources.js';
import { Command, Option } from 'commander';

import { DEFAULT_DEADLINE_MS, PRIORITIES } from '../client/call-settings.js';
import { DEFAULT_TILE_OVERLAP } from '../shared/tiling.js';
import { LOAD_BALANCING } from '../client/service-config.js';
import type { ClusterOptions } from './cluster-command.js';
import { consulAddress } from './consul-address.js';
import { withoutPasswords } from './error-output.js';
import { defaultBodyMemoryBytes, GATEWAY_DEFAULTS, type GatewayOptions } from './gateway-options.js';
import type { HealthCliOptions } from './health-command.js';
import type { InfoCliOptions } from './info-command.js';
import {
  advertiseHost,
  boundPort,
  cacheBackend,
  consulServiceName,
  corsOrigin,
  decimal,
  fraction,
  instanceId,
  ipv6PrefixLength,
  keyName,
  listenHost,
  port,
  positiveInt,
  wholeNumber,
} from './parse-args.js';
import { portRunsClash } from './port-runs.js';
import type { PrepareModelsOptions } from './prepare-models-command.js';
import type { RecognizeCliOptions } from './recognize-command.js';
import { STDIN } from './read-input.js';
import { CONSUL_ONLY_OPTIONS, LOG_LEVELS, SERVE_DEFAULTS, type ServeOptions } from './serve-options.js';
import { clientTlsOptions, serverTlsOptions } from './tls-options.js';
import { gatewayHttpsOptions } from './gateway-https.js';
import type { ApiKeyCreateOptions } from './api-key-command.js';
import { serverAuthOptions, tokenOption } from './auth-options.js';
import { SCOPES } from '../auth/scopes.js';
// The two small modules the help text needs, not the engine's index: `ocr --help` stays quick.
import { defaultMemoryBudget, defaultWorkerCount } from '../engine/admission/memory-budget.js';
import { hasInt8DotProduct } from '../engine/runtime/cpu-features.js';
import { MAX_TIMER_MS } from '../shared/answer-deadline.js';
import { SERVER_VERSION } from '../shared/version.js';

/** What each command does once its arguments are parsed; each resolves with an exit status. */
export interface CommandActions {
  serve(options: ServeOptions): Promise<number>;
  recognize(files: string[], options: RecognizeCliOptions): Promise<number>;
  info(options: InfoCliOptions): Promise<number>;
  cluster(options: ClusterOptions): Promise<number>;
  prepareModels(options: PrepareModelsOptions): Promise<number>;
  gateway(options: GatewayOptions): Promise<number>;
  /** Optional: recording stubs written before it need not name it; unset, the real command runs. */
  apiKeyCreate?(options: ApiKeyCreateOptions): Promise<number>;
  /** Optional: recording stubs written before it need not name it; unset, the real command runs. */
  health?(options: HealthCliOptions): Promise<number>;
}

export const defaultActions: CommandActions = {
  async serve(options) {
    const { serveCommand } = await import('./serve-command.js');
    await serveCommand(options);
    return 0;
  },
  async recognize(files, options) {
    return (await import('./recognize-command.js')).recognizeCommand(files, options);
  },
  async info(options) {
    return (await import('./info-command.js')).infoCommand(options);
  },
  async cluster(options) {
    return (await import('./cluster-command.js')).clusterCommand(options);
  },
  async prepareModels(options) {
    return (await import('./prepare-models-command.js')).prepareModelsCommand(options);
  },
  async gateway(options) {
    await (await import('./gateway-command.js')).gatewayCommand(options);
    return 0;
  },
  async apiKeyCreate(options) {
    return (await import('./api-key-command.js')).apiKeyCreateCommand(options);
  },
  async health(options) {
    return (await import('./health-command.js')).healthCommand(options);
  },
};

const DEFAULT_TARGET = '127.0.0.1:50051';
const DEFAULT_CONCURRENCY = 4;

function targetOption(): Option {
  return new Option(
    '-t, --target <target>',
    'the OCR servers: host:port, a list of them by name or address (ocr-1:50051,ocr-2:50051,10.0.0.7:50051), any gRPC target (dns:///ocr.internal:50051, ipv4:a:p,b:p), or consul://AGENT_HOST:PORT/SERVICE[?tag=T&dc=D] for the passing instances of a Consul service',
  ).default(DEFAULT_TARGET);
}

/** The connection bounds, on serve and gateway alike (src/server/connection-guard.ts). */
function maxConnectionsOption(defaultMax: number): Option {
  return new Option(
    '--max-connections <n>',
    "connections open at once on all ports together; past it, a new one takes the place of the one longest without a call, or is closed where none is idle (lowered to fit the process's open-file limit)",
  )
    .argParser(positiveInt)
    .default(defaultMax);
}

function maxConnectionsPerClientOption(defaultMax: number): Option {
  return new Option(
    '--max-connections-per-client <n>',
    'of those, from one client: an address, or over IPv6 the prefix --client-ipv6-prefix gives',
  )
    .argParser(positiveInt)
    .default(defaultMax);
}

function clientIpv6PrefixOption(defaultBits: number): Option {
  return new Option(
    '--client-ipv6-prefix <bits>',
    'count IPv6 callers by the first BITS bits of their address for every per-client limit (connections, health watches and reflection, quotas and refusal logs by address): 64 makes a host that holds a whole /64 one client, as it should be where the port is reached from the internet, but makes callers who share a /64 (pods of one Kubernetes node) one client too; 128 counts each address alone (IPv4 callers are always counted by their address)',
  )
    .argParser(ipv6PrefixLength)
    .default(defaultBits);
}

function corsOriginOption(): Option {
  return new Option(
    '--cors-origin <origin...>',
    "let pages of these origins call the HTTP API from a browser (CORS), e.g. https://portal.example.com; * for any page (default: this server's own origin only)",
  ).argParser(corsOrigin);
}

/** Which of these options (by attribute name) were given on the command line, by their flags. */
function flagsGiven(command: Command, attributes: readonly string[]): string[] {
  return command.options
    .filter((o) => attributes.includes(o.attributeName()) && command.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long!);
}

/** "A goes … leave it", "A, B go … leave them": refusals that name one flag or several. */
const verbAndPronoun = (flags: readonly string[], verb: [string, string]): [string, string] =>
  flags.length === 1 ? [verb[0], 'it'] : [verb[1], 'them'];

/** `ocr recognize`'s options of the detector, which RecognizeLines (--lines-only) never runs. */
const DETECTOR_OPTIONS: readonly string[] = ['maxSideLen', 'minSideLen', 'boxThreshold', 'unclipRatio'];

/** Why `ocr serve` refuses these options before it starts; undefined where it takes them. */
function serveRefusal(options: ServeOptions, command: Command): string | undefined {
  const clash = portRunsClash([
    { flag: '--port', first: options.port, count: 1 },
    ...(options.http ? [{ flag: '--http-port', first: options.httpPort, count: 1 }] : []),
    ...(options.metricsPort ? [{ flag: '--metrics-port', first: options.metricsPort, count: 1 }] : []),
  ]);
  if (clash) return clash;
  // Taken and ignored, they would leave the operator believing the instance registered.
  const unused = options.consul || process.env.CONSUL_HTTP_ADDR ? [] : flagsGiven(command, CONSUL_ONLY_OPTIONS);
  if (unused.length === 0) return undefined;
  const [verb, pronoun] = verbAndPronoun(unused, ['goes', 'go']);
  return `${unused.join(', ')} ${verb} with Consul: add --consul ADDR (or set CONSUL_HTTP_ADDR) to register this instance, or leave ${pronoun} out`;
}

/** The grace period is a Node timer: one armed for longer than MAX_TIMER_MS fires at once, cancelling every call in flight. */
const graceMs = wholeNumber(0, MAX_TIMER_MS);

function deadlineOption(what: string): Option {
  return new Option('--deadline-ms <ms>', `give up on ${what} after this many milliseconds (DEADLINE_EXCEEDED)`)
    .argParser(positiveInt)
    .default(DEFAULT_DEADLINE_MS);
}

/**
 * Builds the program. `configure` runs before the commands are added, so that what it sets
 * (exitOverride, configureOutput) is inherited by them: tests use it to catch parse errors.
 */
export function buildProgram(actions: CommandActions, onExit: (status: number) => void, configure?: (program: Command) => void): Command {
  const program = new Command('ocr')
    .description('Chinese and English OCR over gRPC: run the server, or send it images.')
    // The version servers report in GetServerInfo and /api/info, for matching a CLI to its cluster.
    .version(SERVER_VERSION, '-V, --version', "print the ocr package's version")
    .configureOutput({ outputError: (text, write) => write(withoutPasswords(text)) })
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError()
    .addHelpText('after', "\nRun 'ocr <command> --help' for a command's options.");
  configure?.(program);

  program
    .command('serve')
    .description('Run the OCR gRPC server until SIGTERM or SIGINT, then drain and exit; a second signal exits at once.')
    .addOption(new Option('--host <host>', 'interface to listen on (0.0.0.0 for all)').argParser(listenHost).default(SERVE_DEFAULTS.host))
    .addOption(new Option('--port <port>', 'gRPC port to listen on (0: any free port)').argParser(port).default(SERVE_DEFAULTS.port))
    .addOption(
      new Option(
        '--workers <n>',
        "inference worker threads, each with its own models (default: one per CPU core, fewer under a CPU quota such as a container's --cpus " +
          `or where memory (a container's --memory) holds fewer at 768 MiB each, ${defaultWorkerCount(machineCores(), machineMemoryBytes())} here)`,
      ).argParser(positiveInt),
    )
    .addOption(new Option('--threads <n>', 'onnxruntime threads per worker').argParser(positiveInt).default(SERVE_DEFAULTS.threads))
    .addOption(
      new Option(
        '--detector-threads <n>',
        `onnxruntime threads of the detector for a document that has the workers to itself (default: 2 where there are 2 cores or more, ${Math.min(2, machineCores())} here)`,
      ).argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--rec-precision <precision>',
        `the recognizer's arithmetic: int8 weights quantised at load, about 1.3× faster per line, or float32 as shipped (default: int8 where the CPU has VNNI, ${hasInt8DotProduct() ? 'int8' : 'float32'} here)`,
      ).choices(['float32', 'int8']),
    )
    .addOption(new Option('--models <manifest.json>', 'model manifest to load (default: the bundled PP-OCRv4 models)'))
    .addOption(
      new Option(
        '--model-cache <dir>',
        'where the models, rewritten for this engine (simplified, int8, greedy head), are kept between starts (default: $OCR_MODEL_CACHE, else .cache/models in the installation)',
      ),
    )
    .addOption(
      new Option('--max-pixels <n>', "largest image accepted, in pixels (width × height) (default: the engine's limit)").argParser(
        positiveInt,
      ),
    )
    .addOption(
      new Option('--max-message-mb <n>', 'largest image accepted (a lines request: its images together), in MiB, over gRPC and HTTP')
        .argParser(wholeNumber(1, 2047))
        .default(SERVE_DEFAULTS.maxMessageMb),
    )
    .addOption(
      new Option(
        '--memory-budget-mb <n>',
        `memory that admitted calls may hold at once (decoded pixels, detector activations, tile canvases); a call that does not fit waits, one larger than all of it is refused (default: 256 a worker, at least 512 and at most 1024, within an eighth of memory, a container's limit where lower; ${Math.round(defaultMemoryBudget(machineMemoryBytes(), defaultWorkerCount(machineCores(), machineMemoryBytes())) / 1024 / 1024)} here with the default workers)`,
      ).argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--max-wait-ms <ms>',
        'a call without a deadline is refused (RESOURCE_EXHAUSTED, with a retry hint) when its estimated wait is longer than this (default: 30000)',
      ).argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--refusal-pace-ms <ms>',
        'a call refused for load or over a quota (RESOURCE_EXHAUSTED), or for its token (UNAUTHENTICATED, PERMISSION_DENIED), gets its answer after this long, at most its retry hint or half its time left, so that callers resending at once cannot spin the server (0: at once)',
      )
        .argParser(wholeNumber(0, 1000))
        .default(SERVE_DEFAULTS.refusalPaceMs),
    )
    .addOption(
      new Option(
        '--task-cap-ms <ms>',
        'no model task runs longer than this: its worker is replaced and its call answered RESOURCE_EXHAUSTED (default: 60000)',
      ).argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--instance-id <id>',
        'name of this instance in responses and logs, and its Consul service ID (default: host name, port and a random suffix; with Consul: SERVICE-HOST-PORT-RANDOM)',
      ).argParser(instanceId),
    )
    .addOption(new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default(SERVE_DEFAULTS.logLevel))
    .addOption(
      new Option('--http-port <port>', 'HTTP port of the REST API (/api/ocr), the Web UI and /metrics, on --host (0: any free port)')
        .argParser(port)
        .default(SERVE_DEFAULTS.httpPort),
    )
    .addOption(new Option('--no-http', 'serve gRPC only'))
    .addOption(corsOriginOption())
    .addOption(maxConnectionsOption(SERVE_DEFAULTS.maxConnections))
    .addOption(maxConnectionsPerClientOption(SERVE_DEFAULTS.maxConnectionsPerClient))
    .addOption(clientIpv6PrefixOption(SERVE_DEFAULTS.clientIpv6Prefix))
    .addOption(
      // Not 0: a free port picked at random would be printed nowhere, and the endpoint be as good as off.
      new Option('--metrics-port <port>', 'also serve Prometheus metrics on http://HOST:PORT/metrics (default: off)').argParser(boundPort),
    )
    .addOption(
      new Option('--grace-ms <ms>', 'on shutdown, how long calls in flight may still finish before they are cancelled')
        .argParser(graceMs)
        .default(SERVE_DEFAULTS.graceMs),
    )
    .addOption(
      new Option(
        '--consul <addr>',
        'register in this Consul agent, e.g. http://127.0.0.1:8500 (default: $CONSUL_HTTP_ADDR; unset: no Consul)',
      ),
    )
    .addOption(
      new Option(
        '--consul-token <token>',
        'Consul ACL token (default: the one in the file $CONSUL_HTTP_TOKEN_FILE names, else $CONSUL_HTTP_TOKEN)',
      ),
    )
    .addOption(
      new Option('--service-name <name>', 'Consul service name to register under')
        .argParser(consulServiceName)
        .default(SERVE_DEFAULTS.serviceName),
    )
    .addOption(
      new Option(
        '--advertise-host <host>',
        "address registered in Consul, which clients and the agent's check dial (default: --host, or this machine's first IPv4 address when --host is 0.0.0.0 or ::, and with :: on a machine without one its first IPv6 address that is not link-local)",
      ).argParser(advertiseHost),
    )
    .addOption(
      new Option(
        '--advertise-port <port>',
        "gRPC port registered in Consul, which clients and the agent's check dial (default: --port): the port published outside a container (docker run -p 9000:50051: 9000)",
      ).argParser(boundPort),
    )
    .addOption(
      new Option(
        '--advertise-http-port <port>',
        "HTTP port the agent's /healthz check dials (default: --http-port): the one published outside a container",
      ).argParser(boundPort),
    )
    .addOption(new Option('--tag <tag...>', 'Consul tags of this instance'))
    .addOption(
      new Option(
        '--cache <where>',
        'keep Recognize answers for images sent again: memory (this process), redis://HOST:PORT[/DB] (shared by instances, memory in front), or off',
      )
        .argParser(cacheBackend)
        .default(SERVE_DEFAULTS.cache, SERVE_DEFAULTS.cache.kind),
    )
    .addOption(
      new Option('--cache-max-mb <n>', 'MiB of answers kept in this process (0: none in memory)')
        .argParser(wholeNumber(0))
        .default(SERVE_DEFAULTS.cacheMaxMb),
    )
    .addOption(
      new Option('--cache-ttl-s <s>', 'seconds an answer is kept after it was computed')
        .argParser(positiveInt)
        .default(SERVE_DEFAULTS.cacheTtlS),
    )
    .addOption(
      new Option('--cache-timeout-ms <ms>', 'longest wait for one Redis command, past which the call is computed without the cache')
        .argParser(wholeNumber(1, 10_000))
        .default(SERVE_DEFAULTS.cacheTimeoutMs),
    )
    .addHelpText(
      'after',
      [
        '',
        // Within 80 columns: commander wraps the options, not this text.
        'With Consul (--consul or CONSUL_HTTP_ADDR), the instance registers with a gRPC',
        'health check and an HTTP check of /healthz (none with --no-http), and its',
        'instance id (unless --instance-id) is its Consul service ID:',
        'SERVICE-HOST-PORT-RANDOM. On SIGTERM/SIGINT it turns NOT_SERVING, deregisters,',
        'then drains.',
      ].join('\n'),
    )
    .action(async (options: ServeOptions, command: Command) => {
      const refusal = serveRefusal(options, command);
      if (refusal) command.error(`error: ${refusal}`, { code: 'ocr.invalidServe' });
      onExit(await actions.serve(options));
    });

  program
    .command('recognize')
    .description(
      'Read the text in image files (JPEG, PNG, WebP, TIFF, GIF, BMP). Results follow the order of the files; ' +
        'a file that fails is reported and the others go on; the exit status is 1 if any failed.',
    )
    .argument('<file...>', 'image files to read, or pipes (<(curl -s URL)); - reads standard input (once), named - in the output')
    .addOption(targetOption())
    .addOption(
      new Option(
        '--lb <policy>',
        "how calls spread over the target's instances: least_request (the instance with the fewest of this client's calls open), or grpc-js's round_robin or pick_first",
      )
        .choices(LOAD_BALANCING)
        .default('least_request'),
    )
    .option(
      '--json',
      'print JSON Lines, one object per file: {file, width, height, rotation, instance, lines: [{text, confidence, box}]} (rotation: degrees clockwise the page was found turned; none with --lines-only or --tile-size) or {file, error: {code, message}}',
    )
    .addOption(
      new Option(
        '--lines-only',
        'treat each file as one already-cropped text line: recognizer only, files batched into RecognizeLines calls',
      ).conflicts('tileSize'),
    )
    .addOption(
      new Option(
        '--tile-size <px>',
        'send each file as overlapping tiles of at most this many pixels a side over a RecognizeTiles stream (for images too large for one request)',
      ).argParser(positiveInt),
    )
    .addOption(
      new Option('--overlap <px>', 'pixels shared by neighbouring tiles, with --tile-size')
        .argParser(wholeNumber(0))
        .default(DEFAULT_TILE_OVERLAP),
    )
    .addOption(
      new Option(
        '--annotate <dir>',
        'also write <dir>/<file name>.annotated.png: the image (turned upright where the page was found turned) with each box outlined, and beside it the text read, each line at its box (underlined, dotted, where read with under 80% confidence)',
      ),
    )
    .addOption(new Option('-c, --concurrency <n>', 'calls in flight at once').argParser(positiveInt).default(DEFAULT_CONCURRENCY))
    .addOption(deadlineOption("each call (with --tile-size: each image's whole stream; from a pipe: each wait for its next bytes)"))
    .addOption(
      new Option(
        '--priority <priority>',
        'how the server ranks these calls under load: batch calls are refused first and never delay interactive ones (default: interactive)',
      ).choices(PRIORITIES),
    )
    .addOption(
      new Option(
        '--min-confidence <x>',
        "leave out lines read with a lower confidence, 0..1 (default: the server's; with --lines-only, none)",
      ).argParser(fraction),
    )
    .addOption(new Option('--angle-cls', 'detect and turn upside-down lines before reading them'))
    .addOption(new Option('--no-angle-cls', "do not check lines for being upside down (default: the server's setting)"))
    .addOption(new Option('--auto-rotate', 'find how each page is turned (0, 90, 180 or 270°) and read it upright'))
    .addOption(new Option('--no-auto-rotate', "read each page as it stands, however it is turned (default: the server's setting, on)"))
    .addOption(
      new Option(
        '--max-side-len <px>',
        "scale images down until their longer side is at most this, for detection (default: the server's)",
      ).argParser(positiveInt),
    )
    .addOption(
      new Option(
        '--min-side-len <px>',
        "scale images up until their shorter side is at least this, for detection (default: the server's)",
      ).argParser(positiveInt),
    )
    .addOption(
      new Option('--box-threshold <x>', "detector score under which a region is not text, 0..1 (default: the server's)").argParser(
        fraction,
      ),
    )
    .addOption(
      new Option('--unclip-ratio <x>', "how far detected regions are grown before cropping (default: the server's)").argParser(
        decimal(0.1, 10),
      ),
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  ocr recognize scan.jpg',
        '  ocr recognize --json -c 8 pages/*.png > pages.jsonl',
        '  ocr recognize --tile-size 1024 --annotate out/ poster.tiff',
        '  ocr recognize --lines-only --json crops/*.png',
        '  curl -s https://example.com/scan.jpg | ocr recognize -',
      ].join('\n'),
    )
    .action(async (files: string[], options: RecognizeCliOptions, command: Command) => {
      // Read once, standard input would be empty the second time: the second result would be a false failure.
      if (files.filter((file) => file === STDIN).length > 1) {
        command.error('error: - (standard input) can be read once: give it once', { code: 'ocr.stdinTwice' });
      }
      // Taken and ignored, it would leave the user believing the image was tiled.
      if (options.tileSize === undefined && command.getOptionValueSource('overlap') === 'cli') {
        command.error('error: --overlap goes with --tile-size: add --tile-size PX to read the images as tiles, or leave --overlap out', {
          code: 'ocr.invalidTiles',
        });
      }
      // Taken and ignored, they would leave the user believing they shaped the reading.
      const unread = options.linesOnly ? flagsGiven(command, DETECTOR_OPTIONS) : [];
      if (unread.length > 0) {
        const [verb, pronoun] = verbAndPronoun(unread, ['is', 'are']);
        command.error(
          `error: ${unread.join(', ')} ${verb} for the detector, which --lines-only does not run: leave ${pronoun} out, or read the files as pages without --lines-only`,
          { code: 'ocr.linesOnly' },
        );
      }
      if (options.tileSize !== undefined && options.overlap >= options.tileSize) {
        command.error(`error: --overlap (${options.overlap}) must be smaller than --tile-size (${options.tileSize})`, {
          code: 'ocr.invalidTiles',
        });
      }
      onExit(await actions.recognize(files, options));
    });

  program
    .command('info')
    .description("Print the server's models, limits, defaults and identity (GetServerInfo) as JSON.")
    .addOption(targetOption())
    .addOption(deadlineOption('the call'))
    .action(async (options: InfoCliOptions) => onExit(await actions.info(options)));

  program
    .command('cluster')
    .description(
      'Run N local `ocr serve` instances on consecutive ports (with Consul: registered under one service); Ctrl-C stops them all cleanly.',
    )
    .addOption(new Option('--instances <n>', 'how many instances').argParser(positiveInt).default(machineCores()))
    // Not 0: the instances after the first would take ports 1, 2, … rather than any free ones.
    .addOption(new Option('--base-port <port>', 'port of the first instance; the others follow').argParser(boundPort).default(50051))
    .addOption(
      new Option('--base-http-port <port>', 'HTTP port of the first instance; the others follow').argParser(boundPort).default(8080),
    )
    .addOption(new Option('--host <host>', 'interface the instances listen on').argParser(listenHost).default(SERVE_DEFAULTS.host))
    .addOption(new Option('--consul <addr>', 'register every instance in this Consul agent (default: $CONSUL_HTTP_ADDR; unset: no Consul)'))
    .addOption(new Option('--service-name <name>', 'Consul service name').argParser(consulServiceName).default(SERVE_DEFAULTS.serviceName))
    .addOption(new Option('--workers <n>', 'inference workers per instance (default: the cores shared out)').argParser(positiveInt))
    .addOption(new Option('--log-level <level>', 'pino log level of the instances').choices(LOG_LEVELS).default('warn'))
    .action(async (options: ClusterOptions, command: Command) => {
      const clash = portRunsClash([
        { flag: '--base-port', first: options.basePort, count: options.instances },
        { flag: '--base-http-port', first: options.baseHttpPort, count: options.instances },
      ]);
      if (clash) command.error(`error: ${clash}`, { code: 'ocr.portClash' });
      let consul: string | undefined;
      try {
        // Checked here, once: each instance refused it alone, as a --consul it was never given.
        consul = consulAddress(options.consul);
      } catch (err) {
        command.error(`error: ${(err as Error).message}`, { code: 'ocr.invalidConsul' });
      }
      // Taken and ignored, it would leave the operator believing the instances registered under it.
      if (!consul && flagsGiven(command, ['serviceName']).length > 0) {
        command.error(
          'error: --service-name goes with Consul: add --consul ADDR (or set CONSUL_HTTP_ADDR) to register the instances, or leave it out',
          {
            code: 'ocr.invalidCluster',
          },
        );
      }
      onExit(await actions.cluster({ ...options, ...(consul ? { consul } : {}) }));
    });

  program
    .command('prepare-models')
    .description(
      'Rewrite the models as `ocr serve` runs them and write them to the model cache, so that no start has to (for a container image: run it while building).',
    )
    .addOption(
      new Option(
        '--model-cache <dir>',
        'where the models, rewritten for this engine (simplified, int8, greedy head), are kept between starts (default: $OCR_MODEL_CACHE, else .cache/models in the installation)',
      ),
    )
    .addOption(new Option('--models <manifest.json>', 'model manifest (default: the bundled PP-OCRv4 models)'))
    .addOption(
      new Option('--rec-precision <precision>', "the recognizer's arithmetic to prepare (default: what `ocr serve` runs on this CPU)")
        .choices(['float32', 'int8'])
        .conflicts('all'),
    )
    .option('--all', 'prepare every variant a CPU may need: the recognizer in float32, and in int8 for CPUs with and without VNNI')
    .action(async (options: PrepareModelsOptions) => onExit(await actions.prepareModels(options)));

  program
    .command('gateway')
    .description(
      'Serve the HTTP API and Web UI of a whole cluster: each request is a call through the SDK (balancing, retries on another instance, Consul discovery). Stateless: run as many as you like.',
    )
    .addOption(targetOption())
    .addOption(
      new Option(
        '--lb <policy>',
        "how calls spread over the target's instances: least_request (the instance with the fewest of this gateway's calls open), round_robin or pick_first",
      )
        .choices(LOAD_BALANCING)
        .default(GATEWAY_DEFAULTS.lb),
    )
    .addOption(new Option('--host <host>', 'interface to listen on (0.0.0.0 for all)').argParser(listenHost).default(GATEWAY_DEFAULTS.host))
    .addOption(new Option('--http-port <port>', 'HTTP port (0: any free port)').argParser(port).default(GATEWAY_DEFAULTS.httpPort))
    .addOption(corsOriginOption())
    .addOption(maxConnectionsOption(GATEWAY_DEFAULTS.maxConnections))
    .addOption(maxConnectionsPerClientOption(GATEWAY_DEFAULTS.maxConnectionsPerClient))
    .addOption(clientIpv6PrefixOption(GATEWAY_DEFAULTS.clientIpv6Prefix))
    .addOption(
      new Option('--deadline-ms <ms>', 'deadline of a request that sets no timeout_ms of its own')
        .argParser(positiveInt)
        .default(GATEWAY_DEFAULTS.deadlineMs),
    )
    .addOption(
      new Option(
        '--keepalive-time-ms <ms>',
        'ping each instance this often while calls are open on it, so that one that stops answering without closing its connection (frozen, partitioned) is found dead and its calls retried on another',
      )
        .argParser(positiveInt)
        .default(GATEWAY_DEFAULTS.keepaliveTimeMs),
    )
    .addOption(
      new Option(
        '--keepalive-timeout-ms <ms>',
        "drop an instance's connection when a ping's answer takes longer than this (a frozen instance costs a call at most the two together)",
      )
        .argParser(positiveInt)
        .default(GATEWAY_DEFAULTS.keepaliveTimeoutMs),
    )
    .addOption(
      new Option('--max-message-mb <n>', 'largest image accepted, in MiB')
        .argParser(wholeNumber(1, 2047))
        .default(GATEWAY_DEFAULTS.maxMessageMb),
    )
    .addOption(
      new Option('--max-lines <n>', 'line images one /api/ocr/lines request may carry')
        .argParser(positiveInt)
        .default(GATEWAY_DEFAULTS.maxLines),
    )
    .addOption(
      new Option(
        '--body-memory-mb <n>',
        `memory the request bodies being read may hold, and as much for those on their way to the cluster; past it a request is refused 429 from its headers (default: a quarter of an instance's memory budget here, ${Math.round(defaultBodyMemoryBytes(machineMemoryBytes(), machineCores()) / 2 ** 20)})`,
      ).argParser(positiveInt),
    )
    .addOption(
      new Option('--grace-ms <ms>', 'on shutdown, how long requests in flight may still finish')
        .argParser(graceMs)
        .default(GATEWAY_DEFAULTS.graceMs),
    )
    .addOption(new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default(GATEWAY_DEFAULTS.logLevel))
    .action(async (options: GatewayOptions) => onExit(await actions.gateway(options)));

  program
    .command('health')
    .description(
      "Ask a server's grpc.health.v1 service whether it serves (the check Consul makes); exit status 0 when SERVING, 1 otherwise. For container health checks and scripts.",
    )
    .addOption(new Option('-t, --target <host:port>', 'the server').default(DEFAULT_TARGET))
    .addOption(new Option('--service <name>', "the service checked ('' for the server as a whole)").default('ocr.v1.OcrService'))
    .addOption(
      new Option('--deadline-ms <ms>', 'no answer within this many milliseconds counts as unhealthy').argParser(positiveInt).default(3000),
    )
    .action(async (options: HealthCliOptions) => onExit(await (actions.health ?? defaultActions.health!)(options)));

  // TLS, alike on every command that serves or calls a server (tls-options.ts).
  const command = (name: string): Command => program.commands.find((c) => c.name() === name)!;
  for (const option of serverTlsOptions()) command('serve').addOption(option);
  for (const name of ['recognize', 'info', 'health']) for (const option of clientTlsOptions()) command(name).addOption(option);
  for (const option of clientTlsOptions('the instances', "not the gateway's own: its port serves HTTPS with --https-cert"))
    command('gateway').addOption(option);
  for (const option of gatewayHttpsOptions()) command('gateway').addOption(option);
  // Tokens and quotas, alike on every command that serves or calls a server (auth-options.ts).
  for (const name of ['serve', 'gateway']) for (const option of serverAuthOptions()) command(name).addOption(option);
  for (const name of ['recognize', 'info']) command(name).addOption(tokenOption());
  command('gateway').addOption(tokenOption("the instances for a caller who sends none (a caller's own token is forwarded)"));

  program
    .command('api-key')
    .description('API keys for the --api-keys FILE of `ocr serve` and `ocr gateway`')
    .command('create')
    .description(
      'Make a new random API key: prints it once (first line) and its entry for the key file (second line), which holds only its SHA-256.',
    )
    .requiredOption('--name <name>', 'who the key is for: it names the caller in logs and quotas', keyName)
    .addOption(
      new Option('--scopes <scope...>', 'what the key may call: ocr:read (recognition, info), ocr:admin (/metrics)')
        .choices(SCOPES)
        .default(['ocr:read']),
    )
    .addOption(new Option('--quota-rps <n>', 'its own calls a second, in place of --quota-rps').argParser(decimal(0.001)))
    .addOption(new Option('--quota-burst <n>', 'calls it may send at once above its rate').argParser(positiveInt))
    .addOption(new Option('--quota-concurrent <n>', 'its calls open at once').argParser(positiveInt))
    .addOption(
      new Option('--add-to <file>', 'also add the entry to this key file (created when missing), which a server reading it takes at once'),
    )
    .action(async (options: ApiKeyCreateOptions, command: Command) => {
      // As serve's own --quota-burst: the key file's words (quota.burst) are not this command's.
      if (options.quotaBurst !== undefined && options.quotaRps === undefined) {
        command.error('error: --quota-burst goes with --quota-rps', { code: 'ocr.quotaBurst' });
      }
      onExit(await (actions.apiKeyCreate ?? defaultActions.apiKeyCreate!)(options));
    });

  return program;
}

/** Parses `args` (without node and the script) and runs the command; resolves with the exit status. */
export async function runCli(
  args: readonly string[],
  actions: CommandActions = defaultActions,
  configure?: (program: Command) => void,
): Promise<number> {
  let status = 0;
  const program = buildProgram(actions, (s) => (status = s), configure);
  await program.parseAsync(args, { from: 'user' });
  return status;
}
