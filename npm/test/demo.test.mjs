// The demo (www/, built by scripts/build-www.sh into www/dist) in headless Chromium, served by a
// real relay started here: two browser contexts on one document type at once and converge, see
// each other's caret and selection, chat, and list each other as present until one goes; the
// task list merges concurrent adds, moves and checks; the history slider shows an earlier
// version; a context taken offline keeps editing and delivers its edits when back. Screenshots
// of the two windows go to npm/test-artifacts/ (docs/demo.png, in the README, is demo-readme.png).
//
// Uses Debian's /usr/bin/chromium through playwright-core (no browser is ever downloaded).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { startRelay, waitFor } from './relay.mjs';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-quic'];
const WWW = new URL('../../www/dist', import.meta.url).pathname;
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
const WAIT = 15_000;
const TEST = { timeout: 120_000 };

let relay;
let browser;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed (scripts/setup.sh installs it)`);
  if (!existsSync(join(WWW, 'index.html'))) throw new Error(`${WWW} is not built (scripts/build-www.sh builds it)`);
  relay = await startRelay({ env: { TANDEM_WWW_DIR: WWW } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await relay?.close();
});

/** Opens the demo on `doc` in a fresh context as `name`; returns the page and its context. */
async function open(t, name, doc, viewport = { width: 1100, height: 720 }) {
  const context = await browser.newContext({ viewport });
  t.after(() => context.close().catch(() => {}));
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[${name}] page error: ${error.stack ?? error}`));
  await page.goto(`${relay.http}/?doc=${encodeURIComponent(doc)}`);
  await page.fill('#name', name);
  await page.click('#welcome button[type=submit]');
  await page.waitForSelector('body[data-ready=true]', { timeout: WAIT });
  return { page, context };
}

const textOf = (page) => page.evaluate(() => window.tandemView.state.doc.toString());
const people = (page) => page.$$eval('#people li .who', (items) => items.map((i) => i.textContent));

async function converged(pages, what = 'the texts to converge') {
  let last = [];
  await waitFor(
    async () => {
      last = await Promise.all(pages.map(textOf));
      const settled = await Promise.all(pages.map((p) => p.evaluate(() => window.tandemModel.isSettled)));
      return settled.every(Boolean) && last.every((t) => t === last[0]);
    },
    WAIT,
    `${what} (last: ${JSON.stringify(last)})`,
  );
  return last[0];
}

function inOrder(big, small) {
  let at = 0;
  for (const c of big) if (c === small[at]) at++;
  return at === small.length;
}

test('two people edit, see each other, chat, and leave', TEST, async (t) => {
  const doc = `together-${Date.now()}`;
  const ann = await open(t, 'Ann', doc);
  const bob = await open(t, 'Bob', doc);
  await waitFor(async () => (await people(ann.page)).length === 2 && (await people(bob.page)).length === 2, WAIT, 'both listed');
  assert.deepEqual((await people(ann.page)).sort(), ['Ann (you)', 'Bob']);

  // Both type at the same place at once.
  await ann.page.click('.cm-content');
  await bob.page.click('.cm-content');
  await Promise.all([
    ann.page.keyboard.type('Ann writes the opening line. ', { delay: 10 }),
    bob.page.keyboard.type('Bob adds a thought. ', { delay: 10 }),
  ]);
  const text = await converged([ann.page, bob.page]);
  assert.ok(inOrder(text, 'Ann writes the opening line. ') && inOrder(text, 'Bob adds a thought. '), text);

  // Each sees the other's caret where it is; a selection is highlighted for the other.
  const annHead = await ann.page.evaluate(() => window.tandemView.state.selection.main.head);
  await waitFor(
    async () =>
      bob.page.evaluate((head) => {
        const caret = [...document.querySelectorAll('.tandem-caret')].find((c) => c.textContent === 'Ann');
        return caret !== undefined && window.tandemView.posAtDOM(caret) === head;
      }, annHead),
    WAIT,
    "Ann's caret at her position in Bob's editor",
  );
  const bobHead = await bob.page.evaluate(() => window.tandemView.state.selection.main.head);
  await waitFor(
    async () =>
      ann.page.evaluate((head) => {
        const caret = [...document.querySelectorAll('.tandem-caret')].find((c) => c.textContent === 'Bob');
        return caret !== undefined && window.tandemView.posAtDOM(caret) === head;
      }, bobHead),
    WAIT,
    "Bob's caret at his position in Ann's editor",
  );
  for (let i = 0; i < 5; i++) await ann.page.keyboard.press('Shift+ArrowLeft');
  // Key presses reach the editor's state a moment later: wait for all of them.
  const selectionOf = (page, length) =>
    waitFor(
      async () => page.evaluate((n) => window.tandemView.state.selection.main.to - window.tandemView.state.selection.main.from === n, length),
      WAIT,
      'the selection',
    );
  await selectionOf(ann.page, 5);
  const selected = await ann.page.evaluate(() => {
    const { from, to } = window.tandemView.state.selection.main;
    return window.tandemView.state.sliceDoc(from, to);
  });
  await waitFor(
    async () => bob.page.evaluate((want) => [...document.querySelectorAll('.tandem-selection')].map((e) => { const c = e.cloneNode(true); c.querySelectorAll('.tandem-caret').forEach((x) => x.remove()); return c.textContent; }).join('') === want, selected),
    WAIT,
    "Ann's selection in Bob's editor",
  );

  // And the other way round.
  await bob.page.keyboard.press('Home');
  for (let i = 0; i < 3; i++) await bob.page.keyboard.press('Shift+ArrowRight');
  await selectionOf(bob.page, 3);
  const bobSelected = await bob.page.evaluate(() => {
    const { from, to } = window.tandemView.state.selection.main;
    return window.tandemView.state.sliceDoc(from, to);
  });
  await waitFor(
    async () => ann.page.evaluate((want) => [...document.querySelectorAll('.tandem-selection')].map((e) => { const c = e.cloneNode(true); c.querySelectorAll('.tandem-caret').forEach((x) => x.remove()); return c.textContent; }).join('') === want, bobSelected),
    WAIT,
    "Bob's selection in Ann's editor",
  );

  // Chat messages arrive, and "typing…" shows while someone types.
  await ann.page.fill('#chat-text', 'Hello Bob, welcome!');
  await ann.page.press('#chat-text', 'Enter');
  await waitFor(async () => (await bob.page.textContent('#messages')).includes('Hello Bob, welcome!'), WAIT, 'the chat message');
  await bob.page.click('.cm-content');
  await bob.page.keyboard.press('End');
  await bob.page.keyboard.type(' More', { delay: 30 });
  await waitFor(async () => (await ann.page.textContent('#people')).includes('typing…'), WAIT, '"typing…"');

  await ann.page.screenshot({ path: join(ARTIFACTS, 'demo-ann.png') });
  await bob.page.screenshot({ path: join(ARTIFACTS, 'demo-bob.png') });

  // At a phone's width everything stacks, nothing scrolls sideways.
  await ann.page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await ann.page.evaluate(() => document.scrollingElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
  await ann.page.screenshot({ path: join(ARTIFACTS, 'demo-phone.png'), fullPage: true });
  await ann.page.setViewportSize({ width: 1100, height: 720 });

  // Bob closes his window: he leaves Ann's list.
  await bob.context.close();
  await waitFor(async () => (await people(ann.page)).length === 1, WAIT, 'Bob gone from the list');
});

test('a working session, pictured for the README', TEST, async (t) => {
  const doc = `notes-${Date.now()}`;
  const ann = await open(t, 'Ann', doc);
  const bob = await open(t, 'Bob', doc);
  await ann.page.click('.cm-content');
  await ann.page.keyboard.type('Launch plan\n\nWe ship the beta on Friday. Docs and demo are ready; the relay runs on two machines.\n');
  await converged([ann.page, bob.page]);
  await bob.page.click('.cm-content');
  await bob.page.keyboard.press('Control+End');
  await bob.page.keyboard.type('Open question: who writes the announcement?');
  await converged([ann.page, bob.page]);
  await ann.page.fill('#chat-text', 'I can take the announcement.');
  await ann.page.press('#chat-text', 'Enter');
  await bob.page.fill('#chat-text', 'Great, thanks!');
  await bob.page.press('#chat-text', 'Enter');
  // Ann selects "Friday" (Bob sees it highlighted under her name).
  const at = (await textOf(ann.page)).indexOf('Friday');
  await ann.page.evaluate((from) => window.tandemView.dispatch({ selection: { anchor: from, head: from + 6 } }), at);
  await waitFor(async () => (await bob.page.textContent('#messages')).includes('Great, thanks!'), WAIT, 'the chat');
  await waitFor(
    async () => bob.page.evaluate(() => [...document.querySelectorAll('.tandem-selection')].map((e) => { const c = e.cloneNode(true); c.querySelectorAll('.tandem-caret').forEach((x) => x.remove()); return c.textContent; }).join('') === 'Friday'),
    WAIT,
    "Ann's selection",
  );
  await bob.page.screenshot({ path: join(ARTIFACTS, 'demo-readme.png') });
});

test('the task list merges concurrent adds, moves and checks', TEST, async (t) => {
  const doc = `tasks-${Date.now()}`;
  const ann = await open(t, 'Ann', doc);
  const bob = await open(t, 'Bob', doc);
  for (const { page } of [ann, bob]) await page.click('[data-tab=tasks]');
  const add = async (page, title) => {
    await page.fill('#task-title', title);
    await page.press('#task-title', 'Enter');
  };
  await Promise.all([add(ann.page, 'Write the docs'), add(bob.page, 'Fix the bug')]);
  await Promise.all([add(ann.page, 'Ship it'), add(bob.page, 'Celebrate')]);
  const json = (page) => page.textContent('#tasks-json');
  await waitFor(async () => JSON.parse(await json(ann.page)).length === 4 && (await json(ann.page)) === (await json(bob.page)), WAIT, 'four tasks on both');

  // At once: Ann checks the first task, Bob moves the last one to the top, Ann renames one.
  await Promise.all([
    ann.page.click('#tasks li:nth-child(1) input[type=checkbox]'),
    (async () => {
      for (let i = 0; i < 3; i++) await bob.page.click('#tasks li:nth-child(' + (4 - i) + ') button[title="Move up"]');
    })(),
  ]);
  await ann.page.fill('#tasks li:nth-child(2) .title', 'Renamed by Ann');
  await ann.page.press('#tasks li:nth-child(2) .title', 'Enter');
  await waitFor(async () => (await json(ann.page)) === (await json(bob.page)) && (await json(ann.page)).includes('Renamed by Ann'), WAIT, 'the lists to converge');
  const tasks = JSON.parse(await json(bob.page));
  assert.equal(tasks.length, 4);
  assert.equal(tasks.filter((task) => task.done).length, 1, 'one checked');
  assert.equal(new Set(tasks.map((task) => task.title)).size, 4, 'nothing lost or duplicated');
});

test('the history slider shows an earlier version', TEST, async (t) => {
  const doc = `history-${Date.now()}`;
  const ann = await open(t, 'Ann', doc);
  await ann.page.click('.cm-content');
  await ann.page.keyboard.type('First draft.');
  await converged([ann.page]);
  const early = await ann.page.evaluate(() => window.tandemModel.version);
  await ann.page.keyboard.type(' Then more words.');
  await converged([ann.page]);
  await ann.page.evaluate((version) => {
    const slider = document.getElementById('history-slider');
    slider.value = String(version);
    slider.dispatchEvent(new Event('input'));
  }, early);
  await waitFor(async () => (await ann.page.textContent('#history-view')) === 'First draft.', WAIT, 'the earlier text');
  assert.match(await ann.page.textContent('#history-label'), /Ann/);
  await ann.page.evaluate(() => {
    const slider = document.getElementById('history-slider');
    slider.value = slider.max;
    slider.dispatchEvent(new Event('input'));
  });
  await waitFor(async () => ann.page.isHidden('#history-view'), WAIT, 'back to now');
});

test('a window taken offline keeps editing and delivers its edits when back', TEST, async (t) => {
  const doc = `offline-${Date.now()}`;
  const ann = await open(t, 'Ann', doc);
  const bob = await open(t, 'Bob', doc);
  await bob.page.click('.cm-content');
  await bob.page.keyboard.type('Online. ');
  await converged([ann.page, bob.page]);
  await bob.context.setOffline(true);
  await bob.page.keyboard.type('Written offline.');
  await waitFor(async () => (await bob.page.textContent('#status')) !== 'online', 30_000, 'Bob sees he is offline');
  assert.ok(!(await textOf(ann.page)).includes('Written offline.'));
  await bob.context.setOffline(false);
  await waitFor(async () => (await textOf(ann.page)).includes('Written offline.'), 30_000, 'the offline edits arriving');
  await converged([ann.page, bob.page]);
});
