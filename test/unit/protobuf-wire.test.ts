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
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_VARINT,
} from '../../src/engine/onnx-graph/protobuf-wire.js';

describe('protobuf wire format', () => {
  it('reads a message written by the protobuf spec example (field 1 = 150)', () => {
    const fields = decodeFields(Uint8Array.from([0x08, 0x96, 0x01]));
    expect(fields).to.have.length(1);
    expect(fields[0]!.no).to.equal(1);
    expect(fields[0]!.wire).to.equal(WIRE_VARINT);
    expect(varintValue(fields[0]!)).to.equal(150);
  });

  it('writes back what it read byte for byte, fields it does not know included', () => {
    const message = encodeFields([
      varintField(1, 300),
      stringField(2, 'Conv'),
      float32Field(3, 0.5),
      { no: 4, wire: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
      bytesField(1000, encodeFields([stringField(1, 'nested')])),
    ]);
    expect(Array.from(encodeFields(decodeFields(message)))).to.deep.equal(Array.from(message));
    const [a, b, c, , e] = decodeFields(message);
    expect(varintValue(a!)).to.equal(300);
    expect(stringValue(b!)).to.equal('Conv');
    expect(c!.wire).to.equal(WIRE_FIXED32);
    expect(float32Value(c!)).to.equal(0.5);
    expect(e!.wire).to.equal(WIRE_BYTES);
    expect(stringValue(decodeFields(e!.data)[0]!)).to.equal('nested');
  });

  it('reads int64 values as signed and repeated varints packed or not', () => {
    expect(varintValue(varintField(1, -1))).to.equal(-1);
    const packed = bytesField(8, Uint8Array.from([0x01, 0x96, 0x01, 0x00]));
    expect(varintValues([varintField(8, 7), packed, varintField(9, 5)], 8)).to.deep.equal([7, 1, 150, 0]);
  });

  it('refuses malformed input with a message', () => {
    expect(() => decodeFields(Uint8Array.from([0x0a, 0x05, 0x01]))).to.throw(/runs past the end/);
    expect(() => decodeFields(Uint8Array.from([0x08, 0x96]))).to.throw(/does not end/);
    expect(() => decodeFields(Uint8Array.from([0x0b]))).to.throw(/wire type 3/);
  });
});
