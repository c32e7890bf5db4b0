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
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      // not destroyed: the refusal must still reach the client; the connection is closed after it
      stream.pause();
      throw coreError('DOCKHAND_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
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
