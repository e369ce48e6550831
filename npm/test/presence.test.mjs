// Presence and identity through the public API against a real relay: following users, state
// set/removed/cleared, availability flipping on disconnect and on a cut socket, state published
// again after a reconnect, unsubscribing, refused input, and user lookups and profiles.
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

/** Records a subscription's events as `type:userId`. */
function record(subscription) {
  const seen = [];
  subscription.on('change', (e) => seen.push(`${e.type}:${e.userId}`));
  return seen;
}

test('followers see state changes and availability, which flips when the last session goes', async () => {
  const ann = await session(relay, 'Ann');
  const bob = await session(relay, 'Bob');
  const bobId = bob.user.userId;

  const following = await ann.presence.subscribe(bobId);
  assert.deepEqual(following.get(bobId), { userId: bobId, available: true, state: {} });
  const seen = record(following);
  const states = [];
  following.on('state_set', (e) => states.push(e.state));

  const when = new Date(1_700_000_000_000);
  await bob.presence.setState({ status: 'in a meeting', until: when });
  await bob.presence.setState('mood', 'busy');
  await waitFor(() => following.get(bobId).state.mood === 'busy', 5_000, 'the state');
  assert.deepEqual(following.get(bobId).state, { status: 'in a meeting', until: when, mood: 'busy' });
  assert.ok(states[0].until instanceof Date, 'dates arrive as dates');
  assert.deepEqual(bob.presence.state, { status: 'in a meeting', until: when, mood: 'busy' });

  await bob.presence.removeState('until');
  await waitFor(() => !('until' in following.get(bobId).state), 5_000, 'the removal');
  const [read] = await ann.presence.get(bobId);
  assert.deepEqual(read.state, { status: 'in a meeting', mood: 'busy' });
  await bob.presence.clearState();
  await waitFor(() => Object.keys(following.get(bobId).state).length === 0, 5_000, 'the clearing');

  // A second session of Bob's user (his reconnect token names him) keeps him available.
  const bobToo = tracked(await connect(relay.url, { reconnectToken: bob.reconnectToken }, { storage: false }));
  assert.equal(bobToo.user.userId, bobId);
  await bob.disconnect();
  await sleep(300);
  assert.ok(!seen.includes(`unavailable:${bobId}`), 'still available through the second session');
  await bobToo.disconnect();
  await waitFor(() => seen.includes(`unavailable:${bobId}`), 5_000, 'unavailable');
  assert.deepEqual(following.get(bobId), { userId: bobId, available: false, state: {} });
  assert.deepEqual(seen, [
    `state_set:${bobId}`,
    `state_set:${bobId}`,
    `state_removed:${bobId}`,
    `state_cleared:${bobId}`,
    `unavailable:${bobId}`,
  ]);

  // After unsubscribing, nothing more arrives.
  const bob2 = await session(relay, 'Bob 2');
  const bob2Id = bob2.user.userId;
  const other = await ann.presence.subscribe([bob2Id]);
  const otherSeen = record(other);
  await other.unsubscribe();
  await bob2.presence.setState({ status: 'away' });
  await bob2.disconnect();
  await sleep(300);
  assert.deepEqual(otherSeen, []);
  assert.equal(other.isActive, false);
  await ann.disconnect();
});

test('a cut socket makes its user unavailable; reconnecting publishes the state again', async () => {
  const net = controllableNetwork();
  const ann = await session(relay, 'Ann');
  const cat = await session(relay, 'Cat', { WebSocket: net.WebSocket });
  const catId = cat.user.userId;
  await cat.presence.setState({ status: 'writing' });
  const following = await ann.presence.subscribe([catId]);
  const seen = record(following);
  assert.equal(following.get(catId).state.status, 'writing');

  net.cut();
  await waitFor(() => seen.includes(`unavailable:${catId}`), 5_000, 'unavailable after the cut');
  // The client reconnects by itself, as the same user, and publishes its state again.
  await waitFor(() => following.get(catId).available && following.get(catId).state.status === 'writing', 10_000, 'back with its state');
  assert.equal(cat.user.userId, catId);
  await cat.disconnect();
  await ann.disconnect();
});

test('several subscriptions to one user are independent; bad input is refused', async () => {
  const ann = await session(relay, 'Ann');
  const dan = await session(relay, 'Dan');
  const danId = dan.user.userId;
  const first = await ann.presence.subscribe(danId);
  const second = await ann.presence.subscribe(danId);
  await first.unsubscribe();
  const seen = record(second);
  await dan.presence.setState({ status: 'here' });
  await waitFor(() => seen.length === 1, 5_000, 'the second subscription still follows');

  await assert.rejects(dan.presence.setState({ blob: 'x'.repeat(20_000) }), (e) => e instanceof TandemError && e.code === 'invalid_request');
  await assert.rejects(dan.presence.setState([1, 2]), (e) => e instanceof TandemError && e.code === 'invalid_argument');
  await assert.rejects(dan.presence.setState({ '': 1 }), (e) => e instanceof TandemError && e.code === 'invalid_request');
  const [read] = await ann.presence.get([danId]);
  assert.deepEqual(read.state, { status: 'here' }, 'refused changes change nothing');
  await Promise.all([ann.disconnect(), dan.disconnect()]);
});

test('users can be looked up and searched, and a user sets their own profile', async () => {
  const eve = await session(relay, 'Eve Example');
  const fay = await session(relay, 'Fay');
  const eveId = eve.user.userId;

  const updated = await eve.setProfile({ displayName: 'Eve Q. Example', email: 'eve@example.test', avatarUrl: 'https://example.test/eve.png' });
  assert.equal(updated.displayName, 'Eve Q. Example');
  assert.equal(updated.avatarUrl, 'https://example.test/eve.png');
  await assert.rejects(eve.setProfile({ avatarUrl: 'javascript:alert(1)' }), (e) => e instanceof TandemError && e.code === 'invalid_request');
  assert.equal(eve.user.displayName, 'Eve Q. Example');
  const [seen] = await fay.getUsers([eveId]);
  assert.equal(seen.displayName, 'Eve Q. Example');
  assert.equal(seen.email, 'eve@example.test');
  assert.equal(seen.avatarUrl, 'https://example.test/eve.png');
  const byName = await fay.getUsersByUsername([eve.user.username, 'nobody-at-all']);
  assert.deepEqual(byName.map((u) => u.userId), [eveId]);

  const found = await fay.searchUsers('q. exam');
  assert.ok(found.users.some((u) => u.userId === eveId), 'search finds by display name');
  const page = await fay.searchUsers('', { offset: 0, limit: 1 });
  assert.equal(page.users.length, 1, 'pages are limited');
  assert.ok(page.total >= 2, 'the total counts every match, not just the page');
  assert.deepEqual(await fay.getUserGroups(eveId), []);
  const group = `reviewers-${Date.now()}`;
  await relay.admin('POST', '/admin/groups', { id: group, description: 'Reviewers' });
  await relay.admin('PUT', `/admin/groups/${group}/members/${eveId}`);
  const listed = (await fay.getGroups()).find((g) => g.groupId === group);
  assert.deepEqual(listed, { groupId: group, description: 'Reviewers', members: [eveId] });
  assert.deepEqual(await fay.getUserGroups(eveId), [listed]);
  await assert.rejects(eve.setProfile({ displayName: '' }), (e) => e instanceof TandemError);
  await Promise.all([eve.disconnect(), fay.disconnect()]);
});
