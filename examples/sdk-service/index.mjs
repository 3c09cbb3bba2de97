#!/usr/bin/env node
// A service that uses the OCR client SDK as an installed package (no engine, no models): reads one
// image and prints its lines as JSON on one line.
//
//   node index.mjs IMAGE [TARGET] [--tile-size N]
//
// TARGET (host:port or consul://agent:8500/service) defaults to $OCR_TARGET, then 127.0.0.1:50051.
// --tile-size sends the image as tiles, which needs the optional package sharp (npm install sharp).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { OcrCallError, OcrClient, recognizeLargeImage } from '@ocr-service/client';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'tile-size': { type: 'string' } } });
const [file, target = process.env.OCR_TARGET ?? '127.0.0.1:50051'] = positionals;
if (!file) {
  console.error('usage: node index.mjs IMAGE [TARGET] [--tile-size N]');
  process.exit(2);
}

let client;
try {
  // Inside the try: a malformed target (a URL, no port) is refused here, with what to write instead.
  client = new OcrClient(target, { deadlineMs: 60_000 });
  const image = await readFile(file);
  const tileSize = values['tile-size'] === undefined ? undefined : Number(values['tile-size']);
  const result = tileSize === undefined ? await client.recognize(image) : await recognizeLargeImage(client, image, { tileSize });
  const lines = result.lines.map(({ text, confidence, box }) => ({ text, confidence, box: box.map((p) => [p.x, p.y]) }));
  console.log(JSON.stringify({ file, instanceId: result.instanceId, width: result.width, height: result.height, lines }));
} catch (err) {
  // A failed call carries its gRPC status name; anything else (an unreadable file, sharp missing, a bad target) its message.
  console.error(err instanceof OcrCallError ? `${err.code}: ${err.details}` : err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
} finally {
  client?.close();
}
