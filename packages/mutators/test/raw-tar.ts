/**
 * Tar archives made block by block, for tests that need what no tar writer makes: sizes on links, PAX global
 * headers, entries after the end-of-archive blocks, names with `..`.
 */

/** One header block's fields; the checksum is computed. */
export interface RawHeader {
  name: string;
  /** The type flag, `0` by default. */
  type?: string;
  size?: number;
  linkname?: string;
  /** The USTAR prefix field. */
  prefix?: string;
  /** `ustar` (default), `gnu` or `v7`. */
  format?: 'ustar' | 'gnu' | 'v7';
}

/** A header block. */
export function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, 'latin1');
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${(h.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  b.write('00000000000\0', 136);
  b.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname) b.write(h.linkname, 157, 100, 'latin1');
  const format = h.format ?? 'ustar';
  if (format === 'ustar') b.write('ustar\x0000', 257, 'latin1');
  if (format === 'gnu') b.write('ustar  \0', 257, 'latin1');
  if (h.prefix) b.write(h.prefix, 345, 155, 'latin1');
  return checksummed(b);
}

/** A header block with its checksum (re)computed, after a test changed its bytes. */
export function checksummed(b: Buffer): Buffer {
  b.write('        ', 148);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

/** Data padded to a whole number of blocks; a string is taken byte for byte (latin1). */
export function data(bytes: string | Buffer): Buffer {
  const d = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return Buffer.concat([d, Buffer.alloc(-d.length & 511)]);
}

/** A regular file: its header and its data. */
export function file(name: string, text: string, extra: Partial<RawHeader> = {}): Buffer {
  return Buffer.concat([header({ name, size: Buffer.byteLength(text, 'latin1'), ...extra }), data(text)]);
}

/** A PAX header (`x`, for the next entry, or `g`, global) with its records. */
export function pax(type: 'x' | 'g', records: Record<string, string>): Buffer {
  let body = '';
  for (const [key, value] of Object.entries(records)) {
    const record = ` ${key}=${value}\n`;
    let n = record.length + 1;
    while (`${n}${record}`.length !== n) n++;
    body += `${n}${record}`;
  }
  return Buffer.concat([
    header({ name: 'PaxHeader', type, size: Buffer.byteLength(body, 'latin1') }),
    data(body),
  ]);
}

/** A GNU long name (`L`) or long link (`K`) header for the next entry. */
export function gnuLong(type: 'L' | 'K', text: string): Buffer {
  return Buffer.concat([
    header({ name: '././@LongLink', type, size: text.length + 1, format: 'gnu' }),
    data(`${text}\0`),
  ]);
}

/** The end of an archive: two zero blocks. */
export const end: Buffer = Buffer.alloc(1024);

/** An archive of these parts, ended. */
export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, end]);
}
