import { refuse } from './errors.ts';
import type { TarEntry } from './tar-reader.ts';

type Node =
  | { kind: 'dir'; children: Map<string, Node> }
  | { kind: 'file'; data: Buffer | undefined }
  | { kind: 'symlink' | 'hardlink' | 'special' };

/**
 * A path of a build context as the engine's unpack resolves it: the unpack runs chrooted to the context, so `..`
 * stops at the root and an absolute path starts there. `../Dockerfile` and `a/../../Dockerfile` are the context's
 * `Dockerfile`.
 *
 * @param name - an entry's name, or the `dockerfile` query parameter
 * @returns its components, `[]` for the root
 * @example
 * ```ts
 * contextPath('../a//b/./c'); // ['a', 'b', 'c']
 * ```
 */
export function contextPath(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * What the engine's unpack of a classic build's context leaves on disk, followed entry by entry the way moby's
 * `archive.Unpack` writes them: a later entry replaces an earlier one at its path (a whole directory included),
 * except that a directory merges into a directory; missing parent directories are made. Only what decides the
 * Dockerfile is kept: the tree's shape and the data of files at the paths asked for. Fails closed where the unpack
 * would follow a link the proxy does not: an entry written through a symbolic link (the kernel would follow it, to
 * another path of the context), and a PAX global header at a path that exists (Engine 20.10's unpack removed what
 * was there).
 *
 * @example
 * ```ts
 * const tree = new ContextTree([['Dockerfile']]);
 * for await (const entry of readTar(chunks, (e) => tree.wants(e), limit)) tree.add(entry);
 * const dockerfile = tree.file(['Dockerfile']);
 * ```
 */
export class ContextTree {
  readonly #root: Node & { kind: 'dir' } = { kind: 'dir', children: new Map() };
  readonly #kept: string[];

  /** @param kept - the paths whose file data to keep, as {@link contextPath} returns them */
  constructor(kept: string[][]) {
    this.#kept = kept.map((p) => p.join('/'));
  }

  /**
   * Whether an entry is a file whose data the tree keeps.
   *
   * @param entry - an entry, before its data is read
   */
  wants(entry: TarEntry): boolean {
    return entry.type === 'file' && this.#kept.includes(contextPath(entry.name).join('/'));
  }

  /**
   * Applies one entry, as the unpack does.
   *
   * @param entry - the entry, with its data if {@link ContextTree.wants} asked for it
   * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_AMBIGUOUS_BODY` for an entry written through a link, one
   *   under a file, a global header at a path that exists, or one that would replace the context's root
   */
  add(entry: TarEntry): void {
    const path = contextPath(entry.name);
    const shown = JSON.stringify(Buffer.from(entry.name, 'latin1').toString('utf8'));
    if (entry.type === 'global') {
      if (path.length > 0 && this.#lookup(path) !== undefined)
        throw bad(`a PAX global header is named for ${shown}, a path the context holds`);
      return;
    }
    const name = path.pop();
    if (name === undefined) {
      if (entry.type === 'dir') return;
      throw bad(`the entry ${shown} would replace the context's root`);
    }
    let dir = this.#root;
    for (const part of path) {
      let child = dir.children.get(part);
      if (child === undefined) {
        child = { kind: 'dir', children: new Map() };
        dir.children.set(part, child);
      }
      if (child.kind !== 'dir') throw bad(`the entry ${shown} is written through ${what(child)}`);
      dir = child;
    }
    const existing = dir.children.get(name);
    if (entry.type === 'dir') {
      if (existing?.kind !== 'dir') dir.children.set(name, { kind: 'dir', children: new Map() });
    } else if (entry.type === 'file') dir.children.set(name, { kind: 'file', data: entry.data });
    else dir.children.set(name, { kind: entry.type });
  }

  /**
   * The data of the regular file at a path, `undefined` when nothing is there.
   *
   * @param path - the path, as {@link contextPath} returns it; it must be one of those the tree keeps
   * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_AMBIGUOUS_BODY` when a directory on the path is a link
   *   or not a directory, or the path is not a regular file
   */
  file(path: string[]): Buffer | undefined {
    const node = this.#lookup(path);
    if (node === undefined) return undefined;
    if (node.kind !== 'file')
      throw bad(
        `the build context's ${path.join('/')} is not a regular file but ${what(node)}; send the file itself`,
      );
    if (node.data === undefined) throw new Error(`${path.join('/')} is not a path the context tree keeps`);
    return node.data;
  }

  /** The node at a path; throws where a directory on the way is a link or not a directory. */
  #lookup(path: string[]): Node | undefined {
    let node: Node = this.#root;
    for (const part of path) {
      if (node.kind !== 'dir')
        throw bad(`the build context's path ${path.join('/')} goes through ${what(node)}`);
      const child = node.children.get(part);
      if (child === undefined) return undefined;
      node = child;
    }
    return node;
  }
}

function what(node: Node): string {
  const kinds = {
    dir: 'a directory',
    file: 'a regular file',
    symlink: 'a symbolic link',
    hardlink: 'a hard link',
    special: 'a device or FIFO',
  };
  return kinds[node.kind];
}

function bad(why: string) {
  return refuse('DOCKHAND_AMBIGUOUS_BODY', why);
}
