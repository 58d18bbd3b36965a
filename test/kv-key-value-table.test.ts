import test from 'ava';
import { createPrng, testSeed } from './helpers/seed.js';
import { KeyValueTable } from '../lib/kv/key-value-table.js';
import type { JsonValue } from '../lib/kv/command.js';

const utf8 = new TextEncoder();

function keysOf(table: KeyValueTable): string[] {
  const keys: string[] = [];
  for (let id = table.first(); id >= 0; id = table.next(id)) keys.push(table.keyOf(id));
  return keys;
}

function set(table: KeyValueTable, key: string, value: JsonValue): void {
  let id = table.find(key);
  if (id < 0) id = table.insert(key);
  if (typeof value === 'string') table.setString(id, value);
  else table.setJson(id, value);
}

test('a key is found by its string and by its UTF-8 bytes alike, ASCII or not', (t) => {
  const table = new KeyValueTable();
  for (const key of ['k1', 'é', '日本', '😀x', 'a'.repeat(1024), '']) {
    const id = table.insert(key);
    const bytes = utf8.encode(`xx${key}yy`);
    t.is(table.find(key), id, key);
    t.is(table.findBytes(bytes, 2, bytes.length - 2), id, key);
    t.is(table.keyOf(id), key);
    t.deepEqual(table.keyBytesOf(id), utf8.encode(key));
  }
  t.is(table.find('k2'), -1);
  t.is(table.find('x'.repeat(100_000)), -1, 'a key far longer than any stored one is looked up without trouble');
  t.is(table.find('k'), -1);
  t.is(table.size, 6);
});

test('a string value is overwritten in place when it fits, and moved when it does not', (t) => {
  const table = new KeyValueTable();
  const id = table.insert('k');
  t.is(table.value(id), null);
  table.setString(id, 'abcdef');
  const start = table.usage().valueBytes;
  table.setString(id, 'abc');
  t.is(table.value(id), 'abc');
  t.is(table.usage().valueBytes, start, 'a shorter value reuses the region');
  table.setString(id, 'x'.repeat(100));
  t.is(table.value(id), 'x'.repeat(100));
  t.true(table.usage().valueDead > 0, 'the outgrown region is counted dead');
  table.setJson(id, [1, 2]);
  t.false(table.isString(id));
  t.deepEqual(table.json(id), [1, 2]);
  t.throws(() => table.stringBytesOf(id), { message: /not a string/ });
  t.throws(() => table.setJson(id, 'text'), { message: /setString/ });
  table.remove(id);
  t.throws(() => table.value(id), { message: /not a live key/ });
});

test('insertion order survives removals, and a walk behaves as a Map iterator under changes', (t) => {
  const table = new KeyValueTable();
  const map = new Map<string, number>();
  for (const key of ['a', 'b', 'c', 'd']) {
    table.insert(key);
    map.set(key, 0);
  }
  table.walkBegin();
  const iterator = map.keys();
  const walked: string[] = [];
  const iterated: string[] = [];
  const step = (): void => {
    const id = table.walkNext();
    if (id >= 0) walked.push(table.keyOf(id));
    const next = iterator.next();
    if (next.done !== true) iterated.push(next.value);
  };
  step(); // a
  table.remove(table.find('a')); // the key the walk stands on
  map.delete('a');
  table.remove(table.find('c')); // one ahead of it
  map.delete('c');
  table.insert('e'); // a new key: reached at the end
  map.set('e', 0);
  step(); // b
  table.remove(table.find('b'));
  map.delete('b');
  table.insert('a'); // removed, then inserted again: comes round a second time
  map.set('a', 0);
  step();
  step();
  step();
  step();
  t.deepEqual(walked, iterated);
  t.deepEqual(walked, ['a', 'b', 'd', 'e', 'a']);
  t.deepEqual(keysOf(table), [...map.keys()]);
});

test('the table agrees with a Map through inserts, overwrites, type changes and removals, across growth and compaction (seeded model check)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  const table = new KeyValueTable();
  const model = new Map<string, JsonValue>();
  const alphabets = [['a', 'b', 'c'], ['é', '日', '😀', 'a']];
  const text = (maxLength: number): string => {
    const alphabet = alphabets[random() < 0.8 ? 0 : 1]!;
    const length = Math.floor(random() * maxLength);
    let out = '';
    while (out.length < length) out += alphabet[Math.floor(random() * alphabet.length)];
    return out;
  };
  // Few keys early (many overwrites), thousands later (the slots grow and probe runs get long).
  for (let step = 0; step < 60_000; step++) {
    const keySpace = step < 20_000 ? 50 : 5_000;
    const key = random() < 0.05 ? `long-${text(300)}` : `k${Math.floor(random() * keySpace)}${random() < 0.1 ? text(4) : ''}`;
    const roll = random();
    if (roll < 0.55) {
      const value: JsonValue = random() < 0.85 ? text(random() < 0.05 ? 3000 : 40) : [step, 'x'];
      set(table, key, value);
      model.set(key, value);
    } else if (roll < 0.8) {
      const id = table.find(key);
      t.is(id >= 0, model.has(key), `seed ${seed} step ${step}: ${key} present`);
      if (id >= 0) table.remove(id);
      model.delete(key);
    } else {
      const id = table.find(key);
      t.is(id < 0 ? undefined : table.value(id), model.get(key), `seed ${seed} step ${step}: read ${key}`);
    }
    if (step % 10_000 === 9_999) {
      t.is(table.size, model.size, `seed ${seed} step ${step}`);
      t.deepEqual(keysOf(table), [...model.keys()], `seed ${seed} step ${step}: insertion order`);
    }
  }
  for (const [key, value] of model) t.deepEqual(table.value(table.find(key)), value, `seed ${seed}: final ${key}`);
  const usage = table.usage();
  t.true(usage.slots >= 2 * table.size, 'slots at most half full');
  t.true(usage.keyBytes < 4 * 1024 * 1024 && usage.valueBytes < 16 * 1024 * 1024, `seed ${seed}: arenas stay bounded (${JSON.stringify(usage)})`);
});

test('reserve makes room at once: what it was told of fits without growing, and what the table held is still found', (t) => {
  const table = new KeyValueTable();
  for (let i = 0; i < 50; i++) table.setString(table.insert(`old-${i}`), `value-${i}`);
  table.reserve(20_000, 20_000 * 100);
  const reserved = table.usage();
  t.true(reserved.valueArenaBytes < 1.1 * 20_000 * (100 + 8), `the arena is what was asked for, not twice: ${reserved.valueArenaBytes} bytes`);
  for (let i = 0; i < 50; i++) t.is(table.value(table.find(`old-${i}`)), `value-${i}`);
  for (let i = 0; i < 20_000; i++) table.setString(table.insert(`new-${i}`), 'v'.repeat(100));
  const after = table.usage();
  t.is(after.slots, reserved.slots, 'no rehash');
  t.is(after.valueArenaBytes, reserved.valueArenaBytes, 'no arena growth');
  t.is(table.size, 20_050);
  t.is(table.value(table.find('new-19999')), 'v'.repeat(100));
  t.is(table.find('absent'), -1);
});
