import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { completeNames } from './descriptor-names.js';

export const OCR_PROTO = fileURLToPath(new URL('../../../proto/ocr/v1/ocr.proto', import.meta.url));

/** The reflection protos that @grpc/reflection serves its two versions from. */
function reflectionProtos(): string[] {
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection');
  return ['v1', 'v1alpha'].map((version) => path.join(dir, version, 'reflection.proto'));
}

/**
 * Each package's file as protoc names it from its include root: the name grpcurl's describe shows,
 * that file_by_filename answers to and that a protoset made from reflection imports by. The health
 * and reflection files keep the names gRPC's own servers give them.
 */
const FILE_NAMES = new Map([
  ['ocr.v1', 'ocr/v1/ocr.proto'],
  ['grpc.health.v1', 'grpc/health/v1/health.proto'],
  ['grpc.reflection.v1', 'grpc/reflection/v1/reflection.proto'],
  ['grpc.reflection.v1alpha', 'grpc/reflection/v1alpha/reflection.proto'],
]);

/**
 * Server reflection (v1 and v1alpha) for the OCR, health and reflection services: grpcurl needs no
 * proto file, and `list` shows what the server serves, reflection included, as gRPC's own servers do.
 */
export function addReflection(server: Server): void {
  const definition = loadSync([OCR_PROTO, healthProtoPath, ...reflectionProtos()], {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(withCompleteNames(definition)).addToServer(server);
}

/** The definition with its file descriptors' names as protoc writes them (completeNames). */
function withCompleteNames(definition: PackageDefinition): PackageDefinition {
  // Messages and enums carry their files' descriptors; services carry none of their own.
  const filesOf = (entry: PackageDefinition[string]): Buffer[] | undefined => {
    const files = (entry as { fileDescriptorProtos?: unknown }).fileDescriptorProtos;
    return Array.isArray(files) ? (files as Buffer[]) : undefined;
  };
  const key = (bytes: Buffer): string => bytes.toString('latin1');
  const originals = new Map<string, Buffer>();
  for (const entry of Object.values(definition)) for (const bytes of filesOf(entry) ?? []) originals.set(key(bytes), bytes);
  const keys = [...originals.keys()];
  const completed = new Map(completeNames([...originals.values()], FILE_NAMES).map((bytes, i) => [keys[i]!, Buffer.from(bytes)]));
  return Object.fromEntries(
    Object.entries(definition).map(([name, entry]) => {
      const files = filesOf(entry);
      return [name, files ? Object.assign({}, entry, { fileDescriptorProtos: files.map((b) => completed.get(key(b))!) }) : entry];
    }),
  );
}
