/**
 * An HTTP request's own parameters, beside its recognition options: its priority and its timeout,
 * from a header (`ocr-priority`, `ocr-timeout-ms`), a query parameter or a body field (a form field,
 * or the JSON options). Each is taken from one place: given in two, which was meant is anyone's
 * guess, and the request is refused as an option given twice is (request-options.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Priority } from './backend.js';
import { HttpError } from './failure.js';
import { shown } from '../shared/shown.js';
import type { OptionSource } from './request-options.js';

/** Query parameters and body fields that are the request's own, not recognition options. */
export const CALL_PARAMETERS = new Set(['timeout_ms', 'priority']);

export interface CallTerms {
  priority: Priority;
  /** Date.now() milliseconds; undefined: none given. */
  deadline: number | undefined;
}

/** The value of `name`, from the one place it was given (`header` its header's name); undefined where none. */
function parameter(request: FastifyRequest, body: OptionSource | undefined, name: string, header: string): unknown {
  const given: [place: string, value: unknown][] = [];
  // Node joins a repeated header's values with ", ": '100, 200' would be refused as a malformed value.
  const headerValues = request.raw.headersDistinct[header] ?? [];
  if (headerValues.length > 1) throw new HttpError(400, 'INVALID_ARGUMENT', `${name} came twice as the header ${header}; send it once`);
  const fromHeader = headerValues[0];
  if (fromHeader !== undefined) given.push([`as the header ${header}`, fromHeader]);
  const fromQuery = (request.query as Record<string, unknown>)[name];
  if (fromQuery !== undefined) given.push(['in the query', fromQuery]);
  const fromBody = body?.values[name];
  if (fromBody !== undefined) given.push([body!.place, fromBody]);
  const [first, second] = given;
  if (second) throw new HttpError(400, 'INVALID_ARGUMENT', `${name} came twice, ${first![0]} and ${second[0]}; send it once`);
  // The query parser gives a parameter repeated as an array.
  if (first && Array.isArray(first[1])) throw new HttpError(400, 'INVALID_ARGUMENT', `${name} came twice ${first[0]}; send it once`);
  return first?.[1];
}

/**
 * The request's priority and deadline. The timeout counts from the request's arrival (Fastify's
 * `elapsedTime` counts from there), as a gRPC deadline includes the call's upload. Before its body
 * is read (`body` undefined), from its headers and query.
 */
export function callTerms(request: FastifyRequest, reply: FastifyReply, body?: OptionSource): CallTerms {
  const priority = parameter(request, body, 'priority', 'ocr-priority') ?? 'interactive';
  if (priority !== 'interactive' && priority !== 'batch') {
    throw new HttpError(400, 'INVALID_ARGUMENT', `priority is ${shown(priority)}; send 'interactive' or 'batch'`);
  }
  const timeout = parameter(request, body, 'timeout_ms', 'ocr-timeout-ms');
  if (timeout === undefined) return { priority, deadline: undefined };
  // Digits only, as the options' numbers: Number() would take 0x10, 1e3 and blanks too.
  const ms = typeof timeout === 'number' ? timeout : typeof timeout === 'string' && /^\d+$/.test(timeout) ? Number(timeout) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new HttpError(400, 'INVALID_ARGUMENT', `timeout_ms is ${shown(timeout)}; send a whole number of milliseconds ≥ 1`);
  }
  return { priority, deadline: Date.now() - reply.elapsedTime + ms };
}
