import { type FSWatcher, watch } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** Watches `root` and tells open pages to refresh; made by {@link createLiveReload}. */
export interface LiveReload {
  /** Answers `GET /_dockhand/events` with a server-sent event stream. */
  handleEvents(req: IncomingMessage, res: ServerResponse): void;
  /** Stops watching and ends every open stream. */
  close(): void;
}

/** Options of {@link createLiveReload}. */
export interface LiveReloadOptions {
  /** The folder to watch (recursively). */
  root: string;
  /** Called at once for every change, with the changed path relative to `root` (`undefined` when unknown). */
  onChange(file: string | undefined): void;
  /** Where to log watcher errors. */
  logger: Logger;
  /** How long to wait for a burst of changes to settle before telling the pages (ms). */
  debounceMs?: number;
}

/**
 * Watches `root` with `fs.watch` (recursive) and pushes a `change` event to every open page over
 * server-sent events, so the page fetches itself again. Changes are batched over `debounceMs` (50 ms), well
 * within a second; caches are invalidated at once through `onChange`.
 *
 * @param options - the folder, the invalidation callback and a logger
 * @returns the live reload hub
 * @example
 * ```ts
 * const live = createLiveReload({ root: 'docs', logger, onChange: (file) => cache.delete(file) });
 * // in the request handler: if (url === '/_dockhand/events') live.handleEvents(req, res);
 * ```
 */
export function createLiveReload(options: LiveReloadOptions): LiveReload {
  const clients = new Set<ServerResponse>();
  const debounceMs = options.debounceMs ?? 50;
  let timer: NodeJS.Timeout | undefined;
  let pending = new Set<string>();

  const broadcast = (): void => {
    timer = undefined;
    const files = [...pending];
    pending = new Set();
    const data = `event: change\ndata: ${JSON.stringify({ files })}\n\n`;
    for (const client of clients) client.write(data);
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(options.root, { recursive: true }, (_event, filename) => {
      const file = filename === null ? undefined : filename.toString().split('\\').join('/');
      options.onChange(file);
      pending.add(file ?? '');
      timer ??= setTimeout(broadcast, debounceMs);
    });
    watcher.on('error', (error) => options.logger.warn({ err: error }, 'watching the docs folder failed'));
  } catch (error) {
    options.logger.warn({ err: error }, 'cannot watch the docs folder; live reload is off');
  }

  const heartbeat = setInterval(() => {
    for (const client of clients) client.write(': ping\n\n');
  }, 15_000);
  heartbeat.unref();

  return {
    handleEvents(req, res) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 1000\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
    },
    close() {
      watcher?.close();
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      for (const client of clients) client.end();
      clients.clear();
    },
  };
}
