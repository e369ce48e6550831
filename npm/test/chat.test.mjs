// Chat through the public API against a real relay: rooms, channels and direct chats with live
// events, history pages, unread counts across two sessions of one user, permissions and
// refused input.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect, TandemError } from '../dist/index.js';
import { disconnectAll, session, tracked } from './helpers.mjs';
import { startRelay, waitFor } from './relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

const code = (c) => (e) => e instanceof TandemError && e.code === c;

test('rooms, channels and direct chats with live events', async () => {
  const [ann, bob, cat] = await Promise.all(['Ann', 'Bob', 'Cat'].map((n) => session(relay, n)));
  const [annId, bobId, catId] = [ann, bob, cat].map((s) => s.user.userId);

  const lobby = await ann.chat.create({ kind: 'room', id: 'lobby', name: 'Lobby' });
  await lobby.join();
  const messages = [];
  lobby.on('message', (e) => messages.push(`${e.userId}:${e.text}`));
  const bobsLobby = await bob.chat.join('lobby');
  assert.deepEqual(bobsLobby.info.members.sort(), [annId, bobId].sort());
  const sent = await bobsLobby.send('hello room');
  assert.ok(sent.eventNumber > 1);
  await waitFor(() => messages.includes(`${bobId}:hello room`), 5_000, "Bob's message");
  await bob.disconnect();
  await waitFor(() => !lobby.info.members.includes(bobId), 5_000, 'Bob left with his session');

  const news = await ann.chat.create({ kind: 'channel', id: 'news', name: 'News', topic: 'All of it', members: [catId] });
  assert.deepEqual(news.info.members.sort(), [annId, catId].sort());
  const heard = [];
  cat.chat.on('event', (e) => heard.push(`${e.chatId}:${e.type}`));
  await news.send('first');
  await news.setTopic('Only some');
  await waitFor(() => heard.includes('news:topic_changed'), 5_000, 'channel events');
  const catsNews = await cat.chat.get('news');
  assert.equal(catsNews.info.topic, 'Only some');

  const direct = await ann.chat.direct(catId);
  assert.equal((await cat.chat.direct([annId])).id, direct.id, 'the same users get the same chat');
  assert.equal(direct.info.kind, 'direct');
  await (await cat.chat.get(direct.id)).send('psst');
  await waitFor(() => direct.info.lastEventNumber >= 2, 5_000, 'the direct message');

  const mine = (await cat.chat.joined()).map((c) => c.id).sort();
  assert.deepEqual(mine, [direct.id, 'news'].sort());
  await Promise.all([ann.disconnect(), cat.disconnect()]);
});

test('history pages and unread counts across two sessions of one user', async () => {
  await relay.admin('POST', '/admin/users', { username: 'una', password: 'pw' });
  const una = tracked(await connect(relay.url, { username: 'una', password: 'pw' }, { storage: false }));
  const unaToo = tracked(await connect(relay.url, { username: 'una', password: 'pw' }, { storage: false }));
  const vic = await session(relay, 'Vic');
  const log = await vic.chat.create({ kind: 'channel', id: 'log', members: [una.user.userId] });
  for (let i = 1; i <= 12; i++) await log.send(`m${i}`);

  const unasLog = await una.chat.get('log');
  const newest = await unasLog.history({ limit: 5 });
  assert.deepEqual(newest.map((e) => e.eventNumber), [13, 12, 11, 10, 9]);
  const older = await unasLog.history({ start: 8, limit: 5 });
  assert.deepEqual(older.map((e) => e.text), ['m7', 'm6', 'm5', 'm4', 'm3']);
  const forward = await unasLog.history({ start: 1, direction: 'forward', limit: 2 });
  assert.deepEqual(forward.map((e) => e.type), ['created', 'message']);
  assert.deepEqual((await unasLog.history({ types: ['created'] })).map((e) => e.eventNumber), [1]);

  assert.deepEqual(await una.chat.unreadCounts(), { log: 12 });
  await (await unaToo.chat.get('log')).markSeen(10);
  assert.deepEqual(await una.chat.unreadCounts(), { log: 3 }, 'marks follow the user, not the session');
  await (await unaToo.chat.get('log')).markSeen();
  assert.deepEqual(await una.chat.unreadCounts(), {});
  assert.deepEqual(await vic.chat.unreadCounts(), {}, 'own messages are not unread');
  await Promise.all([una.disconnect(), unaToo.disconnect(), vic.disconnect()]);
});

test('permissions and refused input', async () => {
  const [owner, guest] = await Promise.all(['Owner', 'Guest'].map((n) => session(relay, n)));
  const club = await owner.chat.create({ kind: 'channel', id: 'club' });
  const guests = await guest.chat.join('club');
  await guests.send('hi');
  await assert.rejects(guests.setName('mine'), code('permission_denied'));
  await assert.rejects(guests.remove(), code('permission_denied'));
  await assert.rejects(guests.permissions(), code('permission_denied'));
  await assert.rejects(guests.addMember(owner.user.userId), code('permission_denied'));

  // Private: the world may no longer join.
  await club.setPermissions({ type: 'world' }, { leave: true, send: true });
  assert.deepEqual((await club.permissions()).world, { join: false, leave: true, send: true, manageMembers: false, setNameAndTopic: false, remove: false, manage: false });
  // Entries for a user and a group, read back in the package's form.
  const guestId = guest.user.userId;
  await club.setPermissions({ type: 'user', id: guestId }, { send: true, setNameAndTopic: true });
  await club.setPermissions({ type: 'group', id: 'no-such-group' }, { leave: true });
  const entries = await club.permissions();
  assert.deepEqual(entries.users, [
    { userId: guestId, rights: { join: false, leave: false, send: true, manageMembers: false, setNameAndTopic: true, remove: false, manage: false } },
  ]);
  assert.deepEqual(entries.groups.map((g) => [g.groupId, g.rights.leave, g.rights.setNameAndTopic]), [['no-such-group', true, false]]);
  await club.setPermissions({ type: 'user', id: guestId }, null);
  assert.deepEqual((await club.permissions()).users, []);
  const info = club.info;
  assert.ok(info.createdTime > 0 && info.lastEventTime >= info.createdTime, 'times in the package form');
  const outsider = await session(relay, 'Outsider');
  await assert.rejects(outsider.chat.join('club'), code('permission_denied'));
  await assert.rejects(outsider.chat.get('club'), code('permission_denied'));

  await assert.rejects(guests.send('x'.repeat(20_000)), code('invalid_request'));
  await assert.rejects(guests.send(''), code('invalid_request'));
  await assert.rejects(owner.chat.get('no-such-chat'), code('chat_not_found'));
  await assert.rejects(owner.chat.create({ kind: 'room', id: 'club' }), code('chat_exists'));
  await assert.rejects(guests.history({ types: ['nonsense'] }), code('invalid_argument'));
  await club.remove();
  await assert.rejects(owner.chat.get('club'), code('chat_not_found'));
  await Promise.all([owner.disconnect(), guest.disconnect(), outsider.disconnect()]);
});
