import { describe, expect, it } from 'vitest';
import { createMarkdownRenderer } from './markdown.ts';

const render = (source: string, file = 'index.md', variables: Record<string, string> = {}) =>
  createMarkdownRenderer({ variables }).render(source, file);

describe('rendering', () => {
  it('gives headings stable GitHub-style anchors and a table of contents of levels 2 and 3', () => {
    const page = render(
      '# Title\n\n## Install `docker`!\n\n### Details\n\n## Install `docker`!\n\n#### Deep',
    );
    expect(page.html).toContain('<h2 id="install-docker">');
    expect(page.html).toContain('<h2 id="install-docker-1">');
    expect(page.toc).toEqual([
      { level: 2, text: 'Install docker!', id: 'install-docker' },
      { level: 3, text: 'Details', id: 'details' },
      { level: 2, text: 'Install docker!', id: 'install-docker-1' },
    ]);
    expect(render('## Install `docker`!').toc[0]?.id).toBe('install-docker');
  });

  it('renders GitHub alerts, tables with alignment as classes, and task lists', () => {
    const page = render(
      '> [!TIP]\n> Use tabs.\n\n| a | b |\n|:-:|--:|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n',
    );
    expect(page.html).toContain('markdown-alert markdown-alert-tip');
    expect(page.html).toContain('<th class="dh-align-center">a</th>');
    expect(page.html).toContain('<td class="dh-align-right">2</td>');
    expect(page.html).not.toContain('style=');
    expect(page.html).toMatch(
      /<input type="checkbox" disabled class="task-list-item-checkbox" checked \/> done/,
    );
    expect(page.html).toMatch(/<input type="checkbox" disabled class="task-list-item-checkbox" \/> todo/);
  });

  it('highlights code on the server with classes only', () => {
    const page = render('```ts\nconst answer: number = 42;\n```');
    expect(page.html).toContain('<code class="hljs language-ts"><span class="hljs-keyword">const</span>');
    expect(render('```nosuchlanguage\n<b>x</b>\n```').html).toContain('&lt;b&gt;x&lt;/b&gt;');
  });

  it('gives code blocks copy buttons and shell blocks run buttons, unless the fence turns them off', () => {
    const page = render(
      '```sh\ndocker ps\n```\n\n```py\nprint(1)\n```\n\n```bash no-run\necho a\n```\n\n```sh no-copy no-run\necho b\n```\n\n```py run\nprint(2)\n```\n',
    );
    const blocks = page.html.split('<div class="dh-code">').slice(1);
    expect(blocks).toHaveLength(5);
    expect(blocks[0]).toContain('class="dh-copy"');
    expect(blocks[0]).toContain('class="dh-run" data-block="0"');
    expect(blocks[1]).toContain('class="dh-copy"');
    expect(blocks[1]).not.toContain('dh-run');
    expect(blocks[2]).toContain('dh-copy');
    expect(blocks[2]).not.toContain('dh-run');
    expect(blocks[3]).not.toContain('<button');
    expect(blocks[4]).toContain('class="dh-run" data-block="1"');
    expect(page.runnable).toEqual(['docker ps', 'print(2)']);
    // The buttons stay hidden until the page's script shows them: without JavaScript the page just reads.
    expect(blocks[0]).toContain('hidden="hidden"');
  });

  it('runs and copies only the commands of a console block', () => {
    const page = render('```console\n$ docker ps\nCONTAINER ID\n$ docker images\n```');
    expect(page.runnable).toEqual(['docker ps\ndocker images']);
    expect(page.html).toContain('data-command="docker ps\ndocker images"');
  });

  it('keeps mermaid blocks as escaped text for the diagram script', () => {
    const page = render('```mermaid\ngraph TD; A-->B["<b>x</b>"]\n```');
    expect(page.hasMermaid).toBe(true);
    expect(page.html).toContain('<pre class="mermaid">graph TD; A--&gt;B["&lt;b&gt;x&lt;/b&gt;"]');
    expect(render('# no diagram').hasMermaid).toBe(false);
  });

  it('substitutes variables, leaving unknown and escaped placeholders', () => {
    const page = render(
      'Open {{ IDE_URL }} or {{PORT}}. \\{{ IDE_URL }} and {{ OTHER }}.\n\n```sh\ncurl {{ IDE_URL }}\n```',
      'index.md',
      { IDE_URL: 'http://localhost:8443', PORT: '8080' },
    );
    expect(page.html).toContain('8080');
    expect(page.html).toContain('{{ IDE_URL }} and {{ OTHER }}');
    expect(page.runnable).toEqual(['curl http://localhost:8443']);
  });

  it('drops front matter from the body', () => {
    expect(render('---\ntitle: X\n---\n# Body').html).not.toContain('title: X');
  });

  it('rewrites links between pages and resolves images relative to the page', () => {
    const page = render(
      '[a](setup.md) [b](../index.md#top) [c](./sub/page.md?x=1) [d](https://example.com/x.md) [e](#here) ![i](img/a%20b.png) <a href="other.md">raw</a> <img src="../img/x.png">',
      'guide/intro.md',
    );
    expect(page.html).toContain('href="/guide/setup"');
    expect(page.html).toContain('href="/#top"');
    expect(page.html).toContain('href="/guide/sub/page?x=1"');
    expect(page.html).toContain('href="https://example.com/x.md"');
    expect(page.html).toContain('href="#here"');
    expect(page.html).toContain('src="/guide/img/a%20b.png"');
    expect(page.html).toContain('href="/guide/other"');
    expect(page.html).toContain('src="/img/x.png"');
  });
});

describe('rendering hostile markdown', () => {
  const hostile = [
    '<script>alert("script")</script>',
    '<img src="x.png" onerror="alert(1)" onload=alert(2)>',
    '<a href="javascript:alert(1)">a</a>',
    '<a href="JaVaScRiPt:alert(1)">b</a>',
    '<a href="&#106;avascript:alert(1)">c</a>',
    '<a href=" javascript:alert(1)">d</a>',
    '[e](javascript:alert(1))',
    '[f](<javascript:alert(1)>)',
    '![g](javascript:alert(1))',
    '<a href="data:text/html,<script>alert(1)</script>">h</a>',
    '<iframe src="https://example.com"></iframe>',
    '<object data="x"></object><embed src="x">',
    '<div style="background:url(x)" onclick="alert(1)" onmouseover="alert(1)">styled</div>',
    '<svg onload="alert(1)"><script>alert(1)</script></svg>',
    '<form action="/x"><input type="text" name="q"><button formaction="javascript:alert(1)">go</button></form>',
    '<style>body{display:none}</style>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<input type="checkbox" onfocus="alert(1)" autofocus>',
    '<details open ontoggle="alert(1)"><summary>s</summary>x</details>',
  ].join('\n\n');

  it('removes scripts, event handlers, styles, frames and javascript: URLs', () => {
    const { html } = render(hostile);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/(href|src|action)="[^"]*javascript/i);
    expect(html).not.toMatch(/(href|src)="data:/i);
    expect(html).toContain('<p><a>d</a></p>');
    expect(html).not.toMatch(/<(iframe|object|embed|style|meta|base|link|form)\b/i);
    expect(html).not.toContain('style=');
    expect(html).not.toContain('autofocus');
    expect(html).not.toContain('alert("script")');
    // What is harmless stays.
    expect(html).toContain('styled');
    expect(html).toContain('<details open><summary>s</summary>x</details>');
    expect(html).toContain('<input type="checkbox" disabled />');
  });

  it('does not let a variable value inject a script', () => {
    const { html } = render('Hi {{ NAME }}', 'index.md', {
      NAME: '<img src=x onerror=alert(1)><script>x()</script>',
    });
    expect(html).not.toMatch(/<script|onerror/i);
  });
});
