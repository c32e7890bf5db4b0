// An attacker who reads raw answers: another tenant's object and a missing one must get the same bytes, and those
// must be the engine's own answer for a missing object, but for the name and the date. The proxy answers a hidden
// object itself; an answer whose head or body differed from the engine's (its identity headers, the newline after
// its JSON) would tell the two apart on any route where a missing object reached the engine.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../../../core/test/raw-client.ts';
import { type Arena, arena, ENGINE_SOCKET } from './harness.ts';

let a: Arena;
let victim: string;
let victimNet: string;
/** Each of the victim's references, with a reference to nothing of the same length. */
const refs = {} as Record<'name' | 'prefix' | 'id' | 'net' | 'netPrefix' | 'vol', [string, string]>;

beforeAll(async () => {
  a = await arena();
  victim = await a.victimContainer(`${a.run}-victim`);
  const net = await a.engine.request('POST', '/networks/create', {
    body: { Name: `${a.run}-victim-net`, Labels: a.victimLabels },
  });
  victimNet = net.json.Id;
  await a.engine.request('POST', '/volumes/create', {
    body: { Name: `${a.run}-victim-vol`, Labels: a.victimLabels },
  });
  // a hex reference that names nothing on the engine, checked there
  const absentHex = async (length: number, kind: 'containers' | 'networks') => {
    for (;;) {
      const hex = randomBytes(32).toString('hex').slice(0, length);
      if ((await a.inspect(kind, hex)).status === 404) return hex;
    }
  };
  refs.name = [`${a.run}-victim`, `${a.run}-absent`];
  refs.prefix = [victim.slice(0, 12), await absentHex(12, 'containers')];
  refs.id = [victim, await absentHex(64, 'containers')];
  refs.net = [`${a.run}-victim-net`, `${a.run}-absent-net`];
  refs.netPrefix = [victimNet.slice(0, 12), await absentHex(12, 'networks')];
  refs.vol = [`${a.run}-victim-vol`, `${a.run}-absent-vol`];
}, 120_000);
afterAll(async () => a?.[Symbol.asyncDispose](), 120_000);

/** A whole answer read: its head, and a body as long as its Content-Length (or up to the last chunk). */
function whole(head: boolean) {
  return (received: string): boolean => {
    const end = received.indexOf('\r\n\r\n');
    if (end === -1) return false;
    if (head) return true;
    const length = /\r\ncontent-length: (\d+)\r\n/i.exec(received.slice(0, end + 2));
    if (length) return Buffer.byteLength(received.slice(end + 4), 'latin1') >= Number(length[1]);
    return received.endsWith('0\r\n\r\n');
  };
}

/** The answer as compared: the date's value out, the one field that differs between two answers a second apart. */
const normal = (answer: string) => answer.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: -\r\n');

type Case = [string, keyof typeof refs, (ref: string) => string];
const json = (method: string, path: string, body: unknown) => {
  const text = JSON.stringify(body);
  return `${method} ${path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
};
const chunked = (method: string, path: string, body: unknown) => {
  const text = JSON.stringify(body);
  return `${method} ${path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
};
const bare = (method: string, path: string) => `${method} ${path} HTTP/1.1\r\nHost: docker\r\n\r\n`;

describe('another tenant’s object gets the engine’s answer for a missing one, byte for byte', () => {
  it.each<Case>([
    ['container inspect by name', 'name', (r) => bare('GET', `/containers/${r}/json`)],
    ['container inspect by id prefix', 'prefix', (r) => bare('GET', `/containers/${r}/json`)],
    ['container inspect by full id', 'id', (r) => bare('GET', `/containers/${r}/json`)],
    ['container start', 'name', (r) => bare('POST', `/containers/${r}/start`)],
    ['container kill', 'prefix', (r) => bare('POST', `/containers/${r}/kill?signal=KILL`)],
    ['container remove', 'name', (r) => bare('DELETE', `/containers/${r}?force=1`)],
    ['container logs', 'name', (r) => bare('GET', `/containers/${r}/logs?stdout=1`)],
    ['container top', 'id', (r) => bare('GET', `/containers/${r}/top`)],
    ['container archive (HEAD)', 'name', (r) => bare('HEAD', `/containers/${r}/archive?path=/`)],
    ['exec create', 'name', (r) => json('POST', `/containers/${r}/exec`, { Cmd: ['id'] })],
    [
      'exec create, chunked (node:http)',
      'name',
      (r) => chunked('POST', `/containers/${r}/exec`, { Cmd: ['id'] }),
    ],
    ['network inspect by name', 'net', (r) => bare('GET', `/networks/${r}`)],
    ['network inspect by id prefix', 'netPrefix', (r) => bare('GET', `/networks/${r}`)],
    ['network remove', 'net', (r) => bare('DELETE', `/networks/${r}`)],
    ['volume inspect', 'vol', (r) => bare('GET', `/volumes/${r}`)],
    ['volume remove', 'vol', (r) => bare('DELETE', `/volumes/${r}`)],
  ])('%s', async (_what, kind, request) => {
    const [hidden, absent] = refs[kind];
    const head = request('').startsWith('HEAD ');
    const ask = (socket: string, ref: string) => rawExchange(socket, request(ref), { until: whole(head) });
    const fromEngine = normal(await ask(ENGINE_SOCKET, absent));
    expect(fromEngine).toMatch(/^HTTP\/1\.1 404 /);
    const hiddenAnswer = normal(await ask(a.mallory.socket, hidden));
    const absentAnswer = normal(await ask(a.mallory.socket, absent));
    expect(absentAnswer).toBe(fromEngine);
    expect(hiddenAnswer.replaceAll(hidden, absent)).toBe(fromEngine);
    // nothing happened to the victim's objects
    const v = (await a.inspect('containers', victim)).json;
    expect(v.State.Running).toBe(true);
    expect((await a.inspect('networks', victimNet)).status).toBe(200);
    expect((await a.inspect('volumes', refs.vol[0])).status).toBe(200);
  });
});
