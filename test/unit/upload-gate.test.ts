import { expect } from 'chai';
import { UploadGate } from '../../src/server/upload-gate.js';

describe('UploadGate', () => {
  it('starts at most its limit of uploads per connection; the next starts, in order, when one ends', () => {
    const gate = new UploadGate(2);
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
    const gate = new UploadGate(1);
    const started: string[] = [];
    gate.enter('slow', () => started.push('slow 1'));
    gate.enter('slow', () => started.push('slow 2'));
    gate.enter('other', () => started.push('other'));
    expect(started).to.deep.equal(['slow 1', 'other']);
  });

  it('a waiting call that ends leaves the queue without ever starting', () => {
    const gate = new UploadGate(1);
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
    const gate = new UploadGate(1);
    const started: string[] = [];
    gate.enter('peer', (release) => (started.push('refused'), release()));
    gate.enter('peer', () => started.push('next'));
    expect(started).to.deep.equal(['refused', 'next']);
    expect(gate.count('peer')).to.deep.equal({ active: 1, waiting: 0 });
  });
});
