// Two and ten clients edit every element type of one model at once, over a real relay; every
// replica must end with the same data as the others and as a fresh reader.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { converged, disconnectAll, rng, session } from './helpers.mjs';
import { sleep, startRelay } from './relay.mjs';

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

const INITIAL = {
  text: 'hello world',
  list: [1, 2, 3],
  props: { a: 1 },
  count: 0,
  flag: false,
  when: new Date(1_700_000_000_000),
  nested: { items: [{ title: 'x', done: false }] },
};

/** A random UTF-16 index of `s` that does not split a surrogate pair. */
function boundary(s, r) {
  let at = r.below(s.length + 1);
  const c = s.charCodeAt(at);
  if (at > 0 && c >= 0xdc00 && c <= 0xdfff) at--;
  return at;
}

/** One random edit of any element type, through the public API. */
function randomEdit(model, r, who) {
  const text = model.elementAt('text');
  const list = model.elementAt('list');
  const props = model.elementAt('props');
  switch (r.below(12)) {
    case 0:
    case 1:
      text.insert(boundary(text.value(), r), r.pick(['a', 'bc', '😀', ' ', who]));
      break;
    case 2:
      if (text.length > 2) {
        // remove one whole code point
        const s = text.value();
        const at = Math.min(boundary(s, r), s.length - 1);
        text.remove(at, s.codePointAt(at) > 0xffff ? 2 : 1);
      }
      break;
    case 3:
      list.insert(r.below(list.length + 1), r.below(100));
      break;
    case 4:
      if (list.length > 0) list.remove(r.below(list.length));
      break;
    case 5:
      if (list.length > 1) list.move(r.below(list.length), r.below(list.length));
      break;
    case 6:
      if (list.length > 0) list.set(r.below(list.length), { by: who });
      break;
    case 7:
      props.set(r.pick(['a', 'b', 'c']), r.below(10));
      break;
    case 8:
      if (props.has('b')) props.remove('b');
      break;
    case 9:
      model.elementAt('count').add(r.below(5) + 1);
      break;
    case 10:
      model.elementAt('flag').setValue(r.next() < 0.5);
      break;
    default:
      model.batch(() => {
        model.elementAt('when').setValue(new Date(1_700_000_000_000 + r.below(1000)));
        const items = model.elementAt('nested', 'items');
        items.push({ title: who, done: r.next() < 0.5 });
      });
  }
}

async function run(clients, rounds, seed) {
  const sessions = await Promise.all(Array.from({ length: clients }, (_, i) => session(relay, `user${i}`)));
  const id = `conv-${clients}-${seed}`;
  const first = await sessions[0].openOrCreate('tests', id, INITIAL);
  const models = [first, ...(await Promise.all(sessions.slice(1).map((s) => s.open('tests', id))))];
  const r = rng(seed);
  let additions = 0;
  for (let round = 0; round < rounds; round++) {
    for (let c = 0; c < clients; c++) {
      const before = models[c].elementAt('count').value();
      randomEdit(models[c], r, `u${c}`);
      additions += models[c].elementAt('count').value() - before;
    }
    // Let some rounds cross on the wire, others be seen first.
    if (r.next() < 0.3) await sleep(r.below(15));
  }
  const data = await converged(models);
  assert.equal(data.count, additions, 'every concurrent addition counts');
  // A fresh reader sees exactly the same data.
  const reader = await session(relay, 'reader');
  const fresh = await reader.open('tests', id);
  assert.deepEqual(fresh.toJSON(), data);
  await Promise.all([...sessions, reader].map((s) => s.disconnect()));
  return data;
}

test('two clients editing every element type at once converge', async () => {
  for (const seed of [1, 2, 3]) await run(2, 150, seed);
});

test('ten clients editing every element type at once converge', async () => {
  const data = await run(10, 40, 7);
  assert.ok(data.text.length > 0);
});

test('concurrent typing at the same position keeps every character', async () => {
  const [a, b] = await Promise.all([session(relay, 'a'), session(relay, 'b')]);
  const ma = await a.openOrCreate('tests', 'same-spot', { text: '[]' });
  const mb = await b.open('tests', 'same-spot');
  for (let i = 0; i < 50; i++) {
    ma.elementAt('text').insert(1, 'a');
    mb.elementAt('text').insert(1, 'b');
  }
  const data = await converged([ma, mb]);
  assert.equal(data.text.length, 102);
  assert.equal([...data.text].filter((c) => c === 'a').length, 50);
  assert.equal([...data.text].filter((c) => c === 'b').length, 50);
  await Promise.all([a.disconnect(), b.disconnect()]);
});
