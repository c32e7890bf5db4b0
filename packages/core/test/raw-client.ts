import { connect, type Socket } from 'node:net';

/** A raw HTTP/1.1 exchange over a unix socket: for requests a normal client cannot send (hijacks, odd framing). */
export async function rawExchange(
  socketPath: string,
  request: string | Buffer,
  options: {
    until?: (received: string) => boolean;
    endAfterWrite?: boolean;
    timeoutMs?: number;
    then?: (s: Socket) => void;
  } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, options.timeoutMs ?? 10_000);
    s.on('connect', () => {
      s.write(request);
      if (options.endAfterWrite) s.end();
      options.then?.(s);
    });
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (options.until?.(Buffer.concat(chunks).toString('latin1'))) {
        clearTimeout(timer);
        s.destroy();
        resolve(Buffer.concat(chunks).toString('latin1'));
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** Status code of a raw response. */
export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

/** Body of a raw response (after the head). */
export function bodyOf(response: string): string {
  const i = response.indexOf('\r\n\r\n');
  return i === -1 ? '' : response.slice(i + 4);
}
