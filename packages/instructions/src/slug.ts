/**
 * Turns a heading's text into a URL fragment the way GitHub does: lower case, punctuation dropped, spaces
 * to dashes. Duplicates are numbered by the renderer (`setup`, `setup-1`).
 *
 * @param text - the heading's plain text
 * @returns the anchor, never empty
 * @example
 * ```ts
 * slugify('Run the `proxy`!'); // 'run-the-proxy'
 * ```
 */
export function slugify(text: string): string {
  const slug = text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
  return slug === '' ? 'section' : slug;
}
