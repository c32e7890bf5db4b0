import type { RunCommand } from './run-hook.ts';

/**
 * A "run in terminal" hook that POSTs each command as JSON (`{ "command", "page", "file", "block" }`) to a
 * URL, for a terminal bridge in the IDE to pick up. A non-2xx answer counts as a failure.
 *
 * @param url - where to POST (e.g. the IDE extension's endpoint)
 * @param options - `headers` to add, such as an authorisation token; `timeoutMs` (default 5000)
 * @returns a hook for the `runCommand` option
 * @example
 * ```ts
 * createInstructionsServer({ root: 'docs', runCommand: postCommandTo('http://127.0.0.1:3001/terminal') });
 * ```
 */
export function postCommandTo(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): RunCommand {
  return async (command, context) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: JSON.stringify({ command, ...context }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the terminal at ${url} answered ${response.status}`);
  };
}
