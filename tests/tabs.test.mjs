// Whole-system tests in a real browser: several tabs of one browser (one origin, one IndexedDB
// cache) on one document, online and offline, with reloads and a tab that crashes with unsent
// edits, and under a flapping network. Every edit must reach the relay exactly once and every
// tab must converge.
//
// Headless Debian Chromium through playwright-core; the relay serves the page, the package's
// browser build and its wasm (same origin).
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from '../npm/node_modules/playwright-core/index.mjs';

import { CHROMIUM, CHROMIUM_ARGS, assertOnce, packageDir, relayText as textOn, sleep, startRelay, waitFor } from './support.mjs';

const WAIT = 20_000;

// Each tab opens the document and exposes it; typing goes through the package's API.
const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<title>tabs</title>
<link rel="icon" href="data:,">
<script type="module">
  import * as tandem from '/dist/tandem.min.js';
  const session = await tandem.createSession('ws://' + location.host + '/ws', { anonymous: 'Tab' }, {
    heartbeatInterval: 500, heartbeatTimeout: 2000, reconnect: { initialDelay: 50, maxDelay: 300 },
  });
  window.session = session;
  window.ready = session.openOrCreate('tabs', new URLSearchParams(location.search).get('doc'), { text: '' })
    .then((model) => { window.model = model; });
</script>
`;

let www;
let relay;
let browser;
before(async () => {
  www = mkdtempSync(join(tmpdir(), 'tandem-tabs-'));
  cpSync(join(packageDir, 'dist'), join(www, 'dist'), { recursive: true });
  cpSync(join(packageDir, 'wasm'), join(www, 'wasm'), { recursive: true });
  writeFileSync(join(www, 'index.html'), INDEX_HTML);
  relay = await startRelay({ env: { TANDEM_WWW_DIR: www } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await relay?.close();
  if (www) rmSync(www, { recursive: true, force: true });
});

async function openTab(context, doc, label) {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[${label}] page error: ${error.stack ?? error}`));
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('ERR_INTERNET_DISCONNECTED') && console.log(`[${label}] ${m.text()}`));
  await page.goto(`${relay.http}/?doc=${doc}`);
  await page.waitForFunction(() => window.model !== undefined, null, { timeout: WAIT });
  return page;
}

const type = (page, marker) =>
  page.evaluate((m) => {
    const text = window.model.elementAt('text');
    text.insert(text.length, m);
  }, marker);
const textOf = (page) => page.evaluate(() => window.model.elementAt('text').value());
const settledTab = (page) => page.waitForFunction(() => window.model.isSettled && window.model.isOnline, null, { timeout: WAIT });

const relayText = (doc) => textOn(relay, 'tabs', doc);

for (const tabs of [2, 4]) {
  test(`${tabs} tabs of one browser on one document: online, offline, a tab crashed with unsent edits, reloads`, { timeout: 120_000 }, async () => {
    const doc = `doc${tabs}`;
    const context = await browser.newContext();
    try {
      const pages = [];
      for (let i = 0; i < tabs; i++) pages.push(await openTab(context, doc, `tab ${i}`));
      const markers = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < tabs; i++) {
          const m = `<t${i}r${round}>`;
          markers.push(m);
          await type(pages[i], m);
        }
      }
      for (const page of pages) await settledTab(page);
      // Offline: every tab edits; the last tab then crashes with its edit still unsent.
      await context.setOffline(true);
      await relay.stop();
      for (const page of pages) await page.waitForFunction(() => !window.model.isOnline, null, { timeout: WAIT });
      for (let i = 0; i < tabs; i++) {
        const m = `<t${i}offline>`;
        markers.push(m);
        await type(pages[i], m);
      }
      await sleep(600); // the cache entries are written 250 ms after a change
      // The last tab crashes (its renderer dies: no unload, no last write, its locks go).
      const crashed = pages.pop();
      const cdp = await context.newCDPSession(crashed);
      const dead = crashed.waitForEvent('crash', { timeout: WAIT });
      void cdp.send('Page.crash').catch(() => {});
      await dead;
      await crashed.close();
      await relay.start();
      await context.setOffline(false);
      for (const page of pages) await settledTab(page);
      // The crashed tab's edit is in its cache entry: a tab still open sends it on its own (it
      // waited on the crashed tab's lock), before anyone opens the document again.
      const crashedMarker = `<t${tabs - 1}offline>`;
      await waitFor(async () => (await relayText(doc)).includes(crashedMarker), WAIT, 'the crashed tab\'s edit');
      pages.push(await openTab(context, doc, 'reopened'));
      await reloadAll(pages.slice(0, 1));
      for (const page of pages) await settledTab(page);
      const truth = await relayText(doc);
      assertOnce(truth, markers, 'relay');
      for (const [i, page] of pages.entries()) {
        await page.waitForFunction((t) => window.model.elementAt('text').value() === t, truth, { timeout: WAIT });
        assertOnce(await textOf(page), markers, `tab ${i}`);
      }
    } finally {
      await context.close();
    }
  });
}

async function reloadAll(pages) {
  for (const page of pages) {
    await page.reload();
    await page.waitForFunction(() => window.model !== undefined, null, { timeout: WAIT });
  }
}

test('the network flaps every few hundred ms for 30 s while three tabs type: every keystroke lands once', { timeout: 120_000 }, async () => {
  const doc = 'flapping';
  const context = await browser.newContext();
  try {
    const pages = [];
    for (let i = 0; i < 3; i++) pages.push(await openTab(context, doc, `flap ${i}`));
    // Each tab types its own markers on a timer, whatever the network does.
    await Promise.all(
      pages.map((page, i) =>
        page.evaluate((tab) => {
          window.typed = [];
          let n = 0;
          window.typer = setInterval(() => {
            const marker = `<${tab}.${n++}>`;
            window.typed.push(marker);
            const text = window.model.elementAt('text');
            text.insert(text.length, marker);
          }, 40);
        }, i),
      ),
    );
    const until = Date.now() + 30_000;
    let offline = false;
    let flaps = 0;
    while (Date.now() < until) {
      offline = !offline;
      flaps++;
      await context.setOffline(offline);
      await sleep(150 + Math.floor(Math.random() * 350));
    }
    await context.setOffline(false);
    const markers = [];
    for (const page of pages) {
      await page.evaluate(() => clearInterval(window.typer));
      markers.push(...(await page.evaluate(() => window.typed)));
    }
    for (const page of pages) await settledTab(page);
    const truth = await relayText(doc);
    console.log(`${flaps} flaps, ${markers.length} markers typed`);
    assertOnce(truth, markers, 'relay');
    for (const page of pages) {
      await page.waitForFunction((t) => window.model.elementAt('text').value() === t, truth, { timeout: WAIT });
    }
  } finally {
    await context.close();
  }
});
