import MarkdownIt from 'markdown-it';
import anchor from 'markdown-it-anchor';
import githubAlerts from 'markdown-it-github-alerts';
import taskLists from 'markdown-it-task-lists';
import { type CodeBlockEnv, renderCodeBlock } from './code-blocks.ts';
import { splitFrontMatter } from './front-matter.ts';
import { sanitizePage } from './sanitize.ts';
import { slugify } from './slug.ts';
import { substituteVariables } from './variables.ts';

/** One heading in a page's table of contents. */
export interface TocEntry {
  /** Heading level, 2 or 3. */
  level: number;
  /** The heading's plain text. */
  text: string;
  /** Its anchor (the heading's `id`). */
  id: string;
}

/** A page rendered to safe HTML. */
export interface RenderedPage {
  /** The page body's HTML, sanitised. */
  html: string;
  /** Headings of level 2 and 3, in order. */
  toc: TocEntry[];
  /** Commands of the page's runnable shell blocks, by block number. */
  runnable: string[];
  /** Whether the page draws mermaid diagrams (and so needs mermaid's script). */
  hasMermaid: boolean;
}

/** Options of {@link createMarkdownRenderer}. */
export interface MarkdownRendererOptions {
  /** Values for `{{ NAME }}` placeholders. */
  variables?: Readonly<Record<string, string>>;
}

/** Renders markdown pages; made by {@link createMarkdownRenderer}. */
export interface MarkdownRenderer {
  /**
   * Renders one page.
   *
   * @param source - the markdown file's full text, front matter included
   * @param file - the file relative to `root`, to resolve relative links and images
   */
  render(source: string, file: string): RenderedPage;
}

interface RenderEnv extends CodeBlockEnv {
  file: string;
  [key: string | symbol]: unknown;
}

/**
 * Creates the markdown renderer: markdown-it (CommonMark, tables, strikethrough, autolinks) with heading
 * anchors, GitHub alerts, task lists, server-side highlighting, copy/run buttons, mermaid blocks and
 * `{{ NAME }}` variables; the result is sanitised with an allowlist.
 *
 * @param options - the variables to substitute
 * @returns a renderer
 * @example
 * ```ts
 * const renderer = createMarkdownRenderer({ variables: { PORT: '8080' } });
 * renderer.render('# Hi\n\nOpen port {{ PORT }}', 'index.md').html;
 * ```
 */
export function createMarkdownRenderer(options: MarkdownRendererOptions = {}): MarkdownRenderer {
  const variables = options.variables ?? {};
  const md = new MarkdownIt({ html: true, linkify: true, typographer: false });
  md.use(anchor, {
    slugify,
    tabIndex: false,
    permalink: anchor.permalink.linkInsideHeader({
      symbol: '#',
      placement: 'after',
      ariaHidden: true,
      class: 'dh-anchor',
    }),
  });
  md.use(githubAlerts);
  md.use(taskLists);
  md.core.ruler.push('dh_align_classes', (state) => {
    for (const token of state.tokens) {
      const style = token.attrGet('style');
      if (typeof style === 'number') continue;
      if (style !== null && (token.type === 'th_open' || token.type === 'td_open')) {
        const align = /text-align:\s*(left|right|center)/.exec(style)?.[1];
        token.attrs = (token.attrs ?? []).filter(([name]) => name !== 'style');
        if (align) token.attrJoin('class', `dh-align-${align}`);
      }
    }
  });
  md.renderer.rules.fence = (tokens, idx, _options, env) => {
    const token = tokens[idx]!;
    return renderCodeBlock(token.content, token.info, env as unknown as RenderEnv);
  };

  return {
    render(source, file) {
      const { body } = splitFrontMatter(substituteVariables(source, variables));
      const env: RenderEnv = { file, runnable: [], hasMermaid: false };
      const tokens = md.parse(body, env);
      const toc: TocEntry[] = [];
      tokens.forEach((token, index) => {
        if (token.type !== 'heading_open' || (token.tag !== 'h2' && token.tag !== 'h3')) return;
        const id = token.attrGet('id');
        const inline = tokens[index + 1];
        if (id === null || !inline) return;
        const text = (inline.children ?? [])
          .filter((child) => child.type === 'text' || child.type === 'code_inline')
          .map((child) => child.content)
          .join('')
          .trim();
        toc.push({ level: Number(token.tag.slice(1)), text, id: String(id) });
      });
      const html = sanitizePage(md.renderer.render(tokens, md.options, env), file);
      return { html, toc, runnable: env.runnable, hasMermaid: env.hasMermaid };
    },
  };
}
