import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { frame, message, num, type Part, str, sub } from '../test/protobuf.ts';
import { relayProgress } from './buildkit-progress.ts';

// StatusResponse: vertexes 1 (Vertex: digest 1, completed 6), statuses 2 (VertexStatus: ID 1, vertex 2,
// completed 8), logs 3 (VertexLog: vertex 1, msg 4)
const EXPORT = 'sha256:e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';
const WRITING = `writing image sha256:${'c'.repeat(64)}`;
/** A `google.protobuf.Timestamp` in field `no`. */
const at = (no: number): Part => sub(no, num(1, 1_700_000_000));
const vertex = (digest: string, done = false): Part => sub(1, str(1, digest), ...(done ? [at(6)] : []));
const status = (id: string, of: string, done = false): Part =>
  sub(2, str(1, id), str(2, of), ...(done ? [at(8)] : []));
const log = (of: string, text: string): Part => sub(3, str(1, of), str(4, text));

/** The frames before the image is written, the frame that writes it (with the export step's end), and after. */
const before = frame(message(vertex('sha256:run'), status('load build context', 'sha256:run', true)));
const written = frame(
  message(
    vertex(EXPORT),
    status('exporting layers', EXPORT, true),
    status(WRITING, EXPORT, true),
    vertex(EXPORT, true),
  ),
);
const after = frame(message(log('sha256:run', 'done'), vertex('sha256:other', true)));
const stream = Buffer.concat([before, written, after]);

/** The entries of a `StatusResponse` in wire order, in words: `vertex <digest> [done]`, `status <id> [done]`. */
function entries(msg: Uint8Array): string[] {
  const out: string[] = [];
  const reader = new BinaryReader(msg);
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (type !== WireType.LengthDelimited) {
      reader.skip(type, no);
      out.push(`field ${no}`);
      continue;
    }
    const fields = new Map<number, Uint8Array>();
    const inner = new BinaryReader(reader.bytes());
    while (inner.pos < inner.len) {
      const [n, t] = inner.tag();
      if (t === WireType.LengthDelimited) fields.set(n, inner.bytes());
      else inner.skip(t, n);
    }
    const text = (n: number) => Buffer.from(fields.get(n) ?? []).toString();
    if (no === 1) out.push(`vertex ${text(1)}${fields.has(6) ? ' done' : ''}`);
    else if (no === 2) out.push(`status ${text(1)} of ${text(2)}${fields.has(8) ? ' done' : ''}`);
    else if (no === 3) out.push(`log ${text(4)} of ${text(1)}`);
    else out.push(`field ${no}`);
  }
  return out;
}

/** A stream of gRPC frames, each as the entries of its `StatusResponse`. */
function framesOf(bytes: Buffer): string[][] {
  const out: string[][] = [];
  let rest = bytes;
  while (rest.length > 0) {
    expect(rest.length).toBeGreaterThanOrEqual(5);
    expect(rest[0]).toBe(0);
    const length = rest.readUInt32BE(1);
    expect(rest.length).toBeGreaterThanOrEqual(5 + length);
    out.push(entries(rest.subarray(5, 5 + length)));
    rest = rest.subarray(5 + length);
  }
  return out;
}

const BEFORE = ['vertex sha256:run', 'status load build context of sha256:run done'];
const WRITTEN = [
  `vertex ${EXPORT}`,
  `status exporting layers of ${EXPORT} done`,
  `status ${WRITING} of ${EXPORT} done`,
];
const EXPORT_END = [`vertex ${EXPORT} done`];
const AFTER = ['log done of sha256:run', 'vertex sha256:other done'];

/** Names given when the test says so. */
function deferred() {
  let give!: (names: readonly string[]) => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<readonly string[]>((resolve, reject) => {
    give = resolve;
    fail = reject;
  });
  return { promise, give, fail };
}

/** A relay between two real streams; what the client has read so far, and when it ends. */
function relay(naming: () => Promise<readonly string[]> | undefined) {
  const engine = new PassThrough();
  const client = new PassThrough();
  const read: Buffer[] = [];
  client.on('data', (chunk: Buffer) => read.push(chunk));
  const ended = once(client, 'end');
  relayProgress(engine, client, naming);
  return { engine, client, ended, read: () => Buffer.concat(read) };
}

/** Lets the streams move what they have. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

// a relay that never ends its client fails in seconds, not at the integration tests' timeout
describe('relayProgress', { timeout: 10_000 }, () => {
  it('passes every frame on unchanged when the build has no names to give', async () => {
    let asked = 0;
    const { engine, ended, read } = relay(() => {
      asked++;
      return undefined;
    });
    engine.end(stream);
    await ended;
    expect(read()).toEqual(stream);
    expect(asked).toBe(1);
  });

  it('asks for names only when the writing image status is done', async () => {
    let asked = 0;
    const started = frame(message(vertex(EXPORT), status(WRITING, EXPORT)));
    const other = frame(
      message(status('writing image sha256', EXPORT, true), status('naming', EXPORT, true)),
    );
    const { engine, ended, read } = relay(() => {
      asked++;
      return Promise.resolve(['docker.io/library/app:1']);
    });
    engine.end(Buffer.concat([before, started, other, after]));
    await ended;
    expect(read()).toEqual(Buffer.concat([before, started, other, after]));
    expect(asked).toBe(0);
  });

  it('sends the names’ lines before the export step’s end and the frames after it, held until they are known', async () => {
    const names = deferred();
    const { engine, client, ended, read } = relay(() => names.promise);
    engine.write(stream);
    await settle();
    // the status is on its way; the step's end and what follows wait for the names
    expect(framesOf(read())).toEqual([BEFORE, WRITTEN]);
    names.give(['docker.io/library/app:1', 'docker.io/library/app:latest']);
    await settle();
    expect(framesOf(read())).toEqual([
      BEFORE,
      WRITTEN,
      [
        `status naming to docker.io/library/app:1 of ${EXPORT} done`,
        `status naming to docker.io/library/app:latest of ${EXPORT} done`,
      ],
      EXPORT_END,
      AFTER,
    ]);
    // the frames held go on as the engine sent them
    expect(read().subarray(-after.length)).toEqual(after);
    expect(client.writableEnded).toBe(false);
    engine.end();
    await ended;
  });

  it('adds nothing for no names, or names that could not be given', async () => {
    for (const naming of [() => Promise.resolve([]), () => Promise.reject(new Error('refused'))]) {
      const { engine, ended, read } = relay(naming);
      engine.end(stream);
      await ended;
      expect(framesOf(read())).toEqual([BEFORE, WRITTEN, EXPORT_END, AFTER]);
    }
  });

  it('reads frames split across chunks, and several in one chunk', async () => {
    const expected = [BEFORE, WRITTEN, [`status naming to app:1 of ${EXPORT} done`], EXPORT_END, AFTER];
    // one byte at a time: headers and messages split
    const bytewise = relay(() => Promise.resolve(['app:1']));
    for (const byte of stream) bytewise.engine.write(Buffer.from([byte]));
    bytewise.engine.end();
    await bytewise.ended;
    expect(framesOf(bytewise.read())).toEqual(expected);
    // a frame and a half, then the rest
    const uneven = relay(() => Promise.resolve(['app:1']));
    const cut = before.length + 7;
    uneven.engine.write(stream.subarray(0, cut));
    uneven.engine.end(stream.subarray(cut));
    await uneven.ended;
    expect(framesOf(uneven.read())).toEqual(expected);
  });

  it('ends the client only after the names are given, when the engine has ended first', async () => {
    const names = deferred();
    const { engine, client, ended, read } = relay(() => names.promise);
    engine.end(stream);
    await settle();
    expect(client.writableEnded).toBe(false);
    expect(framesOf(read())).toEqual([BEFORE, WRITTEN]);
    names.give(['app:1']);
    await ended;
    expect(framesOf(read())).toEqual([
      BEFORE,
      WRITTEN,
      [`status naming to app:1 of ${EXPORT} done`],
      EXPORT_END,
      AFTER,
    ]);
  });
});
