import { describe, expect, it } from 'vitest';
import { dropBehindSink, jsonLinesSink } from './json-lines.ts';
import type { BodySink } from './response.ts';

/** A sink that keeps what it is given, and whether (and how) it ended. */
function recorder(): BodySink & { text: () => string; ended: boolean; error?: Error } {
  const chunks: Buffer[] = [];
  const sink = {
    ended: false,
    error: undefined as Error | undefined,
    write: (c: Buffer) => {
      chunks.push(c);
      return true;
    },
    end: () => {
      sink.ended = true;
    },
    destroy: (err: Error) => {
      sink.error = err;
    },
    onDrain: () => {},
    text: () => Buffer.concat(chunks).toString(),
  };
  return sink;
}

describe('jsonLinesSink', () => {
  it('transforms each message as it streams, split anywhere, and drops lines that are not JSON', () => {
    const out = recorder();
    const sink = jsonLinesSink(out, (m) =>
      (m as { n: number }).n === 2 ? undefined : { ...(m as object), seen: true },
    );
    sink.write(Buffer.from('{"n":1}\n{"n'));
    sink.write(Buffer.from('":2}\nnot json\n{"n":3}'));
    sink.end();
    expect(out.text()).toBe('{"n":1,"seen":true}\n{"n":3,"seen":true}\n');
    expect(out.ended).toBe(true);
  });

  // found by review (stop 25): an event's timeNano (19 digits) came out rounded to the nearest float
  it('passes a message returned as it is in the engine’s own bytes, integers beyond 2^53 exact', () => {
    const out = recorder();
    const sink = jsonLinesSink(out, (m) => ((m as { drop?: boolean }).drop ? undefined : m));
    const line = '{"Type":"container","time":1796402645,"timeNano":1796402645632527710, "x" : [1,2]}';
    sink.write(Buffer.from(`${line}\n{"drop":true}\n`));
    sink.end();
    expect(out.text()).toBe(`${line}\n`);
  });

  it('sends what the flush gives after the last message, and ends only then', async () => {
    const out = recorder();
    let release: (messages: unknown[]) => void = () => {};
    const sink = jsonLinesSink(
      out,
      (m) => m,
      () =>
        new Promise<unknown[]>((r) => {
          release = r;
        }),
    );
    sink.write(Buffer.from('{"aux":{"ID":"x"}}\n'));
    sink.end();
    await Promise.resolve();
    expect(out.ended).toBe(false);
    release([{ stream: 'Successfully tagged a:1\n' }]);
    await new Promise((r) => setImmediate(r));
    expect(out.text()).toBe('{"aux":{"ID":"x"}}\n{"stream":"Successfully tagged a:1\\n"}\n');
    expect(out.ended).toBe(true);
  });

  it('destroys the body when the flush fails', async () => {
    const out = recorder();
    const sink = jsonLinesSink(
      out,
      (m) => m,
      () => Promise.reject(new Error('lost')),
    );
    sink.end();
    await new Promise((r) => setImmediate(r));
    expect(out.error?.message).toBe('lost');
    expect(out.ended).toBe(false);
  });
});

describe('dropBehindSink', () => {
  it('never pauses its source; once the client is behind by more than the limit, drops messages until it drains', () => {
    const taken: string[] = [];
    let full = false;
    let drain: (() => void) | undefined;
    const client: BodySink = {
      write: (c) => {
        taken.push(c.toString());
        return !full;
      },
      end: () => {},
      destroy: () => {},
      onDrain: (fn) => {
        drain = fn;
      },
    };
    const sink = dropBehindSink(client, 10);
    expect(sink.write(Buffer.from('a\n'))).toBe(true);
    full = true;
    expect(sink.write(Buffer.from('b\n'))).toBe(true); // the client asks to pause: kept, and 0 behind from here
    for (const m of ['c1234\n', 'd1234\n', 'e\n']) expect(sink.write(Buffer.from(m))).toBe(true);
    expect(taken).toEqual(['a\n', 'b\n', 'c1234\n']); // d would make 12 bytes behind: dropped, as is e after it
    full = false;
    drain!();
    expect(sink.write(Buffer.from('f\n'))).toBe(true);
    expect(taken.at(-1)).toBe('f\n');
  });
});
