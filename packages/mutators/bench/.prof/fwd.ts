import { connect } from 'node:net';
import { arena } from '../../test/attacks/harness.ts';

const a = await arena();
try {
  const id = await a.ownContainer(`${a.run}_own`);
  const s = connect(a.mallory.socket);
  const t0 = performance.now();
  s.on('data', (d) =>
    console.log(
      'data',
      Math.round(performance.now() - t0),
      JSON.stringify(d.toString('latin1').slice(0, 200)),
    ),
  );
  s.on('close', () => console.log('close', Math.round(performance.now() - t0)));
  s.on('error', (e) => console.log('error', e.message));
  await new Promise((r) => s.on('connect', r));
  const big = 64 * 1024 * 1024;
  s.write(
    `PUT /containers/${id}/archive?path=/nonexistent/dir HTTP/1.1\r\nHost: d\r\nContent-Length: ${big}\r\n\r\n`,
  );
  s.write(Buffer.alloc(big), () => console.log('body written', Math.round(performance.now() - t0)));
  await new Promise((r) => setTimeout(r, 5000));
  s.destroy();
} finally {
  await a[Symbol.asyncDispose]();
}
