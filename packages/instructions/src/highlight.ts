import hljs from 'highlight.js';

const ALIASES: Record<string, string> = {
  sh: 'bash',
  shell: 'bash',
  zsh: 'bash',
  console: 'shell',
  dockerfile: 'dockerfile',
};

/**
 * Highlights code on the server with highlight.js. The result uses `hljs-*` classes only (no inline styles),
 * so it works under a `style-src 'self'` Content-Security-Policy and follows the page's light or dark theme.
 *
 * @param code - the code
 * @param language - the fence's language (`ts`, `sh`, `yaml`…); unknown languages are escaped, not highlighted
 * @returns HTML for the inside of a `<code>` element
 * @example
 * ```ts
 * highlightCode('docker ps', 'sh'); // '<span class="hljs-built_in">docker</span> ps' (or similar)
 * ```
 */
export function highlightCode(code: string, language: string): string {
  const name = ALIASES[language] ?? language;
  if (name !== '' && hljs.getLanguage(name)) {
    return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
  }
  return escapeHtml(code);
}

/**
 * Escapes text for use in HTML text or a double-quoted attribute.
 *
 * @param text - any text
 * @returns the text with `&`, `<`, `>`, `"` and `'` escaped
 * @example
 * ```ts
 * escapeHtml('<a href="x">'); // '&lt;a href=&quot;x&quot;&gt;'
 * ```
 */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
