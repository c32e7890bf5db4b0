import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageProducer } from '../src/index.ts';

/** A producer for `Context.respondStream`, and what became of it: how much it yielded, whether it was stopped. */
export interface Probe {
  produce: MessageProducer;
  yielded: number;
  finished: boolean;
  aborted: boolean;
}

/**
 * A producer that yields `message(i)` (default `{ n: i + 1 }`) `count` times (default: for ever), waiting `waitMs`
 * after each one when given (0 still yields to timers), and records its abort and its end.
 */
export function probe(
  options: { message?: (i: number) => unknown; count?: number; waitMs?: number } = {},
): Probe {
  const { message = (i: number) => ({ n: i + 1 }), count = Number.POSITIVE_INFINITY, waitMs } = options;
  const p: Probe = {
    yielded: 0,
    finished: false,
    aborted: false,
    async *produce(signal) {
      signal.addEventListener('abort', () => {
        p.aborted = true;
      });
      try {
        for (let i = 0; i < count; i++) {
          p.yielded++;
          yield message(i);
          if (waitMs !== undefined) await sleep(waitMs, undefined, { signal });
        }
      } finally {
        p.finished = true;
      }
    },
  };
  return p;
}
