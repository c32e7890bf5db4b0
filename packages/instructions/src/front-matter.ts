import { parse } from 'yaml';

/** What a page may say about itself in its YAML front matter. */
export interface FrontMatter {
  /** The page's title in the sidebar, the pager and the browser tab. */
  title?: string;
  /** Where the page sorts when there is no manifest (lower first; pages without `order` come last). */
  order?: number;
}

/** A markdown file split into its front matter and its body. */
export interface SplitPage {
  /** The parsed front matter (empty when there is none). */
  data: FrontMatter;
  /** The markdown after the front matter. */
  body: string;
}

const FENCE = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

/**
 * Splits YAML front matter (between `---` lines at the very top) from a markdown source. Front matter that is
 * not valid YAML, or not a mapping, is ignored and the whole source is treated as the body.
 *
 * @param source - the markdown file's text
 * @returns the front matter fields this package understands, and the body
 * @example
 * ```ts
 * splitFrontMatter('---\ntitle: Setup\norder: 2\n---\n# Hello');
 * // { data: { title: 'Setup', order: 2 }, body: '# Hello' }
 * ```
 */
export function splitFrontMatter(source: string): SplitPage {
  const match = FENCE.exec(source);
  if (!match) return { data: {}, body: source };
  let raw: unknown;
  try {
    raw = parse(match[1] ?? '');
  } catch {
    return { data: {}, body: source };
  }
  const data: FrontMatter = {};
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const record = raw as Record<string, unknown>;
    if (typeof record.title === 'string' || typeof record.title === 'number')
      data.title = String(record.title);
    if (typeof record.order === 'number' && Number.isFinite(record.order)) data.order = record.order;
  }
  return { data, body: source.slice(match[0].length) };
}
