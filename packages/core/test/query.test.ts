// A query the engine reads otherwise than the proxy: Go's `url.ParseQuery` drops a pair holding a `;` or a bad
// `%` escape and keeps the raw bytes of an escape that is not UTF-8, where `URLSearchParams` keeps the first and
// reads the others as U+FFFD. A check of one value would pass another to the engine (review, stop 27), so such a
// query is refused before anything is forwarded, on every path: the byte lane, a pipeline that leaves the request
// untouched, and one that reads it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Middleware, on, untouchedWhen } from '../src/index.ts';
import { docker, startProxy, type TestProxy } from './harness.ts';
import { bodyOf, rawExchange, statusOf } from './raw-client.ts';

/** Reads the query of every volume create, as a check would. */
const readsQuery: Middleware = on('VolumeCreate', async (ctx, next) => {
  ctx.request.query.get('x');
  await next();
});
/** Leaves every volume create whose query has no `skip` to the byte lane. */
const laneTest: Middleware = untouchedWhen((req) => !req.query.has('skip'), readsQuery);

const proxies: Record<string, TestProxy> = {};
beforeAll(async () => {
  proxies['pass-through'] = await startProxy([]);
  proxies['untouched test'] = await startProxy([laneTest]);
  proxies.pipeline = await startProxy([readsQuery]);
});
afterAll(async () => {
  for (const p of Object.values(proxies)) {
    // (what a refusal that failed would have made)
    await docker('unix:///var/run/docker.sock', ['volume', 'rm', '-f', `${p.label}-q`, `${p.label}-ok`]);
    await p[Symbol.asyncDispose]();
  }
});

const volumeExists = async (name: string) =>
  (
    await docker('unix:///var/run/docker.sock', ['volume', 'ls', '-q', '--filter', `name=^${name}$`])
  ).stdout.trim() !== '';

describe('a query the engine reads otherwise', () => {
  for (const way of ['pass-through', 'untouched test', 'pipeline']) {
    it.each([
      ['a semicolon', 'x=1;y=2', /reads otherwise/],
      ['a malformed escape', 'x=%zz', /reads otherwise/],
      ['a truncated escape', 'x=%4', /reads otherwise/],
      ['an escape that is not UTF-8', 'x=%FF', /reads otherwise/],
      ['an overlong UTF-8 escape', 'x=%C0%AF', /reads otherwise/],
      ['a second ? (URLSearchParams drops it, Go keeps it in the key)', '?x=1', /reads otherwise/],
      // (which Node.js's HTTP parser refuses itself)
      ['a raw byte beyond ASCII', 'x=\xe9', /Invalid char in url query/],
    ])(`is refused (%s), and nothing reaches the engine: ${way}`, async (_w, query, message) => {
      const p = proxies[way]!;
      const name = `${p.label}-q`;
      const body = JSON.stringify({ Name: name, Labels: { 'dockhand.test': p.label } });
      const answer = await rawExchange(
        p.socket,
        Buffer.from(
          `POST /volumes/create?${query} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          'latin1',
        ),
        { until: (r) => r.includes('\r\n\r\n') && r.trimEnd().endsWith('}') },
      );
      expect(statusOf(answer), answer).toBe(400);
      expect(JSON.parse(bodyOf(answer)).message).toMatch(message);
      expect(await volumeExists(name)).toBe(false);
    });

    it(`passes what both read alike: escapes of UTF-8, + and plain pairs (${way})`, async () => {
      const p = proxies[way]!;
      const name = `${p.label}-ok`;
      const body = JSON.stringify({ Name: name, Labels: { 'dockhand.test': p.label } });
      const answer = await rawExchange(
        p.socket,
        `POST /volumes/create?x=%C3%A9+a&y=%7B%7D HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        { until: (r) => r.includes('\r\n\r\n') && r.trimEnd().endsWith('}') },
      );
      try {
        expect(statusOf(answer), answer).toBe(201);
        expect(await volumeExists(name)).toBe(true);
      } finally {
        await docker('unix:///var/run/docker.sock', ['volume', 'rm', '-f', name]);
      }
    });
  }
});
