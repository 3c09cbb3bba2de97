import { WireType } from '@bufbuild/protobuf/wire';
import { expect } from 'chai';
import {
  bytesField,
  decodeFields,
  encodeFields,
  float32Field,
  float32Value,
  stringField,
  stringValue,
  varintField,
  varintValue,
  varintValues,
} from '../../src/engine/onnx-graph/protobuf-wire.js';

describe('protobuf wire format', () => {
  it('reads a message written by the protobuf spec example (field 1 = 150)', () => {
    const fields = decodeFields(Uint8Array.from([0x08, 0x96, 0x01]));
    expect(fields).to.have.length(1);
    expect(fields[0]!.no).to.equal(1);
    expect(fields[0]!.wire).to.equal(WireType.Varint);
    expect(Array.from(fields[0]!.data)).to.deep.equal([0x96, 0x01]);
    expect(varintValue(fields[0]!)).to.equal(150);
  });

  it('writes the bytes the spec gives: varint, length-delimited, fixed32', () => {
    expect(Array.from(encodeFields([varintField(1, 150)]))).to.deep.equal([0x08, 0x96, 0x01]);
    expect(Array.from(encodeFields([stringField(2, 'testing')]))).to.deep.equal([0x12, 0x07, ...Buffer.from('testing')]);
    expect(Array.from(encodeFields([float32Field(5, 1)]))).to.deep.equal([0x2d, 0x00, 0x00, 0x80, 0x3f]);
    // A payload of 128 bytes or more takes a two-byte length.
    const long = encodeFields([bytesField(3, new Uint8Array(200))]);
    expect(Array.from(long.subarray(0, 3))).to.deep.equal([0x1a, 0xc8, 0x01]);
    expect(long.length).to.equal(203);
  });

  it('writes back what it read byte for byte, fields it does not know included', () => {
    const message = encodeFields([
      varintField(1, 300),
      stringField(2, 'Conv'),
      float32Field(3, 0.5),
      { no: 4, wire: WireType.Bit64, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
      bytesField(1000, encodeFields([stringField(1, 'nested')])),
    ]);
    expect(Array.from(encodeFields(decodeFields(message)))).to.deep.equal(Array.from(message));
    const [a, b, c, d, e] = decodeFields(message);
    expect(varintValue(a!)).to.equal(300);
    expect(stringValue(b!)).to.equal('Conv');
    expect(c!.wire).to.equal(WireType.Bit32);
    expect(float32Value(c!)).to.equal(0.5);
    expect(d!.wire).to.equal(WireType.Bit64);
    expect(Array.from(d!.data)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(e!.wire).to.equal(WireType.LengthDelimited);
    expect(e!.no).to.equal(1000);
    expect(stringValue(decodeFields(e!.data)[0]!)).to.equal('nested');
  });

  it('reads int64 values as signed, 64-bit wide, and repeated varints packed or not', () => {
    expect(varintValue(varintField(1, -1))).to.equal(-1);
    // Negative int64s take ten bytes, as every protobuf writer encodes them.
    expect(varintField(1, -1).data.length).to.equal(10);
    expect(varintValue(varintField(1, 2 ** 40 + 3))).to.equal(2 ** 40 + 3);
    const packed = bytesField(8, Uint8Array.from([0x01, 0x96, 0x01, 0x00]));
    expect(varintValues([varintField(8, 7), packed, varintField(9, 5), bytesField(8, new Uint8Array())], 8)).to.deep.equal([7, 1, 150, 0]);
  });

  it('refuses malformed input with a message', () => {
    // A length past the end, a varint that does not end, a group's wire type, field number 0.
    for (const bytes of [[0x0a, 0x05, 0x01], [0x08, 0x96], [0x0b], [0x00, 0x01]]) {
      expect(() => decodeFields(Uint8Array.from(bytes)), JSON.stringify(bytes)).to.throw(/^malformed protobuf: field at byte 0: /);
    }
    expect(() => decodeFields(Uint8Array.from([0x08, 0x01, 0x0b]))).to.throw(/field at byte 2: wire type 3 of field 1/);
  });
});
