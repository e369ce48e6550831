// The demo in headless Chromium, the way a user meets it without a network: a reload while
// offline starts the app from its service worker and shows the document from the cache, with
// edits going out once the relay is back; a load while the relay is down is not a dead page but
// an app that says it is offline and connects on its own when the relay returns.
import assert from 'node:assert/strict';
import { existsSync as exists } from 'node:fs';
import { after, before, test } from 'node:test';

import { chromium } from '../npm/node_modules/playwright-core/index.mjs';

import { CHROMIUM, CHROMIUM_ARGS, relayText as textOn, startRelay } from './support.mjs';

const WWW = process.env.TANDEM_DEMO_DIR ?? new URL('../www/dist', import.meta.url).pathname;
const WAIT = 20_000;

let relay;
let browser;
before(async () => {
  if (!exists(`${WWW}/index.html`)) throw new Error(`${WWW} is not built (scripts/build-www.sh builds it)`);
  relay = await startRelay({ env: { TANDEM_WWW_DIR: WWW } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await relay?.close();
});

/** A context whose pages already know their name (the demo asks once per device). */
async function newContext(t) {
  const context = await browser.newContext();
  await context.addInitScript(() => localStorage.setItem('tandem-name', 'Ada'));
  t.after(() => context.close().catch(() => {}));
  return context;
}

const status = (page) => page.$eval('#status', (s) => s.dataset.state);
const editorText = (page) => page.evaluate(() => window.tandemView.state.doc.toString());

const relayText = (doc) => textOn(relay, 'demo', doc);

/** Loads the demo until its service worker controls the page and has kept the app. */
async function loadAndKeep(page, doc) {
  await page.goto(`${relay.http}/?doc=${doc}`);
  await page.waitForSelector('body[data-ready=true]', { timeout: WAIT });
  await page.waitForFunction(async () => {
    if (!navigator.serviceWorker.controller) return false;
    const cache = await caches.open('tandem-demo-v1');
    const keys = await cache.keys();
    return keys.some((r) => r.url.endsWith('.wasm')) && keys.some((r) => new URL(r.url).pathname === '/');
  }, null, { timeout: WAIT, polling: 200 });
}

test('a reload while offline starts the app from its service worker, with the cached document', { timeout: 90_000 }, async (t) => {
  const context = await newContext(t);
  const page = await context.newPage();
  await loadAndKeep(page, 'offline-reload');
  await page.click('.cm-content');
  await page.keyboard.type('online. ');
  await page.waitForFunction(() => window.tandemModel.isSettled, null, { timeout: WAIT });
  await context.setOffline(true);
  await relay.stop();
  await page.reload();
  await page.waitForSelector('body[data-ready=true]', { timeout: WAIT });
  assert.equal(await editorText(page), 'online. ', 'the document, from the cache');
  assert.notEqual(await status(page), 'connected');
  await page.click('.cm-content');
  await page.keyboard.press('End');
  await page.keyboard.type('offline.');
  await page.waitForTimeout(500); // the cache entry is written 250 ms after a change
  await relay.start();
  await context.setOffline(false);
  await page.waitForFunction(() => window.tandemSession.state === 'connected' && window.tandemModel.isSettled, null, { timeout: WAIT });
  assert.equal(await relayText('offline-reload'), 'online. offline.');
});

test('a page loaded while the relay is down says so and connects on its own when it returns', { timeout: 90_000 }, async (t) => {
  const context = await newContext(t);
  const page = await context.newPage();
  await loadAndKeep(page, 'relay-down');
  await relay.stop();
  await page.reload();
  await page.waitForSelector('body[data-ready=true]', { timeout: WAIT });
  assert.match(await page.$eval('#status', (s) => s.textContent), /offline|connecting/);
  // A document never opened on this device waits for the relay instead of failing.
  const fresh = await context.newPage();
  await fresh.goto(`${relay.http}/?doc=never-seen`);
  await fresh.waitForFunction(() => document.getElementById('status').textContent.includes('offline'), null, { timeout: WAIT });
  await relay.start();
  await page.waitForFunction(() => window.tandemSession.state === 'connected' && document.body.dataset.live === 'true', null, { timeout: WAIT });
  await fresh.waitForSelector('body[data-ready=true]', { timeout: WAIT });
  assert.equal(await status(fresh), 'connected');
});
