/**
 * An image file's bytes as sharp is to read them: a PNG's without its text (withoutPngText), dropped
 * the first time they are asked for and kept. Dropping copies the whole file, and an image is read
 * through sharp up to three times (its header probed for admission, its pixels decoded, its header
 * read again to explain a failure): one copy, passed along, serves all of them.
 */
import type { ImageFormat } from '../../shared/image-format.js';
import { withoutPngText } from '../../shared/png-text.js';

export class SharpInput {
  /** The bytes once a PNG's text has been dropped from them. */
  private withoutText: Uint8Array | undefined;

  /**
   * `dropText` drops a PNG's text (a test counts its runs through it); `textless` says that the
   * bytes have been through it already, elsewhere (probeImage's reading on the main thread, posted to a worker).
   */
  constructor(
    readonly file: Uint8Array,
    private readonly dropText: (buf: Uint8Array) => Uint8Array = withoutPngText,
    textless = false,
  ) {
    if (textless) this.withoutText = file;
  }

  /** The bytes sharp reads for an image of `format`. */
  forSharp(format: ImageFormat): Uint8Array {
    if (format !== 'png') return this.file;
    this.withoutText ??= this.dropText(this.file);
    return this.withoutText;
  }

  /** The bytes to pass on to a decode elsewhere: without a PNG's text where it has been dropped. */
  get bytes(): Uint8Array {
    return this.withoutText ?? this.file;
  }

  /**
   * The file, and the text-free copy where one was made: what a call waiting for memory holds of its
   * image, which Admission bounds. The probe makes the copy where it reads a PNG through sharp (one
   * with EXIF): a file of large IDAT or other chunks beside its text then held nearly twice its size,
   * of which only the file was counted. (Once admitted, a call is counted by its reservation, for
   * the file and the copy alike.)
   */
  get heldBytes(): number {
    return this.file.length + (this.withoutText && this.withoutText !== this.file ? this.withoutText.length : 0);
  }

  /** Whether `bytes` have been through dropText: a decode given them need not run it again. */
  get dropped(): boolean {
    return this.withoutText !== undefined;
  }
}

/** `image` as a SharpInput: itself, or new for a file's bytes. */
export const sharpInputOf = (image: Uint8Array | SharpInput): SharpInput => (image instanceof SharpInput ? image : new SharpInput(image));
