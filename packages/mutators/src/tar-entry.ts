/**
 * One regular file as tar entries, in the USTAR format Go's reader reads: a PAX header carries a path longer than the
 * name field holds. Used to append a file to a build context, where the last entry at a path is the one unpacked.
 *
 * @param path - the file's path in the archive, latin1 (one character per byte)
 * @param data - its contents
 * @returns the entries' blocks, padded to whole blocks
 * @example
 * ```ts
 * const blocks = tarFileEntry('Dockerfile', Buffer.from('FROM busybox\n'));
 * ```
 */
export function tarFileEntry(path: string, data: Buffer): Buffer {
  return entry(path, data, '0', '0000644', 'Dockerfile');
}

/**
 * One directory as tar entries (mode 0755, owned by root, as the engine makes a missing bind source), in the same
 * format as {@link tarFileEntry}. Used to make directories in a volume through the engine's archive route.
 *
 * @param path - the directory's path in the archive, latin1, with or without a trailing `/`
 * @returns the entries' blocks
 * @example
 * ```ts
 * const blocks = Buffer.concat([tarDirectoryEntry('data'), tarDirectoryEntry('data/db'), Buffer.alloc(1024)]);
 * ```
 */
export function tarDirectoryEntry(path: string): Buffer {
  return entry(path.endsWith('/') ? path : `${path}/`, Buffer.alloc(0), '5', '0000755', 'directory/');
}

/** An entry, with a PAX header for a path the name field cannot hold (`short` goes in the name field then). */
function entry(path: string, data: Buffer, type: string, mode: string, short: string): Buffer {
  const name = Buffer.from(path, 'latin1');
  const parts: Buffer[] = [];
  if (name.length > 100 || name.includes(0)) {
    const record = ` path=${path}\n`;
    let length = record.length + 1;
    while (`${length}${record}`.length !== length) length++;
    const body = Buffer.from(`${length}${record}`, 'latin1');
    parts.push(header('PaxHeader', body.length, 'x', '0000644'), padded(body));
  }
  parts.push(header(name.length > 100 ? short : path, data.length, type, mode), padded(data));
  return Buffer.concat(parts);
}

function header(name: string, size: number, type: string, mode: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'latin1');
  b.write(`${mode}\0`, 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
  );
  b.write(type, 156, 'latin1');
  b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc(-data.length & 511)]);
}
