import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A file the server sends from memory, with its validator. */
export interface Asset {
  /** The file's bytes. */
  body: Buffer;
  /** Its `Content-Type`. */
  type: string;
  /** A strong `ETag` for it. */
  etag: string;
}

const ASSET_TYPES: Record<string, string> = {
  'dockhand.css': 'text/css; charset=utf-8',
  'dockhand.js': 'text/javascript; charset=utf-8',
  'theme.js': 'text/javascript; charset=utf-8',
  'icon.svg': 'image/svg+xml',
  'mermaid.min.js': 'text/javascript; charset=utf-8',
};

/** The folder holding the page's own CSS and JavaScript (`assets/` beside `dist/` and `src/`). */
export const ASSETS_DIR: string = fileURLToPath(new URL('../assets/', import.meta.url));

/**
 * Where mermaid's browser bundle is on disk, resolved from the `mermaid` npm package this package depends on,
 * so diagrams draw with no network access.
 *
 * @returns the absolute path of `mermaid/dist/mermaid.min.js`
 * @example
 * ```ts
 * mermaidScriptPath(); // '/…/node_modules/mermaid/dist/mermaid.min.js'
 * ```
 */
export function mermaidScriptPath(): string {
  return createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js');
}

const cache = new Map<string, Promise<Asset>>();

/**
 * Loads one of the server's own files (`dockhand.css`, `dockhand.js`, `theme.js`, `mermaid.min.js`), once.
 *
 * @param name - the file name
 * @returns the asset, or `undefined` for any other name
 * @example
 * ```ts
 * const css = await loadAsset('dockhand.css');
 * ```
 */
export function loadAsset(name: string): Promise<Asset> | undefined {
  const type = Object.hasOwn(ASSET_TYPES, name) ? ASSET_TYPES[name] : undefined;
  if (type === undefined) return undefined;
  let asset = cache.get(name);
  if (!asset) {
    const path = name === 'mermaid.min.js' ? mermaidScriptPath() : `${ASSETS_DIR}${name}`;
    asset = readFile(path).then((body) => ({
      body,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    }));
    asset.catch(() => cache.delete(name));
    cache.set(name, asset);
  }
  return asset;
}
