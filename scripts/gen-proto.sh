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
echo "generated: $(find src/gen -name '*.ts' | tr '\n' ' ')"
