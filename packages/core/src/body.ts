import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { coreError } from './errors.ts';
import { assertUnambiguousJson } from './json-ambiguity.ts';

/**
 * Reads a stream to the end into one buffer, refusing more than `limit` bytes.
 *
 * @param stream - a request body
 * @param limit - the largest body accepted, in bytes
 * @returns the whole body
 * @throws {@link DockhandError} `DOCKHAND_BODY_TOO_LARGE`
 * @internal
 */
export async function readBounded(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  // not destroyed when the loop leaves early: the refusal must still reach the client, and the rest of the body
  // be read after it ({@link discardRest})
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.pause();
      throw coreError('DOCKHAND_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The most bytes of a refused request's body the proxy reads and drops after its answer ({@link discardRest}). */
export const DISCARD_MAX_BYTES: number = 256 * 1024 * 1024;
/** The longest the proxy reads a refused request's body after its answer, in ms ({@link discardRest}). */
export const DISCARD_MAX_MS: number = 30_000;

/**
 * Reads and drops the rest of a request body the proxy refused before reading it all, so that the refusal it
 * answered reaches the client. A connection closed with body bytes unread is reset by the kernel, and a client
 * still sending the body (the docker CLI uploading `docker load`'s archive) then fails its write and may report
 * `broken pipe` instead of the answer. Go's server reads such a body on for the same reason. Resolves once the
 * body has ended or the stream is gone, or after `maxBytes` more bytes or `maxMs`, whichever comes first: a
 * client that never stops sending is cut.
 *
 * @param stream - the request body, as the refusal left it (paused, or never read)
 * @param maxBytes - the most bytes read and dropped
 * @param maxMs - the longest wait, in ms
 * @internal
 */
export function discardRest(stream: Readable, maxBytes: number, maxMs: number): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let read = 0;
    const done = (): void => {
      clearTimeout(timer);
      stream.off('data', onData).off('end', done).off('close', done).off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      if (read > maxBytes) done();
    };
    const timer = setTimeout(done, maxMs);
    stream.on('data', onData).once('end', done).once('close', done).once('error', done);
    stream.resume();
  });
}

/**
 * Parses a JSON body whatever its Content-Type says. An empty body is `undefined`.
 *
 * @param buf - the body
 * @param what - `request` or `response`, for the message
 * @returns the parsed value
 * @throws {@link DockhandError} `DOCKHAND_BAD_JSON`; for a request, `DOCKHAND_AMBIGUOUS_JSON` when it is not
 * read alike by the engine ({@link assertUnambiguousJson})
 * @internal
 */
export function parseJson(buf: Buffer, what: 'request' | 'response'): unknown {
  if (buf.length === 0) return undefined;
  // Go decodes each byte of a broken sequence to U+FFFD, where toString() may make one of several: keys would
  // differ (no Docker client sends such a body)
  if (what === 'request' && !isUtf8(buf))
    throw coreError('DOCKHAND_BAD_JSON', 'the request body is not valid JSON: it is not valid UTF-8');
  const text = buf.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw coreError(
      'DOCKHAND_BAD_JSON',
      `the ${what} body is not valid JSON: ${(err as Error).message}`,
      err,
    );
  }
  // what a middleware checks is what the engine reads: a client's body may not name a key twice, nor hold half a
  // surrogate pair (the engine's answers are read as they are)
  if (what === 'request') assertUnambiguousJson(text, 'the request body');
  return value;
}
