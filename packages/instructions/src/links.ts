import { posix } from 'node:path';
import { pageUrlForFile } from './page-url.ts';

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Rewrites a link or image address found in a page so it works from the page's URL: relative addresses are
 * resolved against the page's folder, and links to `.md` files become page URLs (keeping `#fragment`).
 * Absolute URLs, `mailto:`, fragments and addresses that climb out of `root` are left alone.
 *
 * @param href - the address as written in the page
 * @param pageFile - the page's file relative to `root`, with `/` separators
 * @returns the address to put in the HTML
 * @example
 * ```ts
 * rewriteLink('../setup.md#docker', 'guide/intro.md'); // '/setup#docker'
 * rewriteLink('img/logo.png', 'guide/intro.md');        // '/guide/img/logo.png'
 * ```
 */
export function rewriteLink(raw: string, pageFile: string): string {
  const href = raw.trim();
  if (href === '' || href.startsWith('#') || href.startsWith('//') || SCHEME.test(href)) return href;
  const hashAt = href.indexOf('#');
  const fragment = hashAt >= 0 ? href.slice(hashAt) : '';
  const beforeHash = hashAt >= 0 ? href.slice(0, hashAt) : href;
  const queryAt = beforeHash.indexOf('?');
  const query = queryAt >= 0 ? beforeHash.slice(queryAt) : '';
  const rawPath = queryAt >= 0 ? beforeHash.slice(0, queryAt) : beforeHash;
  let path: string;
  try {
    path = decodeURI(rawPath);
  } catch {
    return href;
  }
  const resolved = path.startsWith('/')
    ? posix.normalize(path).slice(1)
    : posix.normalize(posix.join(posix.dirname(pageFile), path));
  if (resolved === '..' || resolved.startsWith('../')) return href;
  if (/\.md$/i.test(resolved)) return pageUrlForFile(resolved) + query + fragment;
  const clean = resolved === '.' ? '' : resolved;
  const trailing = path.endsWith('/') && clean !== '' && !clean.endsWith('/') ? '/' : '';
  return '/' + clean.split('/').map(encodeURIComponent).join('/') + trailing + query + fragment;
}
