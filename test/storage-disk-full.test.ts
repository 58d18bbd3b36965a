// FileStorage on a full disk: a spare segment prepared ahead never costs the WAL its own
// write. An append, fdatasync or segment creation that runs out of space while a spare is
// held gives the spare's space back and is tried once more; without a spare it fails with
// a typed error and loses nothing acknowledged; no spare is prepared while free space is
// short. The disk is full by injection (FileStorageOptions.testOnly): no mounts, no root.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../lib/raft/types.js';
import { StorageError, StorageErrorCode } from '../lib/storage/errors.js';
import { openFileStorage } from '../lib/storage/file-storage.js';
import { segmentFileName } from '../lib/storage/record.js';
import type { FileStorageTestOnly, LogStorage } from '../lib/storage/types.js';
import { eventually } from './helpers/cluster.js';

/**
 * 8 KiB segments and 1,500-byte entries, one per sync: the spare (8 KiB, the segment's
 * size) starts after the third write, once half the segment is written; the sixth rolls.
 */
const SEGMENT_BYTES = 8192;
const ENTRY_BYTES = 1500;
const SPARE_WAIT_MS = 10_000;

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-disk-full-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir: string, testOnly: FileStorageTestOnly = {}, segmentBytes = SEGMENT_BYTES): LogStorage {
  return openFileStorage(dir, { fsync: true, segmentBytes, verifyWrites: true, testOnly });
}

function entry(index: number, bytes = ENTRY_BYTES): Entry {
  return { index, term: 1, data: new Uint8Array(bytes).fill(index & 0xff) };
}

/** Appends entry `index` and syncs it (one WAL write, one fdatasync). */
function write(storage: LogStorage, index: number): void {
  storage.append([entry(index)]);
  storage.setHardState({ currentTerm: 1, votedFor: 1, commitIndex: index - 1 });
  storage.sync();
}

function spareFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^wal-spare-[0-9a-f]+\.tmp$/.test(name));
}

/** Reloads the directory and checks it holds entries 1..last exactly, as written. */
function assertReloads(t: ExecutionContext, dir: string, last: number, segmentBytes = SEGMENT_BYTES): void {
  const storage = open(dir, {}, segmentBytes);
  const { state, recovery } = storage.load();
  storage.close();
  t.deepEqual(
    state.entries.map((e) => e.index),
    Array.from({ length: last }, (_, i) => i + 1),
    `entries 1..${last} reload`,
  );
  for (const e of state.entries) {
    const expected = entry(e.index, e.data!.byteLength).data!;
    t.true(e.data !== null && Buffer.compare(Buffer.from(e.data), Buffer.from(expected)) === 0, `entry ${e.index}'s data reloads as written`);
  }
  t.is(recovery.truncatedBytes, 0, 'no torn or stray bytes at the end of the WAL');
}

/** Writes entries 1..3, after which a spare is being prepared, and waits until it is ready. */
async function writeUntilTheSpareIsReady(t: ExecutionContext, dir: string, storage: LogStorage): Promise<void> {
  for (let index = 1; index <= 2; index++) write(storage, index);
  t.deepEqual(spareFiles(dir), [], 'no spare before half the segment is written');
  write(storage, 3);
  t.is(spareFiles(dir).length, 1, 'a spare is being prepared');
  await eventually(() => storage.stats().sparesPrepared === 1, SPARE_WAIT_MS, 'the spare segment prepared');
}

test('a WAL write that runs out of space gives the ready spare back and succeeds at the right offset after a short write', async (t) => {
  const dir = tempDir(t);
  // Write 4 fails after 700 of its bytes reached the file; its retry (write 5) succeeds.
  const storage = open(dir, { noSpaceOnWrites: [4], noSpaceAfterBytes: 700 });
  storage.load();
  await writeUntilTheSpareIsReady(t, dir, storage);
  const before = storage.syncedPosition();
  write(storage, 4);
  t.deepEqual(spareFiles(dir), [], 'the spare was deleted before the retry');
  t.is(storage.stats().sparesDropped, 1);
  const after = storage.syncedPosition();
  t.is(after.segment, before.segment);
  t.is(statSync(join(dir, segmentFileName(1))).size, after.offset, 'the record was rewritten over the short write, not after it');
  write(storage, 5);
  t.deepEqual(spareFiles(dir), [], 'no new spare in the segment that ran out of space');
  t.is(storage.stats().sparesPrepared, 1);
  storage.close();
  assertReloads(t, dir, 5);
});

test('a WAL write that runs out of space while the spare is still being filled stops the fill and frees the file at once', (t) => {
  const dir = tempDir(t);
  // 256 MiB segments: the spare (4 MiB) starts once 1 MiB is written. All of this runs in
  // one turn of the event loop, so the fill cannot have finished: it has not even begun.
  const storage = open(dir, { noSpaceOnWrites: [21], noSpaceAfterBytes: 4096 }, 256 << 20);
  storage.load();
  const data = new Uint8Array(64 * 1024);
  for (let index = 1; index <= 20; index++) {
    storage.append([{ index, term: 1, data: data.fill(index) }]);
    storage.sync();
  }
  t.is(spareFiles(dir).length, 1, 'a spare is being filled');
  t.is(storage.stats().sparesPrepared, 0);
  storage.append([{ index: 21, term: 1, data: data.fill(21) }]);
  storage.sync();
  t.deepEqual(spareFiles(dir), [], 'the spare is gone when sync() returns');
  t.is(storage.stats().sparesDropped, 1);
  storage.close();
  const reopened = open(dir, {}, 256 << 20);
  const { state, recovery } = reopened.load();
  reopened.close();
  t.is(state.entries.length, 21);
  t.true(state.entries.every((e) => e.data !== null && e.data.byteLength === data.byteLength && e.data.every((byte) => byte === e.index)));
  t.is(recovery.truncatedBytes, 0);
});

test('syncAsync: a WAL write that runs out of space gives the spare back and its batch becomes durable', async (t) => {
  const dir = tempDir(t);
  const storage = open(dir, { noSpaceOnWrites: [4] });
  storage.load();
  await writeUntilTheSpareIsReady(t, dir, storage);
  storage.append([entry(4)]);
  const error = await new Promise<Error | null>((resolve) => storage.syncAsync((syncError) => resolve(syncError)));
  t.is(error, null);
  t.deepEqual(spareFiles(dir), []);
  t.is(storage.stats().sparesDropped, 1);
  storage.close();
  assertReloads(t, dir, 4);
});

test("sync()'s fdatasync that runs out of space gives the spare back, writes the batch again and syncs once more", async (t) => {
  const dir = tempDir(t);
  const storage = open(dir, { noSpaceOnFdatasyncs: [4] });
  storage.load();
  await writeUntilTheSpareIsReady(t, dir, storage);
  const fsyncsBefore = storage.stats().fsyncCount;
  write(storage, 4);
  t.deepEqual(spareFiles(dir), []);
  t.is(storage.stats().sparesDropped, 1);
  t.is(storage.stats().fsyncCount, fsyncsBefore + 1, 'one sync acknowledged');
  write(storage, 5);
  storage.close();
  assertReloads(t, dir, 5);
});

test("a roll's segment creation that runs out of space gives back the spare still being filled", (t) => {
  const dir = tempDir(t);
  // 512-byte segments: the spare starts once 256 bytes are written. Writing on to the roll in
  // the same turn of the event loop, the spare is still being filled: the roll creates
  // segment 2 (creation 2; creation 1 made segment 1 at load) and runs out of space.
  const segmentBytes = 512;
  const storage = open(dir, { noSpaceOnSegmentCreations: [2] }, segmentBytes);
  storage.load();
  let index = 1;
  let sawSpare = false;
  while (storage.syncedPosition().segment < 2) {
    storage.append([entry(index, 40)]);
    storage.sync();
    index++;
    sawSpare ||= spareFiles(dir).length === 1;
  }
  t.true(sawSpare, 'a spare was being filled before the roll');
  t.deepEqual(spareFiles(dir), []);
  const { sparesDropped, sparesUsed, sparesPrepared } = storage.stats();
  t.deepEqual({ sparesDropped, sparesUsed, sparesPrepared }, { sparesDropped: 1, sparesUsed: 0, sparesPrepared: 0 });
  storage.close();
  assertReloads(t, dir, index - 1, segmentBytes);
});

test('without a spare, a WAL write that runs out of space fails typed (WAL_IO) and loses nothing acknowledged', (t) => {
  const dir = tempDir(t);
  const storage = openFileStorage(dir, { fsync: true, segmentBytes: SEGMENT_BYTES, preallocate: false, testOnly: { noSpaceOnWrites: [3], noSpaceAfterBytes: 700 } });
  storage.load();
  write(storage, 1);
  write(storage, 2);
  const acknowledged = storage.syncedPosition();
  const error = t.throws(() => write(storage, 3), { instanceOf: StorageError });
  t.is(error?.code, StorageErrorCode.Io);
  t.regex(error?.message ?? '', /ENOSPC/);
  t.is(statSync(join(dir, segmentFileName(1))).size, acknowledged.offset, 'the short write was cut off');
  t.is(storage.stats().sparesDropped, 0);
  t.throws(() => storage.append([entry(3)]), { instanceOf: StorageError, message: /failed/ }, 'the storage takes no more writes');
  storage.close();
  assertReloads(t, dir, 2);

  // The same for an fdatasync: the batch is not acknowledged, what was stays.
  const other = tempDir(t);
  const failing = openFileStorage(other, { fsync: true, segmentBytes: SEGMENT_BYTES, preallocate: false, testOnly: { noSpaceOnFdatasyncs: [2] } });
  failing.load();
  write(failing, 1);
  const fsyncError = t.throws(() => write(failing, 2), { instanceOf: StorageError });
  t.is(fsyncError?.code, StorageErrorCode.Io);
  failing.close();
  const reloaded = open(other);
  const { state } = reloaded.load();
  reloaded.close();
  t.deepEqual(state.entries.map((e) => e.index), [1], 'the acknowledged entry reloads, and not the one whose fdatasync failed');
});

test('a retry that runs out of space too fails typed, and the spare is deleted without close()', async (t) => {
  const dir = tempDir(t);
  const storage = open(dir, { noSpaceOnWrites: [4, 5], noSpaceAfterBytes: 300 });
  storage.load();
  await writeUntilTheSpareIsReady(t, dir, storage);
  const error = t.throws(() => write(storage, 4), { instanceOf: StorageError });
  t.is(error?.code, StorageErrorCode.Io);
  // A worker that dies now never runs close(): the spare's space is free already.
  t.deepEqual(spareFiles(dir), []);
  t.is(storage.stats().sparesDropped, 1);
  storage.close();
  assertReloads(t, dir, 3);
});

test('no spare is prepared while free space is below twice its size; one is at twice', async (t) => {
  // The spare here is a segment's size (SEGMENT_BYTES).
  const short = tempDir(t);
  const storage = open(short, { freeBytes: 2 * SEGMENT_BYTES - 1 });
  storage.load();
  let index = 1;
  for (; storage.syncedPosition().segment < 2; index++) {
    write(storage, index);
    t.deepEqual(spareFiles(short), [], `no spare after write ${index}`);
  }
  t.is(storage.stats().sparesSkipped, 1, 'skipped once in segment 1, not at every write');
  for (; storage.syncedPosition().segment < 3; index++) write(storage, index);
  t.deepEqual(spareFiles(short), []);
  const stats = storage.stats();
  t.deepEqual([stats.sparesSkipped, stats.sparesPrepared, stats.sparesUsed], [2, 0, 0], 'tried again after the roll, skipped again');
  storage.close();
  assertReloads(t, short, index - 1);

  const enough = tempDir(t);
  const prepared = open(enough, { freeBytes: 2 * SEGMENT_BYTES });
  prepared.load();
  await writeUntilTheSpareIsReady(t, enough, prepared);
  t.is(prepared.stats().sparesSkipped, 0);
  prepared.close();
});
