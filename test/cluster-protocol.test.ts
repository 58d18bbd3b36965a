// The client <-> node wire: tuples in, checked frames out; garbage refused, never thrown.

import test from 'ava';
import { Unpackr } from 'msgpackr';
import { decodeClientBatch, decodeReplyBatch, encodeClientBatch, encodeReplyBatch, packExact, readClientBatch, readReplyBatch } from '../lib/cluster/protocol.js';
import type { ClientFrame, Reply } from '../lib/cluster/protocol.js';
import { createPrng, testSeed } from './helpers/seed.js';

test('client frames round-trip', (t) => {
  const frames: ClientFrame[] = [
    { t: 'w', rid: 1, command: new Uint8Array([1, 2, 3]) },
    { t: 'r', rid: 2, key: 'k' },
    { t: 'w', rid: Number.MAX_SAFE_INTEGER, command: new Uint8Array(0) },
  ];
  const decoded = decodeClientBatch(encodeClientBatch(frames));
  t.is(decoded.malformed, 0);
  t.deepEqual(
    decoded.frames.map((f) => (f.t === 'w' ? { ...f, command: [...f.command] } : f)),
    frames.map((f) => (f.t === 'w' ? { ...f, command: [...f.command] } : f)),
  );
});

test('replies round-trip', (t) => {
  const replies: Reply[] = [
    { rid: 5, ok: true, value: { a: [1, 'two', null] } },
    { rid: 6, ok: true, value: null },
    { rid: 7, ok: false, code: 'NOT_LEADER', message: 'node 2 is not the leader', leaderId: 3 },
  ];
  t.deepEqual(decodeReplyBatch(encodeReplyBatch(replies)), replies);
});

test('malformed client frames are counted with a reason, the good ones kept', (t) => {
  const bytes = packExact([[1, 9, new Uint8Array([7])], [1, -1, new Uint8Array([7])], [2, 3, 42], [3, 4, 'x'], { t: 'w', rid: 5 }, 'junk', [2, 6, 'ok']]);
  const decoded = decodeClientBatch(bytes);
  t.deepEqual(decoded.frames.map((frame) => frame.rid), [9, 6]);
  t.is(decoded.malformed, 5);
  t.true(decoded.reasons.every((reason) => reason.length > 0));
  for (const garbage of ['text', null, 42, new Uint8Array([0xc1]), new Uint8Array(0), packExact({ not: 'an array' })]) {
    const result = decodeClientBatch(garbage);
    t.is(result.frames.length, 0);
    t.is(result.malformed, 1);
  }
});

test('refused frames with a readable rid are listed to be answered; a 64-bit tag (a BigInt) is described, not thrown on', (t) => {
  const bytes = packExact([[2, 9, 'ok'], [7, 10, 'a'], [1, 11, 42], [2, 12, 5], [2, -1, 'x']]);
  const decoded = decodeClientBatch(bytes);
  t.deepEqual(decoded.frames.map((frame) => frame.rid), [9]);
  t.deepEqual(decoded.refused.map((frame) => frame.rid), [10, 11, 12], 'the frame with no valid rid cannot be answered');
  t.regex(decoded.refused[0]!.reason, /unknown frame tag 7/);
  // The audit's 14 bytes: [[uint64 above 2^53, 5, "a"]], which crashed the node it reached.
  const bigTag = new Uint8Array([0x91, 0x93, 0xcf, 0x5f, 0xc4, 0x08, 0x96, 0x02, 0x02, 0x12, 0x01, 0x05, 0xa1, 0x61]);
  const result = decodeClientBatch(bigTag);
  t.is(result.malformed, 1);
  t.deepEqual(result.refused.map((frame) => frame.rid), [5]);
  t.regex(result.refused[0]!.reason, /unknown frame tag \d+n/);
});

test('random and mutated bytes never throw from the node-side decoder, and what passes is well-formed (seeded)', (t) => {
  const seed = 20_261_126;
  const random = createPrng(seed);
  const valid = encodeClientBatch([
    { t: 'w', rid: 1, command: new Uint8Array([1, 2, 3]) },
    { t: 'r', rid: 2, key: 'key' },
  ]);
  let framesSeen = 0;
  for (let i = 0; i < 5000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(random() * 40));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    } else {
      bytes = valid.slice();
      const position = Math.floor(random() * bytes.length);
      bytes[position] = bytes[position]! ^ (1 << Math.floor(random() * 8));
    }
    let decoded: ReturnType<typeof decodeClientBatch> | undefined;
    t.notThrows(() => {
      decoded = decodeClientBatch(bytes);
    }, `seed ${seed}, case ${i}`);
    for (const frame of decoded!.frames) {
      framesSeen++;
      if (!(Number.isSafeInteger(frame.rid) && frame.rid >= 0)) t.fail(`seed ${seed}, case ${i}: bad rid ${frame.rid}`);
      if (frame.t === 'w' ? !(frame.command instanceof Uint8Array) : typeof frame.key !== 'string') t.fail(`seed ${seed}, case ${i}: bad frame`);
    }
  }
  t.true(framesSeen > 0, 'mutations of a valid batch must leave some frames intact');
});

// The hand-read fast paths (readClientBatch, readReplyBatch) must agree with msgpackr on
// everything they accept; they decline the rest, which then takes the general path.
const referenceUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function msgpackrTuples(bytes: Uint8Array): unknown[] | null {
  try {
    const value: unknown = referenceUnpackr.unpack(Uint8Array.from(bytes));
    return Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

test('fuzz: batch fast paths read mutated batches exactly as msgpackr does, or decline (seeded)', (t) => {
  const seed = testSeed('PROTOCOL_TEST_SEED');
  const random = createPrng(seed);
  const clientBatch = encodeClientBatch([
    { t: 'w', rid: 1, command: new Uint8Array([0x92, 1, 0xa1, 0x61]) },
    { t: 'r', rid: 300, key: 'clé' },
    { t: 'w', rid: 2 ** 40, command: new Uint8Array(300).fill(7) },
  ]);
  const replyBatch = encodeReplyBatch([
    { rid: 1, ok: true, value: null },
    { rid: 70_000, ok: true, value: 'v'.repeat(40) },
    { rid: 3, ok: false, code: 'NOT_LEADER', message: 'node 2 is not the leader', leaderId: 3 },
    { rid: 4, ok: true, value: -7 },
  ]);
  let clientAccepted = 0;
  let replyAccepted = 0;
  for (let i = 0; i < 10_000; i++) {
    const source = i % 2 === 0 ? clientBatch : replyBatch;
    const bytes = source.slice();
    const flips = Math.floor(random() * 3);
    for (let f = 0; f < flips; f++) {
      const position = Math.floor(random() * bytes.length);
      bytes[position] = Math.floor(random() * 256);
    }
    const reference = msgpackrTuples(bytes);
    if (i % 2 === 0) {
      const fast = readClientBatch(bytes);
      if (fast === null) continue;
      clientAccepted++;
      const asTuples = fast.map((frame) => (frame.t === 'w' ? [1, frame.rid, [...frame.command]] : [2, frame.rid, frame.key]));
      const expected = reference?.map((tuple) => (Array.isArray(tuple) && tuple[2] instanceof Uint8Array ? [tuple[0], tuple[1], [...tuple[2]]] : tuple));
      t.deepEqual(asTuples, expected, `seed ${seed}, case ${i}`);
    } else {
      const fast = readReplyBatch(bytes);
      if (fast === null) continue;
      replyAccepted++;
      // What the general path makes of msgpackr's reading (each accepted reply is well formed).
      const expected = reference?.map((raw) =>
        Array.isArray(raw) && raw.length === 2
          ? { rid: raw[0], ok: true, value: raw[1] ?? null }
          : Array.isArray(raw)
            ? { rid: raw[0], ok: false, code: raw[1], message: raw[2], leaderId: typeof raw[3] === 'number' ? raw[3] : 0 }
            : raw,
      );
      t.deepEqual(fast, expected, `seed ${seed}, case ${i}`);
    }
  }
  t.true(clientAccepted > 500 && replyAccepted > 500, `seed ${seed}: fast paths took ${clientAccepted} / ${replyAccepted}`);
  t.log(`seed ${seed}: fast paths accepted ${clientAccepted} client and ${replyAccepted} reply batches, all as msgpackr reads them`);
});
