// Whole-system tests: every way a real client lives, against a real relay, through the built npm
// package. Each scenario checks that every edit appears exactly once on the relay (read back by a
// fresh session) and in every client, and that everyone converges.
//
// Run after `scripts/build-wasm.sh` and `cargo build -p tandem-relay` (the test command does).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { assertOnce, relayText as textOn, sleep, startRelay, tandem, tandemNode, waitFor } from './support.mjs';

const { connect } = tandem;
const { FileStorage } = tandemNode;

let relay;
const sessions = new Set();
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await Promise.all([...sessions].map((s) => s.disconnect().catch(() => {})));
  await relay?.close();
});

const fast = { heartbeatInterval: 200, heartbeatTimeout: 1500, reconnect: { initialDelay: 50, maxDelay: 200 } };

async function open(auth, options = {}) {
  const s = await connect(relay.url, auth, { storage: false, ...fast, ...options });
  sessions.add(s);
  return s;
}

/** What a fresh session reads from the relay. */
const relayText = (collection, id) => textOn(relay, collection, id);

async function settled(model, what) {
  await waitFor(() => model.isSettled, 10_000, `${what} settled`);
}

test('close and reopen in one session: the edits after reopening reach the relay', async () => {
  const a = await open({ anonymous: 'Ada' });
  let m = await a.openOrCreate('life', 'reopen', { text: '' });
  const markers = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5; i++) {
      const marker = `<r${round}.${i}>`;
      markers.push(marker);
      m.elementAt('text').insert(m.elementAt('text').length, marker);
    }
    await settled(m, `round ${round}`);
    await m.close();
    m = await a.open('life', 'reopen');
    assertOnce(m.elementAt('text').value(), markers, `reopened after round ${round}`);
  }
  assertOnce(await relayText('life', 'reopen'), markers, 'relay');
});

test('a session resumed by its token, without a cached copy, sends its edits', async () => {
  const a = await open({ anonymous: 'Ada' });
  const m = await a.openOrCreate('life', 'resume', { text: '' });
  m.elementAt('text').insert(0, '<first>');
  await settled(m, 'first');
  const token = a.reconnectToken;
  await a.disconnect();
  const b = await open({ reconnectToken: token });
  const mb = await b.open('life', 'resume');
  mb.elementAt('text').insert(mb.elementAt('text').length, '<second>');
  await settled(mb, 'second');
  assertOnce(await relayText('life', 'resume'), ['<first>', '<second>'], 'relay');
});

test('two sessions resumed from one token edit one model: nothing of either is missing', async () => {
  const a = await open({ anonymous: 'Ada' });
  await a.openOrCreate('life', 'twins', { text: '', items: [] });
  const token = a.reconnectToken;
  await a.disconnect();
  const b = await open({ reconnectToken: token });
  const c = await open({ reconnectToken: token });
  const mb = await b.open('life', 'twins');
  const mc = await c.open('life', 'twins');
  const markers = [];
  for (let i = 0; i < 10; i++) {
    markers.push(`<b${i}>`, `<c${i}>`);
    mb.elementAt('text').insert(0, `<b${i}>`);
    mc.elementAt('text').insert(0, `<c${i}>`);
    // New elements too: their ids must not collide between the two.
    mb.elementAt('items').push({ by: 'b', i });
    mc.elementAt('items').push({ by: 'c', i });
    await sleep(5);
  }
  await settled(mb, 'b');
  await settled(mc, 'c');
  await waitFor(() => mb.elementAt('text').value() === mc.elementAt('text').value(), 5000, 'b and c converge');
  assertOnce(await relayText('life', 'twins'), markers, 'relay');
  assert.equal(mb.elementAt('items').length, 20);
  assert.deepEqual(mb.elementAt('items').value(), mc.elementAt('items').value());
});

test('two sessions restore one cached offline edit: the relay has it once', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'tandem-cache-'));
  try {
    const a = await open({ anonymous: 'Ada' }, { storage: new FileStorage(directory) });
    const m = await a.openOrCreate('life', 'shared-cache', { text: '' });
    await settled(m, 'created');
    // Offline: the relay is unreachable, the edit stays in the cache.
    await relay.stop();
    m.elementAt('text').insert(0, '<offline>');
    await a.persist();
    await a.disconnect();
    await relay.start();
    // Two sessions (two processes sharing one cache directory) restore the same entry.
    const b = await open({ anonymous: 'Ada' }, { storage: new FileStorage(directory) });
    const c = await open({ anonymous: 'Ada' }, { storage: new FileStorage(directory) });
    const [mb, mc] = await Promise.all([b.open('life', 'shared-cache'), c.open('life', 'shared-cache')]);
    mb.elementAt('text').insert(0, '<b>');
    mc.elementAt('text').insert(0, '<c>');
    await settled(mb, 'b');
    await settled(mc, 'c');
    await waitFor(() => mb.elementAt('text').value() === mc.elementAt('text').value(), 5000, 'converge');
    const text = await relayText('life', 'shared-cache');
    assertOnce(text, ['<offline>', '<b>', '<c>'], 'relay');
    assertOnce(mb.elementAt('text').value(), ['<offline>', '<b>', '<c>'], 'b');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a client whose clock is 10 minutes behind sees the latest version and the relay time', async () => {
  const a = await open({ anonymous: 'Ada' });
  const m = await a.openOrCreate('life', 'clock', { text: '' });
  for (let i = 0; i < 5; i++) {
    m.elementAt('text').insert(0, `${i}`);
    await settled(m, `edit ${i}`);
  }
  const realNow = Date.now;
  try {
    Date.now = () => realNow() - 10 * 60_000;
    const b = await open({ anonymous: 'Bob' });
    const history = await b.history('life', 'clock');
    assert.equal(history.maxVersion, 5, 'the latest version, by the relay');
    assert.equal(history.data.text, '43210');
    const skew = b.serverTime() - Date.now();
    assert.ok(Math.abs(skew - 10 * 60_000) < 5_000, `serverTime() is the relay's clock (skew ${skew} ms)`);
  } finally {
    Date.now = realNow;
  }
});

test('a frozen relay (a stalled socket) shows as offline with the default heartbeat', async () => {
  const a = await connect(relay.url, { anonymous: 'Ada' }, { storage: false, reconnect: { initialDelay: 50, maxDelay: 200 } });
  sessions.add(a);
  const m = await a.openOrCreate('life', 'frozen', { text: '' });
  relay.child.kill('SIGSTOP');
  const stalled = Date.now();
  try {
    m.elementAt('text').insert(0, '<while frozen>');
    // The default heartbeat gives up within 2.5 s of silence; 5 s leaves room for a loaded
    // machine (the figure itself is a benchmark: tests/bench/figures.mjs).
    await waitFor(() => a.state !== 'connected', 5_000, 'the session to notice');
    assert.equal(m.isOnline, false);
  } finally {
    relay.child.kill('SIGCONT');
  }
  console.log(`offline shown ${Date.now() - stalled} ms after the relay froze`);
  await settled(m, 'after the thaw');
  assertOnce(await relayText('life', 'frozen'), ['<while frozen>'], 'relay');
});

test('each model says honestly where it stands: synced, pending with a count, offline, error', async () => {
  const a = await open({ anonymous: 'Ada' });
  const m = await a.openOrCreate('life', 'state', { text: '' });
  const seen = [];
  m.on('sync', (e) => seen.push(`${e.state}:${e.pending}`));
  await settled(m, 'opened');
  assert.equal(m.syncState, 'synced');
  relay.child.kill('SIGSTOP');
  try {
    m.elementAt('text').insert(0, 'a');
    a.flush();
    assert.equal(m.syncState, 'pending');
    assert.equal(m.pendingCount, 1);
    await waitFor(() => m.syncState === 'offline', 5_000, 'offline');
    m.elementAt('text').insert(0, 'b');
    assert.ok(m.pendingCount >= 1);
  } finally {
    relay.child.kill('SIGCONT');
  }
  await waitFor(() => m.syncState === 'synced', 10_000, 'synced again');
  assert.equal(m.pendingCount, 0);
  assert.ok(seen.includes('synced:0') && seen.some((s) => s.startsWith('offline:')), seen.join(' '));
  await a.remove('life', 'state');
  await waitFor(() => m.isClosed, 5_000, 'closed by the deletion');
  assert.equal(m.syncState, 'synced', 'deleted is not an error');
});

test('one id in two collections is two models, each with its own cache entry and history', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'tandem-collections-'));
  try {
    const a = await open({ anonymous: 'Ada' }, { storage: new FileStorage(directory) });
    const notes = await a.openOrCreate('notes', 'x', { text: 'a note' });
    const tasks = await a.openOrCreate('tasks', 'x', { text: 'a task' });
    assert.equal(notes.elementAt('text').value(), 'a note');
    assert.equal(tasks.elementAt('text').value(), 'a task');
    tasks.elementAt('text').insert(0, '!');
    await settled(tasks, 'tasks/x');
    await a.persist();
    await assert.rejects(a.create({ collection: 'notes', id: 'x' }), (e) => e.code === 'model_exists');
    assert.equal(await a.create({ collection: 'other', id: 'x' }), 'x', 'free in another collection');
    const history = await a.history('tasks', 'x');
    assert.equal(history.maxVersion, 1);
    assert.equal(history.data.text, '!a task');
    await a.disconnect();
    // Reopened from the one cache directory, each from its own entry.
    const b = await open({ anonymous: 'Ada' }, { storage: new FileStorage(directory) });
    assert.equal((await b.open('notes', 'x')).elementAt('text').value(), 'a note');
    assert.equal((await b.open('tasks', 'x')).elementAt('text').value(), '!a task');
    await b.remove('other', 'x');
    assert.equal((await b.open('notes', 'x')).elementAt('text').value(), 'a note', 'deleting other/x leaves notes/x');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
