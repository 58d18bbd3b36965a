// FileStorage knows where its WAL ends and whose it is (the thirtieth session): a WAL
// whose newest segments were removed is refused (its tail marker names a newer segment),
// not loaded shorter; one whose segment headers name another cluster or node is refused
// (WAL_FOREIGN); a WAL of format 1 (no marker, no owner) still loads, with a note. And a
// start whose fdatasync failed leaves word for the next start to write the last segment
// again before trusting it. A refusal modifies no file.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { Entry, RestoredState } from '../lib/raft/types.js';
import { StorageError, StorageErrorCode } from '../lib/storage/errors.js';
import { RESYNC_NEEDED_FILE_NAME, openFileStorage, truncateToSyncedPosition, walFiles } from '../lib/storage/file-storage.js';
import { RecordKind, TAIL_MARKER_PREFIX, WAL_FORMAT_VERSION_WITHOUT_OWNER, encodeBatchPayload, frame, segmentFileName, tailMarkerName } from '../lib/storage/record.js';
import type { FileStorageTestOnly, LogStorage, WalOwner } from '../lib/storage/types.js';

const CLUSTER_A: WalOwner = { cluster: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', node: 2 };
const CLUSTER_B: WalOwner = { cluster: 'ffeeddccbbaa99887766554433221100', node: 2 };

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-tail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dir: string, owner?: WalOwner, testOnly: FileStorageTestOnly = {}): LogStorage {
  return openFileStorage(dir, { fsync: true, segmentBytes: 512, preallocate: false, verifyWrites: true, owner, testOnly });
}

function batch(from: number, to: number, term: number): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push({ index, term, data: new TextEncoder().encode(`value ${index}`) });
  return result;
}

/** Writes 3 entries per sync until the WAL has `segments` segments; returns the last index. */
function writeSegments(storage: LogStorage, segments: number, from = 1): number {
  let index = from;
  while (storage.syncedPosition().segment < segments) {
    storage.append(batch(index, index + 2, 1));
    storage.setHardState({ currentTerm: 1, votedFor: 1, commitIndex: index - 1 });
    storage.sync();
    index += 3;
  }
  return index - 1;
}

/** Every file of `dir` with its bytes, to show that a refused load changed none. */
function snapshotOfDir(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name)).toString('hex')]));
}

function lastIndex(state: RestoredState): number {
  return state.entries[state.entries.length - 1]?.index ?? 0;
}

function refusal(t: ExecutionContext, dir: string, code: StorageErrorCode, owner?: WalOwner): string {
  const before = snapshotOfDir(dir);
  const storage = open(dir, owner);
  const error = t.throws(() => storage.load(), { instanceOf: StorageError });
  t.is(error?.code, code, error?.message);
  t.deepEqual(snapshotOfDir(dir), before, 'the refused load changed no file');
  return error?.message ?? '';
}

test('a WAL whose newest segment, or newest two, were removed is refused (WAL_CORRUPT) instead of loading shorter', (t) => {
  for (const removed of [1, 2]) {
    const dir = tempDir(t);
    const storage = open(dir);
    storage.load();
    writeSegments(storage, 5);
    storage.close();
    const names = walFiles(dir);
    t.is(names.length, 5);
    t.true(existsSync(join(dir, tailMarkerName(5))), `the tail marker names segment 5: ${readdirSync(dir).join(' ')}`);
    for (const name of names.slice(-removed)) unlinkSync(join(dir, name));
    const message = refusal(t, dir, StorageErrorCode.Corrupt);
    t.regex(message, new RegExp(`${segmentFileName(5)}.*${segmentFileName(5 - removed)} the newest`), `removed ${removed}`);
  }
});

test('a WAL whose segments are all gone, or whose tail marker went with its newest segment, is refused', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  writeSegments(storage, 3);
  storage.close();
  const copy = tempDir(t);
  for (const name of readdirSync(dir)) writeFileSync(join(copy, name), readFileSync(join(dir, name)));
  // Every segment removed, the marker left: not a new, empty WAL.
  for (const name of walFiles(dir)) unlinkSync(join(dir, name));
  t.regex(refusal(t, dir, StorageErrorCode.Corrupt), /no WAL segment/);
  // The newest segment and the marker removed: its headers (format 2) say it had one.
  unlinkSync(join(copy, segmentFileName(3)));
  unlinkSync(join(copy, tailMarkerName(3)));
  t.regex(refusal(t, copy, StorageErrorCode.Corrupt), new RegExp(`a tail marker \\(${TAIL_MARKER_PREFIX}`));
});

test('a crash after a roll created its segment and before it moved the tail marker loads, and moves the marker', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const last = writeSegments(storage, 4);
  storage.close();
  renameSync(join(dir, tailMarkerName(4)), join(dir, tailMarkerName(3)));
  const reopened = open(dir);
  const { state } = reopened.load();
  reopened.close();
  t.is(lastIndex(state), last);
  t.deepEqual(
    readdirSync(dir).filter((name) => name.startsWith(TAIL_MARKER_PREFIX)),
    [tailMarkerName(4)],
  );
});

test('truncateToSyncedPosition moves the tail marker back with the segments it drops: the WAL loads', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const before = writeSegments(storage, 2);
  const position = storage.syncedPosition();
  writeSegments(storage, 4, before + 1);
  storage.close();
  truncateToSyncedPosition(dir, position);
  const reopened = open(dir);
  const { state } = reopened.load();
  reopened.close();
  t.is(lastIndex(state), before);
  t.deepEqual(
    readdirSync(dir).filter((name) => name.startsWith(TAIL_MARKER_PREFIX)),
    [tailMarkerName(position.segment)],
  );
});

test('a WAL of format 1 (no tail marker, no owner in its headers) loads with a note and is marked from then on', (t) => {
  const dir = tempDir(t);
  // Two segments as a build before format 2 wrote them: [1, 1, sequence] headers.
  const packr = new Packr({ useRecords: false });
  const header = (sequence: number): Buffer => frame(packr.pack([RecordKind.SegmentHeader, WAL_FORMAT_VERSION_WITHOUT_OWNER, sequence]));
  const record = (from: number, to: number): Buffer => frame(Buffer.from(encodeBatchPayload(from, batch(from, to, 1), { currentTerm: 1, votedFor: 1, commitIndex: from - 1 })));
  writeFileSync(join(dir, segmentFileName(1)), Buffer.concat([header(1), record(1, 3), record(4, 6)]));
  writeFileSync(join(dir, segmentFileName(2)), Buffer.concat([header(2), record(7, 9)]));
  const storage = open(dir, CLUSTER_A);
  const { state, recovery } = storage.load();
  t.is(lastIndex(state), 9);
  t.is(recovery.notes.length, 1);
  t.regex(recovery.notes[0]!, /no tail marker/);
  // It goes on: new segments are of format 2, with the owner.
  writeSegments(storage, 4, 10);
  storage.close();
  t.true(existsSync(join(dir, tailMarkerName(4))));
  // Its newest segment removed now: refused.
  unlinkSync(join(dir, segmentFileName(4)));
  refusal(t, dir, StorageErrorCode.Corrupt, CLUSTER_A);
});

test('a WAL whose headers name another cluster or another node is refused (WAL_FOREIGN); one opened without an owner loads', (t) => {
  const dir = tempDir(t);
  const storage = open(dir, CLUSTER_A);
  storage.load();
  const last = writeSegments(storage, 3);
  storage.close();
  t.regex(refusal(t, dir, StorageErrorCode.Foreign, CLUSTER_B), new RegExp(`belongs to node 2 of cluster ${CLUSTER_A.cluster}, but is opened as node 2 of cluster ${CLUSTER_B.cluster}`));
  t.regex(refusal(t, dir, StorageErrorCode.Foreign, { ...CLUSTER_A, node: 3 }), /opened as node 3/);
  const same = open(dir, CLUSTER_A);
  t.is(lastIndex(same.load().state), last);
  same.close();
  const anyone = open(dir);
  t.is(lastIndex(anyone.load().state), last);
  anyone.close();
});

test('a segment copied in from another cluster\'s WAL is refused (WAL_FOREIGN), with or without an owner to open as', (t) => {
  const ours = tempDir(t);
  const theirs = tempDir(t);
  for (const [dir, owner] of [[ours, CLUSTER_A], [theirs, CLUSTER_B]] as const) {
    const storage = open(dir, owner);
    storage.load();
    writeSegments(storage, 3);
    storage.close();
  }
  writeFileSync(join(ours, segmentFileName(3)), readFileSync(join(theirs, segmentFileName(3))));
  t.regex(refusal(t, ours, StorageErrorCode.Foreign), /a segment copied in from another WAL/);
  refusal(t, ours, StorageErrorCode.Foreign, CLUSTER_A);
});

test('a start whose fdatasync failed leaves word: the next start writes the last segment again before its fdatasync, and refuses if it cannot', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const last = writeSegments(storage, 2);
  storage.close();
  const segment = join(dir, segmentFileName(2));
  const bytes = readFileSync(segment).length;

  const failing = open(dir, undefined, { ioErrorOnLoadFdatasync: true });
  const error = t.throws(() => failing.load(), { instanceOf: StorageError });
  t.is(error?.code, StorageErrorCode.Io);
  t.regex(error?.message ?? '', new RegExp(RESYNC_NEEDED_FILE_NAME));
  t.true(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)), 'the failed start left word');

  // The next start's write of it fails: refused (WAL_IO), and the word stays.
  const refused = open(dir, undefined, { noSpaceOnWrites: [1] });
  t.is(t.throws(() => refused.load(), { instanceOf: StorageError })?.code, StorageErrorCode.Io);
  t.true(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)));

  const resynced = open(dir);
  const { state, recovery } = resynced.load();
  resynced.close();
  t.is(recovery.resyncedBytes, bytes, 'the whole last segment was written again');
  t.is(lastIndex(state), last);
  t.false(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)), 'and the word removed once its fdatasync succeeded');
  t.regex(recovery.notes.join('\n'), /written again and made durable/);

  const plain = open(dir);
  t.is(plain.load().recovery.resyncedBytes, 0, 'a start after that writes nothing again');
  plain.close();
});

test('a failed fdatasync whose cut back to the synced position fails too leaves the same word: the next start writes the last segment again', (t) => {
  const dir = tempDir(t);
  const storage = open(dir, undefined, { noSpaceOnFdatasyncs: [2], ioErrorOnCutBack: true });
  storage.load();
  storage.append(batch(1, 3, 1));
  storage.sync();
  storage.append(batch(4, 6, 1));
  t.is(t.throws(() => storage.sync(), { instanceOf: StorageError })?.code, StorageErrorCode.Io);
  storage.close();
  t.true(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)), 'the records it could not cut are not trusted as they are');
  const reopened = open(dir);
  const { recovery } = reopened.load();
  reopened.close();
  t.is(recovery.resyncedBytes, readFileSync(join(dir, segmentFileName(1))).length);
  t.false(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)));
});

// The thirty-first session: the word is left before the start's fdatasync, durably (the
// file and the directory fsynced), and removed only once the start's fdatasync and
// directory fsync succeeded. A start that cannot leave it refuses before its fdatasync.

/** The WAL's segment files with their bytes (the word aside). */
function segmentsOf(dir: string): Map<string, string> {
  return new Map([...snapshotOfDir(dir)].filter(([name]) => walFiles(dir).includes(name)));
}

for (const step of ['create', 'fsync', 'directory-fsync'] as const) {
  test(`a start that cannot leave ${RESYNC_NEEDED_FILE_NAME} durably (${step} fails) refuses before its fdatasync, changing no segment`, (t) => {
    const dir = tempDir(t);
    const storage = open(dir);
    storage.load();
    const last = writeSegments(storage, 2);
    storage.close();
    const before = segmentsOf(dir);
    // The fdatasync would fail too: the refusal must come before it, so that no page it
    // could leave marked clean goes without word.
    const failing = open(dir, undefined, { ioErrorOnResyncWord: step, ioErrorOnLoadFdatasync: true });
    const error = t.throws(() => failing.load(), { instanceOf: StorageError });
    failing.close();
    t.is(error?.code, StorageErrorCode.Io);
    t.regex(error?.message ?? '', new RegExp(`refusing to trust WAL segment .* as the page cache holds it: cannot .*${step === 'directory-fsync' ? 'fsync directory' : RESYNC_NEEDED_FILE_NAME}.*EIO`));
    t.notRegex(error?.message ?? '', /cannot make WAL segment/, 'its fdatasync never ran');
    t.deepEqual(segmentsOf(dir), before, 'no segment changed');
    const next = open(dir);
    const { state } = next.load();
    next.close();
    t.is(lastIndex(state), last);
    t.false(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)), 'a start that succeeded removes the word');
  });
}

test('a start whose directory fsync fails leaves the word too: the next start writes the last segment again', (t) => {
  const dir = tempDir(t);
  const storage = open(dir);
  storage.load();
  const last = writeSegments(storage, 2);
  storage.close();
  const bytes = readFileSync(join(dir, segmentFileName(2))).length;
  const failing = open(dir, undefined, { ioErrorOnLoadDirectoryFsync: true });
  const error = t.throws(() => failing.load(), { instanceOf: StorageError });
  failing.close();
  t.is(error?.code, StorageErrorCode.Io);
  t.regex(error?.message ?? '', new RegExp(`cannot fsync directory .*EIO.*${RESYNC_NEEDED_FILE_NAME} left`));
  t.true(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)), 'the failed start left word');
  const resynced = open(dir);
  const { state, recovery } = resynced.load();
  resynced.close();
  t.is(recovery.resyncedBytes, bytes);
  t.is(lastIndex(state), last);
  t.false(existsSync(join(dir, RESYNC_NEEDED_FILE_NAME)));
});

test('a failed storage that can neither cut its WAL back nor leave the word says so in its failure, for whoever restarts it', (t) => {
  const dir = tempDir(t);
  const storage = open(dir, undefined, { noSpaceOnFdatasyncs: [2], ioErrorOnCutBack: true, ioErrorOnResyncWord: 'fsync' });
  storage.load();
  storage.append(batch(1, 3, 1));
  storage.sync();
  storage.append(batch(4, 6, 1));
  const error = t.throws(() => storage.sync(), { instanceOf: StorageError });
  t.is(error?.code, StorageErrorCode.Io);
  t.regex(error?.message ?? '', /ENOSPC.*could not be cut back to what it acknowledged \(.*EIO.*\) nor word left for the next start \(cannot leave .*wal-resync-needed: EIO.*\): a start before the page cache is dropped/);
  // Every later call reports the same.
  const later = t.throws(() => storage.append(batch(7, 7, 1)), { instanceOf: StorageError });
  t.regex(later?.message ?? '', /nor word left for the next start/);
  storage.close();
});
