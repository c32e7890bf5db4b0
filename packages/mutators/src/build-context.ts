import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { refuse } from './errors.ts';

/**
 * Reads the Dockerfile out of a classic-builder build context (a tar, possibly gzipped) as it streams, keeping
 * every byte to replay to the engine. Only the bytes up to the Dockerfile's entry are held (bounded by `limit`).
 *
 * @param body - the request body
 * @param name - the Dockerfile's path in the context (`dockerfile` query parameter, default `Dockerfile`)
 * @param limit - the most bytes to hold before the Dockerfile is found
 * @returns the Dockerfile text (`undefined` when the context has none) and the body to forward
 * @throws {@link @dockhand/core!DockhandError} when the context is compressed in a way the proxy cannot read, or too large
 *   before its Dockerfile
 * @example
 * ```ts
 * const { dockerfile, replay } = await peekDockerfile(stream, 'Dockerfile', 64 << 20);
 * ```
 */
export async function peekDockerfile(
  body: Readable,
  name: string,
  limit: number,
): Promise<{ dockerfile: string | undefined; replay: Readable }> {
  const wanted = normalise(name);
  const held: Buffer[] = [];
  let size = 0;
  let first = true;
  const parser = extract();
  let sink: NodeJS.WritableStream = parser;
  const found = new Promise<string | undefined>((resolve, reject) => {
    parser.on('entry', (header, stream, next) => {
      if (normalise(header.name) === wanted && header.type === 'file') {
        const parts: Buffer[] = [];
        stream.on('data', (c: unknown) => {
          parts.push(c as Buffer);
        });
        stream.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      } else {
        stream.on('end', next);
        stream.resume();
      }
    });
    parser.on('finish', () => resolve(undefined));
    parser.on('error', reject);
    body.on('error', reject);
  });
  const onData = (chunk: Buffer) => {
    if (first) {
      first = false;
      if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
        const gunzip = createGunzip();
        gunzip.pipe(parser);
        gunzip.on('error', (err) => parser.destroy(err));
        sink = gunzip;
      } else if ((chunk[0] === 0x42 && chunk[1] === 0x5a) || (chunk[0] === 0xfd && chunk[1] === 0x37)) {
        parser.destroy(
          refuse(
            'DOCKHAND_AMBIGUOUS_BODY',
            'build contexts compressed with bzip2 or xz cannot be checked here; send a plain or gzipped tar',
          ),
        );
        return;
      }
    }
    held.push(chunk);
    size += chunk.length;
    if (size > limit) {
      parser.destroy(
        refuse(
          'DOCKHAND_AMBIGUOUS_BODY',
          `the build context is larger than ${limit} bytes before its Dockerfile`,
        ),
      );
      return;
    }
    sink.write(chunk);
  };
  body.on('data', onData);
  body.on('end', () => sink.end());
  let dockerfile: string | undefined;
  try {
    dockerfile = await found;
  } finally {
    body.off('data', onData);
    body.pause();
  }
  const replay = new PassThrough();
  for (const chunk of held) replay.write(chunk);
  if (body.readableEnded) replay.end();
  else body.pipe(replay);
  return { dockerfile, replay };
}

function normalise(p: string): string {
  return p.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

/**
 * The images a Dockerfile reads: every `FROM` and `COPY --from` / `RUN --mount=from=` that is not an earlier
 * stage, with `ARG` defaults and build args substituted.
 *
 * @param dockerfile - the Dockerfile's text
 * @param buildArgs - the `buildargs` of the request
 * @returns image references; a reference that still holds a `$` after substitution makes it throw
 * @throws {@link @dockhand/core!DockhandError} for a reference that cannot be resolved
 * @example
 * ```ts
 * dockerfileImages('ARG V=1\nFROM busybox:$V AS a\nCOPY --from=a / /\n', {}); // ['busybox:1']
 * ```
 */
export function dockerfileImages(dockerfile: string, buildArgs: Record<string, string>): string[] {
  const lines = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages = new Set<string>();
  const images: string[] = [];
  const sub = (s: string) =>
    s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, n: string) => buildArgs[n] ?? args[n] ?? m);
  const use = (ref: string) => {
    const r = sub(ref);
    if (r.includes('$'))
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `the image reference '${ref}' in the Dockerfile cannot be checked here`,
      );
    if (r.toLowerCase() === 'scratch' || stages.has(r.toLowerCase()) || /^\d+$/.test(r)) return;
    images.push(r);
  };
  for (const line of lines) {
    const [instr = '', ...rest] = line.split(/\s+/);
    const word = instr.toUpperCase();
    if (word === 'ARG') {
      for (const a of rest) {
        const eq = a.indexOf('=');
        if (eq > 0) args[a.slice(0, eq)] = a.slice(eq + 1).replace(/^"(.*)"$/, '$1');
      }
    } else if (word === 'FROM') {
      const parts = rest.filter((p) => !p.startsWith('--'));
      if (parts[0]) use(parts[0]);
      const as = parts.findIndex((p) => p.toUpperCase() === 'AS');
      if (as !== -1 && parts[as + 1]) stages.add(parts[as + 1]!.toLowerCase());
    } else if (word === 'COPY' || word === 'ADD' || word === 'RUN') {
      for (const p of rest) {
        const m = /^--from=(.+)$/.exec(p) ?? /^--mount=.*\bfrom=([^,\s]+)/.exec(p);
        if (m) use(m[1]!);
      }
    }
  }
  return images;
}

const REMOTE_SOURCE = /^(?:https?:\/\/|git:\/\/|ssh:\/\/|git@)/i;

/**
 * The remote sources of a Dockerfile's `ADD` instructions (URLs and git repositories), which the classic builder
 * fetches in the engine, from the host's network.
 *
 * @param dockerfile - the Dockerfile's text
 * @returns the remote sources, in order
 * @example
 * ```ts
 * dockerfileRemoteSources('FROM busybox\nADD http://127.0.0.1:8080/x /x\n'); // ['http://127.0.0.1:8080/x']
 * ```
 */
export function dockerfileRemoteSources(dockerfile: string): string[] {
  const found: string[] = [];
  for (const raw of dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const line = raw.trim();
    const m = /^add\s+(.*)$/i.exec(line);
    if (!m) continue;
    let args: string[];
    const rest = m[1]!.trim();
    if (rest.startsWith('[')) {
      try {
        args = (JSON.parse(rest) as unknown[]).map(String);
      } catch {
        args = rest.split(/\s+/);
      }
    } else {
      args = rest.split(/\s+/).filter((a) => !a.startsWith('--'));
    }
    for (const src of args.slice(0, -1)) {
      if (REMOTE_SOURCE.test(src.replace(/^["']/, ''))) found.push(src);
    }
  }
  return found;
}
