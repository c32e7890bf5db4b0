import sanitizeHtml from 'sanitize-html';
import { rewriteLink } from './links.ts';

const ALLOWED_TAGS = [
  ...sanitizeHtml.defaults.allowedTags,
  'img',
  'input',
  'button',
  'details',
  'summary',
  'del',
  'ins',
  'svg',
  'path',
];

const BASE: sanitizeHtml.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: {
    '*': ['class', 'id', 'title', 'lang', 'dir', 'aria-hidden', 'aria-label'],
    a: ['href', 'name', 'rel'],
    img: ['src', 'alt', 'width', 'height', 'loading'],
    input: ['type', 'checked', 'disabled'],
    button: ['type', 'data-block', 'data-command', 'hidden'],
    div: ['data-lang'],
    details: ['open'],
    ol: ['start', 'reversed'],
    td: ['colspan', 'rowspan'],
    th: ['colspan', 'rowspan', 'scope'],
    svg: ['viewBox', 'width', 'height', 'version', 'fill'],
    path: ['d', 'fill-rule', 'clip-rule'],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https'] },
  allowProtocolRelative: false,
  parser: { lowerCaseAttributeNames: false },
};

/**
 * Sanitises a rendered page with an allowlist (sanitize-html): no scripts, styles, frames, forms or event
 * handlers, no `style` attributes, only `http`, `https` and `mailto` links; task-list checkboxes stay
 * disabled. Links and images are rewritten relative to the page (see {@link rewriteLink}).
 *
 * @param html - the HTML markdown-it produced, raw HTML from the author included
 * @param pageFile - the page's file relative to `root`
 * @returns safe HTML
 * @example
 * ```ts
 * sanitizePage('<p onclick="x()">Hi<script>alert(1)</script></p>', 'index.md'); // '<p>Hi</p>'
 * ```
 */
export function sanitizePage(html: string, pageFile: string): string {
  return sanitizeHtml(html, {
    ...BASE,
    transformTags: {
      a: (tagName, attribs) => {
        const { href, ...rest } = attribs;
        return {
          tagName,
          attribs: href === undefined ? rest : { ...rest, href: rewriteLink(href, pageFile) },
        };
      },
      img: (tagName, attribs) => {
        const { src, ...rest } = attribs;
        return { tagName, attribs: src === undefined ? rest : { ...rest, src: rewriteLink(src, pageFile) } };
      },
      input: (tagName, attribs) => {
        const safe: sanitizeHtml.Attributes = { type: 'checkbox', disabled: '', class: attribs.class ?? '' };
        if (attribs.checked !== undefined) safe.checked = '';
        return { tagName, attribs: safe };
      },
      button: (tagName, attribs) => ({ tagName, attribs: { ...attribs, type: 'button' } }),
    },
  });
}
