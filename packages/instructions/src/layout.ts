import { escapeHtml } from './highlight.ts';
import type { TocEntry } from './markdown.ts';
import type { Site, SitePage } from './site.ts';

/** The URL prefix of everything the server serves besides the pages and their files. */
export const INTERNAL_PREFIX = '/_dockhand/';

/** What {@link renderLayout} needs to lay out one page. */
export interface LayoutInput {
  /** The site, for the title and the sidebar. */
  site: Site;
  /** The page shown (`undefined` for the 404 page). */
  page?: SitePage;
  /** The page's rendered body. */
  html: string;
  /** The page's table of contents. */
  toc: readonly TocEntry[];
  /** `hook` when run buttons go to the server's `runCommand`, `copy` when they copy the command. */
  run: 'hook' | 'copy';
  /** Whether the page has a mermaid diagram. */
  mermaid: boolean;
  /** Whether live reload is on. */
  live: boolean;
}

/**
 * Lays out a full HTML page: header with the workshop title and the theme toggle, the sidebar of sections
 * (the current one marked with `aria-current`), the article, previous/next links and the table of contents.
 * Scripts and styles are separate files (nothing inline), so the page works under a strict CSP and reads
 * fine without JavaScript; the narrow-screen menu is a CSS-only checkbox toggle.
 *
 * @param input - the site, page, body and flags
 * @returns the HTML document
 * @example
 * ```ts
 * const html = renderLayout({ site, page, html: '<h1>Hi</h1>', toc: [], run: 'copy', mermaid: false, live: true });
 * ```
 */
export function renderLayout(input: LayoutInput): string {
  const { site, page } = input;
  const title = page ? `${page.title} · ${site.title}` : `Page not found · ${site.title}`;
  const previous = page ? site.pages[page.index - 1] : undefined;
  const next = page ? site.pages[page.index + 1] : undefined;
  const nav = site.pages
    .map((item) => {
      const current = item === page ? ' aria-current="page"' : '';
      return `<li><a href="${escapeHtml(item.url)}"${current}>${escapeHtml(item.title)}</a></li>`;
    })
    .join('');
  const pager =
    previous || next
      ? `<nav class="dh-pager" aria-label="Previous and next">${
          previous
            ? `<a class="dh-prev" rel="prev" href="${escapeHtml(previous.url)}"><small>Previous</small><span>${escapeHtml(previous.title)}</span></a>`
            : '<span></span>'
        }${
          next
            ? `<a class="dh-next" rel="next" href="${escapeHtml(next.url)}"><small>Next</small><span>${escapeHtml(next.title)}</span></a>`
            : ''
        }</nav>`
      : '';
  const toc =
    input.toc.length > 1
      ? `<aside class="dh-toc" aria-label="On this page"><h2>On this page</h2><ul>${input.toc
          .map(
            (entry) =>
              `<li class="dh-toc-${entry.level}"><a href="#${escapeHtml(entry.id)}">${escapeHtml(entry.text)}</a></li>`,
          )
          .join('')}</ul></aside>`
      : '';
  const assets = `${INTERNAL_PREFIX}assets/`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${assets}icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${assets}dockhand.css">
<script src="${assets}theme.js"></script>
<script src="${assets}dockhand.js" defer></script>
</head>
<body data-run="${input.run}" data-live="${input.live ? 'on' : 'off'}" data-mermaid="${input.mermaid ? 'on' : 'off'}">
<a class="dh-skip" href="#dh-content">Skip to content</a>
<header class="dh-header">
<label class="dh-menu" for="dh-nav-toggle" aria-label="Show sections">&#9776;</label>
<a class="dh-brand" href="/">${escapeHtml(site.title)}</a>
<button type="button" class="dh-theme" aria-label="Switch between light and dark" title="Light or dark" hidden="hidden">&#9680;</button>
</header>
<input type="checkbox" id="dh-nav-toggle" class="dh-nav-toggle" aria-hidden="true" tabindex="-1">
<div class="dh-layout">
<nav class="dh-sidebar" aria-label="Sections"><ol>${nav}</ol></nav>
<main id="dh-content" class="dh-main"><article class="dh-article">
${input.html}
</article>
${pager}
</main>
${toc}
</div>
</body>
</html>
`;
}
