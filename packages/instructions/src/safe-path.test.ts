import { describe, expect, it } from 'vitest';
import { isInside, requestSegments } from './safe-path.ts';

describe('request paths', () => {
  it('decodes ordinary paths once', () => {
    expect(requestSegments('/guide/setup?x=1')).toEqual(['guide', 'setup']);
    expect(requestSegments('/img/a%20b.png')).toEqual(['img', 'a b.png']);
    expect(requestSegments('/')).toEqual([]);
    // Double encoding stays a literal name after one decode; it never becomes "..".
    expect(requestSegments('/%252e%252e/%252e%252e/etc/passwd')).toEqual([
      '%2e%2e',
      '%2e%2e',
      'etc',
      'passwd',
    ]);
    expect(requestSegments('//etc/passwd')).toEqual(['etc', 'passwd']);
  });

  it.each([
    '/../package.json',
    '/guide/../../package.json',
    '/%2e%2e/package.json',
    '/%2E%2E/package.json',
    '/.%2e/package.json',
    '/%2e%2e%2fpackage.json',
    '/guide%2f..%2f..%2fpackage.json',
    '/..\\package.json',
    '/..%5cpackage.json',
    '/%5c..%5c..%5cpackage.json',
    '/index.md%00.png',
    '/index.md\0',
    '/.git/config',
    '/.env',
    'package.json',
    'C:\\Windows',
  ])('refuses %j', (target) => {
    expect(requestSegments(target)).toBeUndefined();
  });

  it('refuses malformed percent-encoding as a bad request', () => {
    expect(() => requestSegments('/%E0%A4%A')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('knows what is inside a folder', () => {
    expect(isInside('/srv/docs', '/srv/docs')).toBe(true);
    expect(isInside('/srv/docs', '/srv/docs/a/b.md')).toBe(true);
    expect(isInside('/srv/docs', '/srv/docs-old/a.md')).toBe(false);
    expect(isInside('/srv/docs', '/srv')).toBe(false);
  });
});
