import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createInstructionsServer, type InstructionsServer } from '../src/index.ts';
import { writeFixtureDocs } from './fixtures/docs.ts';

// Debian's Chromium, never a downloaded browser. If it is missing, launching fails and so does every test here.
const CHROMIUM = process.env.DOCKHAND_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const RESULTS = new URL('../test-results/', import.meta.url);

// Chromium shares the machine with the engine and the other suites: its tests wait for the page (mermaid is
// given 15 s), so the test timeout must outlast those waits rather than Vitest's 5 s default.
describe('the guide in Chromium', { timeout: 60_000 }, () => {
  let root: string;
  let server: InstructionsServer;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  const ran: string[] = [];
  const problems: string[] = [];
  let launchError: unknown;

  const open = async (path: string): Promise<Page> => {
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning')
        problems.push(`${path}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`${path}: ${error.message}`));
    await page.goto(base + path);
    return page;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dockhand-guide-'));
    await writeFixtureDocs(root);
    server = createInstructionsServer({
      root,
      variables: { IDE_URL: 'http://localhost:8443', PORT: '8080' },
      runCommand: (command) => {
        ran.push(command);
      },
    });
    base = await server.listen();
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    } catch (error) {
      launchError = error;
    }
    await mkdir(RESULTS, { recursive: true });
  }, 60_000);

  // Without a browser every test here fails (never skips).
  beforeEach(() => {
    if (launchError) throw launchError;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("finds Debian's Chromium (install it with apt-get install chromium)", () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing`).toBe(true);
  });

  it('navigates with the sidebar and the pager, marking the current section', async () => {
    const page = await open('/');
    await page.locator('.dh-sidebar a', { hasText: 'Set up your machine' }).click();
    await page.waitForURL(`${base}/setup`);
    expect(await page.locator('.dh-sidebar a[aria-current="page"]').textContent()).toBe(
      'Set up your machine',
    );
    expect(await page.locator('h1').first().textContent()).toContain('Setup');
    await page.locator('.dh-pager a[rel="next"]').click();
    await page.waitForURL(`${base}/guide/diagrams`);
    await page.locator('.dh-pager a[rel="prev"]').click();
    await page.waitForURL(`${base}/setup`);
    await page.close();
  });

  it('copies a code block to the clipboard', async () => {
    const page = await open('/setup');
    const reported = page.evaluate(
      () =>
        new Promise<string>((resolve) =>
          document.addEventListener('dockhand:copy', (event) => resolve((event as CustomEvent).detail.text), {
            once: true,
          }),
        ),
    );
    const button = page.locator('.dh-copy').first();
    await button.click();
    expect(await reported).toBe('docker run --rm hello-world');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('docker run --rm hello-world');
    expect(await button.textContent()).toBe('Copied');
    // A console block copies only the commands after the prompt.
    await page.locator('.dh-code', { hasText: 'CONTAINER ID' }).locator('.dh-copy').click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe('docker ps');
    await page.close();
  });

  it('honours no-run and no-copy, and sends "run in terminal" to the hook', async () => {
    const page = await open('/setup');
    const notRunnable = page.locator('.dh-code', { hasText: 'not runnable' });
    expect(await notRunnable.locator('.dh-copy').isVisible()).toBe(true);
    expect(await notRunnable.locator('.dh-run').count()).toBe(0);
    expect(await page.locator('.dh-code', { hasText: 'neither' }).locator('button').count()).toBe(0);
    await page.locator('.dh-run').first().click();
    await expect.poll(() => ran.at(-1)).toBe('docker run --rm hello-world');
    await expect.poll(() => page.locator('.dh-run').first().textContent()).toBe('Sent to terminal');
    await page.locator('.dh-code', { hasText: 'CONTAINER ID' }).locator('.dh-run').click();
    await expect.poll(() => ran.at(-1)).toBe('docker ps');
    await page.close();
  });

  it('draws mermaid diagrams as SVG from the bundled script', async () => {
    const page = await open('/guide/diagrams');
    const svg = page.locator('pre.mermaid svg');
    await svg.waitFor({ timeout: 15_000 });
    expect(await svg.locator('text=Browser').count()).toBeGreaterThan(0);
    await page.screenshot({ path: new URL('diagrams-light.png', RESULTS).pathname, fullPage: true });
    await page.close();
  });

  it('updates the open page when its markdown file changes, without a reload', async () => {
    const page = await open('/');
    await page.waitForFunction(() => document.querySelector('.dh-theme')?.hasAttribute('hidden') === false);
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const file = join(root, 'index.md');
    await writeFile(file, `${await readFile(file, 'utf8')}\n## Edited live\n\nFresh text.\n`);
    await page.locator('h2', { hasText: 'Edited live' }).waitFor({ timeout: 3_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
    await page.close();
  });

  it('looks right in light and dark mode, and the toggle switches', async () => {
    const light = await open('/setup');
    await light.locator('.dh-copy').first().waitFor({ state: 'visible' });
    await light.screenshot({ path: new URL('setup-light.png', RESULTS).pathname, fullPage: true });
    expect(await light.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      'rgb(255, 255, 255)',
    );
    await light.locator('.dh-theme').click();
    expect(await light.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await light.evaluate(() => getComputedStyle(document.body).backgroundColor)).not.toBe(
      'rgb(255, 255, 255)',
    );
    await light.evaluate(() => localStorage.removeItem('dockhand-theme'));
    await light.close();

    const dark = await open('/setup');
    await dark.emulateMedia({ colorScheme: 'dark' });
    await dark.reload();
    await dark.locator('.dh-copy').first().waitFor({ state: 'visible' });
    expect(await dark.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      'rgb(15, 20, 25)',
    );
    await dark.screenshot({ path: new URL('setup-dark.png', RESULTS).pathname, fullPage: true });
    await dark.goto(`${base}/guide/diagrams`);
    await dark.locator('pre.mermaid svg').waitFor({ timeout: 15_000 });
    await dark.screenshot({ path: new URL('diagrams-dark.png', RESULTS).pathname, fullPage: true });
    // the toggle wins over the system's dark preference too
    await dark.locator('.dh-theme').click();
    expect(await dark.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    expect(await dark.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
      'rgb(255, 255, 255)',
    );
    await dark.evaluate(() => localStorage.removeItem('dockhand-theme'));
    await dark.close();
  });

  it('fits a narrow screen, with the sections behind a menu that works without JavaScript', async () => {
    const narrow = await browser.newContext({
      viewport: { width: 390, height: 844 },
      javaScriptEnabled: false,
    });
    const page = await narrow.newPage();
    await page.goto(`${base}/`);
    expect(await page.locator('.dh-sidebar').isVisible()).toBe(false);
    expect(await page.locator('.dh-copy').count()).toBe(0);
    await page.screenshot({ path: new URL('index-narrow.png', RESULTS).pathname, fullPage: true });
    await page.locator('.dh-menu').click();
    expect(await page.locator('.dh-sidebar').isVisible()).toBe(true);
    await page.screenshot({ path: new URL('index-narrow-menu.png', RESULTS).pathname });
    await page.goto(`${base}/setup`);
    expect(await page.locator('h2', { hasText: 'Install Docker' }).first().isVisible()).toBe(true);
    expect(await page.locator('.dh-copy').first().isVisible()).toBe(false);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await narrow.close();
  });

  it('shows a styled 404 page', async () => {
    const page = await open('/no/such/page');
    expect(await page.locator('h1').textContent()).toBe('Page not found');
    expect(await page.locator('.dh-sidebar a').count()).toBeGreaterThan(2);
    await page.close();
    // The browser reports the 404 status itself; that one is expected.
    const expected = '/no/such/page: Failed to load resource: the server responded with a status of 404';
    problems.splice(0, problems.length, ...problems.filter((problem) => !problem.startsWith(expected)));
  });

  it('logs no console errors or CSP violations on any page', () => {
    expect(problems).toEqual([]);
  });
});
