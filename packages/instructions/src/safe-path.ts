import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { InstructionsError } from './errors.ts';

/**
 * Turns a request target into path segments under `root`, or refuses it. The path is percent-decoded exactly
 * once; `.` and `..` segments, backslashes, NUL bytes, and hidden names (starting with `.`) are refused, so
 * `%2e%2e`, `%2f`, `..\\`, `%00` and the like never reach the file system. A doubly encoded `%252e%252e`
 * decodes to the literal name `%2e%2e`, which is looked up as such.
 *
 * @param target - the request target, e.g. `req.url` (`/guide/setup?x=1`)
 * @returns the decoded segments, or `undefined` when the path is refused
 * @throws InstructionsError `BAD_REQUEST` when the percent-encoding is malformed
 * @example
 * ```ts
 * requestSegments('/guide/img%20one.png'); // ['guide', 'img one.png']
 * requestSegments('/%2e%2e/etc/passwd');   // undefined
 * ```
 */
export function requestSegments(target: string): string[] | undefined {
  const path = target.split(/[?#]/, 1)[0] ?? '';
  if (!path.startsWith('/')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch (error) {
    throw new InstructionsError('BAD_REQUEST', 'The address is not correctly encoded.', { cause: error });
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment.startsWith('.'))) return undefined;
  return segments;
}

/**
 * Resolves path segments to a real file inside `root`, following symlinks only while they stay inside it.
 *
 * @param rootReal - the real path of `root` (from `fs.realpath`)
 * @param segments - segments from {@link requestSegments}, or a relative file split on `/`
 * @returns the real path of an existing regular file inside `root`, or `undefined`
 * @example
 * ```ts
 * const file = await resolveInsideRoot(await realpath('docs'), ['img', 'logo.png']);
 * ```
 */
export async function resolveInsideRoot(
  rootReal: string,
  segments: readonly string[],
): Promise<string | undefined> {
  if (segments.some((segment) => segment === '..' || segment === '.' || segment.includes('\0')))
    return undefined;
  let real: string;
  try {
    real = await realpath(join(rootReal, ...segments));
  } catch {
    return undefined;
  }
  if (!isInside(rootReal, real)) return undefined;
  try {
    return (await stat(real)).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `path` is `root` or below it (both real, absolute paths).
 *
 * @param root - the folder
 * @param path - the path to check
 * @returns `true` when `path` is inside `root`
 * @example
 * ```ts
 * isInside('/srv/docs', '/srv/docs/a.md'); // true
 * isInside('/srv/docs', '/srv/docs-old/a.md'); // false
 * ```
 */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
