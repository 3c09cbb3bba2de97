/**
 * Request encoders that copy each image once. ts-proto's encoder grows its buffer by doubling
 * (about twice the message zero-filled and copied along the way), then slices it, and the generated
 * requestSerialize copies that into a Buffer: fresh memory, several times a call, that the kernel
 * has to fault in. Here the images go, each behind its tag and length, into one buffer of the exact
 * size, and the message's other fields (small, encoded by ts-proto) follow, which spares the client
 * CPU on every call (docs/BENCHMARKS.md, "Tried and kept").
 * Protobuf readers accept fields in any order; Recognize and RecognizeLines requests come out byte
 * for byte as ts-proto writes them, since their images are field 1.
 */
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import { type OcrServiceClient, OcrServiceService, RecognizeLinesRequest, RecognizeRequest, TileRequest } from '../gen/ocr/v1/ocr.js';
import { OCR_SERVICE } from '../shared/service-name.js';

const LENGTH_DELIMITED = 2;
const NO_BYTES = Buffer.alloc(0);

const varintLength = (n: number): number => {
  let length = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) length++;
  return length;
};

/** `chunks` as repeated occurrences of a bytes field `field`, then `rest` (the message's other fields, encoded). */
export function encodeBytesFirst(field: number, chunks: readonly Uint8Array[], rest: Uint8Array): Buffer {
  const tag = (field << 3) | LENGTH_DELIMITED;
  let size = rest.length;
  for (const c of chunks) size += varintLength(tag) + varintLength(c.length) + c.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const varint = (n: number): void => {
    let v = n;
    while (v >= 0x80) {
      out[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    out[pos++] = v;
  };
  for (const c of chunks) {
    varint(tag);
    varint(c.length);
    out.set(c, pos);
    pos += c.length;
  }
  out.set(rest, pos);
  return out;
}

/** A proto3 singular bytes field is left out when empty. */
const present = (bytes: Uint8Array): Uint8Array[] => (bytes.length > 0 ? [bytes] : []);

export const encodeRecognizeRequest = (r: RecognizeRequest): Buffer =>
  encodeBytesFirst(1, present(r.image), RecognizeRequest.encode({ ...r, image: NO_BYTES }).finish());

export const encodeRecognizeLinesRequest = (r: RecognizeLinesRequest): Buffer =>
  encodeBytesFirst(1, r.images, RecognizeLinesRequest.encode({ ...r, images: [] }).finish());

export const encodeTileRequest = (r: TileRequest): Buffer =>
  encodeBytesFirst(8, present(r.image), TileRequest.encode({ ...r, image: NO_BYTES }).finish());

/** The generated service definition with the encoders above for the requests that carry images. */
const leanService = {
  ...OcrServiceService,
  recognize: { ...OcrServiceService.recognize, requestSerialize: encodeRecognizeRequest },
  recognizeLines: { ...OcrServiceService.recognizeLines, requestSerialize: encodeRecognizeLinesRequest },
  recognizeTiles: { ...OcrServiceService.recognizeTiles, requestSerialize: encodeTileRequest },
};

/** The generated client class, built on the lean encoders: same methods, same types. */
export const LeanOcrServiceClient = makeGenericClientConstructor(leanService, OCR_SERVICE) as unknown as typeof OcrServiceClient;
