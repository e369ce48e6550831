// Whole-system tests of sizes: edits, batches, initial data and models larger than one frame
// travel in pieces and arrive whole; an edit over the relay's message limit is refused locally
// with `too_large`, the model unchanged and every other model still syncing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { sleep, startRelay, tandem, tandemNode, waitFor } from './support.mjs';

const { connect, MemoryStorage, TandemError } = tandem;

let relay;
const sessions = [];
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await Promise.all(sessions.map((s) => s.disconnect().catch(() => {})));
  await relay?.close();
});

async function open(name, target = relay) {
  const s = await connect(target.url, { anonymous: name }, { storage: false, requestTimeout: 60_000 });
  sessions.push(s);
  return s;
}

async function settled(model, what, timeout = 60_000) {
  await waitFor(() => model.isSettled, timeout, `${what} settled`);
}

/** A text of `bytes` ASCII characters that is not all one letter. */
function text(bytes, seed = 'x') {
  const unit = `${seed}0123456789abcdefghijklmnopqrstuvwxyz\n`;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

test('a 10 MB paste reaches the relay and another client whole', async () => {
  const a = await open('Ada');
  const b = await open('Bob');
  const ma = await a.openOrCreate('large', 'paste', { text: 'start', other: '' });
  const mb = await b.open('large', 'paste');
  const paste = text(10_000_000);
  ma.elementAt('text').insert(5, paste);
  await settled(ma, 'the paste');
  await waitFor(() => mb.elementAt('text').length === paste.length + 5, 60_000, 'Bob has it');
  assert.equal(mb.elementAt('text').value(), `start${paste}`);
  // Small edits on both sides go on as before.
  mb.elementAt('other').insert(0, 'after');
  await waitFor(() => ma.elementAt('other').value() === 'after', 10_000, 'a small edit after');
});

test('one batch of 100,000 pushes, and 2 MiB of initial data, settle', async () => {
  const a = await open('Ada');
  const initial = { blob: text(2 << 20, 'i'), items: [] };
  const m = await a.create({ collection: 'large', id: 'batch', data: initial }).then(() => a.open('large', 'batch'));
  assert.equal(m.elementAt('blob').length, 2 << 20);
  const items = m.elementAt('items');
  m.batch(() => {
    for (let i = 0; i < 100_000; i++) items.push(i);
  });
  await settled(m, 'the batch');
  const b = await open('Bob');
  const mb = await b.open('large', 'batch');
  assert.equal(mb.elementAt('items').length, 100_000);
  assert.equal(mb.elementAt('items').get(99_999).value(), 99_999);
});

test('an edit over the relay message limit is refused locally, and nothing else stops', async () => {
  const small = await startRelay({ env: { TANDEM_MAX_MESSAGE_BYTES: String(1 << 20) } });
  try {
    const a = await open('Ada', small);
    const m = await a.openOrCreate('large', 'limit', { text: 'keep', list: [] });
    const other = await a.openOrCreate('large', 'other', { text: '' });
    assert.throws(
      () => m.elementAt('text').insert(0, text(2 << 20)),
      (e) => e instanceof TandemError && e.code === 'too_large',
    );
    assert.throws(
      () => m.batch(() => {
        for (let i = 0; i < 20; i++) m.elementAt('list').push(text(100_000, `${i}`));
      }),
      (e) => e instanceof TandemError && e.code === 'too_large',
    );
    assert.deepEqual(m.root.value(), { text: 'keep', list: [] }, 'the model is unchanged');
    await assert.rejects(
      a.create({ collection: 'large', data: { blob: text(2 << 20) } }),
      (e) => e instanceof TandemError && e.code === 'too_large',
    );
    // An edit just under the limit still goes through, and so does everything else.
    m.elementAt('text').insert(0, text(900_000));
    other.elementAt('text').insert(0, 'still syncing');
    await settled(m, 'under the limit');
    await settled(other, 'the other model');
    assert.equal(a.state, 'connected');
  } finally {
    await small.close();
  }
});

test('a 64 MiB model opens in a fresh client, takes an edit and reopens', async () => {
  const a = await open('Ada');
  const m = await a.openOrCreate('large', 'huge', { parts: [] });
  const part = text(15 << 20, 'p');
  for (let i = 0; i < 5; i++) {
    m.elementAt('parts').push(part);
    await settled(m, `part ${i}`);
  }
  const size = 5 * part.length;
  assert.ok(size >= 64 << 20, `the model holds ${size} bytes of text`);
  // With a cache: the reopen below restores a cache entry of the whole model.
  const b = await connect(relay.url, { anonymous: 'Bob' }, { storage: new MemoryStorage(), requestTimeout: 60_000 });
  sessions.push(b);
  const started = Date.now();
  const mb = await b.open('large', 'huge');
  console.log(`a ${(size / (1 << 20)).toFixed(0)} MiB model opened in ${Date.now() - started} ms`);
  assert.equal(mb.elementAt('parts').length, 5);
  assert.equal(mb.elementAt(['parts', 4]).length, part.length);
  mb.elementAt(['parts', 0]).insert(0, 'edited');
  await settled(mb, 'an edit of the big model');
  await mb.close();
  const again = await b.open('large', 'huge');
  assert.equal(again.elementAt(['parts', 0]).value().slice(0, 6), 'edited');
  assert.equal(again.elementAt(['parts', 4]).length, part.length);
});

test('an unsent edit the relay can no longer take never loops: its model is lost loudly, the rest syncs', { timeout: 60_000 }, async () => {
  const { FileStorage } = tandemNode;
  const directory = mkdtempSync(join(tmpdir(), 'tandem-poison-'));
  const target = await startRelay();
  let a;
  let b;
  try {
    const options = { storage: new FileStorage(directory), requestTimeout: 60_000, reconnect: { initialDelay: 50, maxDelay: 200 } };
    a = await connect(target.url, { anonymous: 'Ada' }, options);
    const big = await a.openOrCreate('large', 'poison', { text: '' });
    const other = await a.openOrCreate('large', 'healthy', { text: '' });
    await settled(big, 'created');
    await target.stop();
    big.elementAt('text').insert(0, text(2 << 20)); // fine for the relay as it was
    other.elementAt('text').insert(0, 'offline but fine');
    await a.persist();
    // The relay comes back with a 1 MiB message limit: the cached edit can never go.
    const closed = new Promise((resolve) => big.on('closed', resolve));
    const restarted = await startRelay({ port: target.port, dataDir: target.dataDir, env: { TANDEM_MAX_MESSAGE_BYTES: String(1 << 20) } });
    const lost = await closed;
    assert.equal(lost.reason, 'lost');
    assert.equal(lost.error.code, 'too_large');
    assert.equal(big.syncState, 'error');
    await settled(other, 'the healthy model');
    await sleep(500);
    assert.equal(a.state, 'connected', 'no reconnect loop');
    // The edit stays in the cache, quarantined: a later open reports it and opens without it.
    b = await connect(restarted.url, { anonymous: 'Ada' }, { ...options, storage: new FileStorage(directory) });
    const quarantined = new Promise((resolve) => b.on('quarantined', resolve));
    const again = await b.open('large', 'poison');
    assert.equal((await quarantined).error.code, 'too_large');
    assert.equal(again.elementAt('text').value(), '');
    await restarted.close();
  } finally {
    await a?.disconnect();
    await b?.disconnect();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a batch of 12,000 pushes concurrent with another push: the relay and both clients live on', async () => {
  const a = await open('Ada');
  const b = await open('Bob');
  const ma = await a.openOrCreate('large', 'crossing', { items: [] });
  const mb = await b.open('large', 'crossing');
  // Both made before either reaches the relay: one is transformed against the other.
  ma.batch(() => {
    for (let i = 0; i < 12_000; i++) ma.elementAt('items').push(i);
  });
  mb.elementAt('items').push('bob');
  a.flush();
  b.flush();
  await settled(ma, 'the batch');
  await settled(mb, 'the push');
  await waitFor(() => ma.elementAt('items').length === 12_001 && mb.elementAt('items').length === 12_001, 30_000, 'both have everything');
  assert.deepEqual(ma.elementAt('items').value(), mb.elementAt('items').value());
  // The relay is still there for everyone.
  const c = await open('Cy');
  assert.equal((await c.open('large', 'crossing')).elementAt('items').length, 12_001);
});
