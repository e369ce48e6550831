// What the whole-system tests share: the package under test, the relay launcher, and the
// checks every scenario ends with (every edit exactly once, read back by a fresh session).
//
// TANDEM_PACKAGE_DIR points at another build of the package and TANDEM_RELAY_BIN at another
// relay binary (to show that a test fails on an older main).
import assert from 'node:assert/strict';

/** The npm package's folder. */
export const packageDir = process.env.TANDEM_PACKAGE_DIR ?? new URL('../npm', import.meta.url).pathname;

/** The package under test (`dist/index.js`) and its Node entry (`dist/node.js`). */
export const tandem = await import(`${packageDir}/dist/index.js`);
export const tandemNode = await import(`${packageDir}/dist/node.js`);

export { sleep, startRelay, waitFor } from '../npm/test/relay.mjs';

/** The launch options of Debian's Chromium (never a downloaded browser). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'];

/** What a fresh session reads as the `text` of `collection`/`id` on `relay`. */
export async function relayText(relay, collection, id) {
  const s = await tandem.connect(relay.url, { anonymous: 'Reader' }, { storage: false });
  try {
    return (await s.open(collection, id)).elementAt('text').value();
  } finally {
    await s.disconnect();
  }
}

/** Every marker appears exactly once in `text`. */
export function assertOnce(text, markers, where) {
  for (const m of markers) {
    const count = text.split(m).length - 1;
    assert.equal(count, 1, `${where}: ${m} appears ${count} times in ${JSON.stringify(text.length > 2000 ? `${text.slice(0, 2000)}…` : text)}`);
  }
}
