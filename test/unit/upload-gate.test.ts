import { expect } from 'chai';
import { UploadGate, type UploadTicket } from '../../src/server/upload-gate.js';

describe('UploadGate', () => {
  it('starts at most its limit of uploads per connection; the next starts, in order, when one ends', () => {
    const gate = new UploadGate({ perConnection: 2, serverWide: Infinity });
    const started: string[] = [];
    const releases = ['a', 'b', 'c', 'd'].map((name) => gate.enter('peer-1', () => started.push(name)));
    expect(started).to.deep.equal(['a', 'b']);
    expect(gate.count('peer-1')).to.deep.equal({ active: 2, waiting: 2 });
    releases[1]!.release();
    expect(started).to.deep.equal(['a', 'b', 'c']);
    releases[1]!.release();
    expect(gate.count('peer-1')).to.deep.equal({ active: 2, waiting: 1 });
  });

  it('reports the bytes each upload receives, message after message, and nothing for a call that has not started', () => {
    const gate = new UploadGate({ perConnection: 1, serverWide: Infinity });
    const received: number[] = [];
    gate.onReceived = (bytes) => received.push(bytes);
    const first = gate.enter('peer', () => undefined);
    const queued = gate.enter('peer', () => undefined);
    queued.held(300);
    first.held(500);
    first.held(800);
    first.held(0);
    first.held(200);
    expect(received).to.deep.equal([500, 300, 200]);
  });

  it('counts each connection on its own: a connection at its limit delays no other', () => {
    const gate = new UploadGate({ perConnection: 1, serverWide: Infinity });
    const started: string[] = [];
    gate.enter('slow', () => started.push('slow 1'));
    gate.enter('slow', () => started.push('slow 2'));
    gate.enter('other', () => started.push('other'));
    expect(started).to.deep.equal(['slow 1', 'other']);
  });

  it('a waiting call that ends leaves the queue without ever starting', () => {
    const gate = new UploadGate({ perConnection: 1, serverWide: Infinity });
    const started: string[] = [];
    const first = gate.enter('peer', () => started.push('first'));
    const cancelled = gate.enter('peer', () => started.push('cancelled'));
    gate.enter('peer', () => started.push('third'));
    cancelled.release();
    first.release();
    expect(started).to.deep.equal(['first', 'third']);
    expect(gate.count('peer')).to.deep.equal({ active: 1, waiting: 0 });
  });

  it('gives start the release, so that a call refused when its turn comes frees its place at once', () => {
    const gate = new UploadGate({ perConnection: 1, serverWide: Infinity });
    const started: string[] = [];
    gate.enter('peer', (ticket) => (started.push('refused'), ticket.release()));
    gate.enter('peer', () => started.push('next'));
    expect(started).to.deep.equal(['refused', 'next']);
    expect(gate.count('peer')).to.deep.equal({ active: 1, waiting: 0 });
  });

  it('past its server-wide count, keeps a connection that uploads already waiting, but starts one on a connection that does not', () => {
    const gate = new UploadGate({ perConnection: 2, serverWide: 3 });
    const started: string[] = [];
    const a = ['a1', 'a2'].map((name) => gate.enter('a', () => started.push(name)));
    gate.enter('b', () => started.push('b1'));
    gate.enter('b', () => started.push('b2'));
    gate.enter('c', () => started.push('c1'));
    expect(started).to.deep.equal(['a1', 'a2', 'b1', 'c1']);
    expect(gate.uploading).to.equal(4);
    a[0]!.release();
    expect(started, 'still three uploading').to.have.length(4);
    a[1]!.release();
    expect(started).to.deep.equal(['a1', 'a2', 'b1', 'c1', 'b2']);
    expect(gate.count('b')).to.deep.equal({ active: 2, waiting: 0 });
  });

  it('gives the places that free up to the waiting connections in turn, one each', () => {
    const gate = new UploadGate({ perConnection: 4, serverWide: 4 });
    const started: string[] = [];
    const enter = (peer: string, name: string): UploadTicket => gate.enter(peer, () => started.push(name));
    enter('x', 'x1');
    enter('y', 'y1');
    const [p, q] = [enter('p', 'p1'), enter('q', 'q1')];
    for (const name of ['x2', 'y2', 'x3']) enter(name[0]!, name);
    expect(started).to.deep.equal(['x1', 'y1', 'p1', 'q1']);
    p.release();
    q.release();
    // x was served first, so y comes before x's next.
    expect(started.slice(4)).to.deep.equal(['x2', 'y2']);
    expect(gate.count('x')).to.deep.equal({ active: 2, waiting: 1 });
  });

  describe('what the uploads in progress hold', () => {
    /** A stream that records whether the gate has it paused. */
    const stream = (): { paused: boolean; pause(): void; resume(): void } => ({
      paused: false,
      pause() {
        this.paused = true;
      },
      resume() {
        this.paused = false;
      },
    });

    it('past heldBytes, starts none and reads only the oldest serverWide; below it again, reads all and starts the waiting', () => {
      const gate = new UploadGate({ perConnection: 4, serverWide: 2, heldBytes: 100 });
      const started: string[] = [];
      const streams = { a: stream(), b: stream(), c: stream(), e: stream() };
      const [a, b, c, e] = (['a', 'b', 'c', 'e'] as const).map((peer) =>
        gate.enter(peer, () => started.push(peer), { stream: streams[peer] }),
      );
      a!.held(50);
      b!.held(10);
      c!.held(20);
      expect(gate.squeezed).to.equal(false);
      e!.held(30);
      expect(gate.squeezed).to.equal(true);
      expect(Object.values(streams).map((s) => s.paused)).to.deep.equal([false, false, true, true]);
      expect([c!.readingSince, e!.readingSince]).to.deep.equal([undefined, undefined]);
      // A connection with none in progress waits too while squeezed.
      gate.enter('d', () => started.push('d'));
      expect(gate.count('d')).to.deep.equal({ active: 0, waiting: 1 });
      // 100 held, still not below: the oldest paused one takes the place of the one that ended.
      b!.release();
      expect(gate.heldBytes).to.equal(100);
      expect(gate.squeezed).to.equal(true);
      expect([streams.c.paused, streams.e.paused]).to.deep.equal([false, true]);
      a!.release();
      expect(gate.squeezed).to.equal(false);
      expect(streams.e.paused).to.equal(false);
      expect(started).to.deep.equal(['a', 'b', 'c', 'e', 'd']);
    });

    it('an upload that has arrived gives its place to the next but holds its bytes, keeping the gate squeezed, until released', () => {
      const gate = new UploadGate({ perConnection: 1, serverWide: 1, heldBytes: 100 });
      const started: string[] = [];
      let emptied = 0;
      gate.onEmpty = () => emptied++;
      const parsing = gate.enter('json', () => started.push('json'), { stream: stream() });
      const next = gate.enter('json', () => started.push('next'), { stream: stream() });
      parsing.held(150);
      expect(gate.squeezed).to.equal(true);
      parsing.arrived();
      // Its place is free, but its 150 bytes still fill the gate: nothing starts.
      expect(gate.uploading).to.equal(0);
      expect(gate.heldBytes).to.equal(150);
      expect(gate.squeezed).to.equal(true);
      expect(started).to.deep.equal(['json']);
      expect(emptied).to.equal(0);
      // Bytes reported after it arrived are not its.
      parsing.held(300);
      expect(gate.heldBytes).to.equal(150);
      parsing.release();
      expect(gate.heldBytes).to.equal(0);
      expect(gate.squeezed).to.equal(false);
      expect(started).to.deep.equal(['json', 'next']);
      next.release();
      expect(emptied).to.equal(1);
      parsing.release();
      expect(gate.heldBytes).to.equal(0);
    });

    it('never stalls an upload that has arrived, however long it is held', async () => {
      const gate = new UploadGate({ perConnection: 4, serverWide: 1, heldBytes: 100, squeezedIdleMs: 50, squeezedMinBytes: 1 });
      const stalled: string[] = [];
      let firstStalled: () => void = () => undefined;
      const stalledOnce = new Promise<void>((resolve) => (firstStalled = resolve));
      const enter = (peer: string): UploadTicket =>
        gate.enter(peer, () => undefined, { stream: stream(), onStall: () => (stalled.push(peer), firstStalled()) });
      const parsed = enter('parsed');
      const idle = enter('idle');
      parsed.held(120);
      parsed.arrived();
      // Squeezed by the arrived body's bytes: the idle upload read is stalled, the arrived one never.
      idle.held(1);
      await stalledOnce;
      expect(stalled).to.deep.equal(['idle']);
      idle.release();
      parsed.release();
      expect(gate.squeezed).to.equal(false);
    });

    it('while squeezed, stalls an upload read that goes squeezedIdleMs without a byte, and never a paused one', async () => {
      const gate = new UploadGate({ perConnection: 4, serverWide: 1, heldBytes: 100, squeezedIdleMs: 50, squeezedMinBytes: 1 });
      const stalled: string[] = [];
      let firstStalled: () => void = () => undefined;
      const stalledOnce = new Promise<void>((resolve) => (firstStalled = resolve));
      const enter = (peer: string): UploadTicket =>
        gate.enter(peer, () => undefined, {
          stream: stream(),
          onStall: () => {
            stalled.push(peer);
            tickets.get(peer)!.release();
            firstStalled();
          },
        });
      const tickets = new Map(['old', 'young'].map((peer) => [peer, enter(peer)]));
      tickets.get('old')!.held(60);
      tickets.get('young')!.held(60);
      const squeezedAt = performance.now();
      await stalledOnce;
      expect(performance.now() - squeezedAt).to.be.at.least(45);
      expect(stalled).to.deep.equal(['old']);
      // Below heldBytes again: the young one is read, and no longer watched for stalls.
      expect(gate.squeezed).to.equal(false);
      expect(tickets.get('young')!.readingSince).to.be.a('number');
    });

    it('while squeezed, stalls an upload read that receives less than squeezedMinBytes in squeezedIdleMs: a trickle keeps no one waiting', async () => {
      const gate = new UploadGate({ perConnection: 4, serverWide: 1, heldBytes: 100, squeezedIdleMs: 100, squeezedMinBytes: 10 });
      let stalled: () => void = () => undefined;
      const stall = new Promise<void>((resolve) => (stalled = resolve));
      const trickle = gate.enter('trickle', () => undefined, { stream: stream(), onStall: () => stalled() });
      const waiting = gate.enter('waiting', () => undefined, { stream: stream() });
      trickle.held(60);
      waiting.held(60);
      const squeezedAt = performance.now();
      let bytes = 60;
      const drip = setInterval(() => trickle.held(++bytes), 20);
      await stall;
      clearInterval(drip);
      expect(performance.now() - squeezedAt).to.be.at.least(95);
      expect(bytes).to.be.above(62);
    });
  });
});
