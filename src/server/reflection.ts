import { fileURLToPath } from 'node:url';
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

export const OCR_PROTO = fileURLToPath(new URL('../../../proto/ocr/v1/ocr.proto', import.meta.url));

/** Server reflection (v1 and v1alpha) for the OCR and health services: grpcurl needs no proto file. */
export function addReflection(server: Server): void {
  const definition = loadSync([OCR_PROTO, healthProtoPath], { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  new ReflectionService(definition).addToServer(server);
}
