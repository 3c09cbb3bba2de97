import { expect } from 'chai';
import { CommanderError, InvalidArgumentError } from 'commander';

import { accessSettings, cliToken } from '../../src/cli/auth-options.js';
import { jsonLine } from '../../src/cli/json-lines.js';
import { decimal, port, wholeNumber } from '../../src/cli/parse-args.js';
import { defaultActions, runCli, type CommandActions } from '../../src/cli/program.js';
import type { RecognizeCliOptions } from '../../src/cli/recognize-command.js';
import type { ServeOptions } from '../../src/cli/serve-options.js';
import { SERVER_VERSION } from '../../src/shared/version.js';

/** Runs the CLI with recording actions; parse errors come back instead of exiting the process. */
async function run(
  args: string[],
): Promise<{ calls: unknown[][]; stderr: string; stdout: string; error?: CommanderError; status?: number }> {
  const calls: unknown[][] = [];
  const actions: CommandActions = {
    serve: async (options) => (calls.push(['serve', options]), 0),
    recognize: async (files, options) => (calls.push(['recognize', files, options]), 3),
    info: async (options) => (calls.push(['info', options]), 0),
    cluster: async (options) => (calls.push(['cluster', options]), 0),
    prepareModels: async (options) => (calls.push(['prepare-models', options]), 0),
    gateway: async (options) => (calls.push(['gateway', options]), 0),
  };
  let stderr = '';
  let stdout = '';
  try {
    const status = await runCli(args, actions, (program) =>
      program.exitOverride().configureOutput({ writeErr: (s) => void (stderr += s), writeOut: (s) => void (stdout += s) }),
    );
    return { calls, stderr, stdout, status };
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { calls, stderr, stdout, error: err };
  }
}

describe('ocr command line', () => {
  it('cluster: parses its options, taking Consul from CONSUL_HTTP_ADDR when not given', async () => {
    const saved = process.env.CONSUL_HTTP_ADDR;
    process.env.CONSUL_HTTP_ADDR = 'http://127.0.0.1:8500';
    try {
      const { calls } = await run(['cluster', '--instances', '3', '--base-port', '6000']);
      expect(calls).to.deep.equal([
        [
          'cluster',
          {
            instances: 3,
            basePort: 6000,
            baseHttpPort: 8080,
            host: '127.0.0.1',
            serviceName: 'ocr',
            logLevel: 'warn',
            consul: 'http://127.0.0.1:8500',
          },
        ],
      ]);
    } finally {
      if (saved === undefined) delete process.env.CONSUL_HTTP_ADDR;
      else process.env.CONSUL_HTTP_ADDR = saved;
    }
  });

  for (const [args, pattern] of [
    // Instances after the first took ports 1, 2, …, not free ones.
    [['--base-port', '0'], /'--base-port <port>' argument '0' is invalid\. It must be a whole number from 1 to 65535/],
    [
      ['--instances', '4', '--base-port', '8078'],
      /^error: --base-port 8078 \(ports 8078-8081\) and --base-http-port 8080 \(ports 8080-8083\) share port 8080; give each its own ports\n/,
    ],
    [
      ['--instances', '2', '--base-port', '65535'],
      /^error: --base-port 65535 \(ports 65535-65536\) runs past port 65535; choose a lower --base-port\n/,
    ],
  ] as const) {
    it(`cluster: refuses ${args.join(' ')} before starting any instance`, async () => {
      const { calls, error, stderr } = await run(['cluster', ...args]);
      expect(calls).to.deep.equal([]);
      expect(error?.exitCode).to.equal(1);
      expect(stderr).to.match(pattern);
    });
  }

  it("serve: takes Consul's options where CONSUL_HTTP_ADDR names the agent", async () => {
    const saved = process.env.CONSUL_HTTP_ADDR;
    process.env.CONSUL_HTTP_ADDR = 'http://127.0.0.1:8500';
    try {
      const { calls } = await run(['serve', '--advertise-port', '9000', '--service-name', 'ocr-eu']);
      expect(calls[0]![1]).to.include({ advertisePort: 9000, serviceName: 'ocr-eu' });
    } finally {
      if (saved === undefined) delete process.env.CONSUL_HTTP_ADDR;
      else process.env.CONSUL_HTTP_ADDR = saved;
    }
  });

  for (const [flag, env, pattern] of [
    [
      [],
      'ftp://consul:8500',
      /^error: CONSUL_HTTP_ADDR: unsupported Consul address scheme "ftp:" in "ftp:\/\/consul:8500" \(use http:\/\/ or https:\/\/\)\n/,
    ],
    [
      ['--consul', 'http://[::1'],
      '',
      /^error: --consul: not a Consul HTTP address: "http:\/\/\[::1" \(expected e\.g\. http:\/\/127\.0\.0\.1:8500\)\n/,
    ],
  ] as const) {
    it(`cluster: refuses a bad Consul address (${flag.length > 0 ? '--consul' : 'CONSUL_HTTP_ADDR'}) naming where it came from, before starting any instance`, async () => {
      const saved = process.env.CONSUL_HTTP_ADDR;
      process.env.CONSUL_HTTP_ADDR = env;
      try {
        const { calls, error, stderr } = await run(['cluster', ...flag]);
        expect(calls).to.deep.equal([]);
        expect(error?.exitCode).to.equal(1);
        expect(stderr).to.match(pattern);
      } finally {
        if (saved === undefined) delete process.env.CONSUL_HTTP_ADDR;
        else process.env.CONSUL_HTTP_ADDR = saved;
      }
    });
  }

  it('cluster: refuses --service-name without Consul, which it would take and ignore, before starting any instance', async () => {
    const saved = process.env.CONSUL_HTTP_ADDR;
    delete process.env.CONSUL_HTTP_ADDR;
    try {
      const { calls, error, stderr } = await run(['cluster', '--service-name', 'ocr-eu']);
      expect(calls).to.deep.equal([]);
      expect(error?.exitCode).to.equal(1);
      expect(stderr).to.match(
        /^error: --service-name goes with Consul: add --consul ADDR \(or set CONSUL_HTTP_ADDR\) to register the instances, or leave it out\n/,
      );
    } finally {
      if (saved !== undefined) process.env.CONSUL_HTTP_ADDR = saved;
    }
  });

  for (const command of ['serve', 'cluster']) {
    for (const name of ['ocr prod', 'ocr/v1', '', '-ocr']) {
      it(`${command}: refuses --service-name "${name}", which no consul:// target can name, before starting`, async () => {
        const { calls, error, stderr } = await run([command, '--consul', '127.0.0.1:8500', '--service-name', name]);
        expect(calls).to.deep.equal([]);
        expect(error?.exitCode).to.equal(1);
        expect(stderr).to.contain(`'--service-name <name>' argument '${name}' is invalid. It must be letters, digits, "-", "_" and "."`);
        expect(stderr).to.contain('consul://AGENT/SERVICE');
      });
    }
  }

  for (const [command, flag] of [
    ['serve', '--host'],
    ['cluster', '--host'],
    ['gateway', '--host'],
    ['serve', '--instance-id'],
  ]) {
    for (const value of ['', ' ']) {
      it(`${command}: refuses a blank ${flag} ("${value}", as ${flag} "$UNSET" gives) before starting`, async () => {
        const { calls, error, stderr } = await run([command, flag, value]);
        expect(calls).to.deep.equal([]);
        expect(error?.exitCode).to.equal(1);
        expect(stderr).to.match(new RegExp(`^error: option '${flag} <\\w+>' argument '${value}' is invalid\\. It must `));
      });
    }
  }

  it('serve and cluster: take ports that do not meet, and 0 (any free port) for both of serve', async () => {
    const { calls } = await run(['serve', '--port', '0', '--http-port', '0']);
    expect(calls[0]![1]).to.include({ port: 0, httpPort: 0 });
    const cluster = await run(['cluster', '--instances', '4', '--base-port', '8076']);
    expect(cluster.calls[0]![1]).to.include({ basePort: 8076, baseHttpPort: 8080 });
  });

  for (const [args, pattern] of [
    // Said as the key file's refusal, "ocr: ocr api-key create: quota.burst needs quota.rps", or "the new entry: entry 1: …".
    [['--quota-burst', '5'], /^error: --quota-burst goes with --quota-rps\n/],
    [
      ['--name', 'billing team'],
      /^error: option '--name <name>' argument 'billing team' is invalid\. It must be 1-128 letters, digits or _\.@:-/,
    ],
  ] as const) {
    it(`api-key create: refuses ${args.join(' ')} in its own flags' words, making no key`, async () => {
      const { error, stderr, stdout } = await run(['api-key', 'create', '--name', 'billing', ...args]);
      expect(error?.exitCode).to.equal(1);
      expect(stdout).to.equal('');
      expect(stderr).to.match(pattern);
    });
  }

  it('recognize: refuses an unknown balancing policy', async () => {
    const { error } = await run(['recognize', '--lb', 'least_conn', 'x.png']);
    expect(error?.message).to.match(/--lb <policy>' argument 'least_conn' is invalid/);
  });

  describe('value parsers', () => {
    it('take digits only for whole numbers', () => {
      const parse = wholeNumber(1, 100);
      expect(parse('42')).to.equal(42);
      for (const bad of ['abc', '', ' 4', '4 ', '4.0', '1e2', '0x10', '+4', '-4', '0', '101', '99999999999999999999']) {
        expect(() => parse(bad), JSON.stringify(bad)).to.throw(InvalidArgumentError, /whole number from 1 to 100/);
      }
    });

    it('take plain decimals in range', () => {
      const parse = decimal(0, 1);
      expect(parse('0.25')).to.equal(0.25);
      expect(parse('.5')).to.equal(0.5);
      expect(parse('1')).to.equal(1);
      for (const bad of ['1.01', 'abc', '1e-1', '-0.1', 'NaN', 'Infinity', '']) {
        expect(() => parse(bad), JSON.stringify(bad)).to.throw(InvalidArgumentError, /decimal number from 0 to 1/);
      }
    });

    it('accept ports 0 to 65535', () => {
      expect(port('0')).to.equal(0);
      expect(port('65535')).to.equal(65535);
      expect(() => port('65536')).to.throw(InvalidArgumentError);
    });
  });

  describe('prepare-models', () => {
    it('parses its options; --all and --rec-precision exclude each other', async () => {
      expect((await run(['prepare-models'])).calls).to.deep.equal([['prepare-models', {}]]);
      const { calls } = await run(['prepare-models', '--model-cache', 'cache', '--models', 'm.json', '--rec-precision', 'int8']);
      expect(calls).to.deep.equal([['prepare-models', { modelCache: 'cache', models: 'm.json', recPrecision: 'int8' }]]);
      expect((await run(['prepare-models', '--all'])).calls).to.deep.equal([['prepare-models', { all: true }]]);
      const { error } = await run(['prepare-models', '--all', '--rec-precision', 'float32']);
      expect(error?.message).to.match(/'--rec-precision <precision>' cannot be used with option '--all'/);
    });
  });

  describe('serve', () => {
    it('passes typed options with their defaults', async () => {
      const { calls } = await run(['serve']);
      expect(calls).to.deep.equal([
        [
          'serve',
          {
            host: '127.0.0.1',
            port: 50051,
            httpPort: 8080,
            http: true,
            threads: 1,
            maxMessageMb: 32,
            refusalPaceMs: 50,
            logLevel: 'info',
            graceMs: 10000,
            serviceName: 'ocr',
            cache: { kind: 'memory' },
            cacheMaxMb: 64,
            cacheTtlS: 3600,
            cacheTimeoutMs: 50,
            jwtClockSkewS: 30,
            protectInfo: true,
            maxConnections: 4096,
            maxConnectionsPerClient: 256,
            clientIpv6Prefix: 128,
          } satisfies ServeOptions,
        ],
      ]);
    });

    it('parses every option', async () => {
      const { calls } = await run([
        'serve',
        '--host',
        '0.0.0.0',
        '--port',
        '6000',
        '--workers',
        '3',
        '--threads',
        '2',
        '--models',
        'm.json',
        '--model-cache',
        '/var/cache/ocr',
        '--max-pixels',
        '1000000',
        '--max-message-mb',
        '64',
        '--refusal-pace-ms',
        '0',
        '--instance-id',
        'ocr-a',
        '--log-level',
        'debug',
        '--metrics-port',
        '9100',
        '--http-port',
        '8081',
        '--grace-ms',
        '0',
        '--consul',
        'http://consul.local:8500',
        '--consul-token',
        'secret',
        '--service-name',
        'ocr-eu',
        '--advertise-host',
        '10.0.0.7',
        '--advertise-port',
        '9000',
        '--advertise-http-port',
        '9080',
        '--cache',
        'redis://cache.local:6380/2',
        '--cache-max-mb',
        '0',
        '--cache-ttl-s',
        '600',
        '--cache-timeout-ms',
        '20',
        '--max-connections',
        '500',
        '--max-connections-per-client',
        '50',
        '--client-ipv6-prefix',
        '64',
        '--cors-origin',
        'https://portal.example',
        'http://localhost:3000',
        '--tag',
        'eu',
        'gpu',
      ]);
      const expected: ServeOptions = {
        host: '0.0.0.0',
        port: 6000,
        httpPort: 8081,
        http: true,
        workers: 3,
        threads: 2,
        models: 'm.json',
        modelCache: '/var/cache/ocr',
        maxPixels: 1_000_000,
        maxMessageMb: 64,
        refusalPaceMs: 0,
        instanceId: 'ocr-a',
        logLevel: 'debug',
        metricsPort: 9100,
        graceMs: 0,
        consul: 'http://consul.local:8500',
        consulToken: 'secret',
        serviceName: 'ocr-eu',
        advertiseHost: '10.0.0.7',
        advertisePort: 9000,
        advertiseHttpPort: 9080,
        tag: ['eu', 'gpu'],
        cache: { kind: 'redis', url: 'redis://cache.local:6380/2' },
        cacheMaxMb: 0,
        cacheTtlS: 600,
        cacheTimeoutMs: 20,
        jwtClockSkewS: 30,
        protectInfo: true,
        maxConnections: 500,
        maxConnectionsPerClient: 50,
        clientIpv6Prefix: 64,
        corsOrigin: ['https://portal.example', 'http://localhost:3000'],
      };
      expect(calls).to.deep.equal([['serve', expected]]);
    });

    it('takes an IPv6 --host or --advertise-host in brackets, as a URL writes it, without them', async () => {
      expect((await run(['serve', '--host', '[::]'])).calls[0]![1]).to.include({ host: '::' });
      expect((await run(['serve', '--host', '[::1]'])).calls[0]![1]).to.include({ host: '::1' });
      expect((await run(['gateway', '--host', '[2001:db8::7]'])).calls[0]![1]).to.include({ host: '2001:db8::7' });
      expect((await run(['serve', '--host', '[ocr.internal]'])).calls[0]![1]).to.include({ host: '[ocr.internal]' });
      const registered = await run(['serve', '--consul', 'http://127.0.0.1:8500', '--advertise-host', '[2001:db8::7]']);
      expect(registered.calls[0]![1]).to.include({ advertiseHost: '2001:db8::7' });
    });

    it('turns the HTTP front door off with --no-http', async () => {
      const { calls } = await run(['serve', '--no-http']);
      expect(calls[0]![1]).to.include({ http: false, httpPort: 8080 });
    });

    for (const [args, pattern] of [
      [['--port', 'abc'], /option '--port <port>' argument 'abc' is invalid\. It must be a whole number from 0 to 65535/],
      [['--workers', '0'], /'--workers <n>' argument '0' is invalid\. It must be a whole number, at least 1/],
      [['--threads', '1.5'], /'--threads <n>' argument '1.5' is invalid/],
      [['--max-pixels', '4e7'], /'--max-pixels <n>' argument '4e7' is invalid/],
      [['--max-message-mb', '4096'], /from 1 to 2047/],
      [['--max-connections', '0'], /'--max-connections <n>' argument '0' is invalid\. It must be a whole number, at least 1/],
      ...['0', '129', '64.5', '/64', ''].map(
        (bits) =>
          [
            ['--client-ipv6-prefix', bits],
            /'--client-ipv6-prefix <bits>' argument '.*' is invalid\. It must be a prefix length from 1 to 128: 64 counts every address of an IPv6 \/64 as one client, 128 each address alone\./,
          ] as const,
      ),
      [['--cors-origin', 'https://portal.example/app'], /is not an origin \(did you mean https:\/\/portal\.example\?\)/],
      [['--log-level', 'loud'], /Allowed choices are fatal, error, warn, info, debug, trace, silent/],
      [
        ['--cache', 'memcached://m:11211'],
        /'--cache <where>' argument 'memcached:\/\/m:11211' is invalid\. It must be memory, off, or redis:\/\/HOST:PORT\[\/DB\]/,
      ],
      [['--cache', 'redis://r:6379/x'], /The Redis database is 'x'; it must be a number/],
      [['--cache-ttl-s', '0'], /'--cache-ttl-s <s>' argument '0' is invalid/],
      // A Node timer armed for longer fires at once: the drain would cancel every call in flight.
      // 0 was taken and served no endpoint, without a word.
      [['--metrics-port', '0'], /'--metrics-port <port>' argument '0' is invalid\. It must be a whole number from 1 to 65535/],
      [['--grace-ms', '2147483648'], /'--grace-ms <ms>' argument '2147483648' is invalid\. It must be a whole number from 0 to 2147483647/],
      // Bound as two, the second failed the start as "the port is in use", its user being the first.
      [['--port', '9000', '--http-port', '9000'], /^error: --port 9000 and --http-port 9000 share port 9000; give each its own ports\n/],
      [['--metrics-port', '8080'], /^error: --http-port 8080 and --metrics-port 8080 share port 8080; give each its own ports\n/],
      // With no Consul to register in, they did nothing: the instance was believed registered.
      [
        ['--advertise-host', 'ocr-1.internal', '--advertise-port', '9000'],
        /^error: --advertise-host, --advertise-port go with Consul: add --consul ADDR \(or set CONSUL_HTTP_ADDR\) to register this instance, or leave them out\n/,
      ],
      // Consul refuses a wildcard address (400 "Invalid service address"): the instance retried for as long as it ran.
      ...['0.0.0.0', '::', '[::]', ''].map(
        (host) =>
          [
            ['--consul', 'http://127.0.0.1:8500', '--advertise-host', host],
            /'--advertise-host <host>' argument '.*' is invalid\. It must be an address callers and the Consul agent can dial: this machine's LAN address or DNS name, not a wildcard/,
          ] as const,
      ),
      [
        ['--tag', 'eu'],
        /^error: --tag goes with Consul: add --consul ADDR \(or set CONSUL_HTTP_ADDR\) to register this instance, or leave it out\n/,
      ],
    ] as const) {
      it(`refuses ${args.join(' ')} without starting`, async () => {
        const saved = process.env.CONSUL_HTTP_ADDR;
        delete process.env.CONSUL_HTTP_ADDR;
        const { calls, error, stderr } = await run(['serve', ...args]).finally(() => {
          if (saved !== undefined) process.env.CONSUL_HTTP_ADDR = saved;
        });
        expect(calls).to.deep.equal([]);
        expect(error?.exitCode).to.equal(1);
        expect(stderr).to.match(pattern);
      });
    }
  });

  it("never prints a Redis URL's password it refuses, as commander would quote it", async () => {
    const { calls, error, stderr } = await run(['serve', '--cache', 'rediss://reader:s3cr%40t@cache.local:6380/x']);
    expect(calls).to.deep.equal([]);
    expect(error?.exitCode).to.equal(1);
    expect(stderr).to.include("argument 'rediss://reader:***@cache.local:6380/x' is invalid").and.not.include('s3cr');
  });

  describe('recognize', () => {
    it('passes files in order, defaults and the exit status of the command', async () => {
      const { calls, status } = await run(['recognize', 'b.png', 'a.jpg']);
      expect(status).to.equal(3);
      expect(calls).to.deep.equal([
        [
          'recognize',
          ['b.png', 'a.jpg'],
          { target: '127.0.0.1:50051', lb: 'least_request', overlap: 96, concurrency: 4, deadlineMs: 30000 },
        ],
      ]);
    });

    it('parses the recognition options', async () => {
      const { calls } = await run([
        'recognize',
        '-t',
        'ocr:7000',
        '--lb',
        'pick_first',
        '--json',
        '--tile-size',
        '1024',
        '--overlap',
        '64',
        '--annotate',
        'out',
        '-c',
        '8',
        '--deadline-ms',
        '5000',
        '--priority',
        'batch',
        '--min-confidence',
        '0.3',
        '--angle-cls',
        '--max-side-len',
        '1280',
        '--min-side-len',
        '64',
        '--box-threshold',
        '0.5',
        '--unclip-ratio',
        '1.6',
        'x.png',
      ]);
      const expected: RecognizeCliOptions = {
        target: 'ocr:7000',
        lb: 'pick_first',
        json: true,
        tileSize: 1024,
        overlap: 64,
        annotate: 'out',
        concurrency: 8,
        deadlineMs: 5000,
        priority: 'batch',
        minConfidence: 0.3,
        angleCls: true,
        maxSideLen: 1280,
        minSideLen: 64,
        boxThreshold: 0.5,
        unclipRatio: 1.6,
      };
      expect(calls).to.deep.equal([['recognize', ['x.png'], expected]]);
    });

    it('tells --no-auto-rotate and --auto-rotate from an absent flag', async () => {
      const off = await run(['recognize', '--no-auto-rotate', 'x.png']);
      expect((off.calls[0]![2] as RecognizeCliOptions).autoRotate).to.equal(false);
      const on = await run(['recognize', '--auto-rotate', 'x.png']);
      expect((on.calls[0]![2] as RecognizeCliOptions).autoRotate).to.equal(true);
      const unset = await run(['recognize', 'x.png']);
      expect((unset.calls[0]![2] as RecognizeCliOptions).autoRotate).to.equal(undefined);
    });

    it('tells --no-angle-cls from an absent flag', async () => {
      const { calls } = await run(['recognize', '--no-angle-cls', 'x.png']);
      expect((calls[0]![2] as RecognizeCliOptions).angleCls).to.equal(false);
    });

    for (const [args, pattern] of [
      [[], /missing required argument 'file'/],
      [['--concurrency', 'abc', 'x.png'], /'-c, --concurrency <n>' argument 'abc' is invalid/],
      [['--deadline-ms', '0', 'x.png'], /'--deadline-ms <ms>' argument '0' is invalid/],
      [['--priority', 'urgent', 'x.png'], /'--priority <priority>' argument 'urgent' is invalid/],
      [['--min-confidence', '2', 'x.png'], /'--min-confidence <x>' argument '2' is invalid\. It must be a decimal number from 0 to 1/],
      [['--tile-size', '512', '--lines-only', 'x.png'], /'--lines-only' cannot be used with option '--tile-size <px>'/],
      [['--tile-size', '64', 'x.png'], /--overlap \(96\) must be smaller than --tile-size \(64\)/],
      [
        ['--overlap', '200', 'x.png'],
        /--overlap goes with --tile-size: add --tile-size PX to read the images as tiles, or leave --overlap out/,
      ],
      [['--jsn', 'x.png'], /unknown option '--jsn'[\s\S]*Did you mean --json\?/],
      // Taken and ignored: RecognizeLines runs no detector.
      [
        ['--lines-only', '--max-side-len', '1280', '--box-threshold', '0.5', 'x.png'],
        /^error: --max-side-len, --box-threshold are for the detector, which --lines-only does not run: leave them out, or read the files as pages without --lines-only\n/,
      ],
    ] as const) {
      it(`refuses ${args.join(' ') || 'no files'}`, async () => {
        const { calls, error, stderr } = await run(['recognize', ...args]);
        expect(calls).to.deep.equal([]);
        expect(error).to.be.instanceOf(CommanderError);
        expect(stderr).to.match(pattern);
      });
    }
  });

  it('passes info its target and deadline', async () => {
    const { calls } = await run(['info', '--target', 'dns:///ocr:50051']);
    expect(calls).to.deep.equal([['info', { target: 'dns:///ocr:50051', deadlineMs: 30000 }]]);
  });

  it("prints the package's version with --version and -V, as servers report it", async () => {
    for (const flag of ['--version', '-V']) {
      const { stdout, error, calls } = await run([flag]);
      expect(stdout).to.equal(`${SERVER_VERSION}\n`);
      expect(error?.exitCode).to.equal(0);
      expect(calls).to.deep.equal([]);
    }
  });

  it('describes every command and option with its default', async () => {
    const top = await run(['--help']);
    expect(top.stdout).to.match(/serve \[options\][\s\S]*recognize \[options\] <file\.\.\.>[\s\S]*info \[options\]/);
    // Help wraps to the terminal's width; compare with the wrapping undone.
    const recognize = await run(['recognize', '--help']);
    recognize.stdout = recognize.stdout.replace(/\s+/g, ' ');
    for (const flag of [
      '--target',
      '--json',
      '--lines-only',
      '--tile-size',
      '--annotate',
      '--concurrency',
      '--deadline-ms',
      '--min-confidence',
      '--angle-cls',
    ]) {
      expect(recognize.stdout).to.include(flag);
    }
    expect(recognize.stdout).to.include('(default: "127.0.0.1:50051")').and.include('(default: 4)').and.include('(default: 30000)');
    const serve = await run(['serve', '--help']);
    serve.stdout = serve.stdout.replace(/\s+/g, ' ');
    expect(serve.stdout).to.include('(default: 50051)').and.include('one per CPU core').and.include('(default: 32)');
  });

  it('wraps every help to an 80-column terminal, but for a single word longer than its column', async () => {
    for (const command of [
      [],
      ['serve'],
      ['recognize'],
      ['info'],
      ['health'],
      ['cluster'],
      ['gateway'],
      ['prepare-models'],
      ['api-key', 'create'],
    ]) {
      let help = '';
      await runCli([...command, '--help'], defaultActions, (program) =>
        program.exitOverride().configureOutput({ writeOut: (s) => void (help += s), getOutHelpWidth: () => 80 }),
      ).catch((err: unknown) => expect(err).to.be.instanceOf(CommanderError));
      const overlong = help.split('\n').filter((line) => line.length > 80 && /\S\s+\S/.test(line.trim()));
      expect(overlong, `ocr ${command.join(' ')} --help`).to.deep.equal([]);
    }
  });

  it("names whose certificates --tls-ca verifies in each command's own words: the server's, a gateway's instances'", async () => {
    const info = (await run(['info', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(info).to.include("--tls-ca <file> PEM CA certificate(s) that signed the server's certificate (TLS)");
    const gateway = (await run(['gateway', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(gateway).to.include("--tls-ca <file> PEM CA certificate(s) that signed the instances' certificates (TLS)");
  });

  it("recognize --json's help names every field of a result line, in the order printed", async () => {
    const printed = JSON.parse(
      jsonLine({ file: 'a.png', width: 1, height: 1, rotation: 90, instance: 'i', lines: [{ text: 't', confidence: 1, box: [] }] }),
    ) as { lines: object[] };
    const shape = `{${Object.keys(printed).join(', ')}: [{${Object.keys(printed.lines[0]!).join(', ')}}]}`;
    const help = (await run(['recognize', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(help).to.include(shape);
  });

  describe('gateway', () => {
    it('defaults to least_request on port 8080 and takes a consul:// target', async () => {
      const { calls } = await run(['gateway', '--target', 'consul://127.0.0.1:8500/ocr', '--http-port', '9000']);
      expect(calls).to.deep.equal([
        [
          'gateway',
          {
            target: 'consul://127.0.0.1:8500/ocr',
            lb: 'least_request',
            host: '127.0.0.1',
            httpPort: 9000,
            deadlineMs: 30000,
            keepaliveTimeMs: 5000,
            keepaliveTimeoutMs: 5000,
            maxMessageMb: 32,
            maxLines: 256,
            graceMs: 10000,
            logLevel: 'info',
            jwtClockSkewS: 30,
            protectInfo: true,
            maxConnections: 4096,
            maxConnectionsPerClient: 256,
            clientIpv6Prefix: 128,
          },
        ],
      ]);
    });

    it('takes its own tokens and quotas as serve does, and the token it sends the instances', async () => {
      const { calls } = await run([
        'gateway',
        '--api-keys',
        'keys.json',
        '--no-protect-info',
        '--quota-rps',
        '2.5',
        '--quota-concurrent',
        '3',
        '--token',
        'ocr_abc',
      ]);
      expect(calls[0]![1]).to.include({ apiKeys: 'keys.json', protectInfo: false, quotaRps: 2.5, quotaConcurrent: 3, token: 'ocr_abc' });
    });

    it('takes the keepalive that finds a frozen instance', async () => {
      const { calls } = await run(['gateway', '--keepalive-time-ms', '2000', '--keepalive-timeout-ms', '3000']);
      expect(calls[0]![1]).to.include({ keepaliveTimeMs: 2000, keepaliveTimeoutMs: 3000 });
      expect((await run(['gateway', '--keepalive-timeout-ms', '0'])).calls).to.deep.equal([]);
    });

    it('refuses a --grace-ms longer than a Node timer holds', async () => {
      const { calls, error, stderr } = await run(['gateway', '--grace-ms', '3000000000']);
      expect(calls).to.deep.equal([]);
      expect(error?.exitCode).to.equal(1);
      expect(stderr).to.match(/'--grace-ms <ms>' argument '3000000000' is invalid\. It must be a whole number from 0 to 2147483647/);
      expect((await run(['gateway', '--grace-ms', '2147483647'])).calls[0]![1]).to.include({ graceMs: 2147483647 });
    });

    it('counts IPv6 callers by the prefix --client-ipv6-prefix gives, and refuses one out of 1 to 128', async () => {
      expect((await run(['gateway', '--client-ipv6-prefix', '64'])).calls[0]![1]).to.include({ clientIpv6Prefix: 64 });
      expect((await run(['gateway', '--client-ipv6-prefix', '1'])).calls[0]![1]).to.include({ clientIpv6Prefix: 1 });
      const { calls, error, stderr } = await run(['gateway', '--client-ipv6-prefix', '0']);
      expect(calls).to.deep.equal([]);
      expect(error?.exitCode).to.equal(1);
      expect(stderr).to.match(/'--client-ipv6-prefix <bits>' argument '0' is invalid\. It must be a prefix length from 1 to 128/);
    });

    it('takes a bound on the memory its request bodies hold', async () => {
      const { calls } = await run(['gateway', '--body-memory-mb', '96']);
      expect(calls[0]![1]).to.include({ bodyMemoryMb: 96 });
      expect((await run(['gateway', '--body-memory-mb', '0'])).calls).to.deep.equal([]);
    });
  });

  describe('tokens', () => {
    it('takes --jwks with its issuer, audience and clock skew on serve', async () => {
      const { calls } = await run([
        'serve',
        '--jwks',
        'jwks.json',
        '--jwt-issuer',
        'https://idp',
        '--jwt-audience',
        'ocr',
        '--jwt-clock-skew-s',
        '5',
        '--quota-rps',
        '10',
        '--quota-burst',
        '20',
      ]);
      const options = calls[0]![1] as ServeOptions;
      expect(options).to.include({
        jwks: 'jwks.json',
        jwtIssuer: 'https://idp',
        jwtAudience: 'ocr',
        jwtClockSkewS: 5,
        quotaRps: 10,
        quotaBurst: 20,
      });
      expect(accessSettings(options)).to.deep.equal({
        auth: { jwt: { jwksFile: 'jwks.json', issuer: 'https://idp', audience: 'ocr', clockSkewS: 5 }, protectInfo: true },
        quota: { rps: 10, burst: 20 },
      });
    });

    it('refuses --jwks without its issuer and audience, and a quota rate of 0', async () => {
      const { calls } = await run(['serve', '--jwks', 'jwks.json']);
      expect(() => accessSettings(calls[0]![1] as ServeOptions)).to.throw(/--jwks needs --jwt-issuer and --jwt-audience/);
      expect((await run(['serve', '--quota-rps', '0'])).stderr).to.match(/--quota-rps/);
    });

    it('refuses a quota whose window (burst / rps) outlasts what the limiter can time, naming the flags', async () => {
      const { calls } = await run(['serve', '--quota-rps', '0.001', '--quota-burst', '3000']);
      expect(() => accessSettings(calls[0]![1] as ServeOptions)).to.throw(
        /^--quota-rps, --quota-burst: the rate's window \(burst \/ rps\) of 35 days is longer than the 24 days a quota can span/,
      );
    });

    it('takes --token on recognize and info', async () => {
      expect((await run(['info', '--token', 'ocr_x'])).calls[0]![1]).to.include({ token: 'ocr_x' });
      expect((await run(['recognize', 'a.png', '--token', 'ocr_x'])).calls[0]![2]).to.include({ token: 'ocr_x' });
    });

    it('refuses a malformed token naming where it came from, --token or $OCR_TOKEN', () => {
      const saved = process.env.OCR_TOKEN;
      try {
        process.env.OCR_TOKEN = 'Bearer ocr_x';
        expect(() => cliToken({})).to.throw(/^\$OCR_TOKEN: a bearer token is .* \(pass the token alone, without "Bearer "\)$/);
        expect(() => cliToken({ token: 'ocr x' })).to.throw(/^--token: a bearer token is /);
        // --token "" sends none, whatever the environment holds.
        expect(cliToken({ token: '' })).to.equal(undefined);
        process.env.OCR_TOKEN = 'ocr_x';
        expect(cliToken({})).to.equal('ocr_x');
      } finally {
        if (saved === undefined) delete process.env.OCR_TOKEN;
        else process.env.OCR_TOKEN = saved;
      }
    });
  });
});
