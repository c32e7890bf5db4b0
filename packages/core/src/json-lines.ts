import { StringDecoder } from 'node:string_decoder';
import type { BodySink } from './response.ts';

/**
 * A function applied to each message of a newline-delimited JSON stream. Return the message itself to pass it on
 * as the engine wrote it, a new value to send that instead, or `undefined` to drop it. A message changed in place
 * and returned is not seen to have changed: return a copy.
 */
export type JsonLineTransform = (message: unknown) => unknown;

/**
 * Called when a newline-delimited JSON stream has ended, before the client's body ends: the messages it returns
 * are sent last (e.g. what the proxy did once the engine had answered).
 *
 * @example
 * ```ts
 * res.transformJsonLines((m) => m, async () => [{ stream: 'Successfully tagged app:1\n' }]);
 * ```
 */
export type JsonLineFlush = () => unknown[] | Promise<unknown[]>;

/**
 * Wraps a body sink so that a newline-delimited JSON stream is transformed one message at a time. A line that is
 * not JSON is dropped (fail closed): a filter must never pass what it could not read.
 *
 * @param sink - where transformed lines go
 * @param transform - applied to each message
 * @param flush - the messages to send after the last one
 * @returns a sink that accepts the raw stream
 * @internal
 */
export function jsonLinesSink(sink: BodySink, transform: JsonLineTransform, flush?: JsonLineFlush): BodySink {
  let pending = '';
  const decoder = new StringDecoder('utf8');
  const emit = (line: string): boolean => {
    if (line.trim() === '') return true;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return true;
    }
    const out = transform(message);
    if (out === undefined) return true;
    // the engine's own bytes, where the message passes as it is: JSON.parse reads an integer beyond 2^53 (an
    // event's `timeNano`) as the nearest float, which JSON.stringify then wrote (found by review, stop 25)
    return sink.write(Buffer.from(out === message ? `${line}\n` : `${JSON.stringify(out)}\n`));
  };
  return {
    write(chunk) {
      pending += decoder.write(chunk);
      let ok = true;
      let nl = pending.indexOf('\n');
      while (nl !== -1) {
        ok = emit(pending.slice(0, nl)) && ok;
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
      return ok;
    },
    end() {
      pending += decoder.end();
      if (pending !== '') emit(pending);
      pending = '';
      if (flush === undefined) {
        sink.end();
        return;
      }
      Promise.resolve()
        .then(flush)
        .then((messages) => {
          for (const m of messages) sink.write(Buffer.from(`${JSON.stringify(m)}\n`));
          sink.end();
        })
        .catch((err: Error) => sink.destroy(err));
    },
    destroy(err) {
      sink.destroy(err);
    },
    onDrain(fn) {
      sink.onDrain(fn);
    },
  };
}

/**
 * Wraps a body sink that is written one whole message at a time (a {@link jsonLinesSink}'s output) so that its
 * source is never paused: once more than `maxBehind` bytes were written after the sink asked to pause, the
 * messages that follow are dropped until it drains. The source is read at its own pace whatever the client's.
 *
 * @param sink - the client's sink
 * @param maxBehind - the most bytes written to the sink while it is backed up
 * @returns a sink whose `write` always returns true
 * @internal
 */
export function dropBehindSink(sink: BodySink, maxBehind: number): BodySink {
  /** Bytes written since the sink asked to pause; undefined while it takes what it is given. */
  let behind: number | undefined;
  sink.onDrain(() => {
    behind = undefined;
  });
  return {
    write(chunk) {
      if (behind === undefined) {
        if (!sink.write(chunk)) behind = 0;
      } else if (behind + chunk.length <= maxBehind) {
        behind += chunk.length;
        sink.write(chunk);
      } else {
        // dropped, and so is every message after it until the client drains
        behind = Number.POSITIVE_INFINITY;
      }
      return true;
    },
    end() {
      sink.end();
    },
    destroy(err) {
      sink.destroy(err);
    },
    onDrain() {
      // never paused: nothing to resume
    },
  };
}
