/**
 * The size limit on a request's images (--max-message-mb), one rule on every path: a page's image,
 * or the line images of one request together, at most `maxImageBytes`, over HTTP and over gRPC
 * alike. The gRPC message around them is allowed what its other fields take on top.
 */

const mib = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(bytes < 1024 * 1024 ? 2 : 0);

/** The refusal of images over the limit (`many`: a request's line images together). */
export const tooLarge = (maxImageBytes: number, many: boolean): string =>
  many
    ? `the line images of this request are larger together than this server's limit of ${mib(maxImageBytes)} MiB a request: send fewer of them a request, or, for one line image this large, crop it to its line or scale it down`
    : `the request is larger than this server's limit of ${mib(maxImageBytes)} MiB an image; scale the image down or send it as tiles over gRPC`;

/**
 * The refusal of one line image over the limit, where the caller knows it sends it alone (ocr
 * recognize --lines-only): the server, refusing a message by its length, cannot tell one from many.
 */
export const lineTooLarge = (bytes: number, maxImageBytes: number): string =>
  `the line image is ${(bytes / (1024 * 1024)).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MiB, larger than the server's limit of ${mib(maxImageBytes)} MiB a request (its --max-message-mb): crop it to its line or scale it down`;

/** Room for a request's options: a few numbers and flags take well under a hundred bytes. */
const OPTIONS_BYTES = 1024;
/** What each image adds in a request: its field's tag (1 byte) and its length (a varint, 5 bytes at most below 4 GiB). */
const IMAGE_FRAMING_BYTES = 6;

/**
 * What a gRPC request of at most `maxImages` images adds around them at most: the receive limit of
 * a server whose limit on images is L is L plus this, so that images of exactly L fit as they do
 * over HTTP, and a gateway's request carrying what its caller sent fits the instances.
 */
export const requestFramingBytes = (maxImages: number): number => OPTIONS_BYTES + IMAGE_FRAMING_BYTES * maxImages;
