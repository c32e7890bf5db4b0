/**
 * The URL path a markdown file is served at: `setup.md` → `/setup`, `guide/index.md` → `/guide/`,
 * `index.md` or `README.md` → `/`. Each segment is percent-encoded.
 *
 * @param file - the file relative to `root`, with `/` separators
 * @returns the absolute URL path
 * @example
 * ```ts
 * pageUrlForFile('guide/02 setup.md'); // '/guide/02%20setup'
 * ```
 */
export function pageUrlForFile(file: string): string {
  const segments = file.replace(/\.md$/i, '').split('/');
  const last = segments.at(-1)?.toLowerCase();
  if (last === 'index' || last === 'readme') segments[segments.length - 1] = '';
  return '/' + segments.map((segment) => encodeURIComponent(segment)).join('/');
}
