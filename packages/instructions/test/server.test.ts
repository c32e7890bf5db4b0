import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInstructionsServer, type InstructionsServer, type RunContext } from '../src/index.ts';
import { writeFixtureDocs } from './fixtures/docs.ts';

const SECRET = 'TOP-SECRET-OUTSIDE-ROOT';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends the request target exactly as written: no client-side normalisation of `..` or encoding. */
const raw = (
  base: string,
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) =>
  new Promise<Reply>((resolve, reject) => {
    const url = new URL(base);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: target,
        method: init.method ?? 'GET',
        headers: init.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });

describe('the guide server', () => {
  let root: string;
  let outside: string;
  let server: InstructionsServer;
  let base: string;
  const ran: { command: string; context: RunContext }[] = [];

  beforeAll(async () => {
    const parent = await mkdtemp(join(tmpdir(), 'dockhand-server-'));
    root = join(parent, 'docs');
    outside = join(parent, 'outside');
    await writeFixtureDocs(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret.png'), SECRET);
    await writeFile(join(outside, 'secret.md'), `# ${SECRET}`);
    await writeFile(join(parent, 'secret.txt'), SECRET);
    await symlink(join(outside, 'secret.png'), join(root, 'img', 'link-out.png'));
    await symlink(join(outside, 'secret.md'), join(root, 'link-out.md'));
    await symlink(outside, join(root, 'dir-out'));
    await symlink('/etc', join(root, 'etc'));
    server = createInstructionsServer({
      root,
      variables: { IDE_URL: 'http://localhost:8443', PORT: '8080' },
      runCommand: (command, context) => {
        ran.push({ command, context });
        if (command.includes('fail')) throw new Error('terminal is gone');
      },
    });
    base = await server.listen();
  });

  afterAll(async () => {
    await server?.close();
    if (root) await rm(join(root, '..'), { recursive: true, force: true });
  });

  it('serves pages with a strict Content-Security-Policy and security headers', async () => {
    const reply = await raw(base, '/setup');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(reply.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.body).not.toMatch(/<script>|<script(?![^>]*\ssrc=)/);
    expect(reply.body).not.toContain('style=');
    // Only pages with a diagram relax style-src, for the styles mermaid writes into its SVG.
    const diagrams = await raw(base, '/guide/diagrams');
    expect(String(diagrams.headers['content-security-policy'])).toContain("style-src 'self' 'unsafe-inline'");
    expect(String(diagrams.headers['content-security-policy'])).toContain("script-src 'self';");
  });

  it('lays out the sidebar with the current page, previous/next links and the contents', async () => {
    const { body } = await raw(base, '/setup');
    expect(body).toContain('<a href="/setup" aria-current="page">Set up your machine</a>');
    expect(body).toContain('rel="prev" href="/"');
    expect(body).toContain('rel="next" href="/guide/diagrams"');
    expect(body).toContain('<a href="#install-docker">Install Docker</a>');
    expect(body).toContain('<a href="#install-docker-1">Install Docker</a>');
    expect(body).toContain('<title>Set up your machine · Dockhand test workshop</title>');
    // Titles: manifest over front matter; front matter for a page the manifest does not list.
    expect(body).toContain('<a href="/guide/extra">Extra reading</a>');
    const nav = body.slice(body.indexOf('<nav class="dh-sidebar"'), body.indexOf('</nav>'));
    expect([...nav.matchAll(/<a href="([^"]+)"/g)].map((match) => match[1])).toEqual([
      '/',
      '/setup',
      '/guide/diagrams',
      '/guide/extra',
      '/hostile',
    ]);
  });

  it('serves mermaid and its own scripts from the package, with no CDN', async () => {
    const { body } = await raw(base, '/guide/diagrams');
    expect(body).not.toMatch(/https?:\/\/(?!localhost)/);
    const mermaid = await raw(base, '/_dockhand/mermaid.min.js');
    expect(mermaid.status).toBe(200);
    expect(mermaid.headers['content-type']).toContain('javascript');
    expect(mermaid.body.length).toBeGreaterThan(1_000_000);
    for (const asset of ['dockhand.css', 'dockhand.js', 'theme.js', 'icon.svg']) {
      expect((await raw(base, `/_dockhand/assets/${asset}`)).status).toBe(200);
    }
    expect((await raw(base, '/_dockhand/assets/../../package.json')).status).toBe(404);
  });

  it('serves images relative to pages and redirects .md links', async () => {
    const image = await raw(base, '/img/logo.svg');
    expect(image.status).toBe(200);
    expect(image.headers['content-type']).toBe('image/svg+xml');
    expect(String(image.headers['content-security-policy'])).toContain('sandbox');
    const md = await raw(base, '/setup.md');
    expect(md.status).toBe(301);
    expect(md.headers.location).toBe('/setup');
    expect((await raw(base, '/workshop.yaml')).status).toBe(404);
  });

  it('answers a missing page with a styled 404', async () => {
    const reply = await raw(base, '/no/such/page');
    expect(reply.status).toBe(404);
    expect(reply.body).toContain('<h1>Page not found</h1>');
    expect(reply.body).toContain('dockhand.css');
    expect(reply.body).toContain('class="dh-sidebar"');
  });

  it.each([
    '/../secret.txt',
    '/../outside/secret.png',
    '/%2e%2e/secret.txt',
    '/%2E%2E/outside/secret.png',
    '/.%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/img%2f..%2f..%2fsecret.txt',
    '/%252e%252e/secret.txt',
    '/%252e%252e%252fsecret.txt',
    '/..\\secret.txt',
    '/..%5csecret.txt',
    '/img%5c..%5c..%5csecret.txt',
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/etc/passwd',
    '/etc/hostname',
    '/img/link-out.png',
    '/dir-out/secret.png',
    '/link-out',
    '/link-out.md',
    '/img/logo.svg%00.png',
    '/img/logo.svg%00',
    '/%00',
    '/.git/config',
  ])('does not read outside root for %j', async (target) => {
    const reply = await raw(base, target);
    expect([400, 404]).toContain(reply.status);
    expect(reply.body).not.toContain(SECRET);
    expect(reply.body).not.toContain('root:x:0:0');
  });

  it('refuses a malformed encoding with a 400', async () => {
    expect((await raw(base, '/%E0%A4%A')).status).toBe(400);
  });

  it('substitutes variables into pages', async () => {
    const { body } = await raw(base, '/');
    expect(body).toContain('http://localhost:8443');
    expect(body).toContain('port 8080');
    expect(body).toContain('{{ UNKNOWN }}');
  });

  it('sanitises raw HTML in pages', async () => {
    const { body } = await raw(base, '/hostile');
    const article = body.slice(body.indexOf('<article'), body.indexOf('</article>'));
    expect(article).not.toMatch(
      /<script|\son[a-z]+=|(href|src|action)="[^"]*javascript|<iframe|<form|<style|style=/i,
    );
    expect(article).toContain('<a>js link</a>');
    // A markdown link to javascript: is not a link at all: markdown-it leaves it as text.
    expect(article).toContain("[md js link](javascript:alert('md'))");
  });

  it('runs only the guide own commands, from the guide itself', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      raw(base, '/_dockhand/run', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const ok = await post({ page: '/setup', block: 1 }, { origin: base, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(200);
    expect(ran.at(-1)).toEqual({
      command: 'docker ps',
      context: { page: '/setup', file: 'setup.md', block: 1 },
    });
    const count = ran.length;
    expect((await post({ page: '/setup', block: 9 })).status).toBe(404);
    expect((await post({ page: '/nope', block: 0 })).status).toBe(404);
    expect((await post({ page: '/setup', block: 0 }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ page: '/setup', block: 0 }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ command: 'rm -rf /' })).status).toBe(400);
    const text = await raw(base, '/_dockhand/run', { method: 'POST', body: '{"page":"/setup","block":0}' });
    expect(text.status).toBe(400);
    expect(JSON.parse(text.body)).toEqual({ message: 'A run request must be JSON.' });
    expect((await raw(base, '/_dockhand/run')).status).toBe(405);
    expect(ran.length).toBe(count);
  });

  it('reports a failing hook as 502', async () => {
    const page = join(root, 'fail.md');
    await writeFile(page, '```sh\nfail now\n```\n');
    await expect.poll(async () => (await raw(base, '/fail')).status, { timeout: 3_000 }).toBe(200);
    const reply = await raw(base, '/_dockhand/run', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"page":"/fail","block":0}',
    });
    expect(reply.status).toBe(502);
    await rm(page);
  });

  it('without a hook, run buttons copy and the endpoint is absent', async () => {
    await using plain = createInstructionsServer({ root, watch: false });
    const url = await plain.listen();
    expect((await raw(url, '/setup')).body).toContain('data-run="copy"');
    const reply = await raw(url, '/_dockhand/run', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"page":"/setup","block":0}',
    });
    expect(reply.status).toBe(404);
  });

  it('re-renders a cached page when its file changes, and tells open pages over SSE', async () => {
    // an earlier test added a page: let its change event (debounced) land before comparing two renders,
    // since a new page changes every page's sidebar
    let first = await raw(base, '/guide/extra');
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const again = await raw(base, '/guide/extra');
      if (again.body === first.body) break;
      first = again;
    }
    expect((await raw(base, '/guide/extra')).body).toBe(first.body);
    const events = await new Promise<{ next: () => Promise<string>; close: () => void }>(
      (resolve, reject) => {
        const url = new URL(base);
        const req = request({ host: url.hostname, port: url.port, path: '/_dockhand/events' }, (res) => {
          expect(res.headers['content-type']).toContain('text/event-stream');
          let buffer = '';
          let waiting: ((value: string) => void) | undefined;
          res.on('data', (chunk: Buffer) => {
            buffer += chunk.toString();
            if (buffer.includes('event: change') && waiting) waiting(buffer);
          });
          resolve({
            next: () =>
              new Promise<string>((done) => {
                waiting = done;
              }),
            close: () => req.destroy(),
          });
        });
        req.on('error', reject);
        req.end();
      },
    );
    const changed = events.next();
    const file = join(root, 'guide', 'extra.md');
    await writeFile(file, `${await readFile(file, 'utf8')}\nA brand new paragraph.\n`);
    expect(await changed).toContain('guide/extra.md');
    events.close();
    expect((await raw(base, '/guide/extra')).body).toContain('A brand new paragraph.');
  });
});
