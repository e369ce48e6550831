// Every error path reaches the application as a TandemError with a stable code, and leaves the
// session usable: permissions, bad paths, out-of-range edits, bad values, missing models, bad
// credentials, a relay that is gone, and requests that time out.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';

import { connect, TandemError } from '../dist/index.js';
import { disconnectAll, session } from './helpers.mjs';
import { freePort, startRelay, waitFor } from './relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
  await relay.admin('POST', '/admin/collections', { id: 'secret' });
  await relay.admin('PUT', '/admin/permissions', { collection: 'secret', grantee: 'world' });
  await relay.admin('POST', '/admin/collections', { id: 'readonly' });
  await relay.admin('PUT', '/admin/permissions', { collection: 'readonly', grantee: 'world', read: true });
  await relay.admin('POST', '/admin/users', { username: 'ada', password: 'right', display_name: 'Ada' });
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

function code(expected) {
  return (error) => {
    assert.ok(error instanceof TandemError, `a TandemError, not ${error}`);
    assert.equal(error.code, expected, error.message);
    assert.ok(error.message.length > 0);
    return true;
  };
}

test('permission denied: reading a forbidden model, and writing a read-only one', async () => {
  const s = await session(relay, 'Eve');
  await assert.rejects(s.openOrCreate('secret', 'plans', {}), code('permission_denied'));
  await relay.admin('PUT', '/admin/permissions', { collection: 'secret', grantee: 'world', read: true, write: true });
  await (await s.openOrCreate('secret', 'plans', { x: 1 })).close();
  await relay.admin('PUT', '/admin/permissions', { collection: 'secret', grantee: 'world' });
  await assert.rejects(s.open('secret', 'plans'), code('permission_denied'));
  // Read-only: the model opens; a local edit applies, the relay refuses it, and the model
  // closes with the reason instead of silently diverging.
  const admin = await connect(relay.url, { username: 'ada', password: 'right' }, { storage: false });
  await assert.rejects(admin.openOrCreate('readonly', 'notice', { text: 'hi' }), code('permission_denied'));
  await relay.admin('PUT', '/admin/permissions', { collection: 'readonly', grantee: 'world', read: true, write: true });
  await (await admin.openOrCreate('readonly', 'notice', { text: 'hi' })).close();
  await relay.admin('PUT', '/admin/permissions', { collection: 'readonly', grantee: 'world', read: true });
  const model = await s.open('readonly', 'notice');
  assert.equal(model.toJSON().text, 'hi');
  const closed = new Promise((resolve) => model.on('closed', resolve));
  model.elementAt('text').insert(0, 'x');
  const event = await closed;
  assert.equal(event.reason, 'lost');
  assert.equal(event.error.code, 'permission_denied');
  assert.throws(() => model.elementAt('text'), code('closed'));
  // The session stays usable.
  assert.equal((await s.openOrCreate('open', 'fine', { n: 1 })).toJSON().n, 1);
  await Promise.all([s.disconnect(), admin.disconnect()]);
});

test('bad paths, out-of-range edits, wrong types and bad values are refused locally and change nothing', async () => {
  const s = await session(relay, 'Ada');
  const model = await s.openOrCreate('errors', 'local', { text: 'a😀b', list: [1], n: 1, d: new Date(5) });
  assert.throws(() => model.elementAt('nope'), code('no_such_path'));
  assert.throws(() => model.elementAt('list', 5), code('no_such_path'));
  const text = model.elementAt('text');
  assert.throws(() => text.insert(99, 'x'), code('index_out_of_range'));
  assert.throws(() => text.insert(2, 'x'), code('splits_surrogate_pair'));
  assert.throws(() => text.remove(0, 99), code('index_out_of_range'));
  assert.throws(() => text.insert(-1, 'x'), code('invalid_argument'));
  assert.throws(() => text.insert(1.5, 'x'), code('invalid_argument'));
  assert.throws(() => model.elementAt('list').remove(3), code('index_out_of_range'));
  assert.throws(() => model.elementAt('list').move(0, 4), code('index_out_of_range'));
  assert.throws(() => model.elementAt('n').setValue(NaN), code('non_finite_number'));
  assert.throws(() => model.elementAt('list').push(Infinity), code('non_finite_number'));
  assert.throws(() => model.root.set('x', undefined), code('invalid_argument'));
  assert.throws(() => model.elementAt('list').set(3, 2), code('index_out_of_range'));
  assert.throws(() => model.elementAt('d').setValue(NaN), code('invalid_argument'));
  assert.deepEqual(model.toJSON(), { text: 'a😀b', list: [1], n: 1, d: new Date(5) });
  assert.equal(model.version, 0);
  // An element taken out of the model refuses edits.
  const gone = model.elementAt('n');
  model.root.remove('n');
  assert.throws(() => gone.setValue(2), code('detached'));
  // Requests the relay would refuse are refused before they leave, naming the field.
  await assert.rejects(s.list('errors', { limit: -1 }), (e) => code('invalid_argument')(e) && /limit/.test(e.message));
  await assert.rejects(s.searchUsers('x', { offset: 1.5 }), (e) => code('invalid_argument')(e) && /offset/.test(e.message));
  await s.disconnect();
});

test('missing models and bad credentials', async () => {
  const s = await session(relay, 'Ada');
  await assert.rejects(s.open('errors', 'does-not-exist'), code('model_not_found'));
  await assert.rejects(s.remove('errors', 'does-not-exist'), code('model_not_found'));
  await assert.rejects(connect(relay.url, { username: 'ada', password: 'wrong' }, { storage: false }), code('auth_failed'));
  await assert.rejects(
    connect(relay.url, { jwt: async () => 'not.a.jwt' }, { storage: false }),
    (e) => e instanceof TandemError && ['auth_failed', 'unauthenticated'].includes(e.code),
  );
  const ok = await connect(relay.url, { username: () => 'ada', password: async () => 'right' }, { storage: false });
  assert.equal(ok.user.username, 'ada');
  await Promise.all([s.disconnect(), ok.disconnect()]);
});

test('a relay that is gone: connect fails, requests in flight fail with disconnected, later ones time out', async () => {
  const port = await freePort();
  await assert.rejects(connect(`ws://127.0.0.1:${port}/ws`, { anonymous: 'x' }, { storage: false }), code('disconnected'));

  // A relay that accepts the connection and then never answers: requests time out.
  const silent = createServer(() => {});
  const silentPort = await freePort();
  await new Promise((r) => silent.listen(silentPort, '127.0.0.1', r));
  await assert.rejects(
    connect(`ws://127.0.0.1:${silentPort}/ws`, { anonymous: 'x' }, { storage: false, connectTimeout: 300 }),
    code('disconnected'),
  );
  silent.close();

  const own = await startRelay();
  try {
    const s = await session(own, 'Ada', { requestTimeout: 1500 });
    const model = await s.openOrCreate('errors', 'gone', { n: 0 });
    // Requests in flight when the relay dies (it may just have answered the first).
    const inFlight = [s.list('errors'), s.history('errors', 'gone'), s.list('errors')].map((p) =>
      p.then(
        () => 'answered',
        (error) => error,
      ),
    );
    await own.stop('SIGKILL');
    const outcomes = await Promise.all(inFlight);
    assert.ok(outcomes.some((o) => o !== 'answered'), 'at least one was in flight');
    for (const o of outcomes) if (o !== 'answered') code('disconnected')(o);
    await waitFor(() => s.state === 'reconnecting', 5000, 'reconnecting');
    model.elementAt('n').increment(); // still editable offline
    await assert.rejects(s.list('errors'), code('timeout'));
    assert.equal(model.toJSON().n, 1);
    await s.disconnect();
    assert.equal(s.state, 'disconnected');
    await assert.rejects(s.list('errors'), code('disconnected'));
  } finally {
    await own.close();
  }
});

test('garbage from a server that is not a relay is refused without crashing the client', async () => {
  const { WebSocketServer } = await import('ws');
  const port = await freePort();
  const server = new WebSocketServer({ host: '127.0.0.1', port });
  const frames = [new Uint8Array([]), new Uint8Array([0xff, 0xff, 0xff]), new Uint8Array(4096).fill(7), 'text frame'];
  let next = 0;
  server.on('connection', (socket) => socket.send(frames[next++ % frames.length]));
  try {
    for (let i = 0; i < frames.length; i++) {
      await assert.rejects(
        connect(`ws://127.0.0.1:${port}/ws`, { anonymous: 'x' }, { storage: false, connectTimeout: 1000 }),
        code('disconnected'),
      );
    }
  } finally {
    server.close();
  }
});
