import type { SharpOptions } from 'sharp';

/**
 * How strictly sharp decodes, in the server and the SDK alike. 'error' refuses a file cut short and
 * data its decoder finds broken: with 'truncated' alone, a TIFF whose strip lay past the file's end
 * or was cut short decoded to black (an empty answer, not a refusal), and a PNG whose pixel chunk
 * failed its CRC decoded, where decodePlainPng refuses it. The warnings many camera JPEGs raise
 * ("extraneous bytes before marker") still pass: libvips fails on those only at 'warning'.
 */
export const SHARP_FAIL_ON: NonNullable<SharpOptions['failOn']> = 'error';
