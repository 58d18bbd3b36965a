// FileStorage after a power loss, not only a process crash: what was not covered by a
// returned fdatasync may be lost in any of its pages, in any order. With two writes in
// flight (syncAsync) a later write's pages may reach the disk and an earlier one's not;
// recovery drops both, since neither was acknowledged, and still refuses corruption. And
// load() makes durable what a crashed process wrote but never synced, before the node
// answers for it. The file states below are those a power loss may leave, made by hand.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../lib/raft/types.js';
import { StorageCorruptionError, StorageErrorCode } from '../lib/storage/errors.js';
import { MAX_ASYNC_SYNCS, openFileStorage } from '../lib/storage/file-storage.js';
import { SNAPSHOT_TEMP_FILE_NAME, segmentFileName } from '../lib/storage/record.js';
import type { LogStorage } from '../lib/storage/types.js';

const PAGE = 4096;

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-power-loss-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir: string, fsync = true): LogStorage {
  return openFileStorage(dir, { fsync, preallocate: false });
}

function entry(index: number, bytes: number, fill: number): Entry {
  return { index, term: 1, data: new Uint8Array(bytes).fill(fill) };
}

function syncAsync(storage: LogStorage): Promise<void> {
  return new Promise((resolve, reject) => storage.syncAsync((error) => (error === null ? resolve() : reject(error))));
}

/** Zeros over [from, to) of `path`: pages a power loss did not write back, read as they were (past the old end: zeros). */
function notWrittenBack(path: string, from: number, to: number): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(to - from), 0, to - from, from);
  closeSync(fd);
}

/**
 * A durable entry 1 ending inside the first page, then `inFlight` more records written by
 * syncAsync calls (and a sync() for a third) before any fdatasync of theirs returned;
 * entry 2 spans the first page boundary. Returns the segment and where entry 1 ends.
 */
async function writesInFlight(t: ExecutionContext, dir: string, inFlight: number): Promise<{ segment: string; durable: number }> {
  const storage = open(dir);
  storage.load();
  storage.append([entry(1, 3900, 0x11)]);
  storage.sync();
  const durable = storage.syncedPosition().offset;
  t.true(durable < PAGE - 64, `entry 1 ends at ${durable}, inside the first page`);
  const syncs: Promise<void>[] = [];
  for (let index = 2; index < 2 + inFlight; index++) {
    storage.append([entry(index, index === 2 ? 6000 : 100, index)]);
    if (syncs.length < MAX_ASYNC_SYNCS) syncs.push(syncAsync(storage));
    else storage.sync();
  }
  await Promise.all(syncs);
  storage.close();
  return { segment: join(dir, segmentFileName(1)), durable };
}

test('two writes in flight, the first one\'s first page not written back and the second whole: both dropped as torn (neither was acknowledged), the durable entry kept', async (t) => {
  const dir = tempDir(t);
  const { segment, durable } = await writesInFlight(t, dir, 2);
  const written = readFileSync(segment).length;
  notWrittenBack(segment, durable, PAGE);
  const reopened = open(dir);
  const { state, recovery } = reopened.load();
  t.deepEqual(state.entries.map((e) => e.index), [1]);
  t.is(recovery.truncatedBytes, written - durable, 'both records cut off, reported as a torn tail');
  t.is(readFileSync(segment).length, durable);
  // It goes on from there: a new entry 2 is written and read back.
  reopened.append([entry(2, 10, 0x22)]);
  reopened.sync();
  reopened.close();
  const again = open(dir);
  t.deepEqual(again.load().state.entries.map((e) => e.index), [1, 2]);
  again.close();
});

test('as many records in flight as can be (two syncAsync and a sync), the first torn: all dropped; one more whole record after a torn one is corruption', async (t) => {
  const dir = tempDir(t);
  const { segment, durable } = await writesInFlight(t, dir, MAX_ASYNC_SYNCS + 1);
  const whole = readFileSync(segment);
  notWrittenBack(segment, durable, PAGE);
  const reopened = open(dir);
  t.deepEqual(reopened.load().state.entries.map((e) => e.index), [1]);
  reopened.close();

  const tooMany = tempDir(t);
  const written = await writesInFlight(t, tooMany, MAX_ASYNC_SYNCS + 2);
  notWrittenBack(written.segment, written.durable, PAGE);
  const error = t.throws(() => open(tooMany).load(), { instanceOf: StorageCorruptionError });
  t.is(error?.code, StorageErrorCode.Corrupt);
  t.regex(error?.message ?? '', /4 records from it to the end of the file, more than the 3 a crash can leave unsynced/);
  t.true(whole.length > durable);
});

test('a bad record with a whole record after it, its length not zero and no sector of zeros, is corruption (a flipped bit), not a torn write', async (t) => {
  const dir = tempDir(t);
  const { segment, durable } = await writesInFlight(t, dir, 2);
  const bytes = readFileSync(segment);
  bytes[durable + 100] = bytes[durable + 100]! ^ 1;
  writeFileSync(segment, bytes);
  const error = t.throws(() => open(dir).load(), { instanceOf: StorageCorruptionError });
  t.regex(error?.message ?? '', /with a valid record after it at offset \d+, and neither its length nor any 512-byte sector between them is zeros/);
  t.deepEqual(readFileSync(segment), bytes, 'nothing touched');
});

test('load() fdatasyncs the last segment: what a crashed process wrote and never synced is durable before the node answers for it', (t) => {
  const dir = tempDir(t);
  const first = open(dir);
  first.load();
  first.append([entry(1, 10, 1)]);
  first.sync();
  first.close();
  // A process that wrote entry 2 and a vote and died before its fdatasync: bytes in the page cache only.
  const crashed = open(dir, false);
  crashed.load();
  crashed.append([entry(2, 10, 2)]);
  crashed.setHardState({ currentTerm: 2, votedFor: 3, commitIndex: 0 });
  crashed.sync();
  crashed.close();
  const restarted = open(dir);
  const { state } = restarted.load();
  t.deepEqual(state.entries.map((e) => e.index), [1, 2]);
  t.is(state.hardState.votedFor, 3);
  t.is(restarted.stats().fsyncCount, 1, 'one fdatasync of the segment read back, before anything new is written');
  restarted.close();
  const unsynced = open(dir, false);
  unsynced.load();
  t.is(unsynced.stats().fsyncCount, 0, 'none with fsync off');
  unsynced.close();
});

test('a synchronous snapshot save cut short leaves snapshot.bin.tmp, which load() removes', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  storage.append([entry(1, 10, 1)]);
  storage.sync();
  storage.close();
  writeFileSync(join(dir, SNAPSHOT_TEMP_FILE_NAME), Buffer.alloc(100, 7));
  const reopened = open(dir);
  t.deepEqual(reopened.load().state.entries.map((e) => e.index), [1]);
  reopened.close();
  t.false(existsSync(join(dir, SNAPSHOT_TEMP_FILE_NAME)));
});
