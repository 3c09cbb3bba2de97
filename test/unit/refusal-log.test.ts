import { expect } from 'chai';
import { pino } from 'pino';
import { AuthFailure } from '../../src/auth/bearer.js';
import { MAX_TALLIES, RefusalLog, refusalKind } from '../../src/auth/refusal-log.js';

interface Line {
  level: number;
  msg: string;
  source?: string;
  code?: string;
  message?: string;
  reason?: string;
  refused?: number;
}

const WARN = 40;

describe('the log of refusals of who calls', () => {
  const lines: Line[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const unknownKey = new AuthFailure('UNAUTHENTICATED', 'unknown API key', 'invalid_token');
  const noToken = new AuthFailure('UNAUTHENTICATED', 'no token');
  const fields = (failure: AuthFailure): { code: string; message: string; route: string } => ({
    code: failure.code,
    message: failure.message,
    route: '/api/ocr',
  });
  let log: RefusalLog;

  beforeEach(() => {
    lines.length = 0;
    log = new RefusalLog();
  });
  afterEach(() => log.close());

  it('logs the first refusal of a kind from a source at warn, counts the rest, and says the count when the interval ends', () => {
    for (let i = 0; i < 500; i++) log.refused(logger, 'addr:10.0.0.9', refusalKind(unknownKey), fields(unknownKey));
    log.refused(logger, 'addr:10.0.0.9', refusalKind(noToken), fields(noToken));
    for (let i = 0; i < 3; i++) log.refused(logger, 'addr:10.0.0.7', refusalKind(unknownKey), fields(unknownKey));
    expect(lines.map((l) => [l.level, l.msg, l.source, l.message])).to.deep.equal([
      [WARN, 'refused', 'addr:10.0.0.9', 'unknown API key'],
      [WARN, 'refused', 'addr:10.0.0.9', 'no token'],
      [WARN, 'refused', 'addr:10.0.0.7', 'unknown API key'],
    ]);
    lines.length = 0;
    log.flush();
    expect(lines.map((l) => [l.level, l.source, l.refused, l.reason])).to.deep.equal([
      [WARN, 'addr:10.0.0.9', 499, 'unknown API key'],
      [WARN, 'addr:10.0.0.7', 2, 'unknown API key'],
    ]);
    expect(lines[0]!.msg).to.match(/^499 more refused from addr:10\.0\.0\.9 in the last \d+(\.\d)? s$/);
    // A new interval: the next refusal is logged whole again.
    lines.length = 0;
    log.refused(logger, 'addr:10.0.0.9', refusalKind(unknownKey), fields(unknownKey));
    expect(lines.map((l) => [l.msg, l.source])).to.deep.equal([['refused', 'addr:10.0.0.9']]);
  });

  it('counts the refusals of sources past MAX_TALLIES together, so that many addresses cannot flood it either', () => {
    for (let i = 0; i < MAX_TALLIES + 50; i++)
      log.refused(logger, `addr:10.1.${i >> 8}.${i & 255}`, 'UNAUTHENTICATED no token', fields(noToken));
    expect(lines.filter((l) => l.msg === 'refused')).to.have.length(MAX_TALLIES);
    lines.length = 0;
    log.close();
    expect(lines.map((l) => [l.source, l.refused])).to.deep.equal([[`sources past the first ${MAX_TALLIES}`, 50]]);
  });

  it('says the counts on close, and nothing where there is nothing to count', () => {
    log.refused(logger, 'cert:CN=robot', refusalKind(noToken), fields(noToken));
    log.refused(logger, 'cert:CN=robot', refusalKind(noToken), fields(noToken));
    lines.length = 0;
    log.close();
    expect(lines.map((l) => [l.source, l.refused])).to.deep.equal([['cert:CN=robot', 1]]);
    lines.length = 0;
    log.close();
    expect(lines).to.deep.equal([]);
  });
});
