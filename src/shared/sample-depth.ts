import type { Metadata } from 'sharp';
import { invalidArgument } from './errors.js';

/** sharp's sample depths in words; 'uchar' and 'ushort' are read as any decoder reads them. */
const DEPTHS: Record<string, string> = {
  char: 'signed 8-bit integer',
  short: 'signed 16-bit integer',
  uint: 'unsigned 32-bit integer',
  int: 'signed 32-bit integer',
  float: '32-bit floating-point',
  double: '64-bit floating-point',
  complex: 'complex',
  dpcomplex: 'complex',
};

/**
 * INVALID_ARGUMENT for an image whose samples the decode would not read as the colours they stand
 * for (a TIFF's sample formats), before any decoder meets it. libvips scales 8- and 16-bit unsigned
 * samples, reads floating-point RGB as linear light from 0 to 1 (scRGB), as TIFF writers store
 * it, and 16-bit CIELab as signed (LabS); other gray and CMYK floats it takes as 0 to 255, and 32-bit integers and signed RGB it clips:
 * a float gray scan of 0 to 1 decoded to a black page, read as one without text.
 */
export function checkSampleDepth(meta: Pick<Metadata, 'depth' | 'space'>, format: string): void {
  const { depth, space } = meta;
  if (depth === 'uchar' || depth === 'ushort' || (space === 'scrgb' && depth === 'float') || (space === 'labs' && depth === 'short'))
    return;
  throw invalidArgument(
    `${format.toUpperCase()} image has ${DEPTHS[depth] ?? depth} samples (${space}), which this server does not read as their colours: ` +
      "save it with 8- or 16-bit unsigned samples (an editor's 8-bit or 16-bit mode) and send that",
  );
}
