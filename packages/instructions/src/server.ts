import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Logger, pino } from 'pino';
import { loadAsset } from './assets.ts';
import { contentSecurityPolicy, FILE_CSP } from './csp.ts';
import { InstructionsError } from './errors.ts';
import { escapeHtml } from './highlight.ts';
import { INTERNAL_PREFIX, renderLayout } from './layout.ts';
import { createLiveReload, type LiveReload } from './live-reload.ts';
import { createPageStore } from './page-store.ts';
import { type RunCommand, readRunRequest } from './run-hook.ts';
import { requestSegments, resolveInsideRoot } from './safe-path.ts';
import type { Site, SitePage } from './site.ts';
import { staticType } from './static-files.ts';

/** Options of {@link createInstructionsServer}. */
export interface InstructionsServerOptions {
  /** The docs folder: markdown pages, images, and an optional `workshop.yaml`. */
  root: string;
  /** The workshop title when the manifest has none (default: the first page's title). */
  title?: string;
  /** Values for `{{ NAME }}` placeholders in pages. */
  variables?: Readonly<Record<string, string>>;
  /**
   * Where "run in terminal" buttons send their command. Without it the buttons copy the command to the
   * clipboard instead.
   */
  runCommand?: RunCommand;
  /** Refresh open pages when a file under `root` changes (default `true`). */
  watch?: boolean;
  /** Who may show the guide in a frame, as CSP `frame-ancestors` sources (default `["'self'"]`). */
  frameAncestors?: readonly string[];
  /** A pino logger; the server logs run requests and failures only. Silent by default. */
  logger?: Logger;
}

/** A running (or ready to run) guide server; made by {@link createInstructionsServer}. */
export interface InstructionsServer {
  /** The request listener, to mount the guide in another `node:http` server. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Checks `root`, starts listening and resolves to the guide's URL.
   *
   * @param port - the TCP port (default 0: any free port)
   * @param host - the address (default `127.0.0.1`)
   */
  listen(port?: number, host?: string): Promise<string>;
  /** The URL once listening, else `undefined`. */
  readonly url: string | undefined;
  /** Stops watching, ends live-reload streams and closes the server. */
  close(): Promise<void>;
  /** Same as {@link InstructionsServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

interface CachedPage {
  status: number;
  body: Buffer;
  csp: string;
}

/**
 * Creates the guide server: serves the markdown pages under `root` as a site with a sidebar, table of
 * contents, highlighted code with copy and "run in terminal" buttons, mermaid diagrams, dark mode and live
 * reload; every response carries a strict Content-Security-Policy, and no request reads outside `root`.
 *
 * @param options - the docs folder and optional title, variables, run hook, logger
 * @returns the server; call `listen()` to start it
 * @example
 * ```ts
 * await using guide = createInstructionsServer({
 *   root: 'docs',
 *   variables: { IDE_URL: 'http://localhost:8443' },
 *   runCommand: (command) => terminal.send(command),
 * });
 * console.log(`Guide at ${await guide.listen(8080)}`);
 * ```
 */
export function createInstructionsServer(options: InstructionsServerOptions): InstructionsServer {
  const logger = options.logger ?? pino({ level: 'silent' });
  const store = createPageStore({ root: options.root, title: options.title, variables: options.variables });
  const frameAncestors = options.frameAncestors ?? ["'self'"];
  const pages = new Map<string, { generation: number; page: CachedPage }>();
  let live: LiveReload | undefined;
  let server: Server | undefined;
  let url: string | undefined;

  const startWatching = async (): Promise<void> => {
    if (live || options.watch === false) return;
    const { root } = await store.site();
    live = createLiveReload({ root, logger, onChange: (file) => store.invalidate(file) });
  };

  const layoutPage = async (
    site: Site,
    page: SitePage | undefined,
    status: number,
    body?: string,
  ): Promise<CachedPage> => {
    const rendered = page ? await store.render(page) : undefined;
    const mermaid = rendered?.hasMermaid ?? false;
    const html = renderLayout({
      site,
      page,
      html: rendered?.html ?? body ?? '',
      toc: rendered?.toc ?? [],
      run: options.runCommand ? 'hook' : 'copy',
      mermaid,
      live: options.watch !== false,
    });
    return { status, body: Buffer.from(html), csp: contentSecurityPolicy({ mermaid, frameAncestors }) };
  };

  const sendPage = (req: IncomingMessage, res: ServerResponse, page: CachedPage): void => {
    res.writeHead(page.status, {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'content-length': page.body.length,
      'content-security-policy': page.csp,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : page.body);
  };

  const sendError = async (
    req: IncomingMessage,
    res: ServerResponse,
    error: InstructionsError,
  ): Promise<void> => {
    if ((req.url ?? '').startsWith(INTERNAL_PREFIX)) {
      const body = JSON.stringify({ message: error.message });
      res.writeHead(error.status, {
        ...SECURITY_HEADERS,
        'content-type': 'application/json',
        'content-security-policy': "default-src 'none'",
      });
      res.end(body);
      return;
    }
    const heading = error.status === 404 ? 'Page not found' : 'Something went wrong';
    const body = `<h1>${heading}</h1>\n<p>${escapeHtml(error.message)}</p>\n<p><a href="/">Back to the start of the guide</a></p>`;
    let site: Site;
    try {
      site = await store.site();
    } catch {
      site = { root: '', title: options.title ?? 'Workshop', pages: [], byUrl: new Map() };
    }
    sendPage(req, res, await layoutPage(site, undefined, error.status, body));
  };

  const redirect = (res: ServerResponse, location: string, status = 301): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, location, 'content-length': 0 });
    res.end();
  };

  const serveAsset = async (req: IncomingMessage, res: ServerResponse, name: string): Promise<void> => {
    const loading = loadAsset(name);
    if (!loading) throw new InstructionsError('PAGE_NOT_FOUND', 'There is no such file.');
    const asset = await loading;
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'cache-control': 'no-cache',
      etag: asset.etag,
      'content-security-policy': "default-src 'none'",
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const serveRun = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST')
      throw new InstructionsError('METHOD_NOT_ALLOWED', 'Use POST to run a command.');
    if (!options.runCommand) {
      throw new InstructionsError('RUN_NOT_CONFIGURED', 'This guide has no terminal to run commands in.');
    }
    const request = await readRunRequest(req);
    const site = await store.site();
    const segments = requestSegments(request.page);
    const page = segments ? site.byUrl.get(canonicalUrl(segments, request.page)) : undefined;
    const command = page ? (await store.render(page)).runnable[request.block] : undefined;
    if (!page || command === undefined) {
      throw new InstructionsError('RUN_UNKNOWN_BLOCK', 'That page has no such command to run.');
    }
    try {
      await options.runCommand(command, { page: page.url, file: page.file, block: request.block });
    } catch (error) {
      logger.warn({ err: error, page: page.url, block: request.block }, 'runCommand failed');
      throw new InstructionsError('RUN_FAILED', 'The terminal did not take the command.', { cause: error });
    }
    logger.info({ page: page.url, block: request.block }, 'ran command in terminal');
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
    res.end('{"ok":true}');
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = req.url ?? '/';
    if (target.startsWith(INTERNAL_PREFIX)) {
      const name = target.slice(INTERNAL_PREFIX.length).split('?', 1)[0] ?? '';
      if (name === 'run') return serveRun(req, res);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new InstructionsError('METHOD_NOT_ALLOWED', 'Only GET is supported here.');
      }
      if (name === 'events' && live) return live.handleEvents(req, res);
      if (name === 'mermaid.min.js') return serveAsset(req, res, name);
      if (name.startsWith('assets/')) return serveAsset(req, res, name.slice('assets/'.length));
      throw new InstructionsError('PAGE_NOT_FOUND', 'There is no such file.');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new InstructionsError('METHOD_NOT_ALLOWED', 'Only GET is supported here.');
    }
    const segments = requestSegments(target);
    if (!segments) throw new InstructionsError('PAGE_NOT_FOUND', 'There is no page at this address.');
    const site = await store.site();
    const canonical = canonicalUrl(segments, target);
    const page = site.byUrl.get(canonical);
    if (page) {
      const cached = pages.get(page.url);
      if (cached && cached.generation === store.generation) return sendPage(req, res, cached.page);
      const generation = store.generation;
      const built = await layoutPage(site, page, 200);
      if (generation === store.generation) pages.set(page.url, { generation, page: built });
      return sendPage(req, res, built);
    }
    const withSlash = site.byUrl.get(`${canonical}/`);
    if (withSlash) return redirect(res, withSlash.url);
    const last = segments.at(-1) ?? '';
    if (/\.md$/i.test(last)) {
      const file = segments.join('/');
      const byFile = site.pages.find((candidate) => candidate.file === file);
      if (byFile) return redirect(res, byFile.url);
    }
    if (segments.length === 0 && site.pages[0]) return redirect(res, site.pages[0].url, 302);
    const type = staticType(last);
    const path = type ? await resolveInsideRoot(site.root, segments) : undefined;
    if (!type || !path) throw new InstructionsError('PAGE_NOT_FOUND', 'There is no page at this address.');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'cache-control': 'no-cache',
      'content-security-policy': FILE_CSP,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(path)
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch(async (error: unknown) => {
      const known =
        error instanceof InstructionsError
          ? error
          : new InstructionsError('PAGE_NOT_FOUND', 'This page could not be shown.', { cause: error });
      if (!(error instanceof InstructionsError) || error.status >= 500) {
        logger.error({ err: error, url: req.url }, 'guide request failed');
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      try {
        await sendError(req, res, known);
      } catch {
        res.destroy();
      }
    });
  };

  return {
    handler,
    get url() {
      return url;
    },
    async listen(port = 0, host = '127.0.0.1') {
      await store.site();
      await startWatching();
      const listening = createServer(handler);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(port, host, () => resolve());
      });
      const address = listening.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${shownHost}:${address.port}`;
      return url;
    },
    async close() {
      live?.close();
      live = undefined;
      const closing = server;
      server = undefined;
      url = undefined;
      if (!closing) return;
      await new Promise<void>((resolve) => {
        closing.close(() => resolve());
        closing.closeAllConnections();
      });
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

function canonicalUrl(segments: readonly string[], target: string): string {
  const path = target.split(/[?#]/, 1)[0] ?? '';
  const slash = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return '/' + segments.map((segment) => encodeURIComponent(segment)).join('/') + slash;
}
