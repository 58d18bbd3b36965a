// FileStorage when the disk refuses an operation past the WAL write itself: an fdatasync
// (sync() or syncAsync()'s, on the pool), a snapshot file, the deletion of segments a
// snapshot made redundant. A failed storage leaves on disk what it acknowledged and
// nothing of unknown durability; every call after the failure says what failed (WAL_IO,
// the errno, the file), so the supervisor reports a disk failure and not a crash; a
// snapshot file that could not be written does not keep its space. Faults are injected
// (FileStorageOptions.testOnly): no mounts, no root.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDiskFailure, diskFailure } from '../lib/cluster/protocol.js';
import type { Entry, Snapshot } from '../lib/raft/types.js';
import { StorageError, StorageErrorCode } from '../lib/storage/errors.js';
import { openFileStorage, walFiles } from '../lib/storage/file-storage.js';
import { REDUNDANT_SEGMENT_SUFFIX, segmentFileName } from '../lib/storage/record.js';
import type { FileStorageTestOnly, LogStorage } from '../lib/storage/types.js';
import { eventually } from './helpers/cluster.js';
import { openFdsUnder } from './helpers/fds.js';

const WAIT_MS = 10_000;

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-io-failure-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** No spare (preallocate off): a fault is not absorbed by giving a spare's space back. */
function open(dir: string, testOnly: FileStorageTestOnly = {}, segmentBytes = 8192): LogStorage {
  return openFileStorage(dir, { fsync: true, segmentBytes, preallocate: false, verifyWrites: true, testOnly });
}

function entry(index: number): Entry {
  return { index, term: 1, data: new TextEncoder().encode(`value ${index}`) };
}

/** Appends entry `index` with a hard state that commits the one before, and syncs. */
function write(storage: LogStorage, index: number): void {
  storage.append([entry(index)]);
  storage.setHardState({ currentTerm: 1, votedFor: 1, commitIndex: index - 1 });
  storage.sync();
}

function reload(dir: string): { indexes: number[]; commitIndex: number; snapshotIndex: number | null; truncatedBytes: number } {
  const storage = open(dir);
  const { state, recovery } = storage.load();
  storage.close();
  return { indexes: state.entries.map((e) => e.index), commitIndex: state.hardState.commitIndex, snapshotIndex: state.snapshot?.index ?? null, truncatedBytes: recovery.truncatedBytes };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function syncAsync(storage: LogStorage): Promise<Error | null> {
  return new Promise((resolve) => storage.syncAsync((error) => resolve(error)));
}

test("sync()'s fdatasync fails: the batch it did not make durable is cut off, so a restart cannot read it back from the page cache as durable", (t) => {
  const dir = tempDir(t);
  const storage = open(dir, { noSpaceOnFdatasyncs: [3] });
  storage.load();
  write(storage, 1);
  write(storage, 2);
  const acknowledged = storage.syncedPosition();
  const error = t.throws(() => write(storage, 3), { instanceOf: StorageError });
  t.is(error?.code, StorageErrorCode.Io);
  // A failed fdatasync may have marked the pages it could not write clean ("fsyncgate"): a
  // restart would read them from the cache, load()'s own fdatasync would succeed without
  // writing them, and the node would answer for an entry no disk holds.
  t.is(statSync(join(dir, segmentFileName(1))).size, acknowledged.offset, 'the segment ends where the last acknowledged sync left it');
  storage.close();
  t.deepEqual(reload(dir), { indexes: [1, 2], commitIndex: 1, snapshotIndex: null, truncatedBytes: 0 });
});

test("syncAsync()'s fdatasync fails (EIO) with a later one in flight that succeeds: both fail, and a restart holds exactly what was acknowledged", async (t) => {
  const dir = tempDir(t);
  const storage = open(dir, { ioErrorOnAsyncFdatasyncs: [3] });
  storage.load();
  write(storage, 1);
  for (let index = 2; index <= 3; index++) {
    storage.append([entry(index)]);
    t.is(await syncAsync(storage), null);
  }
  // Two in flight, the first one's fdatasync failing (injected: reported after the second
  // returned, successfully). The second's success does not make the first's batch durable:
  // the kernel reports a writeback error once per open file, and one fd serves both.
  storage.append([entry(4)]);
  const first = syncAsync(storage);
  storage.append([entry(5)]);
  const second = syncAsync(storage);
  const [firstError, secondError] = await Promise.all([first, second]);
  for (const error of [firstError, secondError]) {
    t.is((error as StorageError | null)?.code, StorageErrorCode.Io);
    t.regex(error?.message ?? '', /cannot fdatasync WAL segment .*EIO/);
    t.is(diskFailure(error)?.errno, 'EIO');
  }
  const after = t.throws(() => storage.append([entry(6)]), { instanceOf: StorageError });
  t.is(after?.code, StorageErrorCode.Io, 'a call after the failure says what failed');
  t.regex(after?.message ?? '', /EIO/);
  storage.close();
  t.deepEqual(reload(dir).indexes, [1, 2, 3], 'the restart holds what was acknowledged, and nothing of unknown durability');
});

test('two syncAsync fdatasyncs in flight, the earlier one\'s pages failing write-back (the error reported once per open file, to the later one on a shared fd): the earlier is not acknowledged', async (t) => {
  // The thirtieth session: each fdatasync in flight runs on an fd of its own, so each sees
  // the error. On one shared fd (as before) the later took it, and the earlier's success,
  // taken first, acknowledged a batch no disk held.
  const dir = tempDir(t);
  const storage = open(dir, { writebackErrorOnAsyncFdatasyncs: [3] });
  storage.load();
  write(storage, 1);
  for (let index = 2; index <= 3; index++) {
    storage.append([entry(index)]);
    t.is(await syncAsync(storage), null);
  }
  const settled: string[] = [];
  storage.append([entry(4)]);
  const first = syncAsync(storage).then((error) => (settled.push(`first ${error === null ? 'ok' : (error as StorageError).code}`), error));
  storage.append([entry(5)]);
  const second = syncAsync(storage).then((error) => (settled.push(`second ${error === null ? 'ok' : (error as StorageError).code}`), error));
  const [firstError, secondError] = await Promise.all([first, second]);
  t.deepEqual(settled, ['first WAL_IO', 'second WAL_IO'], 'neither batch was acknowledged');
  for (const error of [firstError, secondError]) t.regex(error?.message ?? '', /cannot fdatasync WAL segment .*EIO.*write-back error/);
  storage.close();
  t.deepEqual(reload(dir).indexes, [1, 2, 3], 'the restart holds what was acknowledged, and nothing of unknown durability');
});

test('syncAsync fdatasyncs run on fds of their own, a few per segment, all closed at rolls and at close()', async (t) => {
  const dir = tempDir(t);
  const openFds = (): number => openFdsUnder(dir);
  const storage = open(dir, {}, 256);
  storage.load();
  let index = 1;
  for (let round = 0; round < 40; round++) {
    storage.append([entry(index++)]);
    const a = syncAsync(storage);
    storage.append([entry(index++)]);
    const b = syncAsync(storage);
    t.deepEqual(await Promise.all([a, b]), [null, null]);
    // The segment's own fd and at most two sync fds (of the current segment: the rolled ones' are closed).
    t.true(openFds() <= 3, `round ${round}: ${openFds()} fds open`);
  }
  t.true(storage.stats().files.length > 3, `rolled over ${storage.stats().files.length} segments`);
  storage.close();
  t.is(openFds(), 0, 'every fd was closed');
  t.deepEqual(reload(dir).indexes, range(1, index - 1));
});

test('a redundant segment whose deletion fails after a synchronous saveSnapshot (a follower installing one): the next call fails with WAL_IO naming it, a disk failure to the supervisor', async (t) => {
  const dir = tempDir(t);
  const storage = open(dir, { ioErrorOnSegmentDeletions: [1] }, 256);
  storage.load();
  for (let index = 1; index <= 40; index++) write(storage, index);
  t.true(walFiles(dir).length > 3, 'several segments');
  const snapshot: Snapshot = { index: 30, term: 1, data: new TextEncoder().encode('state at 30') };
  storage.saveSnapshot(snapshot);
  // Nothing to report it to: the deletion runs off the caller's thread after saveSnapshot
  // returned. The storage takes no more calls, and the next one must say why.
  const error = await eventually(
    () => {
      try {
        storage.sync();
        return null;
      } catch (thrown) {
        return thrown as StorageError;
      }
    },
    WAIT_MS,
    'the storage failing on the deletion',
  );
  t.is(error.code, StorageErrorCode.Io);
  t.regex(error.message, /cannot delete .*\.redundant: EIO/);
  const failure = diskFailure(error);
  t.is(failure?.errno, 'EIO');
  t.true(failure?.path?.endsWith(REDUNDANT_SEGMENT_SUFFIX), `the file named: ${failure?.path}`);
  t.regex(describeDiskFailure(2, error) ?? 'not a disk failure', /^node 2 stopped: its disk failed: .*EIO.*restart it once its disk is mended$/);
  storage.close();
  // Everything was durable before: a restart removes the renamed segment and loads it all.
  const reloaded = reload(dir);
  t.is(reloaded.snapshotIndex, 30);
  t.deepEqual(reloaded.indexes, range(31, 40));
  t.deepEqual(readdirSync(dir).filter((name) => name.endsWith(REDUNDANT_SEGMENT_SUFFIX)), [], 'load() removed it');
});

for (const mode of ['saveSnapshot', 'saveSnapshotAsync'] as const) {
  test(`a snapshot file that runs out of space (${mode}) fails typed and leaves no temporary file taking the space; the state before it loads`, async (t) => {
    const dir = tempDir(t);
    const storage = open(dir, { noSpaceOnSnapshotFiles: [1] }, 256);
    storage.load();
    for (let index = 1; index <= 20; index++) write(storage, index);
    const before = readdirSync(dir).sort();
    const snapshot: Snapshot = { index: 15, term: 1, data: new Uint8Array(4096).fill(7) };
    let error: Error | null;
    if (mode === 'saveSnapshot') {
      error = t.throws(() => storage.saveSnapshot(snapshot)) ?? null;
    } else {
      error = await new Promise<Error | null>((resolve) => storage.saveSnapshotAsync(snapshot, (failed) => resolve(failed)));
    }
    t.is((error as StorageError | null)?.code, StorageErrorCode.Io);
    t.regex(error?.message ?? '', /cannot write snapshot .*ENOSPC/);
    // The other nodes on the disk need the room: a failed node may not be restarted soon.
    t.deepEqual(readdirSync(dir).sort(), before, 'no temporary snapshot file left, no segment touched');
    storage.close();
    t.deepEqual(reload(dir), { indexes: range(1, 20), commitIndex: 19, snapshotIndex: null, truncatedBytes: 0 });
  });
}

test.serial('saveSnapshotAsync calls done once, never from inside its own error handling: an error done throws is not caught and given to done again', async (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  // One segment: the snapshot makes none redundant, so there is nothing to delete.
  for (let index = 1; index <= 5; index++) write(storage, index);
  const thrown = new Error('the caller failed in done');
  // What done throws is the caller's error: it must reach the event loop (a worker dies of
  // it), not come back to done as the snapshot's failure.
  let outcome: (what: unknown) => void = () => {};
  const settled = new Promise<unknown>((resolve) => (outcome = resolve));
  const others = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.once('uncaughtException', (error) => outcome(error));
  t.teardown(() => {
    process.removeAllListeners('uncaughtException');
    for (const listener of others) process.on('uncaughtException', listener);
  });
  const calls: { error: Error | null; saved: boolean }[] = [];
  storage.saveSnapshotAsync({ index: 3, term: 1, data: new TextEncoder().encode('state at 3') }, (error, saved) => {
    calls.push({ error, saved });
    if (calls.length === 1) throw thrown;
    outcome(`done called again: ${error?.message ?? 'no error'}`);
  });
  t.is(await settled, thrown, 'what done threw reached the event loop');
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(calls, [{ error: null, saved: true }], 'done ran once, with the snapshot saved');
  storage.close();
  t.deepEqual(reload(dir), { indexes: [4, 5], commitIndex: 4, snapshotIndex: 3, truncatedBytes: 0 });
});
