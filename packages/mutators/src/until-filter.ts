import type { Upstream } from '@dockhand/core';

/** The engine's clock at one moment: the time, in nanoseconds since the epoch, and its zone's offset in seconds. */
export interface EngineClock {
  readonly ns: bigint;
  readonly offsetSeconds: number;
}

const NS = 1_000_000_000n;

/** Go's duration units (`time.ParseDuration`), in nanoseconds. */
const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5
  μs: 1_000n, // U+03BC
  ms: 1_000_000n,
  s: NS,
  m: 60n * NS,
  h: 3600n * NS,
};

const MAX_DURATION = 1n << 63n;

/**
 * A prune's `until` filter as the engine reads it (moby's `timetypes.GetTimestamp` with the engine's clock, then
 * `ParseTimestamps`): a Go duration before now (`24h`, `1h30m`), a Unix time (`1700000000.5`), or a date and time
 * (`2024-01-02`, `2024-01-02T15:04`, `2024-01-02T15:04:05.5Z`, `...+01:00`; without a zone, in the engine's).
 *
 * Only the forms read here for certain are read: for anything else (an hour of one digit, a fraction of more than
 * nine digits, a form the engine refuses) the answer is `undefined`, and the prune is left to the engine.
 *
 * @param value - the filter's value
 * @param clock - the engine's clock
 * @returns the instant, in nanoseconds since the epoch: what was created after it is kept
 * @internal
 */
export function untilInstant(value: string, clock: EngineClock): bigint | undefined {
  if (value !== '0') {
    const d = goDuration(value);
    // (`reference.Add(-d)`: Go's -d of the smallest duration is itself, 292 years before now, not after: found by
    // review, stop 28)
    if (d !== undefined) return floorDiv(clock.ns + (d === -MAX_DURATION ? d : -d), NS) * NS;
  }
  const unix = /^(\d{1,18})(?:\.(\d{1,9}))?$/.exec(value);
  if (unix) {
    const [, sec, frac = ''] = unix;
    // (`ParseTimestamps` scales the fraction's digits to nanoseconds; exact with at most nine)
    return BigInt(sec!) * NS + (frac === '' ? 0n : BigInt(frac) * 10n ** BigInt(9 - frac.length));
  }
  // the engine's choice of layout: a zone given (`Z`, `+`, or a third `-`) or the engine's own
  const zoned = /[zZ+]/.test(value) || value.split('-').length - 1 === 3;
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(
      value,
    );
  if (!m) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = m;
  if (zoned !== (zone !== undefined)) return undefined;
  // the layouts the engine tries: with a `.` only seconds and a fraction; a `,` fraction only after seconds
  if (value.includes('.') && fraction === undefined) return undefined;
  const ns = instant(
    [year, month, day, hour, minute, second].map((p) => Number(p ?? 0)) as Fields,
    fraction,
    zone === undefined ? clock.offsetSeconds : zoneOffset(zone),
  );
  return ns;
}

/**
 * A time the engine wrote (RFC 3339 with nanoseconds and its zone: a network's `Created`, `/info`'s
 * `SystemTime`), read exactly.
 *
 * @param text - the time
 * @returns nanoseconds since the epoch and the zone's offset, or `undefined` when it is not such a time
 * @internal
 */
export function engineTime(text: string): EngineClock | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = m;
  const offsetSeconds = zoneOffset(zone!);
  if (offsetSeconds === undefined) return undefined;
  const ns = instant([year, month, day, hour, minute, second].map(Number) as Fields, fraction, offsetSeconds);
  return ns === undefined ? undefined : { ns, offsetSeconds };
}

/**
 * The engine's clock, from `/info`'s `SystemTime`, which it writes in its own zone.
 *
 * @param upstream - the engine
 * @returns the clock, or `undefined` when the engine did not tell it
 * @internal
 */
export async function engineClock(upstream: Upstream): Promise<EngineClock | undefined> {
  const reply = await upstream.request({ path: '/info' });
  if (reply.status !== 200) {
    await reply.text();
    return undefined;
  }
  const info = await reply.json<{ SystemTime?: unknown } | null>();
  return typeof info?.SystemTime === 'string' ? engineTime(info.SystemTime) : undefined;
}

type Fields = [year: number, month: number, day: number, hour: number, minute: number, second: number];

/** The instant of a date and time in a zone, with Go's range checks; `undefined` where Go refuses it. */
function instant(
  f: Fields,
  fraction: string | undefined,
  offsetSeconds: number | undefined,
): bigint | undefined {
  const [year, month, day, hour, minute, second] = f;
  if (offsetSeconds === undefined || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  // (Go refuses a day past its month's end, where Date rolls over)
  if (day < 1 || date.getUTCMonth() !== month - 1) return undefined;
  date.setUTCHours(hour, minute, second, 0);
  // (Go reads at most nine digits of a fraction, dropping the rest)
  const frac = fraction === undefined ? 0n : BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  return (BigInt(date.getTime()) / 1000n - BigInt(offsetSeconds)) * NS + frac;
}

/** A zone (`Z`, `+01:00`) as an offset in seconds; `undefined` where Go refuses it. */
function zoneOffset(zone: string): number | undefined {
  if (zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 24 || minutes > 60) return undefined;
  return (zone[0] === '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
}

/**
 * Go's `time.ParseDuration` (`1h30m`, `.5s`, `-2m`), in nanoseconds.
 *
 * @param value - the duration
 * @returns nanoseconds, or `undefined` where Go fails
 * @internal
 */
export function goDuration(value: string): bigint | undefined {
  let s = value;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let d = 0n;
  while (s !== '') {
    if (!/^[0-9.]/.test(s)) return undefined;
    const int = /^[0-9]*/.exec(s)![0];
    s = s.slice(int.length);
    let v = 0n;
    for (const c of int) {
      if (v > MAX_DURATION / 10n) return undefined;
      v = v * 10n + BigInt(c);
      if (v > MAX_DURATION) return undefined;
    }
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s.startsWith('.')) {
      const digits = /^[0-9]*/.exec(s.slice(1))![0];
      s = s.slice(1 + digits.length);
      post = digits.length > 0;
      let overflow = false;
      for (const c of digits) {
        if (overflow) continue;
        if (f > (MAX_DURATION - 1n) / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(c);
        if (y > MAX_DURATION) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
    }
    if (int === '' && !post) return undefined;
    const unitText = /^[^0-9.]*/.exec(s)![0];
    if (unitText === '') return undefined;
    s = s.slice(unitText.length);
    const unit = UNITS[unitText];
    if (unit === undefined) return undefined;
    if (v > MAX_DURATION / unit) return undefined;
    v *= unit;
    if (f > 0n) {
      // as Go: a float64 product, nanosecond-accurate for fractions of an hour
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > MAX_DURATION) return undefined;
    }
    d += v;
    if (d > MAX_DURATION) return undefined;
  }
  if (neg) return -d;
  if (d > MAX_DURATION - 1n) return undefined;
  return d;
}

/** Division rounding toward minus infinity, as Go's `Time.Unix()` rounds. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}
