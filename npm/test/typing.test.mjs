// The write buffer for string edits (src/typing.ts): runs composed in JS must leave exactly the
// text the edits one by one would, refuse what it cannot check (so that errors stay immediate),
// and behave through the public API like direct edits: undo, reads, remote edits, convergence.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { MAX_RUN, TextBuffer } from '../dist/typing.js';
import { converged, disconnectAll, rng, session } from './helpers.mjs';
import { startRelay } from './relay.mjs';

/** `text` with `remove` code units at `index` replaced by `insert`. */
const splice = (text, index, remove, insert) => text.slice(0, index) + insert + text.slice(index + remove);

/** Applies the runs a buffer hands over, as the engine does. */
function applyRuns(text, { spans, texts }) {
  let offset = 0;
  for (let i = 0; i < spans.length; i += 3) {
    const [index, remove, units] = spans.slice(i, i + 3);
    text = splice(text, index, remove, texts.slice(offset, offset + units));
    offset += units;
  }
  assert.equal(offset, texts.length, 'every inserted text belongs to a run');
  return text;
}

test('runs composed in the buffer leave exactly the text of the edits one by one', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    let expected = 'the quick brown fox';
    let sent = expected;
    const buffer = new TextBuffer('element', expected.length);
    for (let step = 0; step < 300; step++) {
      // Mostly typing near the last edit, sometimes a jump, a backspace or a selection delete.
      const near = buffer.index >= 0 ? buffer.index + r.below(buffer.text.length + 2) : r.below(expected.length + 1);
      const at = r.below(5) === 0 ? r.below(expected.length + 1) : Math.min(near, expected.length);
      if (r.below(3) === 0 && expected.length > 0) {
        const from = Math.min(at, expected.length - 1);
        const len = 1 + r.below(Math.min(4, expected.length - from));
        assert.equal(buffer.removeAt(from, len), true);
        expected = splice(expected, from, len, '');
      } else {
        const text = r.pick(['a', 'b', 'xy', 'é', '\n', 'hello ']);
        assert.equal(buffer.insert(at, text), true);
        expected = splice(expected, at, 0, text);
      }
      assert.equal(buffer.length, expected.length);
      assert.ok(buffer.text.length <= MAX_RUN);
      if (r.below(40) === 0) sent = applyRuns(sent, buffer.take());
    }
    sent = applyRuns(sent, buffer.take());
    assert.equal(sent, expected, `seed ${seed}`);
  }
});

test('the buffer refuses what it cannot check, and then changes nothing', () => {
  const buffer = new TextBuffer('element', 5);
  assert.equal(buffer.insert(1, 'ab'), true);
  const before = JSON.stringify(buffer);
  for (const [index, text] of [
    [8, 'x'], // past the end
    [-1, 'x'],
    [1.5, 'x'],
    [NaN, 'x'],
    [2, ''], // nothing to insert: the engine decides what that means
    [2, '😀'], // surrogate pairs: only the engine knows where they may be cut
    [2, '\ud800'],
    [2, 42],
  ]) {
    assert.equal(buffer.insert(index, text), false, `insert(${index}, ${String(text)})`);
  }
  for (const [index, length] of [
    [6, 2], // past the end
    [0, 0],
    [-1, 1],
    [1, 1.5],
    [0, Infinity],
  ]) {
    assert.equal(buffer.removeAt(index, length), false, `removeAt(${index}, ${length})`);
  }
  assert.equal(JSON.stringify(buffer), before);
  assert.deepEqual(buffer.take(), { spans: [1, 0, 2], texts: 'ab' });
});

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await disconnectAll();
  await relay?.close();
});

test('typing through the buffer reads, undoes, converges and fails exactly as direct edits', async () => {
  const [a, b] = await Promise.all([session(relay, 'ann'), session(relay, 'bob')]);
  const ma = await a.openOrCreate('typing', 'doc', { text: 'hello', emoji: 'a😀b' });
  const mb = await b.open('typing', 'doc');
  const text = ma.elementAt('text');

  // Reads see buffered edits at once; the length does not even need the engine.
  text.insert(5, ' world');
  text.insert(11, '!');
  text.remove(10, 1);
  assert.equal(text.length, 11);
  assert.equal(text.value(), 'hello worl!');

  // Errors are still immediate, from the engine, with their codes.
  assert.throws(() => text.insert(99, 'x'), { name: 'TandemError', code: 'index_out_of_range' });
  assert.throws(() => text.remove(10, 5), { name: 'TandemError', code: 'index_out_of_range' });
  const emoji = ma.elementAt('emoji');
  assert.throws(() => emoji.insert(2, 'x'), { name: 'TandemError', code: 'splits_surrogate_pair' });
  emoji.insert(3, 'x'); // strings with surrogate pairs take the direct path
  assert.equal(emoji.value(), 'a😀xb');

  // One quick run of typing is one undo step, taken back whole.
  ma.undoBoundary();
  for (const c of ' again') text.insert(text.length, c);
  text.remove(text.length - 1, 1);
  assert.equal(text.value(), 'hello worl! agai');
  assert.equal(ma.undo(), true);
  assert.equal(text.value(), 'hello worl!');

  // Concurrent typing on both sides, including at the same spot, converges.
  const r = rng(7);
  for (let i = 0; i < 200; i++) {
    for (const m of [ma, mb]) {
      const t = m.elementAt('text');
      const at = r.below(t.length + 1);
      if (r.below(4) === 0 && t.length > 0) t.remove(Math.min(at, t.length - 1), 1);
      else t.insert(at, r.pick(['x', 'y', 'zz']));
    }
    if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const data = await converged([ma, mb]);
  assert.equal(typeof data.text, 'string');
  await Promise.all([a.disconnect(), b.disconnect()]);
});
