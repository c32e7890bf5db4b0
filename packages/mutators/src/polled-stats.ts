import { setTimeout as sleep } from 'node:timers/promises';
import { type Context, type Middleware, on, type Upstream } from '@dockhand/core';
import { engineApiVersion, servesRequestVersion, versionAtLeast } from './engine-version.ts';
import { containerName, oneShotSample, type Sample, StatsPoller } from './stats-poller.ts';

/** Options of {@link polledStats}. */
export interface PolledStatsOptions {
  /** How often a stream asks the engine for a sample, in milliseconds: the engine's own collector's interval. */
  readonly intervalMs?: number;
}

/** What Go's `Time{}` is written as: the `read` of a sample of a container that is not running. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Engines that leave the host's CPU time out of one-shot samples (neither 26.1 nor 20.10 does; older moby did). */
const lacksSystemCpu = new WeakSet<Upstream>();

/**
 * Serves `GET /containers/{id}/stats` by asking the engine for one-shot samples, one a second, instead of
 * forwarding it to the engine's stats collector. The client gets what the engine would send: a stream of samples
 * each carrying the previous one's CPU figures (`precpu_stats`, `preread`), or with `stream=false` one sample
 * taken a second after another; `one-shot` gets one sample as the engine gives it. The client's query is read as the
 * engine reads it and never forwarded, so no spelling of it reaches the engine's collector.
 *
 * Why: the engine has one stats collector for all its containers, and it takes each watched container's lock in
 * turn. A container whose lock is held (its owner's `docker cp` out of it, left unread) stops that collector, and
 * with it every `docker stats` on the engine, `--no-stream` included: one tenant froze every other tenant's stats
 * (review 27e). A one-shot sample skips the collector, so a held lock now stops only its own container's stats.
 *
 * An engine whose one-shot samples lack the host's CPU time (`system_cpu_usage`, from which the docker CLI computes
 * CPU %; Engines 26.1 and 20.10 both give it) keeps serving stats from its collector, as before.
 *
 * Numbers beyond 2^53 (a host's CPU time in nanoseconds) are passed on digit for digit.
 *
 * @param options - the interval between samples
 * @returns the middleware, for after the one that checks ownership (the preset's `scopeToTenant`)
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [scopeToTenant({ label }), polledStats()] });
 * ```
 */
export function polledStats(options: PolledStatsOptions = {}): Middleware {
  const interval = options.intervalMs ?? 1000;
  // one poller per container of each engine, shared by every stream of it (the engine's collector also takes one
  // sample a round per container, however many watch it)
  const pollers = new WeakMap<Upstream, Map<string, StatsPoller>>();
  const pollerOf = (upstream: Upstream, id: string): StatsPoller => {
    let map = pollers.get(upstream);
    if (map === undefined) {
      map = new Map();
      pollers.set(upstream, map);
    }
    const byId = map;
    let poller = byId.get(id);
    if (poller === undefined) {
      const created = new StatsPoller(upstream, id, interval, () => {
        // (only itself: a poller made since for the container stays)
        if (byId.get(id) === created) byId.delete(id);
      });
      byId.set(id, created);
      poller = created;
    }
    return poller;
  };
  return on('ContainerStats', async (ctx, next) => {
    const query = ctx.request.query;
    const engineVersion = await engineApiVersion(ctx.upstream);
    const version = ctx.apiVersion ?? engineVersion;
    // as the engine reads them (httputils.BoolValueOrDefault); `one-shot` counts from API 1.41
    const stream = boolValue(query, 'stream', true);
    const oneShot = versionAtLeast(version, '1.41') && boolValue(query, 'one-shot', false);
    // (a version the engine does not serve is the engine's to refuse, in its words: found by review, stop 28)
    if (
      !versionAtLeast(engineVersion, '1.41') ||
      !(await servesRequestVersion(ctx)) ||
      lacksSystemCpu.has(ctx.upstream)
    ) {
      await next();
      return;
    }
    const id = ctx.params.id!;
    const path = `/containers/${encodeURIComponent(id)}/stats`;
    // the client's query is never forwarded: a spelling the engine reads otherwise would reach its collector
    if (oneShot) {
      // one sample as the engine gives it, or its refusal of a one-shot stream
      const one = await oneShotSample(ctx.upstream, path, stream);
      if (one.status === 200) ctx.respondLines(200, [one.body]);
      else ctx.respond(one.status, one.body);
      return;
    }
    const first = await oneShotSample(ctx.upstream, path);
    if (first.status !== 200) {
      // the engine's own refusal (the container is gone since the ownership check)
      ctx.respond(first.status, first.body);
      return;
    }
    const running = first.body.read !== ZERO_TIME;
    if (running && first.body.cpu_stats?.system_cpu_usage === undefined) {
      lacksSystemCpu.add(ctx.upstream);
      await next();
      return;
    }
    // a one-shot sample of a running container lacks the name and id the collector's carry (its current name)
    const named = async () => ({ name: await containerName(ctx.upstream, id), id });
    if (!stream) {
      // the engine's collector primes the CPU figures with one sample and answers with the next
      if (!running) {
        ctx.respondLines(200, [first.body]);
        return;
      }
      await sleep(interval);
      const second = await oneShotSample(ctx.upstream, path);
      if (second.status !== 200) {
        ctx.respond(second.status, second.body);
        return;
      }
      ctx.respondLines(200, [following(second.body, first.body, await named())]);
      return;
    }
    const opening = following(first.body, undefined, await named());
    // the poller is found when the stream starts and watched at once: one that stopped in between is never watched
    // again, beside a newer one of the same container
    ctx.respondStream(200, (signal) =>
      samples(ctx, () => pollerOf(ctx.upstream, id), opening, id, interval, signal),
    );
    // the engine's stream has no Content-Type
    ctx.response!.headers.delete('Content-Type');
  });
}

/**
 * The stream: the first sample, then the container's shared poller's, each with this stream's own previous CPU
 * figures, until the client leaves or the container is gone.
 */
async function* samples(
  ctx: Context,
  pollerOf: () => StatsPoller,
  first: Sample,
  id: string,
  interval: number,
  signal: AbortSignal,
): AsyncGenerator<Sample> {
  const poller = pollerOf();
  const { seq: seen, unsubscribe } = poller.subscribe();
  try {
    let previous = first;
    let sent = performance.now();
    yield first;
    let after = seen;
    for (;;) {
      const polled = await poller.after(after, signal);
      if (polled === undefined) return; // the client left
      after = polled.seq;
      // a round that comes soon after this stream's own first sample (one joined a poller mid-round) is left: the
      // engine's samples of a stream are an interval apart (review 28e: 8 ms to 1 s apart)
      if (polled.status === 200 && performance.now() - sent < interval / 2) continue;
      sent = performance.now();
      if (polled.status !== 200) {
        // gone: the engine ends its stream when the container is removed
        if (polled.status !== 404)
          ctx.log.warn({ status: polled.status }, 'a stats sample failed; the stream ends');
        return;
      }
      const current = following(polled.body, previous, { name: polled.name, id });
      yield current;
      previous = current;
    }
  } finally {
    unsubscribe();
  }
}

/** The name and id a sample of the container carries. */
interface Named {
  name: string;
  id: string;
}

/**
 * A sample as the engine's stream sends it: with the previous one's CPU figures (none before the first), and the
 * container's name and id where the engine writes them, before `networks`.
 */
function following(sample: Sample, previous: Sample | undefined, named: Named): Sample {
  const out: Sample = {};
  for (const [key, value] of Object.entries(sample)) {
    if (key === 'networks' && sample.name === undefined) Object.assign(out, named);
    out[key] = value;
  }
  if (sample.name === undefined && out.name === undefined) Object.assign(out, named);
  if (previous !== undefined) {
    out.preread = previous.read ?? ZERO_TIME;
    out.precpu_stats = previous.cpu_stats ?? {};
  }
  return out;
}

/** What Go's `strings.TrimSpace` trims (`unicode.IsSpace`): not JavaScript's `trim()`, which keeps U+0085 and trims U+FEFF. */
const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const GO_TRIM = new RegExp(`^${GO_SPACE}+|${GO_SPACE}+$`, 'g');

/**
 * A boolean query parameter as the engine reads one (`httputils.BoolValueOrDefault`): absent is `fallback`; empty,
 * 0, no, false and none are false, after Go's trim and lower-casing.
 */
function boolValue(query: URLSearchParams, key: string, fallback: boolean): boolean {
  const raw = query.get(key);
  if (raw === null) return fallback;
  return !['', '0', 'no', 'false', 'none'].includes(raw.replace(GO_TRIM, '').toLowerCase());
}
