// Whole-system tests of values: every JSON value a model can hold round-trips exactly, between
// two clients through a real relay and back from the relay's store; what JavaScript cannot store
// is refused with a documented `TandemError` before anything changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startRelay, tandem, waitFor } from './support.mjs';

const { connect, TandemError } = tandem;

let relay;
const sessions = [];
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await Promise.all(sessions.map((s) => s.disconnect().catch(() => {})));
  await relay?.close();
});

async function open(name) {
  const s = await connect(relay.url, { anonymous: name }, { storage: false });
  sessions.push(s);
  return s;
}

test('objects shaped like a date marker, and $-keys, stay what they were', async () => {
  const data = {
    plain: { $date: 5 },
    doubled: { $$date: 7 },
    dollar: { $: 1, $$: 2, $x: [{ $date: 'not a number' }] },
    real: new Date(1234),
    nested: [{ $date: 1, other: true }],
  };
  const a = await open('Ada');
  const m = await a.openOrCreate('values', 'dollar', { ...data });
  assert.deepEqual(m.root.value(), data, 'locally');
  m.elementAt('dollar').set('$date', 9);
  await waitFor(() => m.isSettled, 5000, 'settled');
  const b = await open('Bob');
  const mb = await b.open('values', 'dollar');
  const expected = { ...data, dollar: { ...data.dollar, $date: 9 } };
  assert.deepEqual(mb.root.value(), expected, 'on another client, from the relay');
  assert.ok(mb.elementAt('real').value() instanceof Date);
  assert.equal(typeof mb.elementAt('plain').value().$date, 'number');
});

test('values JavaScript cannot store are refused with invalid_argument, and nothing changes', async () => {
  const a = await open('Ada');
  const m = await a.openOrCreate('values', 'refused', { list: [], text: '' });
  const list = m.elementAt('list');
  const cases = [
    ['a Map', () => list.push(new Map([[1, 2]]))],
    ['a Set', () => list.push(new Set([1]))],
    ['a class instance', () => list.push(new (class Point {})())],
    ['a BigInt', () => list.push(10n)],
    ['a function', () => list.push({ f() {} })],
    ['a symbol', () => list.push({ s: Symbol('x') })],
    ['undefined', () => list.push(undefined)],
    ['an invalid Date', () => list.push(new Date(NaN))],
    ['a number as text', () => m.elementAt('text').insert(0, 42)],
    ['a RegExp', () => list.push(/x/)],
  ];
  for (const [what, call] of cases) {
    assert.throws(call, (e) => e instanceof TandemError && e.code === 'invalid_argument', what);
  }
  assert.deepEqual(m.root.value(), { list: [], text: '' }, 'nothing changed');
  assert.equal(m.isSettled, true);
});
