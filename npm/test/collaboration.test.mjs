// References, undo and redo, batches, change events and history, each against a real relay
// with concurrent remote edits.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { converged, disconnectAll, session } from './helpers.mjs';
import { startRelay, waitFor } from './relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

async function pair(id, data) {
  const [a, b] = await Promise.all([session(relay, 'Ada'), session(relay, 'Bob')]);
  const ma = await a.openOrCreate('collab', id, data);
  const mb = await b.open('collab', id);
  return { a, b, ma, mb, done: () => Promise.all([a.disconnect(), b.disconnect()]) };
}

test('shared cursors and selections follow concurrent edits', async () => {
  const { a, ma, mb, done } = await pair('refs', { text: 'hello world', props: { x: 1, y: 2 } });
  const text = ma.elementAt('text');
  const cursor = text.indexReference('cursor');
  cursor.set(6);
  cursor.share();
  const selection = text.rangeReference('selection');
  selection.set([6, 11]);
  selection.share();
  const shared = [];
  mb.on('reference', (e) => shared.push(e.type));
  await waitFor(() => mb.remoteReferences({ key: 'selection' }).length === 1, 5000, 'remote selection');
  const [remote] = mb.remoteReferences({ key: 'cursor' });
  assert.equal(remote.sessionId, a.sessionId);
  assert.equal(remote.userId, a.user.userId);
  assert.equal(remote.element, mb.elementAt('text'));
  assert.equal(remote.value, 6);

  // Bob inserts before the cursor while Ada inserts after it: everyone's view of the cursor
  // moves with the text.
  mb.elementAt('text').insert(0, '>> ');
  text.insert(8, '!');
  await converged([ma, mb]);
  assert.equal(ma.toJSON().text, '>> hello wo!rld');
  assert.equal(cursor.value, 9);
  await waitFor(() => mb.remoteReferences({ key: 'cursor' })[0]?.value === 9, 5000, 'remote cursor moved');
  assert.deepEqual(mb.remoteReferences({ key: 'selection' })[0].value, [9, 15]);

  // An element reference and a property reference.
  const pointer = ma.elementReference('focus');
  pointer.set(ma.elementAt('props'));
  pointer.share();
  const props = ma.elementAt('props').propertyReference('picked');
  props.set(['x', 'y']);
  props.share();
  await waitFor(() => mb.remoteReferences({ key: 'picked' }).length === 1, 5000, 'property reference');
  assert.equal(mb.remoteReferences({ key: 'focus' })[0].value, mb.elementAt('props'));
  mb.elementAt('props').remove('x');
  await converged([ma, mb]);
  assert.deepEqual(props.values, ['y'], 'a removed property leaves the reference');

  cursor.unshare();
  await waitFor(() => mb.remoteReferences({ key: 'cursor' }).length === 0, 5000, 'unshared');
  assert.ok(shared.includes('set') && shared.includes('unshared'), shared.join());
  selection.dispose();
  await done();
});

test('undo takes back only this session\'s edits, past concurrent remote ones, and redo restores them', async () => {
  const { ma, mb, done } = await pair('undo', { text: 'world', n: 1, list: ['a'] });
  const text = ma.elementAt('text');
  for (const [i, c] of [...'hello '].entries()) text.insert(i, c); // one typing step
  ma.undoBoundary();
  ma.elementAt('n').add(10);
  ma.undoBoundary();
  ma.elementAt('list').push('b');
  await converged([ma, mb]);

  // Bob edits around Ada's text meanwhile.
  mb.elementAt('text').insert(0, '>> ');
  mb.elementAt('text').insert(mb.elementAt('text').length, '!');
  mb.elementAt('n').add(100);
  mb.elementAt('list').insert(0, 'z');
  await converged([ma, mb]);
  assert.deepEqual(ma.toJSON(), { text: '>> hello world!', n: 111, list: ['z', 'a', 'b'] });

  assert.equal(ma.undo(), true);
  assert.deepEqual(ma.toJSON().list, ['z', 'a']);
  assert.equal(ma.undo(), true);
  assert.equal(ma.toJSON().n, 101, 'only Ada\'s addition is taken back');
  assert.equal(ma.undo(), true);
  assert.equal(ma.toJSON().text, '>> world!', 'the typing step undoes at once; Bob\'s text stays');
  assert.equal(ma.canUndo, false);
  assert.equal(ma.undo(), false);
  await converged([ma, mb]);
  assert.equal(mb.toJSON().text, '>> world!');

  mb.elementAt('text').insert(mb.elementAt('text').length, ' again');
  await converged([ma, mb]);
  assert.equal(ma.redo(), true);
  assert.equal(ma.toJSON().text, '>> hello world! again');
  assert.equal(ma.canRedo, true);
  const data = await converged([ma, mb]);
  assert.equal(data.text, '>> hello world! again');
  await done();
});

test('a batch reaches everyone at once, and a batch that throws leaves nothing', async () => {
  const { ma, mb, done } = await pair('batch', { tasks: [], count: 0 });
  const seen = [];
  mb.root.on('change', (e) => seen.push(`${e.type}@${e.element.path.join('.')}`));
  let settledEvents = 0;
  ma.on('settled', () => settledEvents++);
  ma.batch(() => {
    ma.elementAt('tasks').push({ title: 'one', done: false });
    ma.elementAt('tasks').push({ title: 'two', done: false });
    ma.elementAt('count').add(2);
  });
  await converged([ma, mb]);
  assert.equal(mb.version, 1, 'one atomic operation');
  assert.equal(settledEvents, 1, 'the settled event fires once the batch is acknowledged');
  assert.deepEqual(seen, ['insert@tasks', 'insert@tasks', 'delta@count']);
  assert.throws(() =>
    ma.batch(() => {
      ma.elementAt('count').add(5);
      throw new Error('changed my mind');
    }),
  );
  assert.equal(ma.toJSON().count, 2);
  ma.undo();
  const data = await converged([ma, mb]);
  assert.deepEqual(data, { tasks: [], count: 0 }, 'the batch undoes in one step');
  await done();
});

test('change events carry who made them and bubble to the root', async () => {
  const { a, b, ma, mb, done } = await pair('events', { doc: { title: 'x', tags: ['a'] } });
  const atRoot = [];
  const atDoc = [];
  const atTitle = [];
  ma.root.on('change', (e) => atRoot.push(e));
  ma.elementAt('doc').on('change', (e) => atDoc.push(e));
  ma.elementAt('doc', 'title').on('insert', (e) => atTitle.push(e));
  mb.elementAt('doc', 'title').insert(1, 'yz');
  mb.elementAt('doc', 'tags').push('b');
  ma.elementAt('doc', 'title').insert(0, '#');
  await converged([ma, mb]);
  const remote = atTitle.find((e) => !e.local);
  assert.equal(remote.userId, b.user.userId);
  assert.equal(remote.sessionId, b.sessionId);
  assert.equal(remote.value, 'yz');
  assert.equal(typeof remote.timestamp, 'number');
  const local = atTitle.find((e) => e.local);
  assert.equal(local.userId, a.user.userId);
  assert.equal(atRoot.length, 3);
  assert.equal(atDoc.length, 3);
  assert.ok(atRoot.some((e) => e.element === ma.elementAt('doc', 'tags') && e.type === 'insert'));
  const removed = ma.elementAt('doc', 'tags');
  mb.elementAt('doc').remove('tags');
  await converged([ma, mb]);
  assert.equal(removed.detached, true);
  assert.throws(() => removed.push('c'), { code: 'detached' });
  await done();
});

test('history plays back every version with who made it and when', async () => {
  const { a, b, ma, mb, done } = await pair('history', { text: '' });
  ma.elementAt('text').insert(0, 'one');
  await converged([ma, mb]);
  mb.elementAt('text').insert(3, ' two');
  await converged([ma, mb]);
  ma.elementAt('text').insert(7, ' three');
  await converged([ma, mb]);

  const view = await a.history('collab', 'history');
  assert.equal(view.maxVersion, 3);
  assert.equal(view.data.text, 'one two three');
  await view.playTo(0);
  assert.equal(view.data.text, '');
  await view.forward();
  assert.equal(view.data.text, 'one');
  await view.forward();
  assert.equal(view.data.text, 'one two');
  await view.backward(2);
  assert.equal(view.version, 0);
  const ops = await view.operations();
  assert.deepEqual(
    ops.map((o) => [o.version, o.userId]),
    [
      [1, a.user.userId],
      [2, b.user.userId],
      [3, a.user.userId],
    ],
  );
  assert.equal(ops[1].changes[0].kind, 'string_insert');
  await view.playToTime(ops[1].timestamp);
  assert.ok(view.version >= 2 && view.data.text.startsWith('one two'));
  assert.deepEqual((await view.operations(1, 2)).map((o) => o.version), [2]);
  await done();
});

test('a collection lists its models a page at a time, newest change first by default', async () => {
  const s = await session(relay, 'Lister');
  for (const id of ['first', 'second', 'third']) await s.create({ collection: 'listed', id, data: { id } });
  const { models, total } = await s.list('listed');
  assert.equal(total, 3);
  assert.deepEqual(models.map((m) => m.id), ['third', 'second', 'first']);
  for (const m of models) {
    assert.deepEqual(Object.keys(m).sort(), ['collection', 'createdTime', 'id', 'modifiedTime', 'version']);
    assert.ok(m.createdTime > 0 && m.modifiedTime >= m.createdTime && m.version === 0);
  }
  const page = await s.list('listed', { orderBy: 'created', direction: 'ascending', offset: 1, limit: 1 });
  assert.deepEqual([page.models.map((m) => m.id), page.total], [['second'], 3]);
  await s.remove('listed', 'second');
  assert.equal((await s.list('listed')).total, 2);
  await s.disconnect();
});

test('typing runs reach the engine before any read, remote change, undo or send', async () => {
  const { ma, mb, done } = await pair('typing', { text: '' });
  const text = ma.elementAt('text');
  const events = [];
  text.on('insert', (e) => events.push(e.value));
  for (const c of 'hello') text.insert(text.value().length, c); // reads between keystrokes
  for (const [i, c] of [...' world'].entries()) text.insert(5 + i, c); // a run with no reads
  assert.equal(events.join(''), 'hello world', 'one event per keystroke');
  text.insert(0, '['); // not where the run ended: the run goes in first
  text.insert(1, '(');
  text.insert(13, ']');
  text.insert(0, '{');
  assert.equal(text.value(), '{[(hello world]');
  text.remove(0, 3);
  text.remove(11, 1);
  text.insert(11, 'x');
  text.insert(12, 'y😀');
  assert.throws(() => text.remove(14, 1), { code: 'splits_surrogate_pair' }, 'half an emoji');
  text.remove(13, 2);
  text.insert(13, 'a');
  text.insert(14, 'bc');
  text.remove(15, 1); // backspacing over typing that has not reached the engine yet
  text.remove(14, 1);
  assert.equal(text.value(), 'hello worldxya');
  text.remove(11, 3);
  assert.equal(text.value(), 'hello world');
  await converged([ma, mb]);
  mb.elementAt('text').insert(0, '> ');
  for (const [i, c] of [...'!!'].entries()) text.insert(11 + i, c); // typed before Bob's edit arrives
  let data = await converged([ma, mb]);
  assert.equal(data.text, '> hello world!!');
  assert.equal(ma.undo(), true, 'the typing is one undo step');
  data = await converged([ma, mb]);
  assert.equal(data.text, '> ');
  await done();
});
