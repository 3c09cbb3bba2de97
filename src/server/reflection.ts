import { fileURLToPath } from 'node:url';
import type { Server } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { completeNames } from './descriptor-names.js';

export const OCR_PROTO = fileURLToPath(new URL('../../../proto/ocr/v1/ocr.proto', import.meta.url));

/** Server reflection (v1 and v1alpha) for the OCR and health services: grpcurl needs no proto file. */
export function addReflection(server: Server): void {
  const definition = loadSync([OCR_PROTO, healthProtoPath], { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
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
  const completed = new Map(completeNames([...originals.values()]).map((bytes, i) => [keys[i]!, Buffer.from(bytes)]));
  return Object.fromEntries(
    Object.entries(definition).map(([name, entry]) => {
      const files = filesOf(entry);
      return [name, files ? Object.assign({}, entry, { fileDescriptorProtos: files.map((b) => completed.get(key(b))!) }) : entry];
    }),
  );
}
