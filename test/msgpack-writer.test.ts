// MsgpackWriter writes what msgpackr would write for the same values, byte for byte: the
// hand-written AppendEntries batches and WAL records must stay readable by msgpackr and
// keep the layout codec.ts patches (`to` at a computed offset).

import test from 'ava';
import { Packr } from 'msgpackr';
import { MsgpackWriter, decimalLength } from '../lib/transport/msgpack-writer.js';
import { encodeRaftBatch, WIRE_FORMAT_VERSION } from '../lib/transport/codec.js';
import { encodeBatchPayload } from '../lib/storage/record.js';
import { MessageType } from '../lib/raft/types.js';
import type { AppendEntries, Entry } from '../lib/raft/types.js';
import { createPrng, testSeed } from './helpers/seed.js';

const packr = new Packr({ useRecords: false });

function bytes(view: Uint8Array): number[] {
  return [...view];
}

test('each primitive is written as msgpackr writes it', (t) => {
  const uints = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff];
  for (const value of uints) {
    const writer = new MsgpackWriter(8);
    writer.uint(value);
    t.deepEqual(bytes(writer.written()), bytes(packr.pack(value)), `uint ${value}`);
  }
  const strings = ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(255), 'y'.repeat(256), 'z'.repeat(70_000), 'é', '日本語'.repeat(20), '😀'];
  for (const value of strings) {
    const writer = new MsgpackWriter(8);
    writer.str(value);
    t.deepEqual(bytes(writer.written()), bytes(packr.pack(value)), `string of ${value.length} units`);
  }
  for (const length of [0, 1, 255, 256, 65_535, 65_536]) {
    const data = new Uint8Array(length).fill(9);
    const writer = new MsgpackWriter(8);
    writer.bin(data);
    t.deepEqual(bytes(writer.written()), bytes(packr.pack(data)), `bin of ${length}`);
  }
  for (const count of [0, 15, 16, 65_535, 65_536]) {
    const writer = new MsgpackWriter(8);
    writer.arrayHeader(count);
    for (let i = 0; i < count; i++) writer.nil();
    t.deepEqual(bytes(writer.written()), bytes(packr.pack(new Array(count).fill(null))), `array of ${count}`);
  }
  const writer = new MsgpackWriter(8);
  writer.bool(true);
  writer.bool(false);
  writer.nil();
  t.deepEqual(bytes(writer.written()), [0xc3, 0xc2, 0xc0]);
  t.throws(() => writer.uint(-1), { instanceOf: RangeError });
  t.throws(() => writer.uint(1.5), { instanceOf: RangeError });
});

test('AppendEntries batches and WAL records are the bytes msgpackr makes of their tuples (seeded)', (t) => {
  const seed = testSeed('WRITER_TEST_SEED');
  const random = createPrng(seed);
  for (let round = 0; round < 200; round++) {
    const count = Math.floor(random() * 40);
    const first = 1 + Math.floor(random() * 2 ** (1 + Math.floor(random() * 40)));
    const term = 1 + Math.floor(random() * 70_000);
    const entries: Entry[] = Array.from({ length: count }, (_, i) => ({
      index: first + i,
      term,
      data: random() < 0.1 ? null : new Uint8Array(Math.floor(random() * 300)).fill(i & 0xff),
    }));
    const message: AppendEntries = {
      type: MessageType.AppendEntries,
      term,
      from: 1,
      to: 2,
      prevLogIndex: first - 1,
      prevLogTerm: term,
      leaderCommit: Math.floor(random() * first),
      entries,
    };
    const flat = entries.flatMap((entry) => [entry.index, entry.term, entry.data]);
    const tuple = [3, message.term, message.from, message.to, message.prevLogIndex, message.prevLogTerm, message.leaderCommit, flat];
    t.deepEqual(bytes(encodeRaftBatch([message])), bytes(packr.pack([WIRE_FORMAT_VERSION, [tuple]])), `seed ${seed} round ${round}`);
    const hardState = random() < 0.5 ? null : { currentTerm: term, votedFor: 2, commitIndex: message.leaderCommit };
    const record = [2, count === 0 ? 0 : first, entries.map((entry) => entry.term), entries.map((entry) => entry.data), hardState === null ? null : [hardState.currentTerm, hardState.votedFor, hardState.commitIndex]];
    t.deepEqual(bytes(encodeBatchPayload(first, entries, hardState)), bytes(packr.pack(record)), `seed ${seed} round ${round} (WAL)`);
  }
});

test('release hands over what was written without a copy, and the writer writes on into a new buffer', (t) => {
  const writer = new MsgpackWriter(4);
  writer.arrayHeader(2);
  writer.str('a'.repeat(40));
  writer.uint(70_000);
  const expected = bytes(writer.written());
  const released = writer.release();
  t.deepEqual(bytes(released), expected);
  t.deepEqual(bytes(released), bytes(packr.pack(['a'.repeat(40), 70_000])));
  t.is(writer.length, 0);
  // Writing again (from an empty buffer, grown as needed) leaves the released bytes alone.
  writer.str('b'.repeat(100));
  t.deepEqual(bytes(writer.written()), bytes(packr.pack('b'.repeat(100))));
  t.deepEqual(bytes(released), expected);
  // An empty writer releases an empty view.
  t.is(new MsgpackWriter(16).release().byteLength, 0);
});

test('a value the writers cannot write is refused with what was wrong', (t) => {
  const out = new MsgpackWriter(16);
  t.throws(() => out.uint(-1), { instanceOf: RangeError, message: '-1 is not a safe non-negative integer' });
  t.throws(() => out.uint(2 ** 53), { instanceOf: RangeError, message: `${2 ** 53} is not a safe non-negative integer` });
  t.throws(() => out.asciiDigits(1234, 3), { instanceOf: RangeError, message: '1234 does not have 3 decimal digits' });
  t.throws(() => out.asciiDigits(12, 3), { instanceOf: RangeError, message: '12 does not have 3 decimal digits' });
  t.throws(() => decimalLength(1.5), { instanceOf: RangeError, message: '1.5 is not a safe non-negative integer' });
  out.asciiDigits(1234, 4);
  t.deepEqual(Array.from(out.take()), [0x31, 0x32, 0x33, 0x34]);
});
