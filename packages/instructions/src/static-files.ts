/** File types served from `root` besides the pages, by extension. Anything else is a 404. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  svg: 'image/svg+xml',
  ico: 'image/x-icon',
  pdf: 'application/pdf',
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  mp4: 'video/mp4',
  webm: 'video/webm',
};

/**
 * The `Content-Type` for a file in `root`, or `undefined` when the guide does not serve that type.
 *
 * @param name - the file name
 * @returns the content type, or `undefined`
 * @example
 * ```ts
 * staticType('logo.PNG'); // 'image/png'
 * staticType('secrets.env'); // undefined
 * ```
 */
export function staticType(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return undefined;
  const ext = name.slice(dot + 1).toLowerCase();
  return Object.hasOwn(STATIC_TYPES, ext) ? STATIC_TYPES[ext] : undefined;
}
