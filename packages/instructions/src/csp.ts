/**
 * The Content-Security-Policy every page is sent with: scripts, styles, images and connections from the
 * guide's own origin only; no inline scripts, no `eval`, no plugins, no `<base>`, no forms. Pages that draw
 * mermaid diagrams also allow inline styles, because mermaid writes a `<style>` element into each SVG it
 * draws; scripts stay strict there too.
 *
 * @param options - `mermaid`: relax `style-src` for mermaid's SVG styles; `frameAncestors`: who may frame the guide
 * @returns the header value
 * @example
 * ```ts
 * contentSecurityPolicy({ mermaid: false, frameAncestors: ["'self'"] });
 * // "default-src 'none'; script-src 'self'; style-src 'self'; ..."
 * ```
 */
export function contentSecurityPolicy(options: {
  mermaid: boolean;
  frameAncestors: readonly string[];
}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    options.mermaid ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${options.frameAncestors.length > 0 ? options.frameAncestors.join(' ') : "'none'"}`,
  ].join('; ');
}

/** The policy for files served from `root` (images, SVGs): nothing in them may run. */
export const FILE_CSP: string = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox";
