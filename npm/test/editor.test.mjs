// The CodeMirror 6 binding (tandem-client/codemirror) in headless Chromium: two browser contexts
// edit one document through real editors, typed with the keyboard, against a real relay that
// serves the page. They converge (typing at the same place included), each draws the other's
// caret and selection where they are, and undo takes back only the local user's typing.
// Screenshots of both windows go to npm/test-artifacts/.
//
// Uses Debian's /usr/bin/chromium through playwright-core (no browser is ever downloaded).
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { build } from 'esbuild';
import { chromium } from 'playwright-core';

import { startRelay, waitFor } from './relay.mjs';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-quic'];
const WAIT = 15_000;
const TEST = { timeout: 90_000 };
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;

/** The page: the package's browser build, CodeMirror and the binding (bundled for the test). */
const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<title>Tandem editor test</title>
<link rel="icon" href="data:,">
<style>body { font: 15px system-ui; margin: 2.5em 1em; } .cm-editor { border: 1px solid #ccc; height: 12em; }</style>
<div id="editor"></div>
<script type="module">
  import * as tandem from '/dist/tandem.min.js';
  import * as editor from '/dist/editor-test.js';
  window.start = async (url, name, docId) => {
    const session = await tandem.connect(url, { anonymous: name }, { storage: false });
    const model = await session.openOrCreate('editor-test', docId, { text: '' });
    const text = model.elementAt('text');
    window.view = new editor.EditorView({ state: editor.collaborativeState(text), parent: document.getElementById('editor') });
    Object.assign(window, { session, model, text });
    window.view.focus();
  };
</script>
`;

let www;
let relay;
let browser;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is not installed (scripts/setup.sh installs it)`);
  www = mkdtempSync(join(tmpdir(), 'tandem-editor-'));
  cpSync(new URL('../dist', import.meta.url), join(www, 'dist'), { recursive: true });
  cpSync(new URL('../wasm', import.meta.url), join(www, 'wasm'), { recursive: true });
  const entry = join(www, 'editor-entry.js');
  writeFileSync(
    entry,
    `export { EditorView } from '@codemirror/view';\nexport { collaborativeState } from ${JSON.stringify(new URL('../dist/codemirror.js', import.meta.url).pathname)};\n`,
  );
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    outfile: join(www, 'dist', 'editor-test.js'),
    nodePaths: [new URL('../node_modules', import.meta.url).pathname],
    logLevel: 'warning',
  });
  writeFileSync(join(www, 'index.html'), INDEX_HTML);
  relay = await startRelay({ env: { TANDEM_WWW_DIR: www } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await relay?.close();
  if (www) rmSync(www, { recursive: true, force: true });
});

async function editorPage(t, name, docId) {
  const context = await browser.newContext({ viewport: { width: 640, height: 320 } });
  t.after(() => context.close());
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`[${name}] page error: ${error.stack ?? error}`));
  await page.goto(`${relay.http}/`);
  await page.waitForFunction(() => typeof window.start === 'function', null, { timeout: WAIT });
  await page.evaluate(([url, n, d]) => window.start(url, n, d), [relay.url, name, docId]);
  await page.click('.cm-content');
  return page;
}

const docOf = (page) => page.evaluate(() => window.view.state.doc.toString());
const modelOf = (page) => page.evaluate(() => window.text.value());

/** Whether `small`'s characters appear in `big` in order. */
function inOrder(big, small) {
  let at = 0;
  for (const c of big) if (c === small[at]) at++;
  return at === small.length;
}

async function converged(pages) {
  let last = [];
  await waitFor(
    async () => {
      last = await Promise.all(pages.flatMap((p) => [docOf(p), modelOf(p)]));
      const settled = await Promise.all(pages.map((p) => p.evaluate(() => window.model.isSettled)));
      return settled.every(Boolean) && last.every((d) => d === last[0]);
    },
    WAIT,
    `convergence (last: ${JSON.stringify(last)})`,
  );
  return last[0];
}

test('two editors typing at once converge, show each other where they are, and undo only their own typing', TEST, async (t) => {
  const ann = await editorPage(t, 'Ann', 'shared');
  const bob = await editorPage(t, 'Bob', 'shared');

  // Both type at the same place (the empty document's start) at the same time.
  await Promise.all([ann.keyboard.type('Hello from Ann. ', { delay: 5 }), bob.keyboard.type('Bob was here! ', { delay: 5 })]);
  const text = await converged([ann, bob]);
  assert.equal(text.length, 'Hello from Ann. '.length + 'Bob was here! '.length);
  assert.ok(inOrder(text, 'Hello from Ann. ') && inOrder(text, 'Bob was here! '), text);

  // Each sees the other's caret, labelled with their name, where the other's cursor is.
  const annHead = await ann.evaluate(() => window.view.state.selection.main.head);
  await waitFor(
    async () => bob.evaluate((head) => {
      const caret = [...document.querySelectorAll('.tandem-caret')].find((c) => c.textContent === 'Ann');
      return caret !== undefined && window.view.posAtDOM(caret) === head;
    }, annHead),
    WAIT,
    "Ann's caret in Bob's editor",
  );
  await waitFor(async () => ann.evaluate(() => [...document.querySelectorAll('.tandem-caret')].some((c) => c.textContent === 'Bob')), WAIT, "Bob's caret in Ann's editor");

  // A selection is drawn over the same text.
  await ann.keyboard.press('End');
  for (let i = 0; i < 4; i++) await ann.keyboard.press('Shift+ArrowLeft');
  // Key presses reach the editor's state a moment later: wait for all four.
  await waitFor(async () => ann.evaluate(() => window.view.state.selection.main.to - window.view.state.selection.main.from === 4), WAIT, "Ann's selection");
  const selected = await ann.evaluate(() => {
    const { from, to } = window.view.state.selection.main;
    return window.view.state.sliceDoc(from, to);
  });
  await waitFor(
    async () => bob.evaluate((want) => [...document.querySelectorAll('.tandem-selection')].map((e) => { const c = e.cloneNode(true); c.querySelectorAll('.tandem-caret').forEach((x) => x.remove()); return c.textContent; }).join('') === want, selected),
    WAIT,
    "Ann's selection in Bob's editor",
  );
  await ann.screenshot({ path: join(ARTIFACTS, 'editor-ann.png') });
  await bob.screenshot({ path: join(ARTIFACTS, 'editor-bob.png') });

  // Bob types more; Ann's undo takes back only Ann's typing.
  await bob.keyboard.press('End');
  await bob.keyboard.type('More. ');
  await converged([ann, bob]);
  await ann.keyboard.press('Escape');
  await ann.keyboard.press('Control+z');
  const after = await converged([ann, bob]);
  assert.ok(!after.includes('Ann'), `Ann's typing is undone: ${after}`);
  assert.ok(inOrder(after, 'Bob was here! ') && after.includes('More.'), `Bob's stays: ${after}`);
  await ann.keyboard.press('Control+y');
  const redone = await converged([ann, bob]);
  assert.ok(inOrder(redone, 'Hello from Ann. '), `redo brings it back: ${redone}`);
});
