// The hand-written fast path for flat command tuples must never read bytes differently
// from msgpackr: it either returns exactly what msgpackr returns, or declines (null).

import test from 'ava';
import { Packr, Unpackr } from 'msgpackr';
import { readFlatTupleInto } from '../lib/kv/flat-tuple.js';

/** The elements readFlatTupleInto reads into a fresh array, or null when it declines. */
function readFlatTuple(bytes: Uint8Array): unknown[] | null {
  const elements: unknown[] = [];
  return readFlatTupleInto(bytes, elements) ? elements : null;
}
import { createPrng, testSeed } from './helpers/seed.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function msgpackrReads(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: unpackr.unpack(Uint8Array.from(bytes)) };
  } catch {
    return { ok: false };
  }
}

const scalars: unknown[] = [
  0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
  -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -1e300, 1e-300,
  null, true, false, '', 'a', 'key-42', 'é', '日本語', '\uFEFFbom', '😀', 'x'.repeat(31), 'y'.repeat(32),
  'z'.repeat(255), 'w'.repeat(256), 'v'.repeat(70_000), '3f0a2b8c-1111-4222-8333-944455556666',
];

test('flat tuples of every scalar kind read exactly as msgpackr reads them', (t) => {
  let fast = 0;
  for (const scalar of scalars) {
    const bytes = packr.pack([2, 'client', 7, 1, 1, 'k', scalar]);
    const read = readFlatTuple(bytes);
    const reference = msgpackrReads(bytes);
    t.true(reference.ok);
    if (read === null) continue;
    fast++;
    t.deepEqual(read, (reference as { value: unknown }).value, `scalar ${JSON.stringify(scalar)?.slice(0, 40)}`);
  }
  // Everything above but the 64-bit integers is on the fast path.
  t.true(fast >= scalars.length - 4, `only ${fast} of ${scalars.length} took the fast path`);
});

test('strings of every short length, and ones holding U+FFFD, read exactly as msgpackr reads them', (t) => {
  const texts: string[] = [];
  for (let length = 0; length <= 40; length++) {
    texts.push('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ'.slice(0, length));
    if (length > 0) texts.push('é'.repeat(length), `${'k'.repeat(length - 1)}\u007f`);
  }
  // U+FFFD is valid UTF-8 (EF BF BD): the native slice's replacement character must not
  // be mistaken for it, nor it for invalid input.
  texts.push('\uFFFD', `a\uFFFD${'b'.repeat(40)}`, `${'c'.repeat(20)}\uFFFD`);
  for (const text of texts) {
    const bytes = packr.pack([1, text]);
    t.deepEqual(readFlatTuple(bytes), (msgpackrReads(bytes) as { value: unknown }).value, JSON.stringify(text));
  }
  // Invalid UTF-8 in a long string: msgpackr decides (the fast path declines).
  const long = Uint8Array.from(packr.pack([1, 'd'.repeat(40)]));
  long[10] = 0xff;
  t.is(readFlatTuple(long), null);
});

test('readFlatTupleInto reuses one array across tuples of different lengths', (t) => {
  const out: unknown[] = ['stale', 'stale', 'stale', 'stale', 'stale', 'stale', 'stale', 'stale', 'stale'];
  t.true(readFlatTupleInto(packr.pack([2, 'c', 5, 4, 1, 'k', 'v']), out));
  t.deepEqual(out, [2, 'c', 5, 4, 1, 'k', 'v']);
  t.true(readFlatTupleInto(packr.pack([1, 'c']), out));
  t.deepEqual(out, [1, 'c']);
  t.false(readFlatTupleInto(packr.pack([1, [2]]), out));
  t.true(readFlatTupleInto(packr.pack([3, 'x', null]), out));
  t.deepEqual(out, [3, 'x', null]);
});

test('nested values, maps, trailing bytes and truncation are declined', (t) => {
  t.is(readFlatTuple(packr.pack([1, [2]])), null);
  t.is(readFlatTuple(packr.pack([1, { a: 1 }])), null);
  t.is(readFlatTuple(packr.pack({ a: 1 })), null);
  const whole = packr.pack([1, 'abc']);
  t.is(readFlatTuple(Uint8Array.from([...whole, 0])), null);
  for (let cut = 0; cut < whole.length; cut++) t.is(readFlatTuple(whole.subarray(0, cut)), null, `cut at ${cut}`);
  t.is(readFlatTuple(Uint8Array.from([0x92, 0xa2, 0xff, 0xfe, 0x01])), null, 'invalid UTF-8 is left to msgpackr');
});

test('fuzz: on mutated tuples the fast path agrees with msgpackr or declines', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  let agreed = 0;
  for (let iteration = 0; iteration < 20_000; iteration++) {
    const scalar = scalars[Math.floor(random() * (scalars.length - 1))];
    const input = Uint8Array.from(packr.pack([2, 'client-é', Math.floor(random() * 1e6), 3, 1, 'key', scalar]));
    const mutations = Math.floor(random() * 4);
    for (let m = 0; m < mutations; m++) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
    const read = readFlatTuple(input);
    if (read === null) continue;
    const reference = msgpackrReads(input);
    if (!reference.ok) {
      t.fail(`seed ${seed} iteration ${iteration}: fast path read ${JSON.stringify(read).slice(0, 80)}, msgpackr refused`);
      return;
    }
    try {
      t.deepEqual(read, reference.value);
    } catch (error) {
      t.fail(`seed ${seed} iteration ${iteration}: ${String(error)}`);
      return;
    }
    agreed++;
  }
  t.true(agreed > 1000, `seed ${seed}: only ${agreed} inputs took the fast path`);
  t.log(`seed ${seed}: ${agreed} of 20000 (mutated) tuples read on the fast path, all as msgpackr reads them`);
});
