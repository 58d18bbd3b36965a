// The lean client's table of requests in flight by rid (lib/bench/rid-table.ts): it must
// answer exactly as a Map would, for rids handed out in increasing order and answered in
// any order, and in the steady state it must not grow.

import test from 'ava';
import { RidTable } from '../lib/bench/rid-table.js';
import { createPrng, testSeed } from './helpers/seed.js';

test('RidTable: set, get, delete and size; unknown rids are absent', (t) => {
  const table = new RidTable();
  t.is(table.get(1), undefined);
  t.false(table.delete(1));
  table.set(1, 10);
  table.set(2, 0);
  table.set(3, 7);
  t.is(table.size, 3);
  t.is(table.get(1), 10);
  t.is(table.get(2), 0, 'slot 0 is a slot, not absence');
  t.is(table.get(4), undefined);
  t.is(table.get(1 + table.capacity), undefined, 'a rid sharing a place with a held one is not taken for it');
  t.true(table.delete(2));
  t.false(table.delete(2));
  t.is(table.get(2), undefined);
  t.is(table.size, 2);
  t.deepEqual(table.entries(), [
    [1, 10],
    [3, 7],
  ]);
});

test('RidTable: a straggler older than the ring grows it; every rid stays findable, entries come oldest first', (t) => {
  const table = new RidTable();
  const initial = table.capacity;
  table.set(5, 1);
  // The rid that lands on the straggler's place, and more beyond.
  for (let rid = initial + 5; rid < 3 * initial + 5; rid++) table.set(rid, rid % 1000);
  t.true(table.capacity >= 4 * initial, `capacity ${table.capacity}`);
  t.is(table.get(5), 1);
  for (let rid = initial + 5; rid < 3 * initial + 5; rid++) t.is(table.get(rid), rid % 1000);
  t.is(table.size, 2 * initial + 1);
  const rids = table.entries().map(([rid]) => rid);
  t.deepEqual(rids, [...rids].sort((a, b) => a - b));
  t.is(rids[0], 5);
});

test('RidTable: in the steady state (a bounded window in flight) it never grows', (t) => {
  const table = new RidTable();
  const capacity = table.capacity;
  const window = capacity / 2;
  for (let rid = 1; rid <= 200_000; rid++) {
    table.set(rid, rid & 0xffff);
    if (rid > window && !table.delete(rid - window)) t.fail(`rid ${rid - window} was not held`);
  }
  t.is(table.capacity, capacity);
  t.is(table.size, window);
});

test('RidTable: refuses a rid already held and rids that are not positive safe integers', (t) => {
  const table = new RidTable();
  table.set(9, 1);
  t.throws(() => table.set(9, 2), { instanceOf: RangeError, message: /already in flight/ });
  t.is(table.get(9), 1, 'the refused set changed nothing');
  for (const rid of [0, -1, 1.5, Number.NaN, 2 ** 53]) t.throws(() => table.set(rid, 1), { instanceOf: RangeError }, `rid ${rid}`);
  t.throws(() => table.set(10, -1), { instanceOf: RangeError });
  t.is(table.size, 1);
});

test('RidTable: answers as a Map does under random completion order and stragglers (seeded)', (t) => {
  const seed = testSeed('RID_TABLE_SEED');
  const random = createPrng(seed);
  const table = new RidTable();
  const model = new Map<number, number>();
  let nextRid = 1;
  for (let step = 0; step < 100_000; step++) {
    const roll = random();
    if (roll < 0.55 || model.size === 0) {
      const rid = nextRid++;
      const slot = Math.floor(random() * 5000);
      table.set(rid, slot);
      model.set(rid, slot);
    } else if (roll < 0.999) {
      // Mostly the older ones are answered, but in no fixed order.
      const held = [...model.keys()];
      const rid = held[Math.floor(random() ** 2 * held.length)]!;
      t.is(table.delete(rid), model.delete(rid));
    } else {
      // A rid far ahead (as after a long pause) is looked up and deleted: absent.
      const rid = nextRid + Math.floor(random() * 1e6);
      if (table.get(rid) !== undefined || table.delete(rid)) t.fail(`seed ${seed} (RID_TABLE_SEED): rid ${rid} was never set`);
    }
    if (step % 997 === 0) {
      const probe = 1 + Math.floor(random() * nextRid);
      if (table.get(probe) !== model.get(probe)) t.fail(`seed ${seed} (RID_TABLE_SEED): step ${step}, rid ${probe}: ${table.get(probe)} against ${model.get(probe)}`);
    }
  }
  t.is(table.size, model.size, `seed ${seed} (RID_TABLE_SEED)`);
  t.deepEqual(table.entries(), [...model.entries()].sort((a, b) => a[0] - b[0]), `seed ${seed} (RID_TABLE_SEED)`);
  const even = (_rid: number, slot: number): boolean => slot % 2 === 0;
  t.deepEqual(table.select(even), [...model.entries()].filter(([rid, slot]) => even(rid, slot)).sort((a, b) => a[0] - b[0]), `seed ${seed} (RID_TABLE_SEED): select`);
});
