import { expect } from 'chai';
import { Places } from '../../src/server/places.js';

describe('Places', () => {
  it('gives a key places up to its bound and all keys up to theirs, says which is full, and takes back what was given', () => {
    const places = new Places(3, 2);
    expect([places.take('a'), places.take('a'), places.take('a')]).to.deep.equal([undefined, undefined, 'per_key']);
    expect([places.take('b'), places.take('c')]).to.deep.equal([undefined, 'total']);
    expect([places.count, places.countOf('a'), places.countOf('c')]).to.deep.equal([3, 2, 0]);
    places.give('a');
    expect(places.take('c')).to.equal(undefined);
    places.give('b');
    expect([places.count, places.countOf('b')]).to.deep.equal([2, 0]);
  });
});
