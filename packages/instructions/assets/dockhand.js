// @dockhand/instructions page script: copy and "run in terminal" buttons, the theme toggle, mermaid diagrams
// and live reload. Everything here is an enhancement: the page reads the same without it.
(() => {
  const INTERNAL = '/_dockhand/';
  const html = document.documentElement;
  const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');

  const isDark = () => (html.dataset.theme ? html.dataset.theme === 'dark' : darkQuery.matches);

  const say = (button, text) => {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    clearTimeout(button.dhTimer);
    button.dhTimer = setTimeout(() => {
      button.textContent = button.dataset.label;
    }, 2000);
  };

  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'dh-offscreen';
      document.body.append(area);
      area.select();
      let done = false;
      try {
        done = document.execCommand('copy');
      } catch {
        done = false;
      }
      area.remove();
      return done;
    }
  };

  const commandOf = (button) => {
    if (button.dataset.command !== undefined) return button.dataset.command;
    const code = button.closest('.dh-code')?.querySelector('code');
    return (code?.textContent ?? '').replace(/\n$/, '');
  };

  const report = (type, detail) => document.dispatchEvent(new CustomEvent(`dockhand:${type}`, { detail }));

  const onCopy = async (button) => {
    const text = commandOf(button);
    const done = await copyText(text);
    say(button, done ? 'Copied' : 'Copy failed');
    report('copy', { text, done });
  };

  const onRun = async (button) => {
    const command = commandOf(button);
    if (document.body.dataset.run === 'hook') {
      let done = false;
      try {
        const response = await fetch(`${INTERNAL}run`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ page: location.pathname, block: Number(button.dataset.block) }),
        });
        done = response.ok;
      } catch {
        done = false;
      }
      say(button, done ? 'Sent to terminal' : 'Could not run');
      report('run', { command, done, via: 'hook' });
      return;
    }
    const done = await copyText(command);
    say(button, done ? 'Copied, paste it in your terminal' : 'Copy failed');
    report('run', { command, done, via: 'clipboard' });
  };

  let mermaidScript;
  const loadMermaid = () => {
    mermaidScript ??= new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = `${INTERNAL}mermaid.min.js`;
      script.addEventListener('load', () => resolve(window.mermaid));
      script.addEventListener('error', reject);
      document.head.append(script);
    });
    return mermaidScript;
  };

  const drawDiagrams = async (scope) => {
    const blocks = [...scope.querySelectorAll('pre.mermaid')];
    if (blocks.length === 0) return;
    const mermaid = await loadMermaid();
    mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: isDark() ? 'dark' : 'default' });
    for (const block of blocks) {
      if (block.dataset.source === undefined) block.dataset.source = block.textContent;
      block.removeAttribute('data-processed');
      block.textContent = block.dataset.source;
    }
    try {
      await mermaid.run({ nodes: blocks });
    } catch (error) {
      report('mermaid-error', { message: String(error) });
    }
  };

  const enhance = (scope) => {
    for (const button of scope.querySelectorAll('.dh-copy, .dh-run')) button.hidden = false;
    return drawDiagrams(scope);
  };

  document.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('button') : null;
    if (!button) return;
    if (button.classList.contains('dh-copy')) void onCopy(button);
    else if (button.classList.contains('dh-run')) void onRun(button);
    else if (button.classList.contains('dh-theme')) {
      html.dataset.theme = isDark() ? 'light' : 'dark';
      try {
        localStorage.setItem('dockhand-theme', html.dataset.theme);
      } catch {
        // Not saved; the choice lasts for this page.
      }
      void drawDiagrams(document);
    }
  });
  darkQuery.addEventListener('change', () => {
    if (!html.dataset.theme) void drawDiagrams(document);
  });

  let refreshing = Promise.resolve();
  const refresh = async () => {
    const response = await fetch(location.pathname + location.search, { cache: 'no-store' });
    const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
    const fresh = doc.querySelector('.dh-layout');
    const current = document.querySelector('.dh-layout');
    if (!fresh || !current) return;
    document.title = doc.title;
    const brand = doc.querySelector('.dh-brand');
    if (brand) document.querySelector('.dh-brand')?.replaceWith(document.adoptNode(brand));
    const adopted = document.adoptNode(fresh);
    current.replaceWith(adopted);
    await enhance(adopted);
    report('reload', { status: response.status });
  };

  const start = () => {
    const theme = document.querySelector('.dh-theme');
    if (theme) theme.hidden = false;
    void enhance(document).then(() => report('ready', {}));
    if (document.body.dataset.live === 'on' && 'EventSource' in window) {
      const events = new EventSource(`${INTERNAL}events`);
      events.addEventListener('change', () => {
        refreshing = refreshing.then(refresh).catch(() => location.reload());
      });
    }
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
