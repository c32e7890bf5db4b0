import { describe, expect, it } from 'vitest';
import { engineTime, goDuration, untilInstant } from './until-filter.ts';

const S = 1_000_000_000n;
/** 2024-01-02T03:04:05.5Z, on an engine in UTC and on one at +01:00. */
const NOW = 1704164645n * S + 500_000_000n;
const utc = { ns: NOW, offsetSeconds: 0 };
const paris = { ns: NOW, offsetSeconds: 3600 };
const at = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

describe('goDuration, as Go’s time.ParseDuration', () => {
  it.each([
    ['0', 0n],
    ['-0', 0n],
    ['1h30m', 5400n * S],
    ['1.5h', 5400n * S],
    ['.5s', S / 2n],
    ['300ms', 300_000_000n],
    ['2µs', 2000n],
    ['2μs', 2000n],
    ['-2m', -120n * S],
    ['+1s', S],
    ['1h0.000000001s', 3600n * S + 1n],
  ])('%s', (value, ns) => expect(goDuration(value)).toBe(ns));

  it.each(['', '1', '1d', '.s', 'h', '1h-2m', '1.5', '99999999999999999999h', '9223372036854775808ns'])(
    'fails on %j',
    (value) => expect(goDuration(value)).toBeUndefined(),
  );
});

describe('untilInstant, as the engine reads a prune’s until', () => {
  it('a duration: before the engine’s now, in whole seconds', () => {
    expect(untilInstant('24h', utc)).toBe((NOW / S) * S - 86_400n * S);
    expect(untilInstant('1.5s', utc)).toBe(1704164644n * S);
    expect(untilInstant('-1h', utc)).toBe(1704168245n * S);
    // Go's smallest duration: its negation overflows to itself, so until is 292 years before now, as the engine reads it
    const min = -(1n << 63n);
    for (const v of ['-9223372036854775808ns', '-2562047h47m16.854775808s'])
      expect(untilInstant(v, utc), v).toBe(((NOW + min) / S - 1n) * S);
    expect(untilInstant('-9223372036854775807ns', utc)).toBe(((NOW - min - 1n) / S) * S);
  });

  it('a Unix time, its fraction scaled to nanoseconds', () => {
    expect(untilInstant('0', utc)).toBe(0n);
    expect(untilInstant('1700000000', utc)).toBe(1_700_000_000n * S);
    expect(untilInstant('1700000000.5', utc)).toBe(1_700_000_000n * S + 500_000_000n);
    expect(untilInstant('1700000000.000000001', utc)).toBe(1_700_000_000n * S + 1n);
  });

  it('a date and time with a zone', () => {
    expect(untilInstant('2024-01-02Z', paris)).toBe(at('2024-01-02T00:00:00Z'));
    expect(untilInstant('2024-01-02+01:00', utc)).toBe(at('2024-01-01T23:00:00Z'));
    expect(untilInstant('2024-01-02-05:00', utc)).toBe(at('2024-01-02T05:00:00Z'));
    expect(untilInstant('2024-01-02T10Z', utc)).toBe(at('2024-01-02T10:00:00Z'));
    expect(untilInstant('2024-01-02T10+01:00', utc)).toBe(at('2024-01-02T09:00:00Z'));
    expect(untilInstant('2024-01-02T10:30-01:30', utc)).toBe(at('2024-01-02T12:00:00Z'));
    expect(untilInstant('2024-01-02T10:30:15Z', utc)).toBe(at('2024-01-02T10:30:15Z'));
    expect(untilInstant('2024-01-02T10:30:15.25Z', utc)).toBe(at('2024-01-02T10:30:15.250Z'));
    expect(untilInstant('2024-01-02T10:30:15,25Z', utc)).toBe(at('2024-01-02T10:30:15.250Z'));
    expect(untilInstant('2024-01-02T10:30:15.1234567891Z', utc)).toBe(
      at('2024-01-02T10:30:15Z') + 123_456_789n,
    );
  });

  it('a date and time without one: in the engine’s zone', () => {
    expect(untilInstant('2024-01-02', utc)).toBe(at('2024-01-02T00:00:00Z'));
    expect(untilInstant('2024-01-02', paris)).toBe(at('2024-01-01T23:00:00Z'));
    expect(untilInstant('2024-01-02T10', paris)).toBe(at('2024-01-02T09:00:00Z'));
    expect(untilInstant('2024-01-02T10:30:15.5', paris)).toBe(at('2024-01-02T09:30:15.500Z'));
    expect(untilInstant('0099-01-02', utc)).toBe(at('0099-01-02T00:00:00Z'));
  });

  it.each([
    // what the engine refuses
    '1d',
    '2024-02-30',
    '2024-13-01',
    '2024-01-02T24:00Z',
    '2024-01-02T10:30.5Z',
    '2024-01-02T10:30:15z',
    '2024-01-02T10:30:15+25:00',
    '1700000000.',
    'yesterday',
    // what the engine reads, but not here for certain: left to it
    '2024-01-02T1Z',
    '+1700000000',
    '1700000000.1234567891',
    '2024-01-02 10:30',
  ])('leaves %j to the engine', (value) => expect(untilInstant(value, utc)).toBeUndefined());
});

describe('engineTime', () => {
  it('reads what the engine writes, exactly, with its zone', () => {
    expect(engineTime('2024-01-02T03:04:05.123456789Z')).toEqual({
      ns: at('2024-01-02T03:04:05Z') + 123_456_789n,
      offsetSeconds: 0,
    });
    expect(engineTime('2024-01-02T04:04:05+01:00')).toEqual({
      ns: at('2024-01-02T03:04:05Z'),
      offsetSeconds: 3600,
    });
    expect(engineTime('2024-01-02T03:04:05.1Z')!.ns).toBe(at('2024-01-02T03:04:05.100Z'));
    expect(engineTime('0001-01-01T00:00:00Z')).toBeDefined();
    expect(engineTime('yesterday')).toBeUndefined();
  });
});
