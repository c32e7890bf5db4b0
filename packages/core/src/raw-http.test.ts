import { describe, expect, it } from 'vitest';
import { EngineIdentity } from './engine-identity.ts';
import { DockhandError } from './errors.ts';
import { errorResponse, requestHead, responseHead } from './raw-http.ts';

describe('raw HTTP heads', () => {
  it('writes request and response heads field by field', () => {
    expect(requestHead('GET', '/v1.45/_ping', ['Host', 'docker', 'X-A', ''])).toBe(
      'GET /v1.45/_ping HTTP/1.1\r\nHost: docker\r\nX-A: \r\n\r\n',
    );
    expect(responseHead(404, ['Content-Length', '0'])).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    );
    expect(responseHead(101, [], 'UPGRADED')).toBe('HTTP/1.1 101 UPGRADED\r\n\r\n');
  });

  it.each([
    ['a CR LF in a value', ['X-A', 'a\r\nX-Injected: 1']],
    ['a bare LF in a value', ['X-A', 'a\nb']],
    ['a NUL in a value', ['X-A', 'a\0']],
    ['a line break in a name', ['X-A\r\nX-B', '1']],
  ])('refuses %s, which would smuggle a line into the head', (_name, fields) => {
    expect(() => requestHead('GET', '/_ping', fields)).toThrow(DockhandError);
    expect(() => responseHead(200, fields)).toThrow(DockhandError);
  });

  it('refuses a target with a space or a line break', () => {
    expect(() => requestHead('GET', '/_ping HTTP/1.1\r\nX: 1', [])).toThrow(DockhandError);
    expect(() => requestHead('GET', '/a b', [])).toThrow(DockhandError);
  });

  it('frames an error answer by its UTF-8 bytes, with the head in latin1', () => {
    const err = new DockhandError('TEST_NO', 403, 'no access to “café”');
    const { status, bytes } = errorResponse(err, true, new EngineIdentity());
    expect(status).toBe(403);
    const text = bytes.toString('utf8');
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(JSON.parse(body)).toEqual({ message: 'no access to “café”' });
    expect(text).toContain(`\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`);
    expect(text).toContain('\r\nConnection: close\r\n');
    expect(text).toMatch(/\r\nDate: \w{3}, \d{2} \w{3} \d{4} /);
  });
});
