import test from 'ava';
import { EntryDeque } from '../lib/raft/entry-deque.js';
import type { Entry } from '../lib/raft/types.js';
import { createPrng, testSeed } from './helpers/seed.js';

const CHUNK_ENTRIES = 4096;

function entry(index: number): Entry {
  return { index, term: 1, data: null };
}

test('entry deque: pushes, drops, truncations and overwrites across chunk boundaries agree with an array (seeded)', (t) => {
  const seed = testSeed('ENTRY_DEQUE_SEED');
  const random = createPrng(seed);
  const deque = new EntryDeque();
  let model: Entry[] = [];
  let next = 1;
  for (let step = 0; step < 400; step++) {
    const roll = random();
    // Sizes around a chunk, so that every operation starts and ends inside, at and across chunk edges.
    const size = Math.floor(random() * (random() < 0.3 ? 3 * CHUNK_ENTRIES : 64));
    if (roll < 0.5) {
      for (let i = 0; i < size; i++) {
        const pushed = entry(next++);
        deque.push(pushed);
        model.push(pushed);
      }
    } else if (roll < 0.7) {
      const count = Math.min(model.length, size);
      deque.dropFront(count);
      model = model.slice(count);
    } else if (roll < 0.85) {
      const count = Math.max(0, model.length - size);
      deque.truncate(count);
      model = model.slice(0, count);
    } else if (model.length > 0) {
      const position = Math.floor(random() * model.length);
      const replacement = { index: -position, term: 2, data: null };
      deque.set(position, replacement);
      model[position] = replacement;
    }
    const where = `seed ${seed} (ENTRY_DEQUE_SEED), step ${step}`;
    if (deque.length !== model.length) {
      t.fail(`${where}: length ${deque.length}, model ${model.length}`);
      return;
    }
    for (const position of [-1, 0, 1, CHUNK_ENTRIES - 1, CHUNK_ENTRIES, model.length - 1, model.length, model.length + CHUNK_ENTRIES]) {
      if (deque.at(position) !== model[position]) {
        t.fail(`${where}: at(${position}) differs from the model`);
        return;
      }
    }
    const start = Math.floor(random() * (model.length + 1));
    const end = start + Math.floor(random() * (model.length - start + 1));
    const copied = deque.copy(start, end);
    const expected = model.slice(start, end);
    if (copied.length !== expected.length || copied.some((value, i) => value !== expected[i])) {
      t.fail(`${where}: copy(${start}, ${end}) differs from the model`);
      return;
    }
  }
  t.deepEqual(deque.copy(0, deque.length), model, `seed ${seed} (ENTRY_DEQUE_SEED)`);
});

test('entry deque: out-of-range operations are refused', (t) => {
  const deque = new EntryDeque();
  for (let index = 1; index <= 10; index++) deque.push(entry(index));
  t.throws(() => deque.set(10, entry(99)), { message: /outside/ });
  t.throws(() => deque.copy(5, 11), { message: /outside/ });
  t.throws(() => deque.copy(6, 5), { message: /outside/ });
  t.throws(() => deque.dropFront(11), { message: /cannot drop/ });
  t.throws(() => deque.truncate(11), { message: /cannot keep/ });
  t.is(deque.length, 10);
  t.is(deque.at(9)?.index, 10);
});

test('entry deque: a long log grows chunk by chunk and a drop reuses the chunks it released', (t) => {
  const deque = new EntryDeque();
  const total = 10 * CHUNK_ENTRIES + 17;
  for (let index = 1; index <= total; index++) deque.push(entry(index));
  t.is(deque.length, total);
  t.is(deque.at(total - 1)?.index, total);
  deque.dropFront(5 * CHUNK_ENTRIES + 3);
  t.is(deque.at(0)?.index, 5 * CHUNK_ENTRIES + 4);
  for (let index = total + 1; index <= total + 6 * CHUNK_ENTRIES; index++) deque.push(entry(index));
  t.is(deque.length, total - (5 * CHUNK_ENTRIES + 3) + 6 * CHUNK_ENTRIES);
  const all = deque.copy(0, deque.length);
  t.true(all.every((value, i) => value.index === 5 * CHUNK_ENTRIES + 4 + i), 'contiguous after reuse');
  deque.truncate(0);
  t.is(deque.length, 0);
  t.is(deque.at(0), undefined);
  deque.push(entry(1));
  t.is(deque.at(0)?.index, 1);
});
