// Activities through the public API against a real relay: joins and leaves, lurkers, state
// changes, a late joiner seeing everyone's current state, cleanup when a session goes, rejoining
// after a reconnect, and activity permissions.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, TandemError } from '../dist/index.js';
import { controllableNetwork, disconnectAll, session, tracked } from './helpers.mjs';
import { sleep, startRelay, waitFor } from './relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

/** Records an activity's events as `type:sessionId`. */
function record(activity) {
  const seen = [];
  activity.on('change', (e) => seen.push(`${e.type}:${e.sessionId}`));
  return seen;
}

test('participants, state, lurkers and late joiners', async () => {
  const [ann, bob, eve, cat] = await Promise.all(['Ann', 'Bob', 'Eve', 'Cat'].map((n) => session(relay, n)));
  const doc = await ann.activities.join('document', '42', { state: { colour: '#e11' } });
  assert.deepEqual(
    doc.participants().map((p) => [p.user.displayName, p.state, p.local]),
    [['Ann', { colour: '#e11' }, true]],
  );
  assert.equal(doc.rights.setState, true);
  const annSeen = record(doc);

  const watching = await eve.activities.join('document', '42', { lurk: true });
  assert.deepEqual(watching.participants().map((p) => p.user.displayName), ['Ann']);
  await assert.rejects(watching.setState({ x: 1 }), (e) => e instanceof TandemError && e.code === 'invalid_request');
  const eveSeen = record(watching);

  const bobs = await bob.activities.join('document', '42');
  assert.deepEqual(bobs.participants().map((p) => p.user.displayName), ['Ann', 'Bob'], 'lurkers are not listed');
  assert.deepEqual(bobs.participant(ann.sessionId).state, { colour: '#e11' });
  await waitFor(() => annSeen.includes(`joined:${bob.sessionId}`), 5_000, "Bob's join");

  const since = new Date(1_700_000_000_000);
  await bobs.setState({ typing: true, since });
  await bobs.setState('viewport', [0, 40]);
  await waitFor(() => doc.participant(bob.sessionId)?.state.viewport !== undefined, 5_000, "Bob's state");
  await waitFor(() => watching.participant(bob.sessionId)?.state.viewport !== undefined, 5_000, "Bob's state, for the lurker");
  assert.deepEqual(doc.participant(bob.sessionId).state, { typing: true, since, viewport: [0, 40] });
  assert.ok(watching.participant(bob.sessionId).state.since instanceof Date, 'lurkers see state, dates as dates');
  await bobs.removeState('typing');
  await doc.clearState();
  await waitFor(() => !('typing' in doc.participant(bob.sessionId).state), 5_000, 'the removal');
  await waitFor(() => Object.keys(bobs.participant(ann.sessionId).state).length === 0, 5_000, 'the clearing');
  assert.deepEqual(bobs.state, { since, viewport: [0, 40] });
  assert.deepEqual(bobs.participant(bob.sessionId).state, { since, viewport: [0, 40] }, 'own entry follows');

  // A late joiner sees everyone's current state at once.
  const cats = await cat.activities.join('document', '42');
  assert.deepEqual(
    cats.participants().map((p) => [p.user.displayName, p.state]),
    [
      ['Ann', {}],
      ['Bob', { since, viewport: [0, 40] }],
      ['Cat', {}],
    ],
  );

  // Too much state is refused and changes nothing.
  await assert.rejects(cats.setState({ blob: 'x'.repeat(20_000) }), (e) => e instanceof TandemError && e.code === 'invalid_request');
  assert.deepEqual(cats.state, {});

  // Leaving and disconnecting remove a session for everyone.
  await cats.leave();
  assert.equal(cats.isJoined, false);
  await assert.rejects(cats.setState({ x: 1 }), (e) => e instanceof TandemError && e.code === 'activity_not_found');
  await bob.disconnect();
  await waitFor(() => eveSeen.includes(`left:${bob.sessionId}`) && eveSeen.includes(`left:${cat.sessionId}`), 5_000, 'leaves');
  assert.deepEqual(watching.participants().map((p) => p.user.displayName), ['Ann']);
  assert.ok(!annSeen.some((e) => e.endsWith(eve.sessionId)), "a lurker's comings and goings are not seen");
  await Promise.all([ann.disconnect(), eve.disconnect(), cat.disconnect()]);
});

test('a cut socket leaves the activity for everyone; the reconnected session joins again with its state', async () => {
  const net = controllableNetwork();
  const ann = await session(relay, 'Ann');
  const dan = await session(relay, 'Dan', { WebSocket: net.WebSocket });
  const doc = await ann.activities.join('document', 'cut');
  const dans = await dan.activities.join('document', 'cut', { state: { colour: '#1e1' } });
  const seen = record(doc);
  const before = dan.sessionId;
  await waitFor(() => doc.participants().length === 2, 5_000, 'both in');

  net.cut();
  await waitFor(() => seen.includes(`left:${before}`), 5_000, 'left after the cut');
  await waitFor(() => doc.participants().some((p) => p.user.displayName === 'Dan' && p.state.colour === '#1e1'), 10_000, 'back with its state');
  assert.notEqual(dan.sessionId, before, 'a new session');
  assert.equal(dans.isJoined, true);
  assert.deepEqual(
    dans.participants().map((p) => p.user.displayName),
    ['Ann', 'Dan'],
  );
  await Promise.all([ann.disconnect(), dan.disconnect()]);
});

test('activity permissions decide who joins, lurks, views and sets state, and who manages', async () => {
  await relay.admin('POST', '/admin/users', { username: 'mgr', password: 'pw' });
  const mgr = tracked(await connect(relay.url, { username: 'mgr', password: 'pw' }, { storage: false }));
  const guest = await session(relay, 'Guest');
  await assert.rejects(mgr.activities.permissions('page'), (e) => e instanceof TandemError && e.code === 'permission_denied');
  await relay.admin('PUT', '/admin/activity-permissions', { type: 'page', grantee: `user:${mgr.user.userId}`, join: true, setState: true, viewState: true, manage: true });

  await mgr.activities.setPermissions('page', undefined, { type: 'world' }, { lurk: true });
  const entries = await mgr.activities.permissions('page');
  assert.deepEqual(entries.world, { join: false, lurk: true, viewState: false, setState: false, manage: false });
  assert.equal(entries.users[0].userId, mgr.user.userId);
  assert.deepEqual(entries.users[0].rights, { join: true, lurk: false, viewState: true, setState: true, manage: true });
  await mgr.activities.setPermissions('page', '/one', { type: 'user', id: guest.user.userId }, { viewState: true });
  assert.deepEqual((await mgr.activities.permissions('page', '/one')).users, [
    { userId: guest.user.userId, rights: { join: false, lurk: false, viewState: true, setState: false, manage: false } },
  ]);
  await assert.rejects(guest.activities.setPermissions('page', undefined, { type: 'world' }, null), (e) => e.code === 'permission_denied');

  const pricing = await mgr.activities.join('page', '/pricing', { state: { scroll: 120 } });
  await assert.rejects(guest.activities.join('page', '/pricing'), (e) => e instanceof TandemError && e.code === 'permission_denied');
  const lurking = await guest.activities.join('page', '/pricing', { lurk: true });
  assert.deepEqual(lurking.rights, { join: false, lurk: true, viewState: false, setState: false, manage: false });
  assert.deepEqual(lurking.participants()[0].state, {}, 'no view-state: no state');
  const seen = record(lurking);
  await pricing.setState({ scroll: 400 });
  await sleep(300);
  assert.deepEqual(seen, [], 'no state events without view-state');

  // Taking a right away applies at once: the lurker is out, and told so.
  const gone = [];
  lurking.on('left', (e) => gone.push(e.sessionId));
  await mgr.activities.setPermissions('page', undefined, { type: 'world' }, { join: false });
  await waitFor(() => !lurking.isJoined, 5_000, 'the lurker taken out');
  assert.deepEqual(gone, [mgr.sessionId], 'everyone it saw leaves its view');

  // Other activity types stay open to everyone.
  const open = await guest.activities.join('document', 'open');
  assert.equal(open.rights.join && open.rights.setState && !open.rights.manage, true);
  await Promise.all([mgr.disconnect(), guest.disconnect()]);
});
