// Shared by the end-to-end tests: starts the real `deconflict` binary on a
// free port with a fresh data folder, and a headless Debian chromium driven
// by playwright-core.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const screenshots = resolve(here, '../screenshots');
export const bin = resolve(repo, process.env.DECONFLICT_BIN || 'target/release/deconflict');
export const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/// Starts `deconflict serve` and waits until /healthy answers.
export async function startServer(extraArgs = []) {
  if (!existsSync(bin)) throw new Error(`no binary at ${bin} (set DECONFLICT_BIN or build it)`);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'deconflict-e2e-'));
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`deconflict exited (${proc.exitCode}):\n${log}`);
    try {
      const r = await fetch(`${url}/healthy`);
      if (r.ok) break;
    } catch {
      /* not yet listening */
    }
    if (Date.now() > deadline) throw new Error(`deconflict did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    log: () => log,
    async token(sub) {
      const r = await fetch(`${url}/v1/dev/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sub }),
      });
      if (!r.ok) throw new Error(`dev token: ${r.status} ${await r.text()}`);
      return (await r.json()).token;
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launch() {
  return chromium.launch({
    executablePath: browserPath,
    headless: true,
    // Root in a container: no sandbox. SwiftShader gives WebGL-free canvas a GPU-less path.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/// A page in its own context (own localStorage: one party per page).
export async function newPage(browser, url) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  // Which request a "Failed to load resource" console line was about.
  page.on('response', (r) => {
    if (r.status() >= 400) console.error('[http]', r.status(), r.request().method(), r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error') console.error('[console]', m.text());
  });
  await page.goto(url);
  return page;
}

export async function signInDev(page, party) {
  await page.waitForSelector('#dev-signin:not([hidden])');
  await page.fill('#dev-party', party);
  await page.click('#dev-token');
  await page.waitForFunction((p) => document.querySelector('#whoami')?.textContent === p, party);
}

export async function shot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`) });
}

/// Clicks the map at a position (the map must show it).
export async function clickAt(page, lng, lat, opts = {}) {
  const [x, y] = await page.evaluate(([a, b]) => window.deconflict.pixelOf(a, b), [lng, lat]);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + x, box.y + y, opts);
}

/// Draws a polygon with the map's drawing tool, closing it on its first vertex.
export async function drawPolygon(page, ring) {
  await page.click('[data-testid=draw-polygon]');
  for (const [lng, lat] of ring) {
    await clickAt(page, lng, lat);
    await page.waitForTimeout(80); // not a double click
  }
  await clickAt(page, ring[0][0], ring[0][1]);
}

export const square = (lng, lat, d) => [
  [lng - d, lat - d],
  [lng + d, lat - d],
  [lng + d, lat + d],
  [lng - d, lat + d],
];

/// Waits for the declare panel's message to match; fails with what it says.
export async function waitMessage(page, re, timeout = 15_000) {
  try {
    await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('[data-testid=declare-message]').textContent), re.source, { timeout });
  } catch (e) {
    const said = await page.textContent('[data-testid=declare-message]');
    throw new Error(`declare message ${JSON.stringify(said)} does not match ${re}`);
  }
}

/// A server (`startServer(extraArgs)`) and a browser for the tests of one
/// file: started before them, stopped after. Read them from the returned
/// object inside the tests.
export function serverAndBrowser(extraArgs = []) {
  const ctx = { server: null, browser: null };
  before(async () => {
    ctx.server = await startServer(extraArgs);
    ctx.browser = await launch();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}
