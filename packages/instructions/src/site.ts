import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { InstructionsError } from './errors.ts';
import { splitFrontMatter } from './front-matter.ts';
import { MANIFEST_FILES, type Manifest, parseManifest } from './manifest.ts';
import { pageUrlForFile } from './page-url.ts';
import { isInside } from './safe-path.ts';
import { substituteVariables } from './variables.ts';

/** One page of the guide. */
export interface SitePage {
  /** The markdown file relative to `root`, with `/` separators. */
  file: string;
  /** The URL path it is served at. */
  url: string;
  /** Its title: from the manifest, else front matter, else its first `#` heading, else its file name. */
  title: string;
  /** Its place in reading order, from 0. */
  index: number;
}

/** The guide's pages in reading order. */
export interface Site {
  /** The real path of `root`. */
  root: string;
  /** The workshop's title. */
  title: string;
  /** Every page, in reading order. */
  pages: SitePage[];
  /** Pages by URL path. */
  byUrl: Map<string, SitePage>;
}

const SKIPPED_DIRS = new Set(['node_modules']);

/**
 * Reads `root`: finds every markdown file, orders and titles them from the manifest, front matter and file
 * names (in that priority). Files the manifest does not list follow the listed ones, in file-name order.
 *
 * @param root - the docs folder
 * @param title - the workshop title to use when the manifest has none
 * @param variables - `{{ NAME }}` values, substituted before titles are read from headings
 * @returns the site
 * @throws InstructionsError `ROOT_NOT_FOUND` when `root` is not a folder; `BAD_MANIFEST` for a broken manifest
 * @example
 * ```ts
 * const site = await loadSite('docs');
 * console.log(site.pages.map((page) => page.title));
 * ```
 */
export async function loadSite(
  root: string,
  title?: string,
  variables: Readonly<Record<string, string>> = {},
): Promise<Site> {
  let rootReal: string;
  try {
    rootReal = await realpath(root);
    if (!(await stat(rootReal)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new InstructionsError(
      'ROOT_NOT_FOUND',
      `The docs folder ${root} does not exist or is not a folder.`,
      {
        cause: error,
      },
    );
  }
  const files = await findMarkdown(rootReal);
  const manifest = await readManifest(rootReal);
  const infos = await Promise.all(
    files.map(async (file) => {
      // titles are taken after variables are substituted, as the page body is
      const source = substituteVariables(
        await readFile(join(rootReal, ...file.split('/')), 'utf8'),
        variables,
      );
      const { data, body } = splitFrontMatter(source);
      return { file, front: data, heading: firstHeading(body) };
    }),
  );
  const byFile = new Map(infos.map((info) => [info.file, info]));
  const ordered: { file: string; title?: string }[] = [];
  const seen = new Set<string>();
  for (const entry of manifest?.pages ?? []) {
    if (byFile.has(entry.file) && !seen.has(entry.file)) {
      ordered.push(entry);
      seen.add(entry.file);
    }
  }
  const rest = infos.filter((info) => !seen.has(info.file));
  rest.sort((a, b) => {
    const orderA = a.front.order ?? Number.POSITIVE_INFINITY;
    const orderB = b.front.order ?? Number.POSITIVE_INFINITY;
    if (orderA !== orderB) return orderA < orderB ? -1 : 1;
    return compareFiles(a.file, b.file);
  });
  for (const info of rest) ordered.push({ file: info.file });

  const pages = ordered.map((entry, index): SitePage => {
    const info = byFile.get(entry.file);
    return {
      file: entry.file,
      url: pageUrlForFile(entry.file),
      title: entry.title ?? info?.front.title ?? info?.heading ?? titleFromFile(entry.file),
      index,
    };
  });
  return {
    root: rootReal,
    title: manifest?.title ?? title ?? pages[0]?.title ?? 'Workshop',
    pages,
    byUrl: new Map(pages.map((page) => [page.url, page])),
  };
}

async function readManifest(rootReal: string): Promise<Manifest | undefined> {
  for (const name of MANIFEST_FILES) {
    let text: string;
    try {
      text = await readFile(join(rootReal, name), 'utf8');
    } catch {
      continue;
    }
    return parseManifest(text, name);
  }
  return undefined;
}

async function findMarkdown(rootReal: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) await walk(full);
      } else if (entry.name.toLowerCase().endsWith('.md')) {
        if (entry.isFile() || (entry.isSymbolicLink() && (await linksInside(rootReal, full)))) {
          found.push(relative(rootReal, full).split(sep).join('/'));
        }
      }
    }
  };
  await walk(rootReal);
  return found;
}

async function linksInside(rootReal: string, path: string): Promise<boolean> {
  try {
    const real = await realpath(path);
    return isInside(rootReal, real) && (await stat(real)).isFile();
  } catch {
    return false;
  }
}

function compareFiles(a: string, b: string): number {
  const rank = (file: string): number => (/^(index|readme)\.md$/i.test(file) ? 0 : 1);
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true });
}

function firstHeading(body: string): string | undefined {
  let fence: string | undefined;
  for (const line of body.split('\n')) {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fenceMatch) {
      const marker = fenceMatch[1] ?? '';
      if (fence === undefined) fence = marker[0];
      else if (marker[0] === fence) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const heading = /^\s{0,3}#\s+(.+?)\s*#*\s*$/.exec(line);
    // emphasis markers and code ticks go; underscores inside words (`my_var`, `{{ IDE_URL }}`) stay
    if (heading) {
      return (heading[1] ?? '')
        .replace(/`/g, '')
        .replace(/(\*\*|__|\*|(?<![\w])_)(\S(?:.*?\S)?)\1(?![\w])/g, '$2')
        .trim();
    }
  }
  return undefined;
}

/**
 * A readable title from a file name: `02-set-up_docker.md` → `Set up docker`.
 *
 * @param file - the file relative to `root`
 * @returns the title
 * @example
 * ```ts
 * titleFromFile('guide/02-set-up.md'); // 'Set up'
 * ```
 */
export function titleFromFile(file: string): string {
  const base = (file.split('/').at(-1) ?? file).replace(/\.md$/i, '');
  const words =
    base
      .replace(/^\d+[-_. ]*/, '')
      .replace(/[-_]+/g, ' ')
      .trim() || base;
  return words.charAt(0).toUpperCase() + words.slice(1);
}
