// Protobuf messages for the BuildKit tests, written and read with @bufbuild/protobuf's wire writer and reader,
// field by field, as BuildKit's clients marshal them: the unit tests of the guard's reading and the raw client
// share them.
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** A part of a protobuf message, written in order. */
export type Part = (w: BinaryWriter) => BinaryWriter;

/** A protobuf message of the given parts. */
export const message = (...parts: Part[]): Buffer => {
  const w = new BinaryWriter();
  for (const part of parts) part(w);
  return Buffer.from(w.finish());
};
/** A string field. */
export const str =
  (no: number, s: string): Part =>
  (w) =>
    w.tag(no, WireType.LengthDelimited).string(s);
/** A bytes field (an embedded message given as bytes). */
export const raw =
  (no: number, b: Uint8Array): Part =>
  (w) =>
    w.tag(no, WireType.LengthDelimited).bytes(b);
/** An embedded message field. */
export const sub = (no: number, ...parts: Part[]): Part => raw(no, message(...parts));
/** A varint field. */
export const num =
  (no: number, n: number): Part =>
  (w) =>
    w.tag(no, WireType.Varint).int32(n);
/** An entry of a `map<string, string>` field. */
export const entry = (no: number, k: string, v: string): Part => sub(no, str(1, k), str(2, v));

/** A gRPC frame of one uncompressed message. */
export const frame = (msg: Buffer): Buffer => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
};

/** Every occurrence of a length-delimited field, in wire order, read with the library's reader. */
export function bytesFields(msg: Uint8Array, no: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const r = new BinaryReader(msg);
  while (r.pos < r.len) {
    const [f, t] = r.tag();
    if (f === no && t === WireType.LengthDelimited) out.push(r.bytes());
    else r.skip(t, f);
  }
  return out;
}

/** The entries of a `map<string, string>` field, in wire order. */
export function stringMap(msg: Uint8Array, no: number): [string, string][] {
  return bytesFields(msg, no).map((entry) => {
    let k = '';
    let v = '';
    for (const key of bytesFields(entry, 1)) k = Buffer.from(key).toString();
    for (const value of bytesFields(entry, 2)) v = Buffer.from(value).toString();
    return [k, v];
  });
}
