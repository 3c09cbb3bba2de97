import { Metadata, status as Status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Logger } from 'pino';
import { DEADLINE_NO_INSTANCE, OcrCallError, unreachable } from '../../src/client/errors.js';
import { ClusterReach, noInstanceReason } from '../../src/http/cluster-reach.js';

/** A logger that keeps what is logged at warn. */
function warnings(): { logger: Logger; lines: { fields: Record<string, unknown>; msg: string }[] } {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger = { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as unknown as Logger;
  return { logger, lines };
}

const refused = new OcrCallError(Status.UNAVAILABLE, unreachable('connect ECONNREFUSED 127.0.0.1:50051'));

describe('ClusterReach', () => {
  it('knows the SDK\'s and the Consul resolver\'s "no instance" failures, and nothing else', () => {
    expect(noInstanceReason(refused)).to.equal(refused.details);
    const consul = new OcrCallError(Status.UNAVAILABLE, 'no passing instance of "ocr" in Consul at 127.0.0.1:8500');
    expect(noInstanceReason(consul)).to.equal(consul.details);
    const token = new OcrCallError(Status.UNAVAILABLE, "Consul at http://127.0.0.1:8500 refused the client's token: ACL not found: give…");
    expect(noInstanceReason(token)).to.equal(token.details);
    expect(
      noInstanceReason(new OcrCallError(Status.UNAVAILABLE, 'the server is shutting down; send the call to another instance')),
    ).to.equal(null);
    expect(noInstanceReason(new OcrCallError(Status.INVALID_ARGUMENT, unreachable(null)))).to.equal(null);
    expect(noInstanceReason(new Error('boom'))).to.equal(null);
  });

  it('warns once when every instance is lost, with the reason, and once when one is reached again', () => {
    const { logger, lines } = warnings();
    const reach = new ClusterReach(logger);
    reach.reached();
    reach.failed(refused);
    reach.failed(refused);
    expect(lines.map((l) => l.msg)).to.deep.equal(['no instance of the target can be reached: requests are answered 503 until one can']);
    expect(lines[0]!.fields).to.deep.equal({ reason: refused.details });
    // A caller that went away says nothing of the instances.
    reach.failed(new OcrCallError(Status.CANCELLED, 'cancelled', { metadata: new Metadata() }));
    // Nor does a deadline that passed before any instance was ready to take the call.
    reach.failed(new OcrCallError(Status.DEADLINE_EXCEEDED, DEADLINE_NO_INSTANCE));
    expect(lines).to.have.length(1);
    // An instance's own refusal: one was reached.
    reach.failed(new OcrCallError(Status.INVALID_ARGUMENT, 'not an image'));
    reach.reached();
    expect(lines.map((l) => l.msg)).to.deep.equal([
      'no instance of the target can be reached: requests are answered 503 until one can',
      'an instance of the target is reachable again',
    ]);
    expect(lines[1]!.fields).to.have.keys('unreachableMs');
  });
});
