import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DockhandError } from '@dockhand/core';
import { ContextTree, contextPath } from './context-tree.ts';
import {
  argWords,
  type Instruction,
  parseDockerfile,
  parseInstruction,
  WORD_SPACE,
} from './dockerfile-parser.ts';
import { refuse } from './errors.ts';
import { tarFileEntry } from './tar-entry.ts';
import { readTar, type TarEntry } from './tar-reader.ts';

/**
 * Reads the Dockerfile out of a classic-builder build context (a tar, possibly gzipped) as the engine will. The whole
 * context is read (up to `limit` bytes) and held, to be replayed to the engine, so that the Dockerfile checked is the
 * one the engine builds. The tar is read as Go's reader reads it ({@link readTar}) and its entries applied as the
 * engine's unpack applies them ({@link ContextTree}): the last entry at a path wins, `..` stops at the context's
 * root, and what follows the end of the archive is not read. With the default name, the engine falls back to
 * `dockerfile` when the context has no `Dockerfile`, and so does this. The engine decompresses the context a second
 * time after writing it anew, which a first entry's name can turn into another archive; such names are refused.
 * Fails closed on what the engine could read another way: a Dockerfile that is a link or is reached through one, an
 * entry written through a link, a context without a Dockerfile.
 *
 * @param body - the request body
 * @param name - the Dockerfile's path in the context (`dockerfile` query parameter, default `Dockerfile`)
 * @param limit - the largest context held to be checked, in bytes; it may unpack to 16 times that
 * @returns the Dockerfile's bytes as a latin1 string (one character per byte, as the builder's parser reads
 *   them), the body to forward, and how to make a body whose Dockerfile is another
 * @throws {@link @dockhand/core!DockhandError} when the context is compressed in a way the proxy cannot read, larger
 *   than `limit`, not a tar Go reads as the proxy does, or has no single regular file for its Dockerfile
 * @example
 * ```ts
 * const { dockerfile, replay } = await peekDockerfile(stream, 'Dockerfile', 64 << 20);
 * ```
 */
export async function peekDockerfile(
  body: Readable,
  name: string,
  limit: number,
): Promise<{
  dockerfile: string;
  replay: Readable;
  replace: (dockerfile: string) => Promise<{ body: Readable; length: number }>;
}> {
  const path = contextPath(Buffer.from(name, 'utf8').toString('latin1'));
  if (/^\.\.(\/|$)/.test(posix.normalize(name)) || path.length === 0)
    throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the Dockerfile path ${name} is outside the build context`);
  const paths = name === 'Dockerfile' ? [path, ['dockerfile']] : [path];
  const held = await readAll(body, limit);
  const compression = compressionOf(held);
  if (compression !== undefined && compression !== 'gzip') throw uncheckable(compression);
  const source = unpacked(held, compression === 'gzip');
  const tree = new ContextTree(paths);
  const wanted = (entry: TarEntry) => {
    if (!tree.wants(entry)) return false;
    if (entry.size > MAX_DOCKERFILE)
      throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the Dockerfile is larger than ${MAX_DOCKERFILE} bytes`);
    return true;
  };
  let first = true;
  const end = { offset: 0 };
  try {
    for await (const entry of readTar(source, wanted, limit * 16, end)) {
      if (first) rewrittenUncompressed(entry.name);
      first = false;
      tree.add(entry);
    }
  } catch (err) {
    if (err instanceof DockhandError) throw err;
    throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the build context cannot be read: ${(err as Error).message}`);
  } finally {
    source.destroy();
  }
  let dockerfile: Buffer | undefined;
  let at: string[] = [];
  for (const p of paths) {
    dockerfile = tree.file(p);
    at = p;
    if (dockerfile !== undefined) break;
  }
  if (dockerfile === undefined)
    throw refuse('DOCKHAND_AMBIGUOUS_BODY', `Cannot locate specified Dockerfile: ${name}`);
  return {
    dockerfile: dockerfile.toString('latin1'),
    replay: Readable.from([held]),
    // the context as it is, up to its end, then the new Dockerfile at the path the engine reads: the last entry
    // at a path is the one unpacked. A gzipped context goes on decompressed.
    replace: async (text) => {
      const data = Buffer.from(text, 'latin1');
      const entry = tarFileEntry(at.join('/'), data);
      const body = () => Readable.from(appended(held, compression === 'gzip', end.offset, entry));
      // read back as the engine will: the Dockerfile it finds must be the new one, whatever the context holds
      const check = new ContextTree([at]);
      for await (const e of readTar(body(), (x) => check.wants(x), limit * 16)) check.add(e);
      if (!check.file(at)?.equals(data)) throw unreplaceable();
      return { body: body(), length: end.offset + (-end.offset & 511) + entry.length + 1024 };
    },
  };
}

/** The context's bytes as a tar: decompressed when it is gzipped. */
function unpacked(held: Buffer, gzip: boolean): Readable {
  return gzip ? Readable.from([held]).pipe(createGunzip()) : Readable.from([held]);
}

function unreplaceable() {
  return refuse('DOCKHAND_AMBIGUOUS_BODY', 'the build context cannot be given the Dockerfile checked here');
}

/**
 * The archive's first `end` bytes (decompressed), padded to a whole block, then `entry` and the end blocks; an
 * archive shorter than `end` is refused, so that the length announced is the length sent.
 */
async function* appended(held: Buffer, gzip: boolean, end: number, entry: Buffer): AsyncGenerator<Buffer> {
  const source = unpacked(held, gzip);
  let sent = 0;
  try {
    for await (const chunk of source) {
      if (sent >= end) break;
      const part = (chunk as Buffer).subarray(0, end - sent);
      sent += part.length;
      yield part;
    }
  } finally {
    source.destroy();
  }
  if (sent !== end) throw unreplaceable();
  yield Buffer.concat([Buffer.alloc(-sent & 511), entry, Buffer.alloc(1024)]);
}

/** The largest Dockerfile read; the proxy holds it whole. */
const MAX_DOCKERFILE = 4 << 20;

/** The compressions the engine detects (moby's `DetectCompression`), by their magic numbers. */
const MAGIC: [string, Buffer][] = [
  ['gzip', Buffer.from([0x1f, 0x8b, 0x08])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];

/**
 * The compression the engine takes a stream's first bytes for, as moby's `DetectCompression` does: a zstd stream
 * may also start with a skippable frame (`0x184D2A5?`, little-endian).
 */
function compressionOf(head: Buffer): string | undefined {
  for (const [kind, magic] of MAGIC) if (head.subarray(0, magic.length).equals(magic)) return kind;
  if (head.length >= 4 && (head.readUInt32LE(0) & 0xfffffff0) >>> 0 === 0x184d2a50) return 'zstd';
  return undefined;
}

/**
 * The engine reads a classic build's context twice: it decompresses it and reads it with Go's tar reader to sum
 * it (`tarsum`), which writes the archive anew with Go's tar writer, and it decompresses that again to unpack it. If
 * the new archive starts with a compression's magic number, the engine unpacks what that decompresses to instead.
 * The new archive starts with the first entry's header, whose name field holds the name, the part after a `/` where
 * the writer splits a long name, or, for a PAX header, the name with its non-ASCII bytes dropped; each padded with
 * NULs. A first name that could start the new archive with a magic number is refused.
 */
function rewrittenUncompressed(name: string): void {
  const bytes = Buffer.from(name, 'latin1');
  const starts = [0];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x2f) starts.push(i + 1);
  for (const start of starts) {
    const rest = bytes.subarray(start);
    const ascii = Buffer.from(rest.filter((c) => c > 0 && c < 0x80));
    for (const candidate of [rest, ascii]) {
      const kind = compressionOf(Buffer.concat([candidate, Buffer.alloc(16)]));
      if (kind !== undefined)
        throw refuse(
          'DOCKHAND_AMBIGUOUS_BODY',
          `the build context's first entry has a name the engine would take for ${kind} data; rename it or put another entry first`,
        );
    }
  }
}

function uncheckable(kind: string) {
  return refuse(
    'DOCKHAND_AMBIGUOUS_BODY',
    `build contexts compressed with ${kind} cannot be checked here; send a plain or gzipped tar`,
  );
}

/**
 * The longest a build context may pause while the proxy holds what came of it, in ms: a context that stopped
 * arriving was held for good, up to 64 MiB a connection (review 28a: 8 connections held 974 MiB for over 70 s).
 */
const CONTEXT_STALL_MS = 60_000;

/** The whole body, refused once it is larger than `limit` or stops arriving for {@link CONTEXT_STALL_MS}. */
async function readAll(body: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  // not destroyed when refused: the proxy reads and drops the rest after its answer, and the client, still
  // sending, gets the refusal (destroyed, the docker CLI saw `write: broken pipe` and docker-py a connection
  // aborted: found by review, stop 27)
  for await (const chunk of stalling(body.iterator({ destroyOnReturn: false }), CONTEXT_STALL_MS)) {
    if (chunk === STALLED) {
      body.pause();
      throw refuse(
        'DOCKHAND_AMBIGUOUS_BODY',
        `the build context stopped arriving: nothing for ${CONTEXT_STALL_MS / 1000} s after ${size} bytes`,
      );
    }
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.pause();
      throw refuse(
        'DOCKHAND_AMBIGUOUS_BODY',
        `the build context is larger than ${limit} bytes, more than can be checked here; use BuildKit (docker buildx, the default docker build)`,
      );
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

const STALLED = Symbol('stalled');

/** The iterator's values, or {@link STALLED} once one takes longer than `ms` to come (the iterator is then left). */
async function* stalling<T>(iterator: AsyncIterator<T>, ms: number): AsyncGenerator<T | typeof STALLED> {
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      let next: IteratorResult<T> | typeof STALLED;
      try {
        next = await Promise.race([
          iterator.next(),
          new Promise<typeof STALLED>((resolve) => {
            timer = setTimeout(resolve, ms, STALLED);
          }),
        ]);
      } finally {
        // (also when the read fails: the client left)
        clearTimeout(timer);
      }
      if (next === STALLED) {
        yield STALLED;
        return;
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // (not awaited: after a stall, the iterator returns only once its pending read ends, when the rest is dropped)
    iterator.return?.().catch(() => {});
  }
}

/**
 * A build's `buildargs`: each value a string, or `null` for an arg named without a value (`--build-arg FOO` with
 * `FOO` unset), which leaves the Dockerfile's default.
 */
export type BuildArgs = Readonly<Record<string, string | null>>;

/** Characters that make a reference mean something else to the builder's word processing than to this check. */
const UNCHECKABLE = /[$'"\\`{}]|[^\x21-\x7e]/;

/**
 * The images a Dockerfile reads: every `FROM` that is not an earlier stage, and every `COPY --from` / `ADD --from`
 * (and `RUN --mount=from=`, which the classic builder refuses) that is not an earlier stage, also inside `ONBUILD`
 * (whose triggers run in a later build, where every `--from` names an image), with `ARG` defaults and build args
 * substituted. The Dockerfile is read as the builder's parser reads it ({@link parseDockerfile}). Fails closed: a
 * reference this cannot read exactly as the builder does (quotes, escapes, a `${VAR:-default}` form, an unknown
 * variable, bytes outside printable ASCII) is refused rather than guessed.
 *
 * @param dockerfile - the Dockerfile's bytes, latin1
 * @param buildArgs - the `buildargs` of the request
 * @returns image references
 * @throws {@link @dockhand/core!DockhandError} for a reference that cannot be resolved
 * @example
 * ```ts
 * dockerfileImages('ARG V=1\nFROM busybox:$V AS a\nCOPY --from=a / /\n', {}); // ['busybox:1']
 * ```
 */
export function dockerfileImages(dockerfile: string, buildArgs: BuildArgs): string[] {
  return imagesOf(parseDockerfile(dockerfile), buildArgs, false).map((i) => i.ref);
}

/** An image a Dockerfile reads, and whether the build starts from it (`FROM`, with that instruction). */
export interface ImageRead {
  ref: string;
  base: boolean;
  /** The `FROM` instruction of a base image. */
  from?: Instruction;
}

/**
 * The Dockerfile the engine is given for a classic build: each instruction as this check read it, on one line of
 * its own (its lines joined, as the parser joins them; one longer than the engine takes on a line, on as many as
 * it needs, cut between two letters or digits), at the line where it started, with empty lines where it spanned
 * more and for comments, so that line numbers stay; no parser directive. The engine then reads exactly
 * the instructions that were checked, whatever its parser would have made of the original's continuations,
 * comments and directives (found by review, stop 26: a line ending in `\\`, continued here and not by Engine 26,
 * and a `# syntax=` with a carriage return inside, no directive here and one to the engine, each hid an
 * instruction from the check). The `FROM` instructions of the base images name the ids they were checked as (the
 * engine looks a name up only when it reaches the step: a tag moved in between would bring in an image nobody
 * checked, and its `ONBUILD` triggers): `FROM [--platform=...] <id> [AS <stage>]`.
 *
 * @param dockerfile - the Dockerfile's bytes, latin1
 * @param pins - each base image read ({@link dockerfileReads}) with the image id it was checked as
 * @returns the Dockerfile to build, latin1
 * @throws {@link @dockhand/core!DockhandError} as {@link parseDockerfile}, and for a `FROM` flag this cannot write
 *   back as it was
 * @example
 * ```ts
 * writtenDockerfile('FROM busybox\nRUN a \\\n  b\n', [[read, 'sha256:...']]); // 'FROM sha256:...\nRUN a   b\n\n'
 * ```
 */
export function writtenDockerfile(dockerfile: string, pins: readonly [ImageRead, string][]): string {
  const count = dockerfile.replace(/^\xef\xbb\xbf/, '').split('\n').length;
  const lines: string[] = [];
  const pinned = new Map(pins.map(([read, id]) => [read.from?.lines?.[0], id]));
  for (const ins of parseDockerfile(dockerfile)) {
    const [first] = ins.lines!;
    while (lines.length < first) lines.push('');
    const id = pinned.get(first);
    lines.push(...(id === undefined ? physicalLines(ins.text!) : [pinnedFrom(ins, id)]));
  }
  while (lines.length < count) lines.push('');
  return lines.join('\n');
}

/**
 * The longest line written, its continuation backslash included: the engine's parser refuses a line of more than
 * 65,535 bytes (`dockerfile line greater than max allowed size`).
 */
const MAX_WRITTEN_LINE = 65_000;

/**
 * An instruction's text on as few lines as the engine reads: one, or, for one longer than a line may be (a long
 * `RUN` continued over many short lines: found by review, stop 27, refused by the engine once joined), lines
 * continued with a backslash, each cut between two letters or digits, where the next line starts with no
 * whitespace, comment mark or anything else the parser reads apart: the engine joins them back to the text checked.
 */
function physicalLines(text: string): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > MAX_WRITTEN_LINE) {
    let cut = MAX_WRITTEN_LINE - 1;
    while (cut > 0 && !(ALNUM.test(rest[cut - 1]!) && ALNUM.test(rest[cut]!))) cut--;
    if (cut === 0)
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `a Dockerfile instruction of more than ${MAX_WRITTEN_LINE} bytes without two letters or digits together cannot be checked here`,
      );
    out.push(`${rest.slice(0, cut)}\\`);
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}

const ALNUM = /^[A-Za-z0-9]$/;

/** `FROM [--platform=...] <id> [AS <stage>]` for a base image's `FROM`, checked as the image `id`. */
function pinnedFrom(ins: Instruction, id: string): string {
  const flags = ins.flags.map((f) => {
    if (f.name !== 'platform' || !/^[A-Za-z0-9_./-]+$/.test(f.value))
      throw refuse('DOCKHAND_IMAGE_POLICY', `FROM --${f.name}=${f.value} cannot be checked here`);
    return `--platform=${f.value} `;
  });
  const words = ins.args.split(WORD_SPACE);
  if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as'))
    throw refuse('DOCKHAND_IMAGE_POLICY', `FROM ${ins.args} cannot be checked here`);
  const stage = words.length === 3 ? ` AS ${words[2]}` : '';
  return `FROM ${flags.join('')}${id}${stage}`;
}

/**
 * {@link dockerfileImages}, each marked as a base image (`FROM`), whose `ONBUILD` triggers the build runs, or not.
 *
 * @param dockerfile - the Dockerfile's bytes, latin1
 * @param buildArgs - the `buildargs` of the request
 * @param target - the build's `target` stage, if any: the stages after it are not read
 * @returns the images, in order
 * @throws {@link @dockhand/core!DockhandError} as {@link dockerfileImages}
 * @example
 * ```ts
 * dockerfileReads('FROM a\nCOPY --from=b / /\n', {}); // [{ ref: 'a', base: true }, { ref: 'b', base: false }]
 * ```
 */
export function dockerfileReads(dockerfile: string, buildArgs: BuildArgs, target?: string): ImageRead[] {
  return imagesOf(upToTarget(parseDockerfile(dockerfile), target), buildArgs, false);
}

/**
 * The instructions the classic builder runs for a build's `target`: up to the end of the first stage of that name
 * (any case), the stages after it never being reached (moby's `instructions.HasStage`); all of them with no target,
 * or one no stage has (the build then fails before it starts). Found by review (stop 26): a later stage naming an
 * image the tenant has not was refused, where the engine builds the target.
 */
function upToTarget(list: Instruction[], target: string | undefined): Instruction[] {
  if (!target) return list;
  let inTarget = false;
  for (let i = 0; i < list.length; i++) {
    const ins = list[i]!;
    if (ins.keyword !== 'from') continue;
    if (inTarget) return list.slice(0, i);
    const words = ins.args === '' ? [] : ins.args.split(WORD_SPACE);
    inTarget =
      words.length === 3 &&
      words[1]!.toLowerCase() === 'as' &&
      words[2]!.toLowerCase() === target.toLowerCase();
  }
  return list;
}

function imagesOf(list: readonly Instruction[], buildArgs: BuildArgs, triggers: boolean): ImageRead[] {
  // the builder expands `FROM` with the ARGs declared before the first `FROM` only, a build arg replacing the
  // default of a declared one; a variable it does not know this way is refused, never guessed
  const globals = new Map<string, string | undefined>();
  let staged = false;
  const stages: string[] = [];
  let current: string | undefined;
  const images: ImageRead[] = [];
  const expand = (s: string) =>
    s.replace(/\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})/g, (m, a?: string, b?: string) => {
      const n = (a ?? b)!;
      return globals.get(n) ?? m;
    });
  const checkable = (ref: string, shown: string) => {
    if (UNCHECKABLE.test(ref) || ref === '')
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `the image reference '${shown}' in the Dockerfile cannot be checked here`,
      );
  };
  // `--from` names an earlier stage by its name (any case) or its index, else an image; inside ONBUILD it names
  // an image of the later build, which is checked as one
  const from = (value: string, trigger: boolean) => {
    checkable(value, value);
    // (stages done: the one being built is not one yet, and an index past them names an image)
    const stage =
      !trigger &&
      (stages.includes(value.toLowerCase()) || (/^\d+$/.test(value) && Number(value) < stages.length));
    if (stage) return;
    // a short id prefix (or a name that reads as one) is resolved among every image on the engine when the step
    // runs: which image it names can change after the check (the tenant's own image of that prefix removed)
    if (/^(sha256:)?[0-9a-f]{1,63}$/.test(value))
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `--from=${value} reads as an image id prefix, which cannot be checked here; name the image, or give its whole id`,
      );
    images.push({ ref: value, base: false });
  };
  const instruction = (ins: Instruction, trigger: boolean): void => {
    if (ins.keyword === 'onbuild') {
      instruction(parseInstruction(ins.args), true);
      return;
    }
    if (ins.keyword === 'arg' && !staged && !trigger) {
      // the words as the parser splits them; a name or value the builder's word processing would change (beyond
      // one pair of quotes around the whole value) is refused, as a FROM may use it
      for (const a of argWords(ins.args)) {
        const eq = a.indexOf('=');
        const name = eq === -1 ? a : a.slice(0, eq);
        const raw = eq === -1 ? undefined : a.slice(eq + 1);
        const value = raw?.replace(/^"([^"\\$`]*)"$|^'([^']*)'$/, '$1$2');
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || (value !== undefined && /["'\\$`]/.test(value)))
          throw refuse('DOCKHAND_IMAGE_POLICY', `ARG ${a}, before the first FROM, cannot be checked here`);
        // a build arg given as null (`--build-arg FOO` with FOO unset) leaves the default, as the builder does
        globals.set(name, (Object.hasOwn(buildArgs, name) ? buildArgs[name] : undefined) ?? value);
      }
    } else if (ins.keyword === 'from') {
      const words = ins.args === '' ? [] : ins.args.split(WORD_SPACE);
      // the stage before is done, and one to this FROM and what follows; the one it starts is not, yet
      if (current !== undefined) stages.push(current);
      const base = words[0];
      if (base !== undefined) {
        const ref = expand(base);
        checkable(ref, base);
        // FROM names an earlier stage by its name only (a number is an image id prefix), and `scratch` nothing
        if (ref !== 'scratch' && !stages.includes(ref.toLowerCase()))
          images.push({ ref, base: true, from: ins });
      }
      staged = true;
      current = words.length === 3 && words[1]!.toLowerCase() === 'as' ? words[2]!.toLowerCase() : '';
    }
    for (const flag of ins.flags) {
      if (flag.name === 'from' && ins.keyword !== 'from') from(flag.value, trigger);
      else if (flag.name === 'mount') {
        if (/["']/.test(flag.value)) checkable(flag.value, flag.value);
        for (const field of flag.value.split(',')) {
          const eq = field.indexOf('=');
          if (eq !== -1 && field.slice(0, eq).toLowerCase() === 'from') from(field.slice(eq + 1), trigger);
        }
      }
    }
  };
  for (const ins of list) instruction(ins, triggers);
  return images;
}

/**
 * What the `ONBUILD` triggers of an image read when a build starts from it: the images their `--from` name (each an
 * image, as it may be in the build that runs them) and the remote sources their `ADD` fetch. A trigger runs in that
 * build whoever set it: a Dockerfile, a commit's or an import's `changes`, or a pulled image's publisher. The
 * builder parses each trigger as a Dockerfile of its own (comments and continuations included), and so does
 * {@link onBuildInstructions}, which gives what this reads.
 *
 * @param triggers - the image's triggers, as {@link onBuildInstructions} reads them
 * @returns the images and remote sources the triggers read
 * @throws {@link @dockhand/core!DockhandError} for a reference the check cannot read exactly (see
 *   {@link dockerfileImages})
 * @example
 * ```ts
 * onBuildReads(onBuildInstructions(['COPY --from=other / /x'])); // { images: ['other'], remote: [] }
 * ```
 */
export function onBuildReads(triggers: readonly Instruction[]): { images: string[]; remote: string[] } {
  return { images: imagesOf(triggers, {}, true).map((i) => i.ref), remote: remoteOf(triggers) };
}

/**
 * An image's `ONBUILD` triggers as the builder reads them: each one a Dockerfile of its own (comments and
 * continuations included), which must be one instruction. Every check of the triggers reads them so (found by
 * review, stop 26: the label check read each as one line, and `LABEL dockhand.ten\<newline>ant=<victim>`, set
 * through a commit's `OnBuild`, planted another tenant's label on the images of a classic build's steps).
 *
 * @param triggers - the image's `Config.OnBuild`
 * @returns one instruction per trigger
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for a trigger that is not one instruction,
 *   or that {@link parseDockerfile} refuses
 * @example
 * ```ts
 * onBuildInstructions(['# c\nLABEL a=b']); // [{ keyword: 'label', ... }]
 * ```
 */
export function onBuildInstructions(triggers: readonly string[]): Instruction[] {
  return triggers.map((t) => {
    const parsed = parseDockerfile(Buffer.from(t, 'utf8').toString('latin1'));
    if (parsed.length !== 1)
      throw refuse('DOCKHAND_IMAGE_POLICY', 'an ONBUILD trigger of the base image is not one instruction');
    return parsed[0]!;
  });
}

const REMOTE_SOURCE = /^(?:https?:\/\/|git:\/\/|ssh:\/\/|git@)/i;

/**
 * The remote sources of a Dockerfile's `ADD` instructions (URLs and git repositories), which the classic builder
 * fetches in the engine, from the host's network. A source the builder's word processing would change (quotes,
 * escapes, variables) cannot be told from a remote one here, and is refused.
 *
 * @param dockerfile - the Dockerfile's bytes, latin1
 * @param target - the build's `target` stage, if any: the stages after it are not read
 * @returns the remote sources, in order
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for an `ADD` source with quotes, escapes or
 *   variables
 * @example
 * ```ts
 * dockerfileRemoteSources('FROM busybox\nADD http://127.0.0.1:8080/x /x\n'); // ['http://127.0.0.1:8080/x']
 * ```
 */
export function dockerfileRemoteSources(dockerfile: string, target?: string): string[] {
  return remoteOf(upToTarget(parseDockerfile(dockerfile), target));
}

function remoteOf(list: readonly Instruction[]): string[] {
  const found: string[] = [];
  for (let ins of list) {
    while (ins.keyword === 'onbuild') ins = parseInstruction(ins.args);
    if (ins.keyword !== 'add') continue;
    let args: string[] | undefined;
    if (ins.args.startsWith('[')) {
      // the builder decodes the first JSON value and ignores what follows it (Go's json.Decoder): only an array of
      // strings and nothing after it is read alike here (found by review, stop 26: `ADD ["http://...","/x"]x` was
      // one word here, no source, and a fetch from the host's loopback to the engine)
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(ins.args, 'latin1').toString('utf8'));
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `ADD ${ins.args}: arguments that start with [ must be a JSON array of strings and nothing more to be checked here`,
        );
      args = parsed;
    }
    args ??= ins.args.split(WORD_SPACE);
    for (const src of args.slice(0, -1)) {
      if (/[$'"\\`]/.test(src))
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `ADD ${src}: a source with quotes, escapes or variables cannot be checked here; use COPY, or build with BuildKit`,
        );
      if (REMOTE_SOURCE.test(src)) found.push(src);
    }
  }
  return found;
}
