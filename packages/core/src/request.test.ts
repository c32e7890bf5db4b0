import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { HeaderList } from './headers.ts';
import { ProxyRequest } from './request.ts';

const request = (body: Readable | Buffer | undefined) =>
  new ProxyRequest('POST', '', new HeaderList(['Content-Length', '5']), body, 1024);

describe('ProxyRequest.takeStream', () => {
  it('gives a body held whole as a stream of its bytes, and forwards what is restored', async () => {
    // the byte lane reads small bodies whole: a middleware that peeks at the stream must still see them
    const req = request(Buffer.from('hello'));
    const taken = req.takeStream();
    expect(taken).toBeDefined();
    expect(req.takeStream()).toBeUndefined();
    expect(req.forwardBody()).toEqual({});
    expect(await text(taken!)).toBe('hello');
    const replay = Readable.from([Buffer.from('hello')]);
    req.restoreStream(replay);
    expect(req.forwardBody()).toEqual({ stream: replay });
  });

  it('gives a streamed body as its own stream, and a body a middleware read as those bytes', async () => {
    const stream = Readable.from([Buffer.from('hel'), Buffer.from('lo')]);
    expect(request(stream).takeStream()).toBe(stream);
    const read = request(Readable.from([Buffer.from('hello')]));
    expect((await read.buffer()).toString()).toBe('hello');
    expect(await text(read.takeStream()!)).toBe('hello');
  });

  it('frames a replaced body taken as a stream by its own length', async () => {
    const req = request(Buffer.from('hello'));
    req.setBody(Buffer.from('hi'));
    const taken = req.takeStream()!;
    req.restoreStream(taken);
    expect(req.changed).toBe(false);
    expect(req.headers.get('content-length')).toBe('2');
    expect(await text(taken)).toBe('hi');
  });

  it('gives nothing for a request without a body', () => {
    expect(request(undefined).takeStream()).toBeUndefined();
    expect(request(Buffer.alloc(0)).takeStream()).toBeUndefined();
  });
});
