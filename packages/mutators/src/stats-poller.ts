import { setTimeout as sleep } from 'node:timers/promises';
import type { Upstream } from '@dockhand/core';

/**
 * A sample of `GET /containers/{id}/stats`, with the fields the proxy fills in as the engine's stream does.
 * @internal
 */
export interface Sample {
  read?: string;
  preread?: string;
  cpu_stats?: { system_cpu_usage?: unknown };
  precpu_stats?: unknown;
  [field: string]: unknown;
}

/**
 * One round of a {@link StatsPoller}: the engine's answer and the container's name at that time.
 * @internal
 */
export interface Polled {
  /** The round's number: rounds after another one have higher numbers. */
  readonly seq: number;
  readonly status: number;
  readonly body: Sample;
  readonly name: string;
}

/**
 * A stream's watch of a {@link StatsPoller}.
 * @internal
 */
export interface Subscription {
  /** The number of the last round before the stream came: it takes only later ones. */
  readonly seq: number;
  /** Stops watching; a second call does nothing. */
  unsubscribe(): void;
}

/**
 * Takes one one-shot sample of a container a round, while any stream watches it, and shares it with all of them,
 * as the engine's collector shares one sample a round per container: a tenant's many streams of one container cost
 * the engine one request a round (review 28b: 200 streams took dockerd from 0-3 % of a core to 8-11 %, where its
 * collector served them at 1-4 %). It stops once no stream watches, or the container is gone.
 * @internal
 */
export class StatsPoller {
  #upstream: Upstream;
  #id: string;
  #path: string;
  #interval: number;
  #onIdle: () => void;
  #watchers = 0;
  #running = false;
  #stop: AbortController | undefined;
  #latest: Polled | undefined;
  #seq = 0;
  #gone = false;
  #waiting = new Set<() => void>();

  /**
   * @param upstream - the engine
   * @param id - the container's full id
   * @param interval - the time between rounds, in ms
   * @param onIdle - called when it stops, to forget it
   */
  constructor(upstream: Upstream, id: string, interval: number, onIdle: () => void) {
    this.#upstream = upstream;
    this.#id = id;
    this.#path = `/containers/${encodeURIComponent(id)}/stats`;
    this.#interval = interval;
    this.#onIdle = onIdle;
  }

  /**
   * A stream starts watching; rounds begin if none ran.
   *
   * @returns the number of the last round, so that the stream takes only later ones, and how the stream stops
   *   watching (once: a second call does nothing)
   */
  subscribe(): Subscription {
    // (the container is gone: the last round, which says so, is the stream's too, and there is nothing to stop)
    if (this.#gone) return { seq: this.#seq - 1, unsubscribe: () => {} };
    this.#watchers++;
    if (!this.#running) void this.#run();
    let watching = true;
    return {
      seq: this.#seq,
      unsubscribe: () => {
        if (!watching) return;
        watching = false;
        this.#watchers--;
        if (this.#watchers === 0) this.#stop?.abort();
      },
    };
  }

  /**
   * The first round after round `seq`, once it has been taken.
   *
   * @param seq - the last round the caller has
   * @param signal - the caller's: aborted, the answer is `undefined`
   * @returns the round, or `undefined` when the caller left first
   */
  async after(seq: number, signal: AbortSignal): Promise<Polled | undefined> {
    while (!signal.aborted) {
      if (this.#latest !== undefined && this.#latest.seq > seq) return this.#latest;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiting.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiting.add(wake);
        signal.addEventListener('abort', wake);
      });
    }
    return undefined;
  }

  async #run(): Promise<void> {
    this.#running = true;
    this.#stop = new AbortController();
    try {
      for (;;) {
        try {
          await sleep(this.#interval, undefined, { signal: this.#stop.signal });
        } catch {
          return; // nobody watches any more
        }
        const { status, body } = await oneShotSample(this.#upstream, this.#path);
        const name = status === 200 ? await containerName(this.#upstream, this.#id) : '';
        this.#latest = { seq: ++this.#seq, status, body, name };
        this.#gone = status !== 200;
        for (const wake of [...this.#waiting]) wake();
        if (this.#gone || this.#watchers === 0) return;
      }
    } catch (err) {
      // the engine cannot be reached: every stream ends, as when the container is gone
      this.#gone = true;
      this.#latest = { seq: ++this.#seq, status: 502, body: { message: String(err) }, name: '' };
      for (const wake of [...this.#waiting]) wake();
    } finally {
      this.#running = false;
      // (a stream that came while it was stopping keeps it going)
      if (this.#gone || this.#watchers === 0) this.#onIdle();
      else void this.#run();
    }
  }
}

/**
 * The container's name with its leading `/`, from the engine's list, which takes no container's lock.
 *
 * @param upstream - the engine
 * @param id - the container's full id
 * @returns the name, or `''` when it is gone
 * @internal
 */
export async function containerName(upstream: Upstream, id: string): Promise<string> {
  const reply = await upstream.request({
    path: '/containers/json',
    query: { all: '1', filters: JSON.stringify({ id: [id] }) },
  });
  const list = reply.status === 200 ? await reply.json<{ Id?: string; Names?: string[] }[]>() : [];
  if (reply.status !== 200) await reply.text();
  return list.find((c) => c.Id === id)?.Names?.[0] ?? '';
}

/**
 * One one-shot sample from the engine, its big numbers kept digit for digit (with `stream`, the engine's refusal of
 * a one-shot stream).
 *
 * @param upstream - the engine
 * @param path - `/containers/{id}/stats`
 * @param stream - ask for a one-shot stream, which the engine refuses
 * @returns the status and the sample, or the engine's error
 * @internal
 */
export async function oneShotSample(
  upstream: Upstream,
  path: string,
  stream = false,
): Promise<{ status: number; body: Sample }> {
  const reply = await upstream.request({ path, query: { stream: String(stream), 'one-shot': 'true' } });
  const text = await reply.text();
  try {
    return { status: reply.status, body: JSON.parse(text, keepBigIntegers) as Sample };
  } catch {
    // (an answer that is no JSON: passed on as the engine's message, and never as a sample)
    return { status: reply.status === 200 ? 502 : reply.status, body: { message: text.trim() } };
  }
}

/** `JSON.rawJSON` (Node 21 and later), not yet in TypeScript's lib. */
type RawJson = JSON & { rawJSON(text: string): unknown };

/** A `JSON.parse` reviver that keeps an integer beyond 2^53 as its source text, written back as it was. */
function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || Number.isSafeInteger(value)) return value;
  const source = context?.source;
  return source !== undefined && /^-?\d+$/.test(source) ? (JSON as RawJson).rawJSON(source) : value;
}
