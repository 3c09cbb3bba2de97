/**
 * Protocol Buffers wire format, only as far as editing an ONNX graph needs: a message is a list of
 * fields, each kept as its raw bytes, so every field an edit does not touch is written back byte for
 * byte (a schema-based decoder would drop the fields its schema does not know).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export type WireType = typeof WIRE_VARINT | typeof WIRE_FIXED64 | typeof WIRE_BYTES | typeof WIRE_FIXED32;

export interface Field {
  no: number;
  wire: WireType;
  /** Varint: its encoded bytes; fixed: 4 or 8 bytes; length-delimited: the payload. */
  data: Uint8Array;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

function readVarintAt(buf: Uint8Array, pos: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length && shift < 70n; i++) {
    const byte = buf[i]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    shift += 7n;
  }
  throw new Error(`malformed protobuf: varint at byte ${pos} does not end`);
}

function encodeVarint(value: bigint): Uint8Array {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** Split a message into its fields, in order. */
export function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarintAt(buf, pos);
    pos = tag.next;
    const no = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    let end: number;
    if (wire === WIRE_VARINT) {
      end = readVarintAt(buf, pos).next;
    } else if (wire === WIRE_FIXED64) {
      end = pos + 8;
    } else if (wire === WIRE_FIXED32) {
      end = pos + 4;
    } else if (wire === WIRE_BYTES) {
      const len = readVarintAt(buf, pos);
      pos = len.next;
      end = pos + Number(len.value);
    } else {
      throw new Error(`malformed protobuf: wire type ${wire} of field ${no} at byte ${pos}`);
    }
    if (end > buf.length) throw new Error(`malformed protobuf: field ${no} runs past the end of its message`);
    fields.push({ no, wire: wire as WireType, data: buf.subarray(pos, end) });
    pos = end;
  }
  return fields;
}

/** Join fields into a message. */
export function encodeFields(fields: readonly Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    parts.push(encodeVarint(BigInt((f.no << 3) | f.wire)));
    if (f.wire === WIRE_BYTES) parts.push(encodeVarint(BigInt(f.data.length)));
    parts.push(f.data);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A varint field's value as a signed 64-bit integer (ONNX's int64), in a JS number. */
export function varintValue(f: Field): number {
  return Number(BigInt.asIntN(64, readVarintAt(f.data, 0).value));
}

/** Every value of a repeated varint field, packed or not. */
export function varintValues(fields: readonly Field[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === WIRE_VARINT) {
      out.push(varintValue(f));
      continue;
    }
    for (let pos = 0; pos < f.data.length; ) {
      const v = readVarintAt(f.data, pos);
      out.push(Number(BigInt.asIntN(64, v.value)));
      pos = v.next;
    }
  }
  return out;
}

export const stringValue = (f: Field): string => textDecoder.decode(f.data);

export const float32Value = (f: Field): number => new DataView(f.data.buffer, f.data.byteOffset, 4).getFloat32(0, true);

export const varintField = (no: number, value: number): Field => ({ no, wire: WIRE_VARINT, data: encodeVarint(BigInt(value)) });

export const bytesField = (no: number, data: Uint8Array): Field => ({ no, wire: WIRE_BYTES, data });

export const stringField = (no: number, value: string): Field => bytesField(no, textEncoder.encode(value));

export function float32Field(no: number, value: number): Field {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setFloat32(0, value, true);
  return { no, wire: WIRE_FIXED32, data };
}
