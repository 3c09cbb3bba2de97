#!/usr/bin/env bash
# Regenerate src/gen/ from proto/ with ts-proto. Needs protoc (Debian: apt-get install protobuf-compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
rm -rf src/gen && mkdir -p src/gen
protoc \
  --plugin=protoc-gen-ts_proto=./node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out=src/gen \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,forceLong=number,oneof=unions-value,useOptionals=messages,outputJsonMethods=false,outputPartialMethods=true \
  -I proto proto/ocr/v1/ocr.proto
# A bytes field read from a Buffer becomes a view of the message, not ts-proto's copy of it: a request's
# images are most of its size, and the copy cost the main thread about 70 ms and 30 MB more for a
# 30 MB request. The engine copies a file's bytes alone before posting them to a worker.
sed -i 's/Buffer\.from(reader\.bytes())/bytesView(reader.bytes())/' src/gen/ocr/v1/ocr.ts
cat >>src/gen/ocr/v1/ocr.ts <<'TS'

function bytesView(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
TS
echo "generated: $(find src/gen -name '*.ts' | tr '\n' ' ')"
