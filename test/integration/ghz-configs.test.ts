import { expect } from 'chai';
import { Client, credentials } from '@grpc/grpc-js';
import { loadSync, type MessageTypeDefinition, type MethodDefinition } from '@grpc/proto-loader';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** The keys of a ghz config file (ghz's runner.Config); anything else is a typo ghz would ignore. */
const GHZ_KEYS = new Set(
  (
    'proto protoset call cacert cert key skipTLS skipFirst cname authority insecure total async concurrency ' +
    'concurrency-schedule concurrency-start concurrency-end concurrency-step concurrency-step-duration ' +
    'concurrency-max-duration connections rps duration duration-stop max-duration timeout data data-file ' +
    'binary-file metadata metadata-file stream-interval output format connect-timeout keepalive cpus ' +
    'import-paths name tags reflect-metadata debug host enable-compression load-schedule load-start load-end ' +
    'load-step load-step-duration load-max-duration'
  ).split(' '),
);

interface GhzConfig {
  proto: string;
  'import-paths'?: string[];
  call: string;
  host: string;
  insecure?: boolean;
  'data-file': string;
  concurrency: number;
  total: number;
}

type Message = Record<string, unknown>;

/** Field names a request may use in JSON, as protojson (and so ghz) reads it: proto names or JSON names. */
function fieldNames(type: MessageTypeDefinition<Message, Message>): Map<string, string> {
  const fields = (type.type as { field: { name: string; jsonName?: string }[] }).field;
  return new Map(
    fields.flatMap(
      (f) =>
        [
          [f.name, f.name],
          [f.jsonName ?? f.name, f.name],
        ] as [string, string][],
    ),
  );
}

function toProtoNames(data: Message, names: Map<string, string>): Message {
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => {
      const name = names.get(key);
      if (!name) throw new Error(`data field "${key}" is not in the request message (fields: ${[...new Set(names.values())].join(', ')})`);
      return [name, value];
    }),
  );
}

/**
 * What `ghz --config FILE` does, run from bench/ghz/ as the README says, short of ghz itself (a Go
 * binary that cannot be installed here): parse the proto named by the config, find its call, read
 * its data file as protojson, and make `concurrency` calls to the server. Counts and timing are ghz's
 * own business; the parts that a config can get wrong are checked here.
 */
describe('ghz configs in bench/ghz/', function () {
  this.timeout(300_000);
  const configDir = path.join(ROOT, 'bench', 'ghz');
  const configs = readdirSync(configDir).filter((f) => f.endsWith('.json') && !f.endsWith('.data.json'));
  let t: TestServer;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'ghz-data-'));
    // The README's step that makes the request data, with its defaults (the development set's
    // receipt, found as the tests find the set), into a scratch folder instead of bench/ghz/.
    const made = await promisify(execFile)(process.execPath, [path.join(ROOT, 'dist', 'bench', 'ghz-data.js'), '--out', dataDir]);
    expect(made.stdout).to.contain(path.join(EVAL_DEV, 'docs', 'd003_receipt.jpg'));
    t = await startTestServer();
  });
  after(async () => {
    await t?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("the data step refuses an IMAGE or TILE_SIZE it cannot use in one line and writes nothing, rather than Node's stack trace", async () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'ghz-data-'));
    const notImage = path.join(scratch, 'notes.txt');
    writeFileSync(notImage, 'hello');
    const receipt = path.join(EVAL_DEV, 'docs', 'd003_receipt.jpg');
    const usage = 'usage: node dist/bench/ghz-data.js [IMAGE] [TILE_SIZE] [--out DIR]\n';
    for (const [args, said] of [
      [[path.join(scratch, 'missing.jpg')], /^ghz-data: cannot read IMAGE \S+missing\.jpg: ENOENT: /],
      [[receipt, 'abc'], /^ghz-data: TILE_SIZE is abc; give a whole number of pixels, e\.g\. 1024\n/],
      [[notImage], /^ghz-data: image is not a JPEG, PNG/],
    ] as const) {
      const made = await promisify(execFile)(process.execPath, [
        path.join(ROOT, 'dist', 'bench', 'ghz-data.js'),
        ...args,
        '--out',
        scratch,
      ]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(made.code, args.join(' ')).to.equal(1);
      expect(made.stderr).to.match(said);
      expect(made.stderr.endsWith(usage), made.stderr).to.equal(true);
    }
    expect(readdirSync(scratch)).to.deep.equal(['notes.txt']);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('has a config for Recognize and one for RecognizeTiles', () => {
    const calls = configs.map((f) => (JSON.parse(readFileSync(path.join(configDir, f), 'utf8')) as GhzConfig).call);
    expect(calls).to.include.members(['ocr.v1.OcrService.Recognize', 'ocr.v1.OcrService.RecognizeTiles']);
  });

  for (const file of configs) {
    it(`${file}: known keys, the proto and call resolve, and its data is served`, async () => {
      const raw = JSON.parse(readFileSync(path.join(configDir, file), 'utf8')) as Record<string, unknown>;
      expect(
        Object.keys(raw).filter((k) => !GHZ_KEYS.has(k)),
        'keys ghz does not know',
      ).to.deep.equal([]);
      const config = raw as unknown as GhzConfig;
      expect(config.host, 'the default address of `ocr serve`').to.equal('127.0.0.1:50051');
      expect(config.insecure).to.equal(true);
      expect(config.total).to.be.at.least(config.concurrency);

      const definition = loadSync(path.resolve(configDir, config.proto), {
        keepCase: true,
        includeDirs: (config['import-paths'] ?? []).map((p) => path.resolve(configDir, p)),
      });
      const dot = config.call.replace('/', '.').lastIndexOf('.');
      const [serviceName, methodName] = [config.call.slice(0, dot), config.call.slice(dot + 1)];
      const service = definition[serviceName] as Record<string, MethodDefinition<Message, Message>> | undefined;
      expect(service, `service ${serviceName} in ${config.proto}`).to.not.equal(undefined);
      const method = service![methodName]!;
      expect(method, `method ${methodName}`).to.not.equal(undefined);

      const names = fieldNames(method.requestType);
      const data = JSON.parse(readFileSync(path.join(dataDir, config['data-file']), 'utf8')) as Message | Message[];
      const client = new Client(t.target, credentials.createInsecure());
      try {
        const calls = Array.from({ length: config.concurrency }, async () => {
          if (method.requestStream) {
            expect(Array.isArray(data), 'a stream takes an array of messages').to.equal(true);
            return bidi(
              client,
              method,
              (data as Message[]).map((m) => toProtoNames(m, names)),
            );
          }
          expect(Array.isArray(data), 'a unary call takes one message').to.equal(false);
          return [await unary(client, method, toProtoNames(data as Message, names))];
        });
        for (const replies of await Promise.all(calls)) {
          const last = replies.at(-1)!;
          expect(last.instance_id).to.equal(t.server.instanceId);
          const lines = (method.requestStream ? (last.image as Message).lines : last.lines) as unknown[];
          expect(lines.length, 'lines read from the receipt').to.be.above(10);
        }
      } finally {
        client.close();
      }
    });
  }
});

function unary(client: Client, method: MethodDefinition<Message, Message>, request: Message): Promise<Message> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, (err, reply) =>
      err ? reject(err) : resolve(reply!),
    );
  });
}

function bidi(client: Client, method: MethodDefinition<Message, Message>, requests: Message[]): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    const replies: Message[] = [];
    call.on('data', (m: Message) => replies.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(replies));
    for (const r of requests) call.write(r);
    call.end();
  });
}
