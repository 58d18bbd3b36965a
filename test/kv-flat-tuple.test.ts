// The hand-written fast path for flat command tuples must never read bytes differently
// from msgpackr: it either returns exactly what msgpackr returns, or declines (null).

import test from 'ava';
import { Packr, Unpackr } from 'msgpackr';
import { asciiStrAt, msgpackItemEnd, readFlatTupleInto } from '../lib/kv/flat-tuple.js';
import { decodeCommand } from '../lib/kv/command.js';

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

test('an array header counting more elements than there are bytes is declined without growing the array read into', (t) => {
  // From the KV audit (thirtieth session): readFlatTupleInto set the shared array's length
  // to the header's count first, 2^24 for a 7-byte write frame: 128 MB, seconds of the
  // leader's thread, and every command decoded slower after it.
  const elements: unknown[] = [];
  for (const count of [3, 0x10000, 0x1000000, 0xffffffff]) {
    const header = count < 0x10000 ? [0xdc, count >> 8, count & 0xff] : [0xdd, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff];
    t.false(readFlatTupleInto(Uint8Array.from([...header, 0x02, 0x02]), elements), `count ${count}`);
    t.true(elements.length <= 2, `count ${count}: the array was grown to ${elements.length}`);
  }
  t.deepEqual(readFlatTuple(Uint8Array.from([0xdc, 0x00, 0x02, 0x02, 0x02])), [2, 2], 'an honest array16 still reads');
  const command = Uint8Array.from([0xdd, 0x01, 0x00, 0x00, 0x00, 0x02, 0x02]);
  const error = t.throws(() => decodeCommand(command));
  t.is((error as { code?: unknown } | undefined)?.code, 'MALFORMED_COMMAND');
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

/** A random JSON-like value (and some of msgpack's other kinds), nested up to `depth`. */
function randomValue(random: () => number, depth: number): unknown {
  const roll = random();
  if (depth > 0 && roll < 0.15) return Array.from({ length: Math.floor(random() * (random() < 0.1 ? 40 : 5)) }, () => randomValue(random, depth - 1));
  if (depth > 0 && roll < 0.3) {
    const object: Record<string, unknown> = {};
    for (let i = Math.floor(random() * (random() < 0.1 ? 40 : 5)); i > 0; i--) object[`k${Math.floor(random() * 100)}`] = randomValue(random, depth - 1);
    return object;
  }
  if (roll < 0.35) return new Uint8Array(Math.floor(random() * 300));
  if (roll < 0.4) return new Date(Math.floor(random() * 2e12));
  return scalars[Math.floor(random() * scalars.length)];
}

test('msgpackItemEnd finds where msgpackr stops reading an item, of any kind and depth; truncated or 0xc1, -1 (seeded)', (t) => {
  const seed = testSeed('KV_TEST_SEED');
  const random = createPrng(seed);
  for (let round = 0; round < 2_000; round++) {
    const value = randomValue(random, 4);
    const packed = Uint8Array.from(packr.pack(value));
    const at = Math.floor(random() * 4);
    const bytes = new Uint8Array(at + packed.length + 3);
    bytes.set(packed, at);
    bytes.set([0xc1, 0x01, 0x02], at + packed.length);
    t.is(msgpackItemEnd(bytes, at), at + packed.length, `seed ${seed} round ${round}`);
    const cut = at + Math.floor(random() * packed.length);
    t.is(msgpackItemEnd(bytes.subarray(0, cut), at), -1, `seed ${seed} round ${round}: cut at ${cut}`);
  }
  t.is(msgpackItemEnd(Uint8Array.of(0xc1), 0), -1);
  t.is(msgpackItemEnd(Uint8Array.of(0x92, 0x01, 0xc1), 0), -1);
  // A count far beyond the bytes runs out of them, quickly.
  t.is(msgpackItemEnd(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01), 0), -1);
});

test('asciiStrAt gives the text of an ASCII string in every string form, and declines the rest', (t) => {
  const range = { start: -1, end: -1 };
  for (const length of [0, 1, 31, 32, 255, 256, 65_535, 65_536]) {
    const text = 'abc'.repeat(length).slice(0, length);
    const bytes = Uint8Array.from(packr.pack(['x', text]));
    t.true(asciiStrAt(bytes, 3, range), `length ${length}`);
    t.is(range.end - range.start, length);
    t.is(range.end, bytes.length);
    t.is(Buffer.from(bytes.subarray(range.start, range.end)).toString('latin1'), text);
  }
  range.start = -1;
  for (const value of ['é', `${'a'.repeat(40)}\u0080`, 7, null, ['a'], new Uint8Array(3)]) {
    t.false(asciiStrAt(Uint8Array.from(packr.pack(value)), 0, range), JSON.stringify(value));
  }
  // Not scanning (bytes already known to be ASCII), it only finds where the text lies.
  t.true(asciiStrAt(Uint8Array.from(packr.pack('é')), 0, range, false));
  t.deepEqual(range, { start: 1, end: 3 });
  range.start = -1;
  const truncated = Uint8Array.from(packr.pack('a'.repeat(40))).subarray(0, 30);
  t.false(asciiStrAt(truncated, 0, range));
  t.is(range.start, -1, 'a declined string leaves the range alone');
});
