/**
 * What names an HTTP request in its log lines, whichever writes one: the error handler's, or an
 * answer from its socket (request-timeout.ts), which knows it only by the response Node made for
 * it. Taken as it arrives: once its connection has closed, its socket no longer says who it was.
 */
import type { FastifyRequest } from 'fastify';
import { clientPeer } from '../shared/client-address.js';

/** A request's fields in its lines: its id, its route (none for a path no route takes), its time so far and its caller. */
export interface RequestFields {
  requestId: string;
  route: string | undefined;
  ms: number;
  peer: string;
}

/** A request as it arrived: performance.now() then, and its caller. */
export interface Arrival {
  request: FastifyRequest;
  started: number;
  peer: string;
}

export class RequestArrivals {
  private readonly byResponse = new WeakMap<object, Arrival>();

  /** `routeOf`: the route a request is logged under, once it has been routed. */
  constructor(private readonly routeOf: (request: FastifyRequest) => string | undefined) {}

  /** Notes `request`, answered through `response`, as arriving now. */
  arrived(request: FastifyRequest, response: object): Arrival {
    const arrival = { request, started: performance.now(), peer: clientPeer(request.socket.remoteAddress, request.socket.remotePort) };
    this.byResponse.set(response, arrival);
    return arrival;
  }

  /** The fields of the request `response` answers, now; undefined for a response of no request noted. */
  fieldsOf(response: object): RequestFields | undefined {
    const arrival = this.byResponse.get(response);
    if (!arrival) return undefined;
    const { request, started, peer } = arrival;
    return { requestId: request.id, route: this.routeOf(request), ms: Math.round(performance.now() - started), peer };
  }
}
