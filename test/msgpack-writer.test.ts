// MsgpackWriter writes what msgpackr would write for the same values, byte for byte: the
// hand-written AppendEntries batches and WAL records must stay readable by msgpackr and
// keep the layout codec.ts patches (`to` at a computed offset).

import test from 'ava';
import { Packr } from 'msgpackr';
import { MsgpackWriter, decimalLength } from '../lib/transport/msgpack-writer.js';
import { encodeRaftBatch, WIRE_FORMAT_VERSION } from '../lib/transport/codec.js';
import { encodeBatchPayload } from '../lib/storage/record.js';
import { MessageType } from '../lib/raft/types.js';
import type { AppendEntries, Entry, Heartbeat, InstallSnapshot } from '../lib/raft/types.js';
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

test('batches carrying snapshot chunks are the bytes msgpackr makes of their tuples, in a buffer of their own (seeded)', (t) => {
  const seed = testSeed('WRITER_TEST_SEED');
  const random = createPrng(seed);
  const snapshot = new Uint8Array(3 << 20);
  for (let i = 0; i < snapshot.length; i += 4096) snapshot[i] = i >>> 12;
  for (let round = 0; round < 60; round++) {
    // Chunk sizes across every bin length form, up to the default 1 MiB; a joint configuration now and then.
    const chunkBytes = [0, 1, 200, 255, 256, 65_535, 65_536, 1 << 20][Math.floor(random() * 8)]!;
    const count = 1 + Math.floor(random() * 4);
    const term = 1 + Math.floor(random() * 70_000);
    const membership = random() < 0.3 ? { voters: [1, 2, 3], learners: [7], outgoing: [1, 2, 4] } : { voters: [1, 2, 3], learners: [] };
    const chunks: InstallSnapshot[] = Array.from({ length: count }, (_, i) => {
      const offset = Math.min(snapshot.length, i * chunkBytes);
      const end = Math.min(snapshot.length, offset + chunkBytes);
      return {
        type: MessageType.InstallSnapshot,
        term,
        from: 1,
        to: 2,
        lastIncludedIndex: 1 + Math.floor(random() * 2 ** 40),
        lastIncludedTerm: term,
        offset,
        totalBytes: snapshot.length,
        data: snapshot.subarray(offset, end),
        done: end === snapshot.length,
        membership,
      };
    });
    const heartbeat: Heartbeat = { type: MessageType.Heartbeat, term, from: 1, to: 2, leaderCommit: 5, context: 0 };
    const messages = random() < 0.5 ? chunks : [heartbeat, ...chunks];
    const tuples = messages.map((message) =>
      message.type === MessageType.Heartbeat
        ? [5, term, 1, 2, message.leaderCommit, message.context]
        : [8, term, 1, 2, message.lastIncludedIndex, message.lastIncludedTerm, message.offset, message.totalBytes, message.data, message.done, membership.outgoing === undefined ? [membership.voters, membership.learners] : [membership.voters, membership.learners, membership.outgoing]],
    );
    const encoded = encodeRaftBatch(messages);
    t.deepEqual(bytes(encoded), bytes(packr.pack([WIRE_FORMAT_VERSION, tuples])), `seed ${seed} round ${round}`);
    // Its own buffer, starting at 0, so that transferring it hands over nothing else.
    t.is(encoded.byteOffset, 0);
    t.true(encoded.buffer.byteLength - encoded.byteLength <= (messages.length + 1) * 256, `seed ${seed} round ${round}: ${encoded.buffer.byteLength - encoded.byteLength} bytes of slack`);
  }
  // Two batches never share memory.
  const a = encodeRaftBatch([{ type: MessageType.InstallSnapshot, term: 1, from: 1, to: 2, lastIncludedIndex: 1, lastIncludedTerm: 1, offset: 0, totalBytes: 10, data: snapshot.subarray(0, 10), done: true, membership: { voters: [1, 2], learners: [] } }]);
  const b = encodeRaftBatch([{ type: MessageType.InstallSnapshot, term: 1, from: 1, to: 3, lastIncludedIndex: 1, lastIncludedTerm: 1, offset: 0, totalBytes: 10, data: snapshot.subarray(0, 10), done: true, membership: { voters: [1, 3], learners: [] } }]);
  t.not(a.buffer, b.buffer);
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
