// The client <-> node wire: tuples in, checked frames out; garbage refused, never thrown.

import test from 'ava';
import { decodeClientBatch, decodeReplyBatch, encodeClientBatch, encodeReplyBatch, packExact } from '../lib/cluster/protocol.js';
import type { ClientFrame, Reply } from '../lib/cluster/protocol.js';
import { createPrng } from '../lib/raft/prng.js';

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
