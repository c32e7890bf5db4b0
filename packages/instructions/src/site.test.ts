import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InstructionsError } from './errors.ts';
import { parseManifest } from './manifest.ts';
import { loadSite, titleFromFile } from './site.ts';

const folders: string[] = [];
const docs = async (files: Record<string, string>): Promise<string> => {
  const root = await mkdtemp(join(tmpdir(), 'dockhand-site-'));
  folders.push(root);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, name)), { recursive: true });
    await writeFile(join(root, name), text);
  }
  return root;
};
afterEach(async () => {
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

describe('the site', () => {
  it('orders and titles pages by file name when nothing else is said', async () => {
    const site = await loadSite(
      await docs({
        '10-last.md': 'x',
        '2-second.md': 'x',
        'index.md': 'x',
        '1_first-steps.md': 'x',
        'notes.txt': 'x',
      }),
    );
    expect(site.pages.map((page) => [page.url, page.title])).toEqual([
      ['/', 'Index'],
      ['/1_first-steps', 'First steps'],
      ['/2-second', 'Second'],
      ['/10-last', 'Last'],
    ]);
  });

  it('prefers front matter, then the first heading, over the file name', async () => {
    const site = await loadSite(
      await docs({
        'a.md': '---\ntitle: From front matter\norder: 2\n---\n# Heading',
        'b.md': '```md\n# not this\n```\n# From the heading',
        'c.md': '---\norder: 1\n---\nno heading',
      }),
    );
    expect(site.pages.map((page) => page.title)).toEqual(['C', 'From front matter', 'From the heading']);
  });

  it('substitutes variables before taking a title from a heading', async () => {
    const site = await loadSite(await docs({ 'a.md': '# Open {{ IDE_URL }} in {{ NOT_SET }}' }), undefined, {
      IDE_URL: 'http://localhost:8443',
    });
    expect(site.pages.map((page) => page.title)).toEqual(['Open http://localhost:8443 in {{ NOT_SET }}']);
  });

  it('prefers the manifest over everything, and appends pages it does not list', async () => {
    const site = await loadSite(
      await docs({
        'workshop.yaml':
          'title: My workshop\npages:\n  - z.md\n  - file: guide/a.md\n    title: Manifest title\n  - missing.md\n',
        'z.md': '# Zed',
        'guide/a.md': '---\ntitle: Ignored\n---\n',
        'b.md': '# Bee',
      }),
    );
    expect(site.title).toBe('My workshop');
    expect(site.pages.map((page) => [page.file, page.title, page.index])).toEqual([
      ['z.md', 'Zed', 0],
      ['guide/a.md', 'Manifest title', 1],
      ['b.md', 'Bee', 2],
    ]);
  });

  it('skips hidden files and symlinks that point out of root', async () => {
    const outside = await docs({ 'secret.md': '# Secret' });
    const root = await docs({ 'index.md': '# In', '.draft.md': '# Hidden', '.git/x.md': '# Git' });
    await symlink(join(outside, 'secret.md'), join(root, 'leak.md'));
    await symlink(join(root, 'index.md'), join(root, 'alias.md'));
    const site = await loadSite(root);
    expect(site.pages.map((page) => page.file).sort()).toEqual(['alias.md', 'index.md']);
  });

  it('fails clearly for a missing root or a broken manifest', async () => {
    await expect(loadSite('/no/such/folder')).rejects.toMatchObject({ code: 'ROOT_NOT_FOUND' });
    const root = await docs({ 'workshop.yaml': 'pages: [1, 2', 'index.md': '#' });
    await expect(loadSite(root)).rejects.toBeInstanceOf(InstructionsError);
  });
});

describe('the manifest', () => {
  it('accepts file names and { file, title } entries', () => {
    expect(
      parseManifest('title: T\npages:\n  - ./a.md\n  - file: b/c.md\n    title: C\n', 'workshop.yaml'),
    ).toEqual({
      title: 'T',
      pages: [{ file: 'a.md' }, { file: 'b/c.md', title: 'C' }],
    });
    expect(parseManifest('', 'workshop.yaml')).toEqual({ pages: [] });
  });

  it('refuses entries that are not markdown files inside root', () => {
    for (const bad of [
      'pages: [../x.md]',
      'pages: [/etc/x.md]',
      'pages: [a.txt]',
      'pages: [{ title: x }]',
      'pages: 3',
      '[1]',
    ]) {
      expect(() => parseManifest(bad, 'workshop.yaml')).toThrow(
        expect.objectContaining({ code: 'BAD_MANIFEST' }),
      );
    }
  });

  it('makes titles from file names', () => {
    expect(titleFromFile('guide/02-set-up_docker.md')).toBe('Set up docker');
    expect(titleFromFile('2024.md')).toBe('2024');
  });
});
