import { Readable } from 'node:stream';
import { crc32, deflateRawSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { DockhandError } from '@dockhand/core';
import { afterAll, describe, expect, it } from 'vitest';
import { peekDockerfile } from '../src/build-context.ts';
import { client, ENGINE_SOCKET } from './attacks/harness.ts';
import { archive, checksummed, data, end, file, gnuLong, header, pax } from './raw-tar.ts';

/**
 * The classic builder's context, read by the proxy and by the real engine side by side. Each Dockerfile is one word
 * the engine does not know, so the engine's parse error names the Dockerfile it read and nothing is built. The proxy
 * must read that same Dockerfile or refuse the context: a context it reads one way and the engine another would let
 * a tenant's build check one Dockerfile and run another.
 */
/** Whether the engine is moby 23 (API 1.42) or later: it reads zstd contexts, and unpacks in-process. */
const newEngine = await (async () => {
  const engine = client(ENGINE_SOCKET);
  try {
    const [major, minor] = String((await engine.request('GET', '/version')).json.ApiVersion)
      .split('.')
      .map(Number) as [number, number];
    return major > 1 || minor >= 42;
  } finally {
    await engine.pool.close();
  }
})();

describe('the Dockerfile of a classic build context, as the engine reads it', () => {
  const engine = client(ENGINE_SOCKET);
  afterAll(() => engine.pool.close());

  const A = 'MARKER-A\n';
  const B = 'MARKER-B\n';

  /** What the engine read: the marker its parse error names, or its error. */
  async function engineReads(tar: Buffer, dockerfile?: string): Promise<string> {
    const query = dockerfile ? `?dockerfile=${encodeURIComponent(dockerfile)}` : '';
    const reply = await engine.request('POST', `/build${query}`, {
      raw: tar,
      headers: { 'content-type': 'application/x-tar' },
    });
    const marker = /unknown instruction: (MARKER-\w)/i.exec(reply.text)?.[1];
    return marker ?? `error ${reply.status}: ${reply.json?.message ?? reply.text}`;
  }

  /** What the proxy read: the marker, or `refused` with its message. */
  async function proxyReads(tar: Buffer, dockerfile?: string): Promise<string> {
    try {
      const { dockerfile: text, replay } = await peekDockerfile(
        Readable.from([tar]),
        dockerfile ?? 'Dockerfile',
        64 << 20,
      );
      const replayed: Buffer[] = [];
      for await (const c of replay) replayed.push(c as Buffer);
      expect(Buffer.concat(replayed).equals(tar), 'the body is replayed byte for byte').toBe(true);
      return text.trim();
    } catch (err) {
      if (err instanceof DockhandError) return `refused: ${err.message}`;
      throw err;
    }
  }

  /** [what, the archive, the engine reads, the proxy reads (`same`, or a refusal's message), -f] */
  const cases: [string, () => Buffer, string | RegExp, 'same' | RegExp, string?][] = [
    ['a plain context', () => archive(file('Dockerfile', A)), 'MARKER-A', 'same'],
    ['a gzipped context', () => gzipSync(archive(file('Dockerfile', A))), 'MARKER-A', 'same'],
    ['only the lower-case fallback', () => archive(file('dockerfile', B)), 'MARKER-B', 'same'],
    [
      'Dockerfile beside the fallback',
      () => archive(file('dockerfile', B), file('Dockerfile', A)),
      'MARKER-A',
      'same',
    ],
    [
      'Dockerfile beside a fallback that is a symlink',
      () => archive(header({ name: 'dockerfile', type: '2', linkname: 'x' }), file('Dockerfile', A)),
      'MARKER-A',
      'same',
    ],
    [
      'the same path twice: the last wins',
      () => archive(file('Dockerfile', A), file('./Dockerfile', B)),
      'MARKER-B',
      'same',
    ],
    [
      'a second archive after the end blocks',
      () => archive(file('Dockerfile', A), end, file('Dockerfile', B)),
      'MARKER-A',
      'same',
    ],
    [
      'the end blocks cut short',
      () => Buffer.concat([file('Dockerfile', A), Buffer.alloc(512)]),
      'MARKER-A',
      'same',
    ],
    [
      'the last padding cut short',
      () => Buffer.concat([header({ name: 'Dockerfile', size: A.length }), Buffer.from(A)]),
      'MARKER-A',
      'same',
    ],
    [
      'one zero block, then an entry',
      () => archive(file('Dockerfile', A), Buffer.alloc(512), file('Dockerfile', B)),
      // Engine 20.10 unpacks in a child process, which reports it otherwise
      newEngine ? /invalid tar header/ : /Error processing tar file\(exit status 1\): unexpected EOF/,
      /zero block/,
    ],
    [
      'a symlink with a size over the next entry',
      () =>
        archive(
          file('Dockerfile', A),
          header({ name: 'l', type: '2', linkname: 'x', size: 1024 }),
          file('Dockerfile', B),
        ),
      'MARKER-B',
      'same',
    ],
    [
      'a directory with a size over the next entry',
      () =>
        archive(file('Dockerfile', A), header({ name: 'd', type: '5', size: 1024 }), file('Dockerfile', B)),
      'MARKER-B',
      'same',
    ],
    [
      'an old-style file named with a slash, with a size',
      () =>
        archive(file('Dockerfile', A), header({ name: 'd/', type: '\0', size: 1024 }), file('Dockerfile', B)),
      'MARKER-B',
      'same',
    ],
    [
      'a PAX global header with a path',
      () => archive(file('Dockerfile', A), pax('g', { path: 'elsewhere' }), file('Dockerfile', B)),
      'MARKER-B',
      'same',
    ],
    [
      'a PAX path',
      () => archive(file('Dockerfile', A), pax('x', { path: 'Dockerfile' }), file('other', B)),
      'MARKER-B',
      'same',
    ],
    [
      'a PAX size of 0',
      () =>
        archive(
          file('Dockerfile', A),
          pax('x', { size: '0' }),
          header({ name: 'junk', size: 1024 }),
          file('Dockerfile', B),
        ),
      'MARKER-B',
      'same',
    ],
    [
      'a GNU long name, which wins over a PAX path',
      () =>
        archive(file('Dockerfile', A), gnuLong('L', 'Dockerfile'), pax('x', { path: 'other' }), file('x', B)),
      'MARKER-B',
      'same',
    ],
    [
      'a USTAR prefix',
      () => archive(file('Dockerfile', A), file('Dockerfile', B, { prefix: 'sub' })),
      'MARKER-A',
      'same',
    ],
    [
      'a GNU header, which has no prefix field',
      () => archive(file('Dockerfile', A), file('Dockerfile', B, { prefix: '0000000', format: 'gnu' })),
      'MARKER-B',
      'same',
    ],
    [
      "a GNU header whose time fields do not parse, read as a prefix (for old Go writers' archives)",
      () => archive(file('Dockerfile', A), file('Dockerfile', B, { prefix: 'sub', format: 'gnu' })),
      'MARKER-A',
      'same',
    ],
    ['a v7 header', () => archive(file('Dockerfile', A, { format: 'v7' })), 'MARKER-A', 'same'],
    ['../Dockerfile', () => archive(file('Dockerfile', A), file('../Dockerfile', B)), 'MARKER-B', 'same'],
    [
      'a/../../Dockerfile',
      () => archive(file('Dockerfile', A), file('a/../../Dockerfile', B)),
      'MARKER-B',
      'same',
    ],
    ['/Dockerfile', () => archive(file('Dockerfile', A), file('/Dockerfile', B)), 'MARKER-B', 'same'],
    [
      'a Dockerfile written through a symlink to the root',
      () =>
        archive(
          file('Dockerfile', A),
          header({ name: 'a', type: '2', linkname: '.' }),
          file('a/Dockerfile', B),
        ),
      'MARKER-B',
      /written through a symbolic link/,
    ],
    [
      'a directory replaced by a symlink (-f sub/Dockerfile)',
      () =>
        archive(
          file('sub/Dockerfile', A),
          file('x/Dockerfile', B),
          header({ name: 'sub', type: '2', linkname: 'x' }),
        ),
      'MARKER-B',
      /goes through a symbolic link/,
      'sub/Dockerfile',
    ],
    [
      'a Dockerfile that is a symlink',
      () => archive(file('other', B), header({ name: 'Dockerfile', type: '2', linkname: 'other' })),
      'MARKER-B',
      /not a regular file but a symbolic link/,
    ],
    [
      'a Dockerfile that is a hard link',
      () => archive(file('other', B), header({ name: 'Dockerfile', type: '1', linkname: 'other' })),
      'MARKER-B',
      /not a regular file but a hard link/,
    ],
    [
      'a directory named Dockerfile, then a file',
      () =>
        archive(header({ name: 'Dockerfile/', type: '5' }), file('Dockerfile/x', B), file('Dockerfile', A)),
      'MARKER-A',
      'same',
    ],
    [
      'a PAX global header named for the Dockerfile',
      () => archive(file('dockerfile', B), file('Dockerfile', A), header({ name: 'Dockerfile', type: 'g' })),
      /MARKER-[AB]/,
      /PAX global header/,
    ],
    ['a GNU sparse file', () => archive(file('Dockerfile', A, { type: 'S', format: 'gnu' })), /.+/, /sparse/],
    [
      'a header with a bad checksum',
      () => {
        const t = archive(file('Dockerfile', A));
        t.writeUInt8(t.readUInt8(0) ^ 1, 0);
        return t;
      },
      /invalid tar header/,
      /checksum/,
    ],
    ['no Dockerfile', () => archive(file('other', A)), /Cannot locate/, /Cannot locate/],
    ['data cut short', () => header({ name: 'Dockerfile', size: 100 }), /.+/, /ends inside an entry/],
    [
      'a Dockerfile after a longer data block',
      () => archive(file('big', 'x'.repeat(70_000)), file('Dockerfile', A)),
      'MARKER-A',
      'same',
    ],
    [
      'the data of an entry padded with another entry',
      () =>
        archive(
          header({ name: 'Dockerfile', size: 9 }),
          data(Buffer.concat([Buffer.from(A), file('Dockerfile', B)]).subarray(0, 512)),
        ),
      'MARKER-A',
      'same',
    ],
  ];

  // found by a third review (stop 16): a header left pending at the end renames whatever is appended after it
  cases.push(
    [
      'a PAX path with no entry after it',
      () => archive(file('Dockerfile', A), pax('x', { path: 'zz' })),
      'MARKER-A',
      /no entry after it/,
    ],
    [
      'a GNU long name with no entry after it',
      () => archive(file('Dockerfile', A), gnuLong('L', 'zz')),
      'MARKER-A',
      /no entry after it/,
    ],
  );
  /** Found by review (stop 16): a GNU header whose time fields Go reads one way and an earlier reader another. */
  const gnuTimes = (atime: string, ctime?: bigint) => {
    const h = header({ name: 'Dockerfile', size: B.length, format: 'gnu' });
    h.write(atime, 345, 'latin1');
    if (ctime !== undefined) {
      h[357] = 0x80;
      h.writeBigUInt64BE(ctime, 361);
    }
    return archive(file('Dockerfile', A), checksummed(h), data(B));
  };
  /** The hidden archive, compressed, with room for the compressed data to run past a first header. */
  const hidden = () => Buffer.concat([archive(file('Dockerfile', B)), Buffer.alloc(256 << 10)]);
  cases.push(
    ['a GNU time field above 2^53, which Go reads', () => gnuTimes('0', 1n << 60n), 'MARKER-B', 'same'],
    ['a GNU time field with a sign, which Go does not read', () => gnuTimes('+1'), 'MARKER-A', 'same'],
    [
      'a context that starts with a zstd skippable frame',
      () => {
        const frame = zstdCompressSync(hidden());
        const h = header({ name: 'xxxxxx', size: frame.length });
        Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0xf8, 0x01]).copy(h, 0);
        return archive(checksummed(h), data(frame), file('Dockerfile', A));
      },
      // an engine that reads zstd (moby 23, API 1.42, on) finds B; Engine 20.10 reads the archive as it is, A
      newEngine ? 'MARKER-B' : 'MARKER-A',
      /compressed with zstd/,
    ],
    [
      'a first name the engine takes for gzip when it reads the archive it wrote anew',
      () => {
        const inner = hidden();
        const payload = Buffer.concat([deflateRawSync(inner), Buffer.alloc(8)]);
        payload.writeUInt32LE(crc32(inner), payload.length - 8);
        payload.writeUInt32LE(inner.length, payload.length - 4);
        // FEXTRA with XLEN 500: the gzip header runs to the end of the rewritten first header block
        const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x04, 1, 1, 1, 1, 2, 3, 0xf4, 0x01]).toString('latin1');
        return archive(
          gnuLong('L', magic),
          header({ name: 'x', size: payload.length, format: 'gnu' }),
          data(payload),
          file('Dockerfile', A),
        );
      },
      // Engine 20.10 takes the rewritten archive for gzip too, and fails to read it
      newEngine ? 'MARKER-B' : /gzip: invalid header/,
      /would take for gzip/,
    ],
    [
      'a first name the engine takes for a zstd skippable frame when it reads the archive it wrote anew',
      () => {
        const payload = Buffer.concat([Buffer.alloc(9, 0x41), zstdCompressSync(hidden())]);
        return archive(
          gnuLong('L', 'P*M\x18\x01\x02'),
          header({ name: 'x', size: payload.length, format: 'gnu' }),
          data(payload),
          file('Dockerfile', A),
        );
      },
      // an engine that reads zstd (moby 23, API 1.42, on) finds B; Engine 20.10 reads the archive as it is, A
      newEngine ? 'MARKER-B' : 'MARKER-A',
      /would take for zstd/,
    ],
  );

  it.each<[string, () => Buffer, string?]>([
    ['a plain context', () => archive(file('Dockerfile', A))],
    ['a gzipped context', () => gzipSync(archive(file('Dockerfile', A), file('big', 'x'.repeat(70_000))))],
    ['only the lower-case fallback', () => archive(file('dockerfile', A))],
    ['the end blocks cut short', () => Buffer.concat([file('Dockerfile', A), Buffer.alloc(512)])],
    [
      'the last padding cut short',
      () => Buffer.concat([header({ name: 'Dockerfile', size: A.length }), Buffer.from(A)]),
    ],
    [
      'a second archive after the end blocks',
      () => archive(file('Dockerfile', A), end, file('Dockerfile', B)),
    ],
    ['-f sub/Dockerfile', () => archive(file('sub/Dockerfile', A)), 'sub/Dockerfile'],
    [
      'a path longer than a name field',
      () => archive(pax('x', { path: `${'d'.repeat(90)}/${'e'.repeat(30)}/Dockerfile` }), file('short', A)),
      `${'d'.repeat(90)}/${'e'.repeat(30)}/Dockerfile`,
    ],
  ])('%s, its Dockerfile replaced: the engine reads the replacement', async (_what, make, dockerfile) => {
    const { replace } = await peekDockerfile(Readable.from([make()]), dockerfile ?? 'Dockerfile', 64 << 20);
    const { body, length } = await replace('MARKER-R\n');
    const bytes = Buffer.concat(await body.toArray());
    expect(bytes.length).toBe(length);
    expect(await engineReads(bytes, dockerfile)).toBe('MARKER-R');
  });

  it.each(cases)('%s', async (_what, make, engineRead, proxyRead, dockerfile) => {
    const tar = make();
    const seen = await engineReads(tar, dockerfile);
    if (typeof engineRead === 'string') expect(seen).toBe(engineRead);
    else expect(seen).toMatch(engineRead);
    const read = await proxyReads(tar, dockerfile);
    if (proxyRead === 'same') expect(read).toBe(seen);
    else expect(read).toMatch(new RegExp(`^refused: .*${proxyRead.source}`));
  });
});

describe('a classic build context that unpacks to more than can be checked', () => {
  it('is refused once the unpacked bytes pass 16 times the limit, however small it was sent', async () => {
    const bomb = gzipSync(
      archive(
        header({ name: 'zeros', size: 20 << 20 }),
        Buffer.alloc(20 << 20),
        file('Dockerfile', 'FROM busybox\n'),
      ),
    );
    expect(bomb.length).toBeLessThan(1 << 20);
    await expect(peekDockerfile(Readable.from([bomb]), 'Dockerfile', 1 << 20)).rejects.toThrow(
      /unpacks to more than 16777216 bytes/,
    );
    const fits = gzipSync(
      archive(
        header({ name: 'zeros', size: 10 << 20 }),
        Buffer.alloc(10 << 20),
        file('Dockerfile', 'FROM busybox\n'),
      ),
    );
    await expect(peekDockerfile(Readable.from([fits]), 'Dockerfile', 1 << 20)).resolves.toMatchObject({
      dockerfile: 'FROM busybox\n',
    });
  });
});

describe('a Dockerfile too large to hold', () => {
  it('is refused before it is read, however well it compresses', async () => {
    const big = gzipSync(archive(header({ name: 'Dockerfile', size: 5 << 20 }), Buffer.alloc(5 << 20, 0x41)));
    await expect(peekDockerfile(Readable.from([big]), 'Dockerfile', 64 << 20)).rejects.toThrow(
      /Dockerfile is larger than 4194304 bytes/,
    );
  });
});
