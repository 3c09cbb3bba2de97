import { expect } from 'chai';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type JsonObject } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { Client, credentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../support/server.js';
import { hasInt8DotProduct } from '../../src/engine/runtime/cpu-features.js';
import { ROOT } from '../../src/dev/repo-paths.js';

/** What grpcurl and Consul use: reflection (v1 and v1alpha) and the standard health service. */
describe('health and reflection', function () {
  this.timeout(60_000);
  let t: TestServer;
  before(async () => (t = await startTestServer()));
  after(async () => t?.stop());

  interface ReflectionReply {
    listServicesResponse?: { service: { name: string }[] };
    fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  }

  /** The reflection stream as these tests use it (proto-loader's clients are untyped). */
  interface ReflectionStream {
    on(event: 'data', listener: (reply: ReflectionReply) => void): void;
    on(event: 'error', listener: (err: Error) => void): void;
    write(request: object): void;
    end(): void;
  }
  type ReflectionClient = InstanceType<ServiceClientConstructor> & { serverReflectionInfo(): ReflectionStream };

  function reflectionClient(version: 'v1' | 'v1alpha'): ReflectionClient {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', version);
    const pkg = loadPackageDefinition(loadSync(path.join(dir, 'reflection.proto'), { keepCase: false, oneofs: true }));
    const reflection = ((pkg.grpc as GrpcObject).reflection as GrpcObject)[version] as GrpcObject;
    const Client = reflection.ServerReflection as ServiceClientConstructor;
    return new Client(t.target, credentials.createInsecure()) as ReflectionClient;
  }

  function ask(client: ReflectionClient, request: object): Promise<ReflectionReply> {
    return new Promise((resolve, reject) => {
      const call = client.serverReflectionInfo();
      call.on('data', (reply: ReflectionReply) => resolve(reply));
      call.on('error', reject);
      call.write(request);
      call.end();
    });
  }

  for (const version of ['v1', 'v1alpha'] as const) {
    it(`lists the services over reflection ${version}, as \`grpcurl list\` does`, async () => {
      const client = reflectionClient(version);
      const reply = await ask(client, { listServices: '' });
      client.close();
      const names = reply.listServicesResponse!.service.map((s) => s.name);
      // As gRPC's own servers list them: reflection itself included.
      expect(names).to.have.members([
        'ocr.v1.OcrService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]);
    });
  }

  it('serves the OCR proto by symbol, so grpcurl can build requests with no proto at hand', async () => {
    const client = reflectionClient('v1');
    const reply = await ask(client, { fileContainingSymbol: 'ocr.v1.OcrService' });
    client.close();
    const files = reply.fileDescriptorResponse!.fileDescriptorProto.map((b) => Buffer.from(b).toString('latin1'));
    expect(files.some((f) => f.includes('RecognizeTiles') && f.includes('ocr.v1'))).to.equal(true);
  });

  it('takes `grpcurl -d \'{"image": "<base64>"}\' ... ocr.v1.OcrService/Recognize` with only what reflection serves', async () => {
    // grpcurl's steps: the descriptors from reflection (the file and its imports), the request from
    // JSON through them, the reply back to JSON. No proto file of ours is read here.
    const reflection = reflectionClient('v1');
    const reply = await ask(reflection, { fileContainingSymbol: 'ocr.v1.OcrService' });
    reflection.close();
    const files = reply.fileDescriptorResponse!.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, Buffer.from(b)));
    const registry = createFileRegistry(
      fromBinary(
        FileDescriptorSetSchema,
        toBinary(FileDescriptorSetSchema, { $typeName: 'google.protobuf.FileDescriptorSet', file: files }),
      ),
    );
    const method = registry.getService('ocr.v1.OcrService')!.methods.find((m) => m.name === 'Recognize')!;

    const { textImage } = await import('../support/images.js');
    const request = fromJson(method.input, { image: (await textImage('Total 42.00')).toString('base64') });
    const client = new Client(t.target, credentials.createInsecure());
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        `/ocr.v1.OcrService/${method.name}`,
        (m: Uint8Array) => Buffer.from(m),
        (b: Buffer) => b,
        toBinary(method.input, request),
        (err, out) => (err ? reject(err) : resolve(out!)),
      ),
    );
    client.close();
    const json = toJson(method.output, fromBinary(method.output, bytes)) as JsonObject;
    expect(json.instanceId).to.equal(t.server.instanceId);
    expect((json.lines as JsonObject[]).map((l) => l.text)).to.deep.equal(['Total 42.00']);
  });

  it('serves descriptors that protoc builds, map entries included, as grpcurl needs for describe and Health/Check', async () => {
    // grpcurl's way to the descriptors: list the services, then the files that hold each of them.
    const client = reflectionClient('v1');
    const services = (await ask(client, { listServices: '' })).listServicesResponse!.service.map((s) => s.name);
    const files = new Map<string, FileDescriptorProto>();
    for (const symbol of services) {
      const reply = await ask(client, { fileContainingSymbol: symbol });
      for (const bytes of reply.fileDescriptorResponse!.fileDescriptorProto) {
        const file = fromBinary(FileDescriptorProtoSchema, Buffer.from(bytes));
        files.set(file.name, file);
      }
    }
    client.close();
    expect([...files.values()].map((file) => file.package)).to.have.members([
      'grpc.health.v1',
      'ocr.v1',
      'grpc.reflection.v1',
      'grpc.reflection.v1alpha',
    ]);

    const set = toBinary(FileDescriptorSetSchema, { $typeName: 'google.protobuf.FileDescriptorSet', file: [...files.values()] });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'reflection-protoc-'));
    writeFileSync(path.join(dir, 'set.pb'), set);
    const args = [`--descriptor_set_in=${path.join(dir, 'set.pb')}`, `--descriptor_set_out=${path.join(dir, 'out.pb')}`, ...files.keys()];
    // protoc validates the files it builds from a set much as grpcurl's Go descriptor library does,
    // map entries included.
    const protoc = await promisify(execFile)('protoc', args).catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
      if (err.code === 'ENOENT') throw new Error('protoc is not on PATH: install protobuf-compiler (apt-get install -y protobuf-compiler)');
      throw new Error(`protoc refused the descriptors served by reflection: ${err.stderr ?? err.message}`);
    });
    expect(protoc.stderr).to.equal('');
  });

  for (const version of ['v1', 'v1alpha'] as const) {
    it(`serves ocr/v1/ocr.proto over reflection ${version} as protoc builds it from proto/: its name, proto3 optional fields and all`, async () => {
      const client = reflectionClient(version);
      const reply = await ask(client, { fileContainingSymbol: 'ocr.v1.RecognizeOptions' });
      client.close();
      const served = fromBinary(FileDescriptorProtoSchema, Buffer.from(reply.fileDescriptorResponse!.fileDescriptorProto[0]!));
      const dir = mkdtempSync(path.join(os.tmpdir(), 'reflection-protoc-'));
      await promisify(execFile)('protoc', [
        '-I',
        path.join(ROOT, 'proto'),
        `--descriptor_set_out=${path.join(dir, 'ocr.pb')}`,
        'ocr/v1/ocr.proto',
      ]);
      const built = fromBinary(FileDescriptorSetSchema, readFileSync(path.join(dir, 'ocr.pb'))).file[0]!;
      // grpcurl describes `optional uint32 max_side_len = 1;` only with the proto3_optional flag.
      expect(toJson(FileDescriptorProtoSchema, served)).to.deep.equal(toJson(FileDescriptorProtoSchema, built));
    });
  }

  it('answers file_by_filename for every file it names, and file_containing_symbol for methods, nested types and enums', async () => {
    const client = reflectionClient('v1');
    const names = new Set<string>();
    for (const symbol of [
      'ocr.v1.OcrService.RecognizeTiles',
      'ocr.v1.TileResponse',
      'grpc.health.v1.Health.Watch',
      'grpc.health.v1.HealthCheckResponse.ServingStatus',
      'grpc.health.v1.HealthListResponse.StatusesEntry',
      'grpc.reflection.v1.ServerReflection.ServerReflectionInfo',
      'grpc.reflection.v1alpha.ServerReflection',
    ]) {
      const reply = await ask(client, { fileContainingSymbol: symbol });
      expect(reply.fileDescriptorResponse, symbol).to.not.equal(undefined);
      for (const bytes of reply.fileDescriptorResponse!.fileDescriptorProto)
        names.add(fromBinary(FileDescriptorProtoSchema, Buffer.from(bytes)).name);
    }
    expect([...names]).to.have.members([
      'ocr/v1/ocr.proto',
      'grpc/health/v1/health.proto',
      'grpc/reflection/v1/reflection.proto',
      'grpc/reflection/v1alpha/reflection.proto',
    ]);
    for (const name of names) {
      const reply = await ask(client, { fileByFilename: name });
      expect(reply.fileDescriptorResponse, name).to.not.equal(undefined);
      expect(fromBinary(FileDescriptorProtoSchema, Buffer.from(reply.fileDescriptorResponse!.fileDescriptorProto[0]!)).name).to.equal(name);
    }
    client.close();
  });

  it('answers health checks for "" and ocr.v1.OcrService, and reports NOT_SERVING when set', async () => {
    const pkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String }));
    const Health = ((pkg.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;
    type HealthClient = InstanceType<ServiceClientConstructor> & {
      check(request: { service: string }, callback: (err: Error | null, reply: { status: string }) => void): void;
    };
    const client = new (Health.Health as ServiceClientConstructor)(t.target, credentials.createInsecure()) as HealthClient;
    const check = (service: string): Promise<string> =>
      new Promise((resolve, reject) =>
        client.check({ service }, (err: Error | null, reply: { status: string }) => (err ? reject(err) : resolve(reply.status))),
      );
    expect(await check('')).to.equal('SERVING');
    expect(await check('ocr.v1.OcrService')).to.equal('SERVING');
    t.server.health.setStatus('ocr.v1.OcrService', 'NOT_SERVING');
    expect(await check('ocr.v1.OcrService')).to.equal('NOT_SERVING');
    t.server.health.setStatus('ocr.v1.OcrService', 'SERVING');
    client.close();
  });

  it('GetServerInfo names the models, the dictionary size, the limits and the instance', async () => {
    const info = await t.client.getServerInfo();
    expect(info.instanceId).to.equal(t.server.instanceId);
    expect(info.models.map((m) => m.role)).to.deep.equal(['det', 'cls', 'rec']);
    expect(info.models.find((m) => m.role === 'rec')!.version).to.equal('PP-OCRv4-rec-mobile');
    expect(info.models.map((m) => m.precision)).to.deep.equal(['float32', 'float32', hasInt8DotProduct() ? 'int8' : 'float32']);
    expect(info.dictionarySize).to.equal(6623);
    expect(info.limits!.maxPixels).to.be.greaterThan(0);
    expect(info.defaults!.minConfidence).to.be.closeTo(0.5, 1e-6);
  });

  it('every response names its instance and carries stage timings', async () => {
    const { textImage } = await import('../support/images.js');
    const r = await t.client.recognize(await textImage('Total 42.00'));
    expect(r.instanceId).to.equal(t.server.instanceId);
    expect(r.timings!.totalMs).to.be.greaterThan(0);
    expect(r.timings!.recognizeMs).to.be.greaterThan(0);
    const l = await t.client.recognizeLines([await textImage('Total 42.00')]);
    expect(l.instanceId).to.equal(t.server.instanceId);
    expect(l.timings!.recognizeMs).to.be.greaterThan(0);
  });
});
