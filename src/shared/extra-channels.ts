import type { Metadata } from 'sharp';
import { invalidArgument } from './errors.js';

/** The colour channels of sharp's colour spaces: gray and CMYK; every other one it reads has three. */
const COLOURS: Record<string, number> = { 'b-w': 1, grey16: 1, cmyk: 4 };

/**
 * INVALID_ARGUMENT for an image of more channels than its colours and one alpha (a TIFF's extra
 * samples: spot colours, masks, a multispectral scan's bands), before any decoder meets it. The
 * decode flattens one alpha channel on white and converts the colours to RGB; with more, libvips'
 * flatten failed and the caller was told the file was corrupt or truncated, and sharp refuses
 * more than five channels in those words too.
 */
export function checkChannels(meta: Pick<Metadata, 'channels' | 'space' | 'hasAlpha'>, format: string): void {
  const colours = COLOURS[meta.space] ?? 3;
  const most = colours + (meta.hasAlpha ? 1 : 0);
  if (meta.channels > most) {
    throw invalidArgument(
      `${format.toUpperCase()} image has ${meta.channels} channels (${meta.space}${meta.hasAlpha ? ' with alpha' : ''}), ` +
        `more than its ${colours} colour channel${colours > 1 ? 's' : ''} and one alpha: this server does not read extra channels; ` +
        'save it as gray, RGB or CMYK, with at most an alpha channel, and send that',
    );
  }
}
