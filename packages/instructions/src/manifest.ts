import { parse } from 'yaml';
import { InstructionsError } from './errors.ts';

/** One entry of the manifest's `pages` list. */
export interface ManifestPage {
  /** The markdown file, relative to `root`, with `/` separators. */
  file: string;
  /** The title to show, overriding front matter and file name. */
  title?: string;
}

/** The parsed `workshop.yaml`. */
export interface Manifest {
  /** The workshop's name, shown at the top of every page. */
  title?: string;
  /** The pages in reading order. */
  pages: ManifestPage[];
}

/** The file names looked for in `root`, first found wins. */
export const MANIFEST_FILES: readonly string[] = ['workshop.yaml', 'workshop.yml'];

/**
 * Parses a workshop manifest. The format:
 *
 * ```yaml
 * title: Docker for beginners      # optional
 * pages:                           # reading order
 *   - index.md                     # a file, titled by its front matter or its name
 *   - file: setup/install.md       # or a file with its own title
 *     title: Install the tools
 * ```
 *
 * @param text - the YAML text
 * @param name - the file name, for error messages
 * @returns the manifest
 * @throws InstructionsError `BAD_MANIFEST` when the YAML is invalid or has the wrong shape
 * @example
 * ```ts
 * parseManifest('pages: [index.md, setup.md]', 'workshop.yaml').pages[1]; // { file: 'setup.md' }
 * ```
 */
export function parseManifest(text: string, name: string): Manifest {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new InstructionsError('BAD_MANIFEST', `${name} is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (raw === null || raw === undefined) return { pages: [] };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InstructionsError('BAD_MANIFEST', `${name} must be a mapping with "title" and "pages"`);
  }
  const record = raw as Record<string, unknown>;
  const manifest: Manifest = { pages: [] };
  if (record.title !== undefined) {
    if (typeof record.title !== 'string')
      throw new InstructionsError('BAD_MANIFEST', `${name}: "title" must be text`);
    manifest.title = record.title;
  }
  const pages = record.pages ?? [];
  if (!Array.isArray(pages)) throw new InstructionsError('BAD_MANIFEST', `${name}: "pages" must be a list`);
  pages.forEach((entry: unknown, index) => {
    if (typeof entry === 'string') {
      manifest.pages.push({ file: normaliseFile(entry, name, index) });
      return;
    }
    if (entry && typeof entry === 'object' && typeof (entry as { file?: unknown }).file === 'string') {
      const { file, title } = entry as { file: string; title?: unknown };
      if (title !== undefined && typeof title !== 'string') {
        throw new InstructionsError('BAD_MANIFEST', `${name}: pages[${index}].title must be text`);
      }
      manifest.pages.push(
        title === undefined
          ? { file: normaliseFile(file, name, index) }
          : { file: normaliseFile(file, name, index), title },
      );
      return;
    }
    throw new InstructionsError(
      'BAD_MANIFEST',
      `${name}: pages[${index}] must be a file name or { file, title }`,
    );
  });
  return manifest;
}

function normaliseFile(file: string, name: string, index: number): string {
  const clean = file.replace(/^\.\//, '');
  if (!clean.endsWith('.md') || clean.startsWith('/') || clean.split('/').includes('..')) {
    throw new InstructionsError(
      'BAD_MANIFEST',
      `${name}: pages[${index}] must be a .md file inside the docs folder`,
    );
  }
  return clean;
}
