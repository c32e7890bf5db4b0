import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/**
 * One field of a protobuf message as it is on the wire: its number and, by wire type, its bytes (length-delimited:
 * a string, bytes, an embedded message or a map entry) or its value (a varint).
 *
 * @internal
 */
export interface WireField {
  readonly no: number;
  readonly bytes?: Uint8Array;
  readonly varint?: bigint;
}

/**
 * The top-level fields of a protobuf message, in their order on the wire, read with `@bufbuild/protobuf`'s reader.
 * A field may occur more than once: a repeated field, a map, or a message field that the receiver merges.
 *
 * @param message - the message's bytes
 * @returns its fields
 * @throws Error for bytes that are not a protobuf message
 * @internal
 */
export function fieldsOf(message: Uint8Array): WireField[] {
  const reader = new BinaryReader(message);
  const fields: WireField[] = [];
  try {
    while (reader.pos < reader.len) {
      const [no, type] = reader.tag();
      if (type === WireType.LengthDelimited) fields.push({ no, bytes: reader.bytes() });
      else if (type === WireType.Varint) fields.push({ no, varint: BigInt(reader.uint64()) });
      else {
        reader.skip(type, no);
        fields.push({ no });
      }
    }
  } catch {
    throw new Error('a malformed BuildKit request cannot be checked here');
  }
  return fields;
}

/**
 * Every occurrence of a length-delimited field (an embedded message, a string, bytes).
 *
 * @param message - the message's bytes
 * @param no - the field number
 * @returns the bytes of each occurrence, in order
 * @internal
 */
export function bytesOf(message: Uint8Array, no: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of fieldsOf(message)) if (f.no === no && f.bytes !== undefined) out.push(f.bytes);
  return out;
}

/**
 * Every occurrence of a string field, decoded as UTF-8.
 *
 * @param message - the message's bytes
 * @param no - the field number
 * @returns the strings, in order
 * @internal
 */
export function stringsOf(message: Uint8Array, no: number): string[] {
  return bytesOf(message, no).map((b) => Buffer.from(b).toString('utf8'));
}

/**
 * Every occurrence of an `int32` or enum field, as Go's generated decoders read it: the varint's low 32 bits, as a
 * signed number (`1 + 2^32` is `1`).
 *
 * @param message - the message's bytes
 * @param no - the field number
 * @returns the values, in order
 * @internal
 */
export function int32sOf(message: Uint8Array, no: number): number[] {
  const out: number[] = [];
  for (const f of fieldsOf(message))
    if (f.no === no && f.varint !== undefined) out.push(Number(BigInt.asIntN(32, f.varint)));
  return out;
}

/**
 * The entries of a `map<string, V>` field: each entry's key (field 1) and value bytes (field 2), in wire order (a
 * later entry for the same key wins, as the receiver decodes it). An entry whose key or value is not tagged
 * length-delimited is refused: Go's generated decoders read it all the same.
 *
 * @param message - the message's bytes
 * @param no - the map's field number
 * @returns `[key, value]` pairs
 * @internal
 */
export function mapOf(message: Uint8Array, no: number): [string, Uint8Array][] {
  return bytesOf(message, no).map((entry) => {
    let key = '';
    let value: Uint8Array = new Uint8Array();
    for (const f of fieldsOf(entry)) {
      if (f.no !== 1 && f.no !== 2) continue;
      // Go's generated map decoders pick an entry's key and value by field number alone and read them as
      // length-delimited whatever the wire type says: a key or value tagged otherwise is read there and
      // nowhere else
      if (f.bytes === undefined) throw new Error('a malformed BuildKit request cannot be checked here');
      if (f.no === 1) key = Buffer.from(f.bytes).toString('utf8');
      else value = f.bytes;
    }
    return [key, value];
  });
}

/**
 * The entries of a `map<string, string>` field.
 *
 * @param message - the message's bytes
 * @param no - the map's field number
 * @returns `[key, value]` pairs, in wire order
 * @internal
 */
export function stringMapOf(message: Uint8Array, no: number): [string, string][] {
  return mapOf(message, no).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]);
}

/**
 * The last occurrence of a string field, one character per byte (as the engine compares ids and Node reads header
 * bytes), as Go's decoders read a scalar: the last one wins.
 *
 * @param message - the message's bytes
 * @param no - the field number
 * @returns the string, `''` when the field is not there
 * @internal
 */
export function lastString(message: Uint8Array, no: number): string {
  return Buffer.from(bytesOf(message, no).at(-1) ?? []).toString('latin1');
}

/**
 * Encodes one length-delimited field.
 *
 * @param no - the field number
 * @param value - its bytes (a string's UTF-8, an embedded message)
 * @returns the field's bytes, to append to a message
 * @internal
 */
export function lengthDelimited(no: number, value: Uint8Array): Buffer {
  return Buffer.from(new BinaryWriter().tag(no, WireType.LengthDelimited).bytes(value).finish());
}

/**
 * Encodes one entry of a `map<string, string>` field.
 *
 * @param no - the map's field number
 * @param key - the entry's key
 * @param value - the entry's value
 * @returns the field's bytes, to append to a message
 * @internal
 */
export function stringMapEntry(no: number, key: string, value: string): Buffer {
  return lengthDelimited(
    no,
    new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .string(key)
      .tag(2, WireType.LengthDelimited)
      .string(value)
      .finish(),
  );
}

/**
 * The top-level fields of a message, each with its whole encoding (tag and value) as it is on the wire, in order:
 * what a rewrite keeps byte for byte.
 *
 * @param message - the message's bytes
 * @returns each field's number and bytes
 * @throws Error for bytes that are not a protobuf message
 * @internal
 */
export function fieldSpans(message: Uint8Array): { no: number; span: Uint8Array }[] {
  const reader = new BinaryReader(message);
  const spans: { no: number; span: Uint8Array }[] = [];
  try {
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const [no, type] = reader.tag();
      reader.skip(type, no);
      spans.push({ no, span: message.subarray(start, reader.pos) });
    }
  } catch {
    throw new Error('a malformed BuildKit request cannot be checked here');
  }
  return spans;
}

/**
 * A message with every occurrence of a field removed, whatever its wire type, and the rest kept byte for byte.
 *
 * @param message - the message's bytes
 * @param no - the field number
 * @returns the message without the field
 * @throws Error for bytes that are not a protobuf message
 * @internal
 */
export function withoutField(message: Uint8Array, no: number): Buffer {
  return Buffer.concat(fieldSpans(message).flatMap((f) => (f.no === no ? [] : [f.span])));
}

/**
 * A message with the entries of a map field under one key removed (the key read as {@link mapOf} reads it), and
 * the rest kept byte for byte.
 *
 * @param message - the message's bytes
 * @param no - the map's field number
 * @param key - the key whose entries go
 * @returns the message without them
 * @throws Error for bytes that are not a protobuf message
 * @internal
 */
export function withoutMapKey(message: Uint8Array, no: number, key: string): Buffer {
  return Buffer.concat(
    fieldSpans(message).flatMap((f) => (f.no === no && mapOf(f.span, no)[0]?.[0] === key ? [] : [f.span])),
  );
}

/**
 * A message with a string field set to one value: every occurrence removed, one appended.
 *
 * @param message - the message's bytes
 * @param no - the field number
 * @param value - the string, written byte for byte (one character per byte)
 * @returns the message with the field set
 * @internal
 */
export function withString(message: Uint8Array, no: number, value: string): Buffer {
  return Buffer.concat([withoutField(message, no), lengthDelimited(no, Buffer.from(value, 'latin1'))]);
}
