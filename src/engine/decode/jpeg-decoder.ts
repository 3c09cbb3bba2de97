/**
 * Decoding of plain JPEGs (isPlainJpeg) in the calling thread, with MozJPEG compiled to WebAssembly
 * (@jsquash/jpeg): the same library sharp's libvips decodes JPEGs with, so the pixels are sharp's
 * to the byte. For small images sharp's fixed cost per call dominates, so a development line image
 * takes less CPU here than through sharp (docs/BENCHMARKS.md, "Tried and kept").
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import mozjpegDecoder from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { corruptImage } from '../../shared/corrupt-image.js';
import { rgbFromRgba } from './image-ops.js';
import { checkJpegScans, isPlainJpeg, readJpegHeader } from '../../shared/jpeg-header.js';
import type { RawImage } from '../types.js';

interface Decoded {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

export interface Decoder {
  /** The pixels as RGBA, or why libjpeg gave up (its last message). */
  decode(bytes: Uint8Array): Decoded | string;
}

const corrupt = (why: string): Error => corruptImage('JPEG', why);

/** The part of the Emscripten module factory used here (its own typings need the DOM's). */
type ModuleFactory = (options: {
  noInitialRun: boolean;
  wasmBinary: Uint8Array;
  print: (line: string) => void;
  printErr: (line: string) => void;
}) => Promise<{ decode(data: Uint8Array, preserveOrientation: boolean): Decoded | null }>;

let decoder: Promise<Decoder> | null = null;

/**
 * This thread's MozJPEG instance, made on the first call; a worker calls it while loading its
 * models, so that its first JPEG does not wait for the WebAssembly to be compiled.
 */
export function loadJpegDecoder(): Promise<Decoder> {
  decoder ??= (async () => {
    const messages: string[] = [];
    const module = await (mozjpegDecoder as unknown as ModuleFactory)({
      noInitialRun: true,
      wasmBinary: readFileSync(createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')),
      // libjpeg's warnings and errors would go to stderr; here the last one explains a failure.
      print: (line) => messages.push(line),
      printErr: (line) => messages.push(line),
    });
    return {
      decode: (bytes) => {
        let rgba: Decoded | null = null;
        try {
          rgba = module.decode(bytes, false);
        } catch {
          // A fatal libjpeg error ends the call with an exception; the instance stays usable.
        }
        const reason = messages.splice(0).at(-1);
        return rgba ?? reason ?? 'the decoder gave up';
      },
    };
  })();
  return decoder;
}

/**
 * The pixels of a JPEG that isPlainJpeg passed, as RGB; INVALID_ARGUMENT for a corrupt one, or one
 * of more scans than checkJpegScans allows (checked here too, since MozJPEG takes them all).
 */
export async function decodePlainJpeg(buf: Uint8Array): Promise<RawImage> {
  const header = readJpegHeader(buf);
  if (!header || !isPlainJpeg(header)) throw corrupt('not a plain 8-bit JPEG');
  checkJpegScans(buf);
  const rgba = (await loadJpegDecoder()).decode(buf);
  if (typeof rgba === 'string') throw corrupt(rgba);
  const { width, height } = rgba;
  if (width !== header.width || height !== header.height)
    throw corrupt(`decoded to ${width}×${height}, not the ${header.width}×${header.height} its header declares`);
  return rgbFromRgba(rgba);
}
