import { describe, expect, it } from 'vitest';
import {
  ChunkedBody,
  headerFields,
  parsePlainRequestHead as parseRequestBytes,
  parseResponseHead as parseResponseBytes,
} from './http-framing.ts';

// the heads as text, without their final CRLF CRLF; latin1 keeps each character one byte
const parsePlainRequestHead = (head: string) => parseRequestBytes(Buffer.from(head, 'latin1'));
const parseResponseHead = (head: string, method: string) => {
  const buf = Buffer.from(head, 'latin1');
  return parseResponseBytes(buf, buf.length, method);
};

describe('headerFields', () => {
  it('gives the fields of a plain head in order, with their casing, values trimmed, duplicates kept', () => {
    const head = Buffer.from(
      'POST /containers/create HTTP/1.1\r\nHost: docker\r\nX-A:\t a b \r\nx-a:\r\nContent-Length: 2',
      'latin1',
    );
    expect(headerFields(head)).toEqual(['Host', 'docker', 'X-A', 'a b', 'x-a', '', 'Content-Length', '2']);
    expect(headerFields(Buffer.from('GET /_ping HTTP/1.1'))).toEqual([]);
    // only the head: what follows its end is the body
    const withBody = Buffer.from('GET / HTTP/1.1\r\nA: 1\r\n\r\nB: 2');
    expect(headerFields(withBody, withBody.indexOf('\r\n\r\n'))).toEqual(['A', '1']);
  });
});

describe('parsePlainRequestHead', () => {
  it('reads a plain request', () => {
    expect(parsePlainRequestHead('GET /v1.45/containers/json?all=1 HTTP/1.1\r\nHost: docker')).toEqual({
      method: 'GET',
      target: '/v1.45/containers/json?all=1',
      bodyLength: 0,
      contentType: undefined,
      close: false,
    });
    expect(
      parsePlainRequestHead(
        'POST /containers/create HTTP/1.1\r\nHost: d\r\ncontent-length:  17 \r\nX-A:\t b\r\nContent-Type:  application/json ',
      ),
    ).toEqual({
      method: 'POST',
      target: '/containers/create',
      bodyLength: 17,
      contentType: 'application/json',
      close: false,
    });
  });

  it('reads field names in any case, values with tabs, and the method and target as sent', () => {
    expect(
      parsePlainRequestHead(
        'PUT /v1.41/containers/a%20b/archive?path=%2Ftmp HTTP/1.1\r\nCONTENT-LENGTH:\t4096\t\r\ncOnTeNt-TyPe: \tapplication/x-tar\t\r\nConnection: keep-alive\r\nx-upgrade: none',
      ),
    ).toEqual({
      method: 'PUT',
      target: '/v1.41/containers/a%20b/archive?path=%2Ftmp',
      bodyLength: 4096,
      contentType: 'application/x-tar',
      close: false,
    });
    expect(parsePlainRequestHead('GET /_ping HTTP/1.1')).toEqual({
      method: 'GET',
      target: '/_ping',
      bodyLength: 0,
      contentType: undefined,
      close: false,
    });
  });

  it('sees a Connection: close among the connection options, in any case', () => {
    const close = (value: string) =>
      parsePlainRequestHead(`GET /_ping HTTP/1.1\r\nConnection: ${value}`)?.close;
    expect(close('close')).toBe(true);
    expect(close('keep-alive, CLOSE ')).toBe(true);
    expect(close('keep-alive')).toBe(false);
    expect(close('closed')).toBe(false);
  });

  it.each([
    ['chunked', 'POST /build HTTP/1.1\r\nTransfer-Encoding: chunked'],
    ['any transfer coding', 'POST /build HTTP/1.1\r\ntransfer-encoding: identity'],
    ['an upgrade', 'POST /exec/x/start HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade'],
    ['a Connection: upgrade alone', 'POST /exec/x/start HTTP/1.1\r\nConnection: keep-alive, Upgrade'],
    ['Expect', 'PUT /containers/x/archive HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4'],
    ['two lengths', 'POST /x HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4'],
    ['a signed length', 'POST /x HTTP/1.1\r\nContent-Length: +4'],
    ['two content types', 'POST /x HTTP/1.1\r\nContent-Type: a/b\r\ncontent-type: c/d'],
    ['a list of lengths', 'POST /x HTTP/1.1\r\nContent-Length: 4, 4'],
    ['an empty length', 'POST /x HTTP/1.1\r\nContent-Length: '],
    ['a folded line', 'GET /_ping HTTP/1.1\r\nX-A: 1\r\n  folded'],
    ['a space before the colon', 'GET /_ping HTTP/1.1\r\nContent-Length : 4'],
    ['a bare LF inside', 'GET /_ping HTTP/1.1\r\nX-A: 1\nContent-Length: 4'],
    ['a bare CR inside', 'GET /_ping HTTP/1.1\r\nX-A: 1\rContent-Length: 4'],
    ['a NUL', 'GET /_ping HTTP/1.1\r\nX-A: a\0b'],
    ['non-ASCII', 'GET /_ping HTTP/1.1\r\nX-A: caf\xe9'],
    ['no colon', 'GET /_ping HTTP/1.1\r\nX-A'],
    ['an empty name', 'GET /_ping HTTP/1.1\r\n: x'],
    ['HTTP/1.0', 'GET /_ping HTTP/1.0\r\nHost: d'],
    ['an absolute target', 'GET http://docker/_ping HTTP/1.1\r\nHost: d'],
    ['an asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: d'],
    ['a space in the target', 'GET /_ping x HTTP/1.1\r\nHost: d'],
    ['a lower-case method', 'get /_ping HTTP/1.1\r\nHost: d'],
    ['a method of 21 letters', `${'A'.repeat(21)} /_ping HTTP/1.1\r\nHost: d`],
    ['DEL in the target', 'GET /_pi\x7fng HTTP/1.1\r\nHost: d'],
    ['bytes after the version', 'GET /_ping HTTP/1.1x\r\nHost: d'],
    ['a request line cut short', 'GET /_ping HTTP/1.'],
    ['a 16-digit length', 'POST /x HTTP/1.1\r\nContent-Length: 1234567890123456'],
    ['an upgrade in any case', 'POST /exec/x/start HTTP/1.1\r\nCONNECTION: UPGRADE'],
    ['an empty line inside', 'GET /_ping HTTP/1.1\r\n\r\nHost: d'],
    ['DEL in a value', 'GET /_ping HTTP/1.1\r\nX-A: a\x7fb'],
    ['a CR at the end', 'GET /_ping HTTP/1.1\r\nX-A: 1\r'],
  ])('leaves %s to node:http', (_what, head) => {
    expect(parsePlainRequestHead(head)).toBeUndefined();
  });
});

describe('parseResponseHead', () => {
  const head = (status: string, ...fields: string[]) => [`HTTP/1.1 ${status}`, ...fields].join('\r\n');

  it('reads the framing the engine uses', () => {
    expect(parseResponseHead(head('200 OK', 'Api-Version: 1.45', 'Content-Length: 2'), 'GET')).toEqual({
      status: 200,
      framing: { kind: 'length', length: 2 },
      close: false,
    });
    expect(parseResponseHead(head('200 OK', 'Transfer-Encoding: chunked'), 'GET').framing).toEqual({
      kind: 'chunked',
    });
    // the old attach stream: no length, no coding, the body runs until the engine closes
    expect(
      parseResponseHead(head('200 OK', 'Content-Type: application/vnd.docker.raw-stream'), 'POST'),
    ).toEqual({ status: 200, framing: { kind: 'close' }, close: true });
    expect(parseResponseHead(head('101 UPGRADED', 'Upgrade: tcp'), 'POST').status).toBe(101);
  });

  it('knows the responses without a body', () => {
    expect(parseResponseHead(head('200 OK', 'Content-Length: 2'), 'HEAD').framing.kind).toBe('none');
    expect(parseResponseHead(head('204 No Content'), 'POST').framing.kind).toBe('none');
    expect(parseResponseHead(head('304 Not Modified'), 'POST').framing.kind).toBe('none');
    expect(parseResponseHead(head('100 Continue'), 'PUT').framing.kind).toBe('none');
  });

  it('reads a chunked coding only when it is the last one', () => {
    expect(parseResponseHead(head('200 OK', 'Transfer-Encoding: gzip, Chunked '), 'GET').framing.kind).toBe(
      'chunked',
    );
    expect(parseResponseHead(head('200 OK', 'Transfer-Encoding: chunked, gzip'), 'GET').framing.kind).toBe(
      'close',
    );
    expect(parseResponseHead(head('200 OK', 'Transfer-Encoding: xchunked'), 'GET').framing.kind).toBe(
      'close',
    );
    expect(parseResponseHead(head('200', 'content-length:\t7\t'), 'GET')).toEqual({
      status: 200,
      framing: { kind: 'length', length: 7 },
      close: false,
    });
  });

  it('sees when the engine closes the connection', () => {
    expect(
      parseResponseHead(head('200 OK', 'Connection: Keep-Alive, CLOSE', 'Content-Length: 0'), 'GET').close,
    ).toBe(true);
    expect(parseResponseHead(head('200 OK', 'Connection: closed', 'Content-Length: 0'), 'GET').close).toBe(
      false,
    );
    expect(parseResponseHead(head('200 OK', 'Connection: close', 'Content-Length: 0'), 'GET').close).toBe(
      true,
    );
    expect(parseResponseHead('HTTP/1.0 200 OK\r\nContent-Length: 0', 'GET').close).toBe(true);
    expect(
      parseResponseHead('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0', 'GET').close,
    ).toBe(false);
  });

  it('throws on what is not a response', () => {
    expect(() => parseResponseHead('SSH-2.0-OpenSSH', 'GET')).toThrow(/status line/);
    expect(() => parseResponseHead('HTTP/1.2 200 OK', 'GET')).toThrow(/status line/);
    expect(() => parseResponseHead('HTTP/1.1 20x OK', 'GET')).toThrow(/status line/);
    expect(() => parseResponseHead('HTTP/1.1 2000', 'GET')).toThrow(/status line/);
    expect(() => parseResponseHead(head('200 OK', 'Content-Length 2'), 'GET')).toThrow(/header line/);
    expect(() => parseResponseHead(head('200 OK', 'Content-Length: 2', 'Content-Length: 3'), 'GET')).toThrow(
      /Content-Length/,
    );
    expect(() => parseResponseHead(head('200 OK', 'Content-Length: x'), 'GET')).toThrow(/Content-Length/);
  });
});

describe('ChunkedBody', () => {
  const body = Buffer.from(
    '5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n',
  );

  it('finds the end in one piece, with the bytes after it left alone', () => {
    const withNext = Buffer.concat([body, Buffer.from('HTTP/1.1 200 OK')]);
    expect(new ChunkedBody().scan(withNext, 0)).toBe(body.length);
  });

  it('finds the end however the body is split', () => {
    for (let cut = 1; cut < body.length; cut++) {
      const c = new ChunkedBody();
      expect(c.scan(body.subarray(0, cut), 0), `cut at ${cut}`).toBe(-1);
      expect(c.scan(body, cut), `cut at ${cut}`).toBe(body.length);
    }
    const c = new ChunkedBody();
    for (let i = 0; i < body.length - 1; i++) expect(c.scan(body.subarray(i, i + 1), 0)).toBe(-1);
    expect(c.scan(body.subarray(body.length - 1), 0)).toBe(1);
  });

  it('decodes the chunk data however the body is split', () => {
    for (let cut = 1; cut < body.length; cut++) {
      const c = new ChunkedBody();
      const data: string[] = [];
      const onData = (buf: Buffer) => (start: number, end: number) =>
        data.push(buf.toString('latin1', start, end));
      const first = body.subarray(0, cut);
      expect(c.scan(first, 0, onData(first))).toBe(-1);
      const rest = body.subarray(cut);
      expect(c.scan(rest, 0, onData(rest))).toBe(rest.length);
      expect(data.join(''), `cut at ${cut}`).toBe('helloabcdefghijklmnopqrstuvwxyz');
    }
  });

  it('ends at the last chunk without trailers, and starts at an offset', () => {
    const buf = Buffer.from('xx0\r\n\r\n');
    expect(new ChunkedBody().scan(buf, 2)).toBe(buf.length);
  });

  it.each([
    ['a size that is not hex', 'zz\r\n'],
    ['data longer than its size', '2\r\nabc\r\n0\r\n\r\n'],
    ['a size line with a bare LF', '2\nab\r\n'],
    ['a size too large', 'fffffffffffff\r\n'],
  ])('throws on %s', (_what, text) => {
    expect(() => new ChunkedBody().scan(Buffer.from(text), 0)).toThrow();
  });
});
