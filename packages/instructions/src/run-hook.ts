import type { IncomingMessage } from 'node:http';
import { InstructionsError } from './errors.ts';

/** What the "run in terminal" hook is told besides the command. */
export interface RunContext {
  /** The URL path of the page the button is on. */
  page: string;
  /** The page's markdown file, relative to `root`. */
  file: string;
  /** The block's number among the page's runnable blocks, from 0. */
  block: number;
}

/**
 * The hook behind "run in terminal" buttons: send `command` to the attendee's terminal (for example, the
 * IDE's). It only ever receives commands written in the guide's own shell blocks: the button names a page
 * and a block, and the server looks the command up itself.
 *
 * @example
 * ```ts
 * const runCommand: RunCommand = async (command) => {
 *   await fetch('http://127.0.0.1:8443/terminal', { method: 'POST', body: command });
 * };
 * ```
 */
export type RunCommand = (command: string, context: RunContext) => void | Promise<void>;

/** A parsed run request: which block of which page. */
export interface RunRequest {
  /** The page's URL path, as the browser sent it. */
  page: string;
  /** The block number. */
  block: number;
}

const MAX_BODY = 8 * 1024;

/**
 * Reads and checks a `POST /_dockhand/run` request: same-origin only (by `Sec-Fetch-Site` and `Origin`), a
 * JSON body of at most 8 KiB with `page` and `block`.
 *
 * @param req - the request
 * @returns the page and block asked for
 * @throws InstructionsError `RUN_FORBIDDEN` for a cross-site request; `BAD_REQUEST` for a bad body
 * @example
 * ```ts
 * const { page, block } = await readRunRequest(req);
 * ```
 */
export async function readRunRequest(req: IncomingMessage): Promise<RunRequest> {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    throw new InstructionsError('RUN_FORBIDDEN', 'Commands can only be run from the guide itself.');
  }
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.headers.host) {
      throw new InstructionsError('RUN_FORBIDDEN', 'Commands can only be run from the guide itself.');
    }
  }
  if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    throw new InstructionsError('BAD_REQUEST', 'A run request must be JSON.');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new InstructionsError('BAD_REQUEST', 'The run request is too large.');
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new InstructionsError('BAD_REQUEST', 'The run request is not valid JSON.', { cause: error });
  }
  const { page, block } = (body ?? {}) as { page?: unknown; block?: unknown };
  if (typeof page !== 'string' || typeof block !== 'number' || !Number.isInteger(block) || block < 0) {
    throw new InstructionsError('BAD_REQUEST', 'A run request needs a "page" (text) and a "block" (number).');
  }
  return { page, block };
}
