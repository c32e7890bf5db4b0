import { readFile } from 'node:fs/promises';
import { InstructionsError } from './errors.ts';
import { createMarkdownRenderer, type RenderedPage } from './markdown.ts';
import { resolveInsideRoot } from './safe-path.ts';
import { loadSite, type Site, type SitePage } from './site.ts';

/** Loads the site and renders its pages, caching both until a file changes; made by {@link createPageStore}. */
export interface PageStore {
  /** The site, reloaded after any change under `root`. */
  site(): Promise<Site>;
  /** A page's rendered body, from the cache when its file has not changed. */
  render(page: SitePage): Promise<RenderedPage>;
  /** Forgets what depends on `file` (relative to `root`; everything when `undefined`). */
  invalidate(file: string | undefined): void;
  /** A number that changes whenever anything is invalidated, for caches built on top of this one. */
  readonly generation: number;
}

/** Options of {@link createPageStore}. */
export interface PageStoreOptions {
  /** The docs folder. */
  root: string;
  /** The workshop title when the manifest has none. */
  title?: string;
  /** Values for `{{ NAME }}` placeholders. */
  variables?: Readonly<Record<string, string>>;
}

/**
 * Creates the page store: the site model and a cache of rendered pages, invalidated per file.
 *
 * @param options - the folder, title and variables
 * @returns the store
 * @example
 * ```ts
 * const store = createPageStore({ root: 'docs' });
 * const site = await store.site();
 * const first = await store.render(site.pages[0]!);
 * ```
 */
export function createPageStore(options: PageStoreOptions): PageStore {
  const renderer = createMarkdownRenderer({ variables: options.variables ?? {} });
  const rendered = new Map<string, Promise<RenderedPage>>();
  let site: Promise<Site> | undefined;
  let generation = 0;

  const renderFile = async (page: SitePage, root: string): Promise<RenderedPage> => {
    const path = await resolveInsideRoot(root, page.file.split('/'));
    if (path === undefined) throw new InstructionsError('PAGE_NOT_FOUND', `${page.file} is no longer there.`);
    return renderer.render(await readFile(path, 'utf8'), page.file);
  };

  return {
    get generation() {
      return generation;
    },
    site() {
      if (!site) {
        const loading = loadSite(options.root, options.title, options.variables ?? {});
        site = loading;
        loading.catch(() => {
          if (site === loading) site = undefined;
        });
      }
      return site;
    },
    async render(page) {
      const cached = rendered.get(page.file);
      if (cached) return cached;
      const { root } = await this.site();
      const startedAt = generation;
      const rendering = renderFile(page, root);
      rendering.then(
        () => {
          if (generation !== startedAt && rendered.get(page.file) === rendering) rendered.delete(page.file);
        },
        () => {
          if (rendered.get(page.file) === rendering) rendered.delete(page.file);
        },
      );
      if (generation === startedAt) rendered.set(page.file, rendering);
      return rendering;
    },
    invalidate(file) {
      generation += 1;
      site = undefined;
      if (file === undefined || !file.toLowerCase().endsWith('.md')) rendered.clear();
      else rendered.delete(file);
    },
  };
}
