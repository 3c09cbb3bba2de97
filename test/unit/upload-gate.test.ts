import { expect } from 'chai';
import { UploadGate } from '../../src/server/upload-gate.js';

describe('UploadGate', () => {
  it('starts at most its limit of uploads per connection; the next starts, in order, when one ends', () => {
    const gate = new UploadGate(2, Infinity);
    const started: string[] = [];
    const releases = ['a', 'b', 'c', 'd'].map((name) => gate.enter('peer-1', () => started.push(name)));
    expect(started).to.deep.equal(['a', 'b']);
    expect(gate.count('peer-1')).to.deep.equal({ active: 2, waiting: 2 });
    releases[1]!();
    expect(started).to.deep.equal(['a', 'b', 'c']);
    releases[1]!();
    expect(gate.count('peer-1')).to.deep.equal({ active: 2, waiting: 1 });
  });

  it('counts each connection on its own: a connection at its limit delays no other', () => {
    const gate = new UploadGate(1, Infinity);
    const started: string[] = [];
    gate.enter('slow', () => started.push('slow 1'));
    gate.enter('slow', () => started.push('slow 2'));
    gate.enter('other', () => started.push('other'));
    expect(started).to.deep.equal(['slow 1', 'other']);
  });

  it('a waiting call that ends leaves the queue without ever starting', () => {
    const gate = new UploadGate(1, Infinity);
    const started: string[] = [];
    const first = gate.enter('peer', () => started.push('first'));
    const cancelled = gate.enter('peer', () => started.push('cancelled'));
    gate.enter('peer', () => started.push('third'));
    cancelled();
    first();
    expect(started).to.deep.equal(['first', 'third']);
    expect(gate.count('peer')).to.deep.equal({ active: 1, waiting: 0 });
  });

  it('gives start the release, so that a call refused when its turn comes frees its place at once', () => {
    const gate = new UploadGate(1, Infinity);
    const started: string[] = [];
    gate.enter('peer', (release) => (started.push('refused'), release()));
    gate.enter('peer', () => started.push('next'));
    expect(started).to.deep.equal(['refused', 'next']);
    expect(gate.count('peer')).to.deep.equal({ active: 1, waiting: 0 });
  });

  it('past its server-wide count, keeps a connection that uploads already waiting, but starts one on a connection that does not', () => {
    const gate = new UploadGate(2, 3);
    const started: string[] = [];
    const a = ['a1', 'a2'].map((name) => gate.enter('a', () => started.push(name)));
    gate.enter('b', () => started.push('b1'));
    gate.enter('b', () => started.push('b2'));
    gate.enter('c', () => started.push('c1'));
    expect(started).to.deep.equal(['a1', 'a2', 'b1', 'c1']);
    expect(gate.uploading).to.equal(4);
    a[0]!();
    expect(started, 'still three uploading').to.have.length(4);
    a[1]!();
    expect(started).to.deep.equal(['a1', 'a2', 'b1', 'c1', 'b2']);
    expect(gate.count('b')).to.deep.equal({ active: 2, waiting: 0 });
  });

  it('gives the places that free up to the waiting connections in turn, one each', () => {
    const gate = new UploadGate(4, 4);
    const started: string[] = [];
    const enter = (peer: string, name: string): (() => void) => gate.enter(peer, () => started.push(name));
    enter('x', 'x1');
    enter('y', 'y1');
    const [p, q] = [enter('p', 'p1'), enter('q', 'q1')];
    for (const name of ['x2', 'y2', 'x3']) enter(name[0]!, name);
    expect(started).to.deep.equal(['x1', 'y1', 'p1', 'q1']);
    p();
    q();
    // x was served first, so y comes before x's next.
    expect(started.slice(4)).to.deep.equal(['x2', 'y2']);
    expect(gate.count('x')).to.deep.equal({ active: 2, waiting: 1 });
  });
});
