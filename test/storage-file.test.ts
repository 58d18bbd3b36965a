// FileStorage on real files: every torn tail recovers, every flipped bit elsewhere is
// refused without touching a file, segments roll, truncateToSyncedPosition is exact.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, HardState, RestoredState } from '../lib/raft/types.js';
import { StorageCorruptionError, StorageError, StorageErrorCode } from '../lib/storage/errors.js';
import { openFileStorage, truncateToSyncedPosition, walFiles } from '../lib/storage/file-storage.js';
import { encodeBatchPayload, frame, segmentFileName } from '../lib/storage/record.js';
import type { LogStorage, SyncedPosition } from '../lib/storage/types.js';
import { eventually } from './helpers/cluster.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-wal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir: string, segmentBytes = 64 * 1024, fsync = true): LogStorage {
  return openFileStorage(dir, { fsync, segmentBytes, verifyWrites: true });
}

function batch(from: number, to: number, term: number): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push({ index, term, data: new TextEncoder().encode(`value ${index} of term ${term}`) });
  return result;
}

function hard(currentTerm: number, votedFor: number, commitIndex: number): HardState {
  return { currentTerm, votedFor, commitIndex };
}

function plain(state: RestoredState): unknown {
  return { hardState: state.hardState, entries: state.entries.map((e) => [e.index, e.term, e.data === null ? null : Buffer.from(e.data).toString('hex')]) };
}

/** Writes `syncs` batches of 3 entries each (one sync each) and returns the position and state before every sync. */
function writeBatches(storage: LogStorage, syncs: number, firstIndex = 1): { positions: SyncedPosition[] } {
  const positions: SyncedPosition[] = [];
  for (let i = 0; i < syncs; i++) {
    positions.push(storage.syncedPosition());
    const from = firstIndex + i * 3;
    storage.append(batch(from, from + 2, 1));
    storage.setHardState(hard(1, 1, from - 1));
    storage.sync();
  }
  positions.push(storage.syncedPosition());
  return { positions };
}

/** Loads and closes. No fsync: durability is not under test here, and fsyncs make the loops slow. */
function loadState(dir: string, segmentBytes?: number): RestoredState {
  const storage = open(dir, segmentBytes, false);
  try {
    return storage.load().state;
  } finally {
    storage.close();
  }
}

/** Every file in dir with its bytes: to prove a refused load changed nothing. */
function snapshotFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) files.set(name, readFileSync(join(dir, name)));
  return files;
}

function assertCorrupt(t: ExecutionContext, dir: string, file: string, offset: number, context: string): void {
  const before = snapshotFiles(dir);
  const storage = open(dir);
  const error = t.throws(() => storage.load(), { instanceOf: StorageCorruptionError }, context);
  storage.close();
  if (error instanceof StorageCorruptionError) {
    t.is(error.code, StorageErrorCode.Corrupt, context);
    t.is(error.file, join(dir, file), context);
    t.is(error.offset, offset, `${context}: ${error.message}`);
    t.true(error.message.includes(join(dir, file)) && error.message.includes(`offset ${offset}`) && error.message.includes('expected'), error.message);
  }
  const after = snapshotFiles(dir);
  t.deepEqual([...after.keys()], [...before.keys()], `${context}: file names changed`);
  for (const [name, bytes] of before) t.true(bytes.equals(after.get(name)!), `${context}: ${name} was modified`);
}

test('every truncation point inside the last record recovers to the last whole record', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const { positions } = writeBatches(storage, 5);
  storage.close();
  const lastStart = positions[4]!.offset;
  const end = positions[5]!.offset;
  const file = join(dir, segmentFileName(1));
  const original = readFileSync(file);
  t.is(original.length, end);
  // The state with only the first four batches: what every cut must recover to.
  writeFileSync(file, original.subarray(0, lastStart));
  const expected = plain(loadState(dir));
  t.true(end - lastStart > 16, 'the last record is long enough to cut in many places');
  for (let cut = lastStart + 1; cut < end; cut++) {
    writeFileSync(file, original.subarray(0, cut));
    const reopened = open(dir, undefined, false);
    const { state, recovery } = reopened.load();
    t.deepEqual(plain(state), expected, `cut at ${cut}`);
    t.is(recovery.truncatedBytes, cut - lastStart, `cut at ${cut}`);
    t.is(recovery.truncatedFile, file, `cut at ${cut}`);
    t.is(statSync(file).size, lastStart, `cut at ${cut}: the torn bytes are gone from the file`);
    t.deepEqual(reopened.syncedPosition(), { segment: 1, offset: lastStart });
    // The node starts and writes on from the cut.
    reopened.append(batch(13, 13, 2));
    reopened.sync();
    reopened.close();
    t.is(loadState(dir).entries.length, 13, `cut at ${cut}`);
  }
  // An intact file reports nothing dropped.
  writeFileSync(file, original);
  const intact = open(dir);
  t.is(intact.load().recovery.truncatedBytes, 0);
  intact.close();
});

test('a torn first record of a fresh segment (header and batch) recovers to the previous segment', (t) => {
  const dir = tempDir(t);
  const segmentBytes = 512;
  const storage = open(dir, segmentBytes);
  storage.load();
  let index = 1;
  while (storage.syncedPosition().segment < 2) {
    storage.append(batch(index, index + 2, 1));
    storage.sync();
    index += 3;
  }
  const lastIndex = index - 1;
  storage.close();
  const file = join(dir, segmentFileName(2));
  const original = readFileSync(file);
  for (let cut = 0; cut < original.length; cut++) {
    writeFileSync(file, original.subarray(0, cut));
    const reopened = open(dir, segmentBytes, false);
    const { state, recovery } = reopened.load();
    t.is(state.entries.length, lastIndex - 3, `cut at ${cut}`);
    t.true(recovery.truncatedBytes <= cut, `cut at ${cut}`);
    reopened.append(batch(lastIndex - 2, lastIndex - 2, 2));
    reopened.sync();
    reopened.close();
    const reloaded = loadState(dir, segmentBytes);
    t.is(reloaded.entries.length, lastIndex - 2, `cut at ${cut}`);
    t.is(reloaded.entries.at(-1)?.term, 2, `cut at ${cut}`);
  }
});

test('a zero-filled tail (a prepared segment\'s unused room) is kept, not cut, and written into', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const { positions } = writeBatches(storage, 3);
  storage.close();
  const file = join(dir, segmentFileName(1));
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(4096)]));
  const reopened = open(dir);
  const { state, recovery } = reopened.load();
  t.is(state.entries.length, 9);
  t.is(recovery.truncatedBytes, 0);
  t.is(recovery.truncatedFile, null);
  t.is(statSync(file).size, positions[3]!.offset + 4096, 'the room stays');
  t.deepEqual(reopened.syncedPosition(), { segment: 1, offset: positions[3]!.offset });
  reopened.append(batch(10, 11, 2));
  reopened.sync();
  reopened.close();
  t.is(statSync(file).size, positions[3]!.offset + 4096, 'the batch went into the room');
  t.is(loadState(dir).entries.length, 11);
});

const SPARE = /^wal-spare-[0-9a-f]+\.tmp$/;

function spareFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => SPARE.test(name));
}

/** Appends and syncs 2-entry batches from `index` until the current segment is `segment`; returns the next index. */
function writeUntilSegment(storage: LogStorage, index: number, segment: number): number {
  while (storage.syncedPosition().segment < segment) {
    storage.append(batch(index, index + 1, 1));
    storage.sync();
    index += 2;
  }
  return index;
}

/** Writes 2-entry batches from index 1 until half of segment 1 is written, which starts the spare's preparation off this thread, and waits for it. Returns the next index. */
async function writeHalfASegmentAndWaitForTheSpare(storage: LogStorage, segmentBytes: number): Promise<number> {
  let index = 1;
  while (storage.syncedPosition().offset < segmentBytes / 2) {
    storage.append(batch(index, index + 1, 1));
    storage.sync();
    index += 2;
  }
  await eventually(() => storage.stats().sparesPrepared === 1, 10_000, 'the spare segment prepared');
  return index;
}

test('a roll takes the segment prepared ahead: zero-filled to segmentBytes, written from its start, read back whole', async (t) => {
  const dir = tempDir(t);
  const segmentBytes = 4096;
  const storage = open(dir, segmentBytes);
  storage.load();
  t.deepEqual(spareFiles(dir), [], 'nothing is prepared before half a segment is written');
  let index = await writeHalfASegmentAndWaitForTheSpare(storage, segmentBytes);
  const [spare] = spareFiles(dir);
  t.truthy(spare);
  const prepared = readFileSync(join(dir, spare!));
  t.is(prepared.length, segmentBytes);
  t.true(prepared.every((byte) => byte === 0), 'the spare holds zeros only');
  index = writeUntilSegment(storage, index, 2);
  t.is(storage.stats().sparesUsed, 1);
  t.deepEqual(spareFiles(dir), [], 'the spare became segment 2');
  const second = join(dir, segmentFileName(2));
  t.is(statSync(second).size, segmentBytes, 'segment 2 is the prepared file, not a file grown by appends');
  const written = storage.syncedPosition().offset;
  t.true(written < segmentBytes);
  storage.close();
  // Recovery reads up to the zeros, reports nothing torn, and leaves the room.
  const reopened = open(dir, segmentBytes);
  const { state, recovery } = reopened.load();
  t.is(state.entries.length, index - 1);
  t.is(recovery.truncatedBytes, 0);
  t.is(statSync(second).size, segmentBytes);
  t.deepEqual(reopened.syncedPosition(), { segment: 2, offset: written });
  reopened.append(batch(index, index + 1, 1));
  reopened.sync();
  reopened.close();
  t.is(loadState(dir, segmentBytes).entries.length, index + 1);
});

test('a torn record in a prepared segment is cut off with the room after it', async (t) => {
  const dir = tempDir(t);
  const segmentBytes = 4096;
  const storage = open(dir, segmentBytes);
  storage.load();
  let index = await writeHalfASegmentAndWaitForTheSpare(storage, segmentBytes);
  index = writeUntilSegment(storage, index, 2);
  const before = storage.syncedPosition().offset;
  const expected = plain(loadState(dir, segmentBytes));
  // A record over a sector boundary, so that a crash can tear it.
  storage.append(batch(index, index + 39, 1));
  storage.sync();
  const after = storage.syncedPosition().offset;
  storage.close();
  t.is(storage.stats().sparesUsed, 1);
  const sector = Math.ceil((before + 1) / 512) * 512;
  t.true(sector < after, `the record [${before}, ${after}) crosses a sector boundary`);
  // A crash tore the last record: its sectors from the second on never reached the disk (zeros).
  const file = join(dir, segmentFileName(2));
  const bytes = readFileSync(file);
  bytes.fill(0, sector, after);
  writeFileSync(file, bytes);
  const reopened = open(dir, segmentBytes);
  const { state, recovery } = reopened.load();
  reopened.close();
  t.deepEqual(plain(state), expected);
  t.is(recovery.truncatedBytes, segmentBytes - before);
  t.is(recovery.truncatedFile, file);
  t.is(statSync(file).size, before);
});

test('a segment before the last that holds only zeros is corruption, not room', (t) => {
  const dir = tempDir(t);
  const segmentBytes = 512;
  const storage = open(dir, segmentBytes);
  storage.load();
  writeUntilSegment(storage, 1, 3);
  storage.close();
  writeFileSync(join(dir, segmentFileName(2)), Buffer.alloc(segmentBytes));
  assertCorrupt(t, dir, segmentFileName(2), 0, 'zeroed segment 2');
});

test('load removes a spare segment a crash left, and never reads it', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  writeBatches(storage, 2);
  storage.close();
  writeFileSync(join(dir, 'wal-spare-0123456789ab.tmp'), Buffer.from('half-filled spare with garbage in it'));
  const expected = plain(loadState(dir));
  const reopened = open(dir);
  t.deepEqual(plain(reopened.load().state), expected);
  t.deepEqual(spareFiles(dir), []);
  reopened.close();
});

test('closing while a spare is being filled removes the file at once; preallocate false prepares none', (t) => {
  const dir = tempDir(t);
  // 256 MiB segments: the spare starts once 1 MiB is written and takes long to fill.
  const storage = openFileStorage(dir, { fsync: true, segmentBytes: 256 << 20 });
  storage.load();
  const data = new Uint8Array(64 * 1024).fill(7);
  let index = 1;
  for (let i = 0; i < 20; i++, index++) {
    storage.append([{ index, term: 1, data }]);
    storage.sync();
  }
  t.is(spareFiles(dir).length, 1, 'a spare is being prepared');
  storage.close();
  // Synchronously: whoever removes the directory next finds nothing appearing in it.
  t.deepEqual(spareFiles(dir), [], 'the spare is removed by close() itself');
  t.is(storage.stats().sparesPrepared, 0, 'the 256 MiB fill had not finished');

  const other = tempDir(t);
  const unprepared = openFileStorage(other, { fsync: true, preallocate: false, segmentBytes: 512 });
  unprepared.load();
  writeUntilSegment(unprepared, 1, 4);
  const { walBytes, sparesUsed } = unprepared.stats();
  unprepared.close();
  t.is(sparesUsed, 0);
  t.deepEqual(spareFiles(other), []);
  let onDisk = 0;
  for (const name of walFiles(other)) onDisk += statSync(join(other, name)).size;
  t.is(onDisk, walBytes, 'every segment grew by appends: no room prepared');
});

test('a flipped bit anywhere in a middle record is refused with file and offset, and no file changes', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const { positions } = writeBatches(storage, 5);
  storage.close();
  const name = segmentFileName(1);
  const file = join(dir, name);
  const original = readFileSync(file);
  const start = positions[2]!.offset;
  const end = positions[3]!.offset;
  for (let offset = start; offset < end; offset++) {
    const damaged = Buffer.from(original);
    damaged[offset] = damaged[offset]! ^ (1 << (offset % 8));
    writeFileSync(file, damaged);
    assertCorrupt(t, dir, name, start, `bit ${offset % 8} of byte ${offset}`);
  }
  writeFileSync(file, original);
  t.is(loadState(dir).entries.length, 15);
});

test('entries() reads what it wrote back from the segments; a record changed on disk since is corruption, with file and offset', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  t.teardown(() => storage.close());
  storage.load();
  writeBatches(storage, 4);
  storage.append(batch(13, 20, 2));
  storage.sync();
  t.deepEqual(
    storage.entries(2, 9).map((e) => [e.index, e.term, Buffer.from(e.data!).toString()]),
    batch(2, 9, 1).map((e) => [e.index, e.term, Buffer.from(e.data!).toString()]),
    'read back across records',
  );
  // Flip one byte of the last record's payload: what the storage wrote no longer reads back.
  const path = join(dir, segmentFileName(1));
  const bytes = readFileSync(path);
  const at = bytes.indexOf(Buffer.from('value 17 of term 2'));
  t.true(at > 0, 'the record is in the segment');
  bytes[at + 6] = bytes[at + 6]! ^ 0x01;
  writeFileSync(path, bytes);
  const error = t.throws(() => storage.entries(16, 18), { instanceOf: StorageCorruptionError });
  t.is(error?.code, StorageErrorCode.Corrupt);
  t.is(error?.file, path);
  t.regex(error?.message ?? '', /crc/);
  t.deepEqual(storage.entries(1, 3).map((e) => e.index), [1, 2, 3], 'the records before it still read back');
});

test('a flipped bit in an earlier segment is refused, even in that segment\'s last record', (t) => {
  const dir = tempDir(t);
  const segmentBytes = 512;
  const storage = open(dir, segmentBytes);
  storage.load();
  const recordStarts: number[] = [];
  let index = 1;
  while (storage.syncedPosition().segment < 3) {
    const before = storage.syncedPosition();
    storage.append(batch(index, index + 2, 1));
    storage.sync();
    if (storage.syncedPosition().segment === 1) recordStarts.push(before.offset);
    index += 3;
  }
  storage.close();
  const name = segmentFileName(1);
  const file = join(dir, name);
  const original = readFileSync(file);
  // Batch record starts in segment 1 (the header is at 0, before recordStarts[0]).
  const lastRecordStart = recordStarts[recordStarts.length - 1]!;
  t.true(lastRecordStart < original.length && recordStarts.length > 3, `${recordStarts.join(',')} in ${original.length} bytes`);
  for (const offset of [0, 9, recordStarts[1]! + 3, lastRecordStart, original.length - 1]) {
    const damaged = Buffer.from(original);
    damaged[offset] = damaged[offset]! ^ 0x10;
    writeFileSync(file, damaged);
    const recordStart = [...recordStarts].reverse().find((start) => start <= offset) ?? 0;
    assertCorrupt(t, dir, name, recordStart, `byte ${offset} of the first segment`);
  }
  // A torn end of an earlier segment is corruption too: only the last segment may be torn.
  writeFileSync(file, original.subarray(0, original.length - 5));
  assertCorrupt(t, dir, name, lastRecordStart, 'earlier segment cut short');
  writeFileSync(file, original);
  t.is(loadState(dir, segmentBytes).entries.length, index - 1);
});

test('a flipped bit in the final record of the last segment is corruption, not a torn write', (t) => {
  // The record is whole (its length fits the file) and none of its sectors is zeros: a
  // crash cannot leave that, so it was acknowledged and then damaged. Dropping it as
  // torn would lose an acknowledged write without a word.
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const { positions } = writeBatches(storage, 4);
  storage.close();
  const name = segmentFileName(1);
  const file = join(dir, name);
  const original = readFileSync(file);
  for (const at of [12, 20, positions[4]!.offset - positions[3]!.offset - 1]) {
    const damaged = Buffer.from(original);
    const offset = positions[3]!.offset + at;
    damaged[offset] = damaged[offset]! ^ 1;
    writeFileSync(file, damaged);
    assertCorrupt(t, dir, name, positions[3]!.offset, `bit flipped at byte ${at} of the final record`);
  }
  // Its length raised beyond anything this WAL writes: corruption too.
  const damaged = Buffer.from(original);
  damaged.writeUInt32LE(0xffffffff, positions[3]!.offset);
  writeFileSync(file, damaged);
  assertCorrupt(t, dir, name, positions[3]!.offset, 'a length no write makes');
  // Bytes appended by something else (a whole frame's worth, bad CRC, no sector of zeros).
  writeFileSync(file, Buffer.concat([original, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4]), Buffer.alloc(40, 0x5a)]));
  assertCorrupt(t, dir, name, positions[4]!.offset, 'garbage appended');
});

test('a final record with a sector of zeros and a CRC mismatch is a torn write, cut off', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  writeBatches(storage, 3);
  const before = storage.syncedPosition().offset;
  storage.append(batch(10, 60, 1));
  storage.sync();
  const after = storage.syncedPosition().offset;
  storage.close();
  const sector = Math.ceil((before + 1) / 512) * 512;
  t.true(sector + 512 < after, `the record [${before}, ${after}) spans sectors`);
  const file = join(dir, segmentFileName(1));
  const original = readFileSync(file);
  // A middle sector never written (a disk may write a request's sectors in any order).
  const torn = Buffer.from(original);
  torn.fill(0, sector, sector + 512);
  writeFileSync(file, torn);
  const reopened = open(dir);
  const { state, recovery } = reopened.load();
  reopened.close();
  t.is(state.entries.length, 9);
  t.is(recovery.truncatedBytes, after - before);
  t.is(statSync(file).size, before);
  // The same damage without the zeros is refused.
  const flipped = Buffer.from(original);
  flipped[sector + 5] = flipped[sector + 5]! ^ 0x40;
  writeFileSync(file, flipped);
  assertCorrupt(t, dir, segmentFileName(1), before, 'a flipped bit in a record that spans sectors');
});

test('records with a valid CRC but an impossible shape are corruption', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const { positions } = writeBatches(storage, 2);
  storage.close();
  const name = segmentFileName(1);
  const file = join(dir, name);
  const original = readFileSync(file);
  const end = positions[2]!.offset;
  const cases: { what: string; payload: Uint8Array }[] = [
    { what: 'a gap in the indexes', payload: encodeBatchPayload(9, batch(9, 9, 1), null) },
    { what: 'a term going backwards', payload: encodeBatchPayload(7, batch(7, 7, 1).map((e) => ({ ...e, term: 0 })), null) },
    { what: 'a hard state term going backwards', payload: encodeBatchPayload(7, [], hard(0, 0, 0)) },
    { what: 'a second vote in one term', payload: encodeBatchPayload(7, [], hard(1, 2, 3)) },
    { what: 'not msgpack', payload: Buffer.from([0xc1, 0xc1, 0xc1]) },
    { what: 'an unknown record kind', payload: Buffer.from([0x93, 0x07, 0x01, 0x01]) },
  ];
  for (const { what, payload } of cases) {
    // Placed last, where a CRC failure would pass for a torn write: a valid CRC must not.
    writeFileSync(file, Buffer.concat([original, frame(Buffer.from(payload))]));
    assertCorrupt(t, dir, name, end, what);
  }
  // A segment header naming another segment (a misplaced file).
  writeFileSync(file, original);
  renameSync(file, join(dir, segmentFileName(2)));
  assertCorrupt(t, dir, segmentFileName(2), 0, 'renamed segment');
});

test('a missing segment in the middle is corruption', (t) => {
  const dir = tempDir(t);
  const segmentBytes = 512;
  const storage = open(dir, segmentBytes);
  storage.load();
  let index = 1;
  while (storage.syncedPosition().segment < 4) {
    storage.append(batch(index, index + 2, 1));
    storage.sync();
    index += 3;
  }
  storage.close();
  rmSync(join(dir, segmentFileName(2)));
  assertCorrupt(t, dir, segmentFileName(3), 0, 'segment 2 missing');
});

test('a segment under another one\'s name (two names swapped) is corruption; so is one that cannot be read (a directory), as WAL_IO; no file changes', (t) => {
  const dir = tempDir(t);
  const storage = open(dir, 512);
  storage.load();
  for (let index = 1; storage.syncedPosition().segment < 4; index += 3) {
    storage.append(batch(index, index + 2, 1));
    storage.sync();
  }
  storage.close();
  const written = plain(loadState(dir));
  const [second, third] = [join(dir, segmentFileName(2)), join(dir, segmentFileName(3))];
  renameSync(second, `${second}.swap`);
  renameSync(third, second);
  renameSync(`${second}.swap`, third);
  assertCorrupt(t, dir, segmentFileName(2), 0, 'segments 2 and 3 swapped');
  const swapped = open(dir);
  const error = t.throws(() => swapped.load(), { instanceOf: StorageCorruptionError });
  swapped.close();
  t.regex(error?.message ?? '', /expected a header for segment 2 \(the file name\), found a header for segment 3/);
  renameSync(second, `${second}.swap`);
  renameSync(third, second);
  renameSync(`${second}.swap`, third);
  // Unreadable (EACCES, EIO; here EISDIR, as the tests run as any user): an I/O error, not a
  // corruption, and nothing is touched before the whole WAL has been read.
  const before = snapshotFiles(dir);
  mkdirSync(join(dir, segmentFileName(5)));
  const blocked = open(dir);
  const unreadable = t.throws(() => blocked.load(), { instanceOf: StorageError });
  blocked.close();
  t.is(unreadable?.code, StorageErrorCode.Io);
  t.regex(unreadable?.message ?? '', /cannot read WAL segment .*wal-0000000005\.log: EISDIR/);
  rmSync(join(dir, segmentFileName(5)), { recursive: true });
  const after = snapshotFiles(dir);
  t.deepEqual([...after.keys()], [...before.keys()]);
  for (const [name, bytes] of before) t.true(bytes.equals(after.get(name)!), `${name} was modified`);
  t.deepEqual(plain(loadState(dir)), written, 'put back, it loads as written');
});

test('segments roll at segmentBytes, and stats match the files on disk', (t) => {
  const dir = tempDir(t);
  const segmentBytes = 1024;
  writeFileSync(join(dir, 'node.log'), 'not a WAL file\n');
  const storage = open(dir, segmentBytes);
  storage.load();
  let index = 1;
  for (let i = 0; i < 100; i++) {
    storage.append(batch(index, index + 1, 1));
    storage.sync();
    index += 2;
  }
  // One record bigger than a segment still goes in (alone in its segment).
  const big: Entry = { index, term: 1, data: new Uint8Array(3 * segmentBytes).fill(1) };
  storage.append([big]);
  storage.sync();
  const stats = storage.stats();
  const files = walFiles(dir);
  t.deepEqual(stats.files, files);
  t.true(files.length > 5, `${files.length} segments`);
  t.deepEqual(files, files.map((_, i) => segmentFileName(i + 1)));
  let total = 0;
  for (const name of files.slice(0, -1)) {
    const size = statSync(join(dir, name)).size;
    total += size;
    t.true(size <= segmentBytes, `${name} has ${size} bytes`);
  }
  total += statSync(join(dir, files.at(-1)!)).size;
  t.is(stats.walBytes, total);
  t.is(stats.fsyncCount, 101, 'one fdatasync per sync()');
  storage.close();
  const state = loadState(dir, segmentBytes);
  t.is(state.entries.length, index);
  t.is(state.entries.at(-1)?.data?.byteLength, 3 * segmentBytes);
});

test('truncateToSyncedPosition drops exactly the bytes after the position, across segments', (t) => {
  const dir = tempDir(t);
  const segmentBytes = 512;
  const storage = open(dir, segmentBytes);
  storage.load();
  writeBatches(storage, 4);
  const position = storage.syncedPosition();
  const walBytesAtPosition = storage.stats().walBytes;
  writeBatches(storage, 20, 13);
  const walBytes = storage.stats().walBytes;
  t.true(storage.syncedPosition().segment > position.segment, 'the later writes rolled into new segments');
  storage.close();
  const { bytesDropped } = truncateToSyncedPosition(dir, position);
  t.is(bytesDropped, walBytes - walBytesAtPosition);
  t.deepEqual(walFiles(dir), walFiles(dir).slice(0, position.segment));
  t.is(statSync(join(dir, segmentFileName(position.segment))).size, position.offset);
  const reopened = open(dir, segmentBytes);
  const { state, recovery } = reopened.load();
  reopened.close();
  t.is(state.entries.length, 12);
  t.is(recovery.truncatedBytes, 0);
  t.is(truncateToSyncedPosition(dir, position).bytesDropped, 0, 'idempotent');
  // A worker killed before it published any position (segment 0) wrote nothing.
  t.is(truncateToSyncedPosition(dir, { segment: 0, offset: 0 }).bytesDropped, 0);
  t.is(loadState(dir, segmentBytes).entries.length, 12);
});

test('with fsync off, writes happen but nothing counts as synced', (t) => {
  const dir = tempDir(t);
  const storage = open(dir, 64 * 1024, false);
  storage.load();
  const before = storage.syncedPosition();
  writeBatches(storage, 5);
  t.deepEqual(storage.syncedPosition(), before);
  t.is(storage.stats().fsyncCount, 0);
  t.true(storage.stats().walBytes > 0);
  storage.close();
  t.is(loadState(dir).entries.length, 15, 'a clean stop keeps what was written');
  // A power loss keeps only what an fdatasync covered: here, nothing since load().
  const size = statSync(join(dir, segmentFileName(1))).size;
  t.is(truncateToSyncedPosition(dir, before).bytesDropped, size - before.offset);
  t.is(loadState(dir).entries.length, 0);
});
