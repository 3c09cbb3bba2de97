/**
 * A request's images, whichever form its body takes (multipart, an image body, JSON base64), and
 * what is wrong with it in the API's own words: its size against the message limit, as over gRPC,
 * its form, and the body parsers' own errors.
 */
import type { FastifyRequest } from 'fastify';
import { OcrError } from '../shared/errors.js';
import { sniffFormat } from '../shared/image-format.js';
import { notAnImage } from '../shared/not-an-image.js';
import { tooLarge } from '../shared/image-limit.js';
import { clipped, shown } from '../shared/shown.js';
import { HttpError, type HttpFailure } from './failure.js';
import { boundBodyBytes } from './body-bytes-bound.js';
import { base64FormField } from './form-body.js';
import { JsonBody } from './json-body.js';
import { readJsonImages } from './json-images-thread.js';
import { tooMany } from './json-images.js';
import type { OptionSource } from './request-options.js';

/** Multipart field names that carry images. */
const IMAGE_FIELDS = new Set(['image', 'images', 'file']);

/**
 * Which multipart parts are files, read up to the image limit, rather than text fields, cut at
 * MAX_FIELD_BYTES: busboy's rule (a filename, or application/octet-stream), and any part in an
 * image field, which `curl -F "image=<file"` and Python requests' `files={'image': (None, data)}`
 * send without a filename. Other text fields keep their small limit.
 */
export const isFilePart = (fieldName: string | undefined, contentType: string | undefined, fileName: string | undefined): boolean =>
  fileName !== undefined || contentType === 'application/octet-stream' || IMAGE_FIELDS.has(fieldName ?? '');

/** Why a body of `contentType` is refused (415), naming it; JSON sent as text, as fetch sends a string, is told the header it needs. */
export function unsupportedBody(contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0]!.trim();
  const hint =
    type.toLowerCase() === 'text/plain'
      ? ' (JSON sent as text/plain, as fetch sends a string, needs the header Content-Type: application/json)'
      : '';
  return `unsupported Content-Type ${clipped(type)}; send multipart/form-data with the field 'image', an image/* or application/octet-stream body, or application/json${hint}`;
}

/**
 * Whether a body of `contentType` is one the image routes read (app.ts' parsers: multipart,
 * image/*, application/octet-stream, JSON); any other is refused 415 from its headers, before a
 * byte of it is read or a client that asks first (Expect: 100-continue) is told to send it.
 */
export function readsBodyType(contentType: string): boolean {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return ['multipart/form-data', 'application/octet-stream', 'application/json'].includes(type) || type.startsWith('image/');
}

/**
 * Why a body sent with a Content-Encoding is refused (415, as RFC 9110 has it for a coding the
 * server does not decode), or null for none or `identity`. Decoded, a small gzip could expand past
 * every limit before one counted it; read as it came, its bytes were told they are no image.
 */
export function unsupportedCoding(header: string | undefined): string | null {
  const coding = header?.trim().toLowerCase();
  if (!coding || coding === 'identity') return null;
  return `the body is sent with Content-Encoding: ${header!.trim()}, which this server does not decode; send the image file as it is, without a Content-Encoding (image formats are compressed already)`;
}

/*
 * A request's images together are one gRPC message, and bounded as one (`maxImageBytes`,
 * image-limit.ts): a page, or all the line images of a request. An image each would let one lines
 * request hold 256 images of 32 MiB.
 */

/** Form fields a multipart request may carry beside its images: the options and the call's parameters. */
export const MAX_FORM_FIELDS = 32;

/** The longest form field: an option's value or a call's parameter is a few characters. */
export const MAX_FIELD_BYTES = 1024;

/** The parts a multipart body may have: its images and the form fields beside them. */
export const maxFormParts = (maxImages: number): number => maxImages + MAX_FORM_FIELDS;

/** Why a multipart body of more parts than maxFormParts is refused: parts of no field count too, so no image count says it. */
const tooManyParts = (maxImages: number, many: boolean): string =>
  `the multipart body has more than ${maxFormParts(maxImages)} parts, this server's limit, those without a field name included: ` +
  `send ${many ? `at most ${maxImages} line images in the field 'image'` : "the image in the field 'image'"} and its options only`;

/**
 * The multipart parser's own errors (no boundary, a body cut short) are the request's fault (400),
 * not the server's (500). Ours, the plugin's limits (FST_*) and a body's reader's (body-turn.ts)
 * keep their own answers.
 */
function malformedMultipart(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof HttpError || err instanceof OcrError) return err;
  if (String((err as { code?: unknown }).code).startsWith('FST_')) return err;
  return new HttpError(
    400,
    'INVALID_ARGUMENT',
    `the multipart body is malformed (${err.message}); send it as a browser, curl -F or Python requests' files= make it`,
  );
}

/** What multipart adds around a request's files at most: its boundaries and part headers. */
const multipartOverhead = (parts: number): number => 64 * 1024 + 1024 * parts;

/** Base64 is 4/3 of the bytes, of all of a request's images together; the rest of a JSON body is small. */
export const jsonBodyLimit = (maxBytes: number): number => Math.ceil((maxBytes * 4) / 3) + 64 * 1024;

/** The longest body of `contentType` that may hold `maxImages` images of `maxBytes` together; a longer one is refused 413. */
export function bodyLimit(contentType: string | undefined, maxBytes: number, maxImages: number): number {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'multipart/form-data') return maxBytes + multipartOverhead(maxImages);
  if (type === 'application/json') return jsonBodyLimit(maxBytes);
  return maxBytes;
}

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The bytes a request's Content-Length says its body holds; 0 for none or one that is not a length (a chunked body says nothing ahead). */
export function declaredBodyBytes(headers: Record<string, string | string[] | undefined>): number {
  const length = Number(headers['content-length']);
  return Number.isFinite(length) && length > 0 ? length : 0;
}

/**
 * The Content-Type of a body that says nothing of what it holds, or null for any other: none at all
 * (Python requests' `data=`; RFC 9110 §8.3 lets a server then look at the bytes) or a form's, which
 * `curl --data-binary @scan.jpg` sends. Such a body is read as the image itself, its bytes deciding
 * (checkImage): a form's fields never begin as an image file does. '' stands for none.
 */
export function untypedBody(headers: Record<string, string | string[] | undefined>): string | null {
  // A body at all, as Fastify reads one: without it, "no image" says what to send.
  if (headers['transfer-encoding'] === undefined && Number(headers['content-length'] ?? 0) === 0) return null;
  const type = headers['content-type'];
  if (type === undefined) return '';
  return typeof type === 'string' && type.split(';')[0]!.trim().toLowerCase() === FORM_TYPE ? FORM_TYPE : null;
}

/** How long an image file is before it has a CR or LF byte but for one in ten million (each byte one of 256). */
const LINE_BREAK_SPAN = 4096;

/**
 * Whether `bytes` is an image file with its CR and LF bytes dropped, as `curl -d @file` sends it:
 * a JPEG's first bytes have none, and the decoder would call what follows corrupt.
 */
export function lineBreaksDropped(bytes: Uint8Array): boolean {
  return bytes.length >= LINE_BREAK_SPAN && !bytes.includes(0x0a) && !bytes.includes(0x0d);
}

/** `sentAs`: the type of a body read as an image though it did not say so (untypedBody), which the refusal then names. */
export function checkImage(bytes: Uint8Array, what: string, sentAs?: string): void {
  if (bytes.length === 0) throw new HttpError(400, 'INVALID_ARGUMENT', `${what} is empty: send the encoded file`);
  // An image's own bytes are not looked through for a form's fields.
  const inForm = sentAs === FORM_TYPE && !sniffFormat(bytes) ? base64FormField(bytes) : null;
  if (inForm) {
    throw new HttpError(
      415,
      'INVALID_ARGUMENT',
      `the body is a URL-encoded form whose field ${shown(inForm.field)} holds the base64 text of a ${inForm.format} image, a form this API does not read: ` +
        "send the file in a multipart/form-data field 'image' (Python requests: files={'image': f}; curl -F image=@file), " +
        "or the base64 text as JSON with Content-Type: application/json (requests: json={'image': text})",
    );
  }
  if (sentAs === FORM_TYPE && lineBreaksDropped(bytes)) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `the body came as ${FORM_TYPE} without a single line-break byte, as curl -d @file sends a file after dropping them: send it with curl --data-binary @file`,
    );
  }
  if (!sniffFormat(bytes)) {
    throw new HttpError(
      415,
      'INVALID_ARGUMENT',
      sentAs === undefined
        ? notAnImage(what, bytes)
        : sentAs === ''
          ? notAnImage(
              'the body, sent without a Content-Type,',
              bytes,
              "send the image file itself, JSON with Content-Type: application/json, or multipart/form-data with the field 'image'",
            )
          : notAnImage(
              `the body, sent as ${sentAs},`,
              bytes,
              `send the file in the multipart/form-data field 'image' (an HTML form needs enctype="multipart/form-data"), or the file itself as the body (curl -d @file drops its line breaks: send it with --data-binary)`,
            ),
    );
  }
}

export interface Images {
  /** At least one: a request with none is refused, saying how to send one in the form it used. */
  images: [Buffer, ...Buffer[]];
  /** The form fields or JSON `options`; undefined for an image body, whose options are in its query. */
  fields: OptionSource | undefined;
}

const nonEmpty = <T>(items: T[]): items is [T, ...T[]] => items.length > 0;

/** The images and option fields of a request, whichever of the three body forms it used. */
export async function readImages(request: FastifyRequest, many: boolean, maxImages: number, maxBytes: number): Promise<Images> {
  const refuseSize = (): HttpError => new HttpError(413, 'RESOURCE_EXHAUSTED', tooLarge(maxBytes, many));
  if (request.isMultipart()) {
    // Refused before a byte of it is read, where it says how long it is; else as its images add up, or
    // its bytes past the limit, which parts the parser reads and drops could otherwise take without end.
    const limit = bodyLimit(request.headers['content-type'], maxBytes, maxImages);
    if (Number(request.headers['content-length']) > limit) throw refuseSize();
    const images: Buffer[] = [];
    const fields: Record<string, unknown> = {};
    let total = 0;
    const unbound = boundBodyBytes(request.raw, limit, refuseSize);
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (!IMAGE_FIELDS.has(part.fieldname)) {
            await part.toBuffer();
            throw new HttpError(400, 'INVALID_ARGUMENT', `unexpected file field '${part.fieldname}'; send the image in the field 'image'`);
          }
          if (images.length >= (many ? maxImages : 1)) {
            throw new HttpError(
              many ? 413 : 400,
              many ? 'RESOURCE_EXHAUSTED' : 'INVALID_ARGUMENT',
              many ? tooMany(maxImages) : 'more than one image: /api/ocr reads one page; send line images to /api/ocr/lines',
            );
          }
          const image = await part.toBuffer();
          if ((total += image.length) > maxBytes) throw refuseSize();
          images.push(image);
        } else {
          // busboy cuts a longer field and says so: what is left of it is not what was sent.
          if (part.valueTruncated || part.fieldnameTruncated) {
            throw new HttpError(
              400,
              'INVALID_ARGUMENT',
              `the form field '${part.fieldname}' is longer than ${MAX_FIELD_BYTES} bytes, this server's limit for a field: send the option's value alone`,
            );
          }
          if (Object.hasOwn(fields, part.fieldname)) {
            throw new HttpError(400, 'INVALID_ARGUMENT', `the form field '${part.fieldname}' came twice; send it once`);
          }
          fields[part.fieldname] = part.value;
        }
      }
    } catch (err) {
      throw malformedMultipart(err);
    } finally {
      unbound();
    }
    if (!nonEmpty(images)) {
      throw new HttpError(
        400,
        'INVALID_ARGUMENT',
        many ? "no images: send each line image in a multipart field 'image'" : "no image: send it in the multipart field 'image'",
      );
    }
    return { images, fields: { place: 'as a form field', values: fields } };
  }
  const body = request.body;
  if (Buffer.isBuffer(body)) return { images: [body], fields: undefined };
  if (body instanceof JsonBody) {
    const { images, options } = await readJsonImages(body.bytes, many, maxImages, maxBytes);
    // Only "images" can be empty: "image" is one string.
    if (!nonEmpty(images))
      throw new HttpError(400, 'INVALID_ARGUMENT', 'no images: "images" is empty; send each line image as a base64 string in it');
    return { images, fields: { place: 'in the JSON options', values: options } };
  }
  throw new HttpError(
    400,
    'INVALID_ARGUMENT',
    'no image: send multipart/form-data with the field \'image\', the image itself (Content-Type: image/...), or JSON {"image": base64}',
  );
}

/** A Fastify error (body too large, unparsable JSON, bad content type) as one of ours. */
export function frameworkFailure(
  err: { statusCode?: number; message: string; code?: string },
  maxImageBytes: number,
  maxImages: number,
  many: boolean,
  contentType: string | undefined,
): HttpFailure | null {
  const status = err.statusCode;
  if (err.code === 'FST_FIELDS_LIMIT') {
    return {
      status: 413,
      code: 'RESOURCE_EXHAUSTED',
      message: `more than ${MAX_FORM_FIELDS} form fields in one request, this server's limit: send the image and its options only`,
    };
  }
  // The plugin's own words name neither the field nor what to send.
  if (err.code === 'FST_PROTO_VIOLATION') {
    return {
      status: 400,
      code: 'INVALID_ARGUMENT',
      message:
        "a form field is named after a property of every JavaScript object (__proto__, constructor, toString, ...), which this server refuses: send the image in the field 'image' and each option under its own name",
    };
  }
  if (err.code === 'FST_FILES_LIMIT') return { status: 413, code: 'RESOURCE_EXHAUSTED', message: tooMany(maxImages) };
  if (err.code === 'FST_PARTS_LIMIT') return { status: 413, code: 'RESOURCE_EXHAUSTED', message: tooManyParts(maxImages, many) };
  if (status === 413) return { status, code: 'RESOURCE_EXHAUSTED', message: tooLarge(maxImageBytes, many) };
  if (status === 415) return { status, code: 'INVALID_ARGUMENT', message: unsupportedBody(contentType) };
  if (status !== undefined && status >= 400 && status < 500) return { status, code: 'INVALID_ARGUMENT', message: err.message };
  return null;
}
