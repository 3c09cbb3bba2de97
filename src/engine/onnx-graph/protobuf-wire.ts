/**
 * Protocol Buffers wire format, only as far as editing an ONNX graph needs: a message is a list of
 * fields, each kept as its raw bytes, so every field an edit does not touch is written back byte for
 * byte (a schema-based decoder would drop the fields its schema does not know). The tags, varints
 * and lengths are @bufbuild/protobuf's reader and writer.
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** The wire types ONNX's messages use (groups are a proto2 feature onnx.proto never uses). */
export type FieldWire = WireType.Varint | WireType.Bit64 | WireType.LengthDelimited | WireType.Bit32;

export interface Field {
  no: number;
  wire: FieldWire;
  /** Varint: its encoded bytes; fixed: 4 or 8 bytes; length-delimited: the payload. */
  data: Uint8Array;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** Split a message into its fields, in order. */
export function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  const reader = new BinaryReader(buf);
  while (reader.pos < reader.len) {
    const start = reader.pos;
    try {
      const [no, wire] = reader.tag();
      if (wire === WireType.LengthDelimited) fields.push({ no, wire, data: reader.bytes() });
      else if (wire === WireType.Varint || wire === WireType.Bit64 || wire === WireType.Bit32)
        fields.push({ no, wire, data: reader.skip(wire) });
      else throw new Error(`wire type ${wire} of field ${no} has no place in an ONNX model`);
    } catch (err) {
      throw new Error(`malformed protobuf: field at byte ${start}: ${(err as Error).message}`, { cause: err });
    }
  }
  return fields;
}

/** Join fields into a message. */
export function encodeFields(fields: readonly Field[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const f of fields) {
    writer.tag(f.no, f.wire);
    if (f.wire === WireType.LengthDelimited) writer.bytes(f.data);
    else writer.raw(f.data);
  }
  return writer.finish();
}

/** A varint field's value as a signed 64-bit integer (ONNX's int64), in a JS number. */
export function varintValue(f: Field): number {
  return Number(new BinaryReader(f.data).int64());
}

/** Every value of a repeated varint field, packed or not. */
export function varintValues(fields: readonly Field[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire !== WireType.LengthDelimited) {
      out.push(varintValue(f));
      continue;
    }
    const reader = new BinaryReader(f.data);
    while (reader.pos < reader.len) out.push(Number(reader.int64()));
  }
  return out;
}

export const stringValue = (f: Field): string => textDecoder.decode(f.data);

export const float32Value = (f: Field): number => new BinaryReader(f.data).float();

export const varintField = (no: number, value: number): Field => ({
  no,
  wire: WireType.Varint,
  data: new BinaryWriter().int64(value).finish(),
});

export const bytesField = (no: number, data: Uint8Array): Field => ({ no, wire: WireType.LengthDelimited, data });

export const stringField = (no: number, value: string): Field => bytesField(no, textEncoder.encode(value));

export const float32Field = (no: number, value: number): Field => ({
  no,
  wire: WireType.Bit32,
  data: new BinaryWriter().float(value).finish(),
});
