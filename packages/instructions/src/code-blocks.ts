import { escapeHtml, highlightCode } from './highlight.ts';

/** Fence languages that get a "run in terminal" button. */
export const SHELL_LANGUAGES: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'shell',
  'zsh',
  'console',
  'shell-session',
  'shellsession',
]);

/** What a fence's info string asks for: ` ```sh no-run no-copy `. */
export interface FenceInfo {
  /** The language, lower-cased (`''` when none). */
  language: string;
  /** Show the copy button (off with `no-copy`). */
  copy: boolean;
  /** Show the "run in terminal" button: on for shell languages, off with `no-run`, forced with `run`. */
  run: boolean;
}

/**
 * Reads a fence's info string: its first word is the language, the rest are flags (`no-copy`, `no-run`, `run`).
 * The words may also be wrapped in braces, as in ` ```sh {no-run} `.
 *
 * @param info - the text after the opening backticks
 * @returns the language and which buttons to show
 * @example
 * ```ts
 * parseFenceInfo('sh no-run'); // { language: 'sh', copy: true, run: false }
 * ```
 */
export function parseFenceInfo(info: string): FenceInfo {
  const words = info
    .trim()
    .replace(/[{}]/g, ' ')
    .split(/[\s,]+/)
    .filter((word) => word !== '');
  const language = (words[0] ?? '').toLowerCase();
  const flags = new Set(words.slice(1).map((word) => word.toLowerCase()));
  return {
    language,
    copy: !flags.has('no-copy'),
    run: !flags.has('no-run') && (flags.has('run') || SHELL_LANGUAGES.has(language)),
  };
}

/**
 * The command a shell block stands for: for `console` blocks, the lines after a `$ ` prompt; otherwise the
 * whole block without its final newline.
 *
 * @param code - the block's text
 * @param language - its language
 * @returns the command to copy or run
 * @example
 * ```ts
 * commandOf('$ docker ps\nCONTAINER ID\n', 'console'); // 'docker ps'
 * ```
 */
export function commandOf(code: string, language: string): string {
  if (language === 'console' || language === 'shell-session' || language === 'shellsession') {
    const commands = code
      .split('\n')
      .filter((line) => /^[$#] /.test(line))
      .map((line) => line.slice(2));
    if (commands.length > 0) return commands.join('\n');
  }
  return code.replace(/\n$/, '');
}

/** Per-render state the code block renderer writes into. */
export interface CodeBlockEnv {
  /** Commands of runnable blocks, indexed by the `data-block` number of their button. */
  runnable: string[];
  /** Whether the page has at least one mermaid diagram. */
  hasMermaid: boolean;
}

/**
 * Renders one fenced block: a mermaid diagram (kept as readable text until the script draws it), or
 * highlighted code with a toolbar holding the copy and "run in terminal" buttons. The buttons are `hidden`
 * until the page's script enables them, so the page reads the same without JavaScript.
 *
 * @param code - the block's text
 * @param info - the fence's info string
 * @param env - the render's state; runnable commands are appended to it
 * @returns the block's HTML
 * @example
 * ```ts
 * renderCodeBlock('ls -l\n', 'sh', { runnable: [], hasMermaid: false });
 * ```
 */
export function renderCodeBlock(code: string, info: string, env: CodeBlockEnv): string {
  const fence = parseFenceInfo(info);
  if (fence.language === 'mermaid') {
    env.hasMermaid = true;
    return `<pre class="mermaid">${escapeHtml(code)}</pre>\n`;
  }
  const buttons: string[] = [];
  const command = commandOf(code, fence.language);
  const commandAttr = command === code.replace(/\n$/, '') ? '' : ` data-command="${escapeHtml(command)}"`;
  if (fence.copy) {
    buttons.push(`<button type="button" class="dh-copy"${commandAttr} hidden="hidden">Copy</button>`);
  }
  if (fence.run) {
    env.runnable.push(command);
    buttons.push(
      `<button type="button" class="dh-run" data-block="${env.runnable.length - 1}"${commandAttr} hidden="hidden">Run in terminal</button>`,
    );
  }
  const language = escapeHtml(fence.language);
  const label = language === '' ? '' : `<span class="dh-code-lang">${language}</span>`;
  const bar =
    label === '' && buttons.length === 0 ? '' : `<div class="dh-code-bar">${label}${buttons.join('')}</div>`;
  const codeClass = language === '' ? 'hljs' : `hljs language-${language}`;
  return `<div class="dh-code">${bar}<pre><code class="${codeClass}">${highlightCode(code, fence.language)}</code></pre></div>\n`;
}
