// Network trouble: sockets cut, a network that stays down, a frozen connection only heartbeats
// can detect, relay restarts (graceful and kill -9), and sessions that go offline and come back
// with edits from the cache. Nothing acknowledged or edited offline may be lost or duplicated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { createSession } from '../dist/index.js';
import { FileStorage } from '../dist/node.js';
import { controllableNetwork, converged, disconnectAll, session } from './helpers.mjs';
import { freePort, sleep, startRelay, waitFor } from './relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

/** Every marker appears exactly once in the text. */
function assertOnce(text, markers) {
  for (const m of markers) {
    const count = text.split(m).length - 1;
    assert.equal(count, 1, `${m} appears ${count} times in ${text}`);
  }
}

test('a cut socket and a network that stays down: edits made meanwhile arrive once', async () => {
  const net = controllableNetwork();
  const a = await session(relay, 'Ada', { WebSocket: net.WebSocket });
  const b = await session(relay, 'Bob');
  const ma = await a.openOrCreate('res', 'cut', { text: '' });
  const mb = await b.open('res', 'cut');
  const states = [];
  a.on('state', (e) => states.push(e.state));
  const markers = [];
  for (let i = 0; i < 20; i++) {
    const m = `<a${i}>`;
    markers.push(m);
    ma.elementAt('text').insert(0, m);
    if (i === 5) net.cut(); // mid-stream: some edits in flight are lost with the socket
  }
  await waitFor(() => a.state === 'connected' && ma.isSettled, 10_000, 'reconnect after cut');
  net.down();
  await waitFor(() => a.state === 'reconnecting', 5000, 'offline');
  for (let i = 20; i < 60; i++) {
    const m = `<a${i}>`;
    markers.push(m);
    ma.elementAt('text').insert(ma.elementAt('text').length, m);
    const n = `<b${i}>`;
    markers.push(n);
    mb.elementAt('text').insert(0, n);
  }
  assert.equal(ma.isOnline, false);
  await sleep(300);
  net.up();
  const data = await converged([ma, mb]);
  assertOnce(data.text, markers);
  assert.ok(states.includes('interrupted') && states.includes('reconnecting') && states.includes('connected'));
  await Promise.all([a.disconnect(), b.disconnect()]);
});

test('a relay restart (graceful, then kill -9): clients reconnect, resync and lose nothing acknowledged', async () => {
  const a = await session(relay, 'Ada');
  const b = await session(relay, 'Bob');
  const ma = await a.openOrCreate('res', 'restart', { text: '', n: 0 });
  const mb = await b.open('res', 'restart');
  const markers = [];
  for (let i = 0; i < 10; i++) {
    markers.push(`[a${i}]`, `[b${i}]`);
    ma.elementAt('text').insert(0, `[a${i}]`);
    mb.elementAt('text').insert(0, `[b${i}]`);
  }
  await converged([ma, mb]);
  const restarting = relay.restart();
  for (let i = 10; i < 30; i++) {
    markers.push(`[a${i}]`, `[b${i}]`);
    ma.elementAt('text').insert(0, `[a${i}]`);
    mb.elementAt('text').insert(0, `[b${i}]`);
    ma.elementAt('n').increment();
    await sleep(5);
  }
  await restarting;
  let data = await converged([ma, mb], 20_000);
  assertOnce(data.text, markers);
  assert.equal(data.n, 20);

  // kill -9: what the relay acknowledged survives.
  ma.elementAt('text').insert(0, '[acked]');
  await converged([ma, mb]);
  await relay.stop('SIGKILL');
  ma.elementAt('text').insert(0, '[while-dead]');
  await relay.start();
  data = await converged([ma, mb], 20_000);
  assertOnce(data.text, [...markers, '[acked]', '[while-dead]']);
  const reader = await session(relay, 'reader');
  assert.deepEqual((await reader.open('res', 'restart')).toJSON(), data);
  await Promise.all([a.disconnect(), b.disconnect(), reader.disconnect()]);
});

test('heartbeats detect a connection that went silent without closing', async () => {
  // A TCP proxy that can freeze: it stops forwarding without closing anything.
  const port = await freePort();
  let frozen = false;
  const pipes = [];
  const proxy = createServer((client) => {
    const upstream = tcpConnect(relay.port, '127.0.0.1');
    const forward = (from, to) =>
      from.on('data', (chunk) => {
        if (!frozen) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    pipes.push({ client, upstream });
  });
  await new Promise((r) => proxy.listen(port, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${port}/ws`;
  const a = await createSession(url, { anonymous: 'Ada' }, {
    storage: false,
    heartbeatInterval: 200,
    heartbeatTimeout: 1000,
    reconnect: { initialDelay: 50, maxDelay: 200 },
  });
  await a.connected();
  const ma = await a.openOrCreate('res', 'frozen', { text: '' });
  const silentPipes = pipes.length;
  frozen = true;
  ma.elementAt('text').insert(0, 'typed into the void');
  const started = Date.now();
  await waitFor(() => a.state === 'reconnecting', 5000, 'dead socket noticed');
  const noticed = Date.now() - started;
  assert.ok(noticed < 3000, `noticed after ${noticed} ms`);
  for (const p of pipes.slice(0, silentPipes)) {
    p.client.destroy();
    p.upstream.destroy();
  }
  frozen = false;
  await waitFor(() => a.state === 'connected' && ma.isSettled, 10_000, 'reconnected');
  const b = await session(relay, 'Bob');
  assert.equal((await b.open('res', 'frozen')).toJSON().text, 'typed into the void');
  await Promise.all([a.disconnect(), b.disconnect()]);
  proxy.close();
});

test('offline across sessions: edits cached on disk are restored, re-sent and merged once', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'tandem-cache-'));
  try {
    const net = controllableNetwork();
    const options = { WebSocket: net.WebSocket, storage: new FileStorage(directory), reconnect: { initialDelay: 50, maxDelay: 200 } };
    const first = await createSession(relay.url, { anonymous: 'Ada' }, options);
    await first.connected();
    const model = await first.openOrCreate('res', 'offline', { text: 'start' });
    net.down();
    await waitFor(() => first.state === 'reconnecting', 5000, 'offline');
    model.elementAt('text').insert(5, ' [offline edit]');
    await first.disconnect(); // the "tab" closes while offline; the cache is written

    // Someone else edits meanwhile.
    const bob = await session(relay, 'Bob');
    const mb = await bob.open('res', 'offline');
    mb.elementAt('text').insert(0, '[bob] ');

    // A new session, still offline, opens the model from the cache at once.
    const second = await createSession(relay.url, { anonymous: 'Ada' }, { ...options, storage: new FileStorage(directory) });
    const restored = await second.open('res', 'offline');
    assert.equal(restored.isOnline, false);
    assert.equal(restored.toJSON().text, 'start [offline edit]');
    restored.elementAt('text').insert(0, '(still offline) ');
    net.up();
    const data = await converged([restored, mb]);
    assert.equal(data.text, '[bob] (still offline) start [offline edit]');
    await Promise.all([second.disconnect(), bob.disconnect()]);
  } finally {
    rmSync(directory, { recursive: true, force: true, maxRetries: 10 });
  }
});
