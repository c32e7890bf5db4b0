import type { Readable, Writable } from 'node:stream';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { reframe } from './buildkit-solve.ts';
import { bytesOf, fieldSpans, lastString, lengthDelimited } from './protobuf-wire.ts';

/** The status the engine's image exporter shows when it has stored the image (`writing image sha256:…`). */
const WRITING_IMAGE = 'writing image sha256:';

/**
 * Relays a `Control/Status` stream (`StatusResponse` frames) from the engine to the client, and shows the names
 * the proxy gives a build's image (`naming to docker.io/library/app:1`) where the engine's exporter shows them: the
 * guard takes the names out of the request (`withoutExportNames`) and tags the image when the build has ended,
 * so the engine's progress has no such lines. When the exporter's `writing image` status is done, what follows
 * (the export step's end among it) is held until the names are given; their lines go first.
 *
 * @param engine - the engine's answer: gRPC frames of `StatusResponse`
 * @param client - the client's stream, which the relay ends
 * @param naming - the names the build's image was given (full names, `[]` for none or a refusal), once known;
 *   `undefined` when the build has no names to give
 * @internal
 */
export function relayProgress(
  engine: Readable,
  client: Writable,
  naming: () => Promise<readonly string[]> | undefined,
): void {
  let pending: Buffer = Buffer.alloc(0);
  let held: Buffer[] | undefined;
  let ended = false;
  let waiting = false;
  const send = (frame: Buffer) => {
    if (client.writableEnded || client.destroyed) return;
    if (!client.write(frame) && !waiting) {
      waiting = true;
      engine.pause();
      client.once('drain', () => {
        waiting = false;
        engine.resume();
      });
    }
  };
  const onFrame = (frame: Buffer) => {
    if (held !== undefined) {
      held.push(frame);
      return;
    }
    const message = frame.subarray(5);
    const written = frame[0] === 0 ? writtenImage(message) : undefined;
    const names = written === undefined ? undefined : naming();
    if (written === undefined || names === undefined) {
      send(frame);
      return;
    }
    // the export step's end, when it came with the status, goes after the names
    let rest: Buffer = Buffer.from(message);
    let ends: Buffer[] = [];
    try {
      ({ rest, ends } = splitVertexEnd(message, written.vertex));
    } catch {
      // a message not read whole goes on as it came
    }
    send(reframe(rest));
    held = ends.length > 0 ? [reframe(Buffer.concat(ends))] : [];
    names
      .catch(() => [] as readonly string[])
      .then((given) => {
        if (given.length > 0) send(reframe(namingStatuses(written.vertex, given)));
        for (const f of held ?? []) send(f);
        held = undefined;
        if (ended) client.end();
      })
      .catch((err: Error) => client.destroy(err));
  };
  engine.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      onFrame(pending.subarray(0, 5 + length));
      pending = pending.subarray(5 + length);
    }
  });
  engine.on('end', () => {
    ended = true;
    // bytes that are no whole frame go on as they came: the client reads them as the engine sent them
    if (pending.length > 0) {
      if (held === undefined) send(pending);
      else held.push(pending);
    }
    if (held === undefined) client.end();
  });
}

/** The `writing image` status of a `StatusResponse` that is done: the exporter's step (its vertex digest). */
function writtenImage(message: Uint8Array): { vertex: string } | undefined {
  let statuses: Uint8Array[];
  try {
    statuses = bytesOf(message, 2);
  } catch {
    return undefined;
  }
  for (const status of statuses) {
    try {
      if (lastString(status, 1).startsWith(WRITING_IMAGE) && bytesOf(status, 8).length > 0)
        return { vertex: lastString(status, 2) };
    } catch {}
  }
  return undefined;
}

/**
 * A `StatusResponse` without the entries that end one step (a vertex with that digest and `completed` set), and
 * those entries.
 */
function splitVertexEnd(message: Uint8Array, vertex: string): { rest: Buffer; ends: Buffer[] } {
  const rest: Uint8Array[] = [];
  const ends: Buffer[] = [];
  for (const { no, span } of fieldSpans(message)) {
    const value = no === 1 ? bytesOf(span, 1)[0] : undefined;
    if (value !== undefined && lastString(value, 1) === vertex && bytesOf(value, 6).length > 0)
      ends.push(Buffer.from(span));
    else rest.push(span);
  }
  return { rest: Buffer.concat(rest), ends };
}

/** A `StatusResponse` of one done status per name (`naming to <name>`) of a step, as the engine's exporter shows. */
function namingStatuses(vertex: string, names: readonly string[]): Buffer {
  const now = Date.now();
  const timestamp = new BinaryWriter()
    .tag(1, WireType.Varint)
    .int64(Math.floor(now / 1000))
    .tag(2, WireType.Varint)
    .int32((now % 1000) * 1_000_000)
    .finish();
  return Buffer.concat(
    names.map((name) =>
      lengthDelimited(
        2,
        Buffer.concat([
          lengthDelimited(1, Buffer.from(`naming to ${name}`)),
          lengthDelimited(2, Buffer.from(vertex)),
          lengthDelimited(6, timestamp),
          lengthDelimited(7, timestamp),
          lengthDelimited(8, timestamp),
        ]),
      ),
    ),
  );
}
