// Snapshots in storage (Raft §7): the contract on both implementations (a compaction
// keeps the log after the snapshot, a leader's snapshot replaces a log that disagrees,
// restarts load the snapshot and what follows it), and on FileStorage: the snapshot's
// own file, deletion of WAL segments the snapshot made redundant, a crash at every step
// of saveSnapshot, and a damaged snapshot file refused without touching anything.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, HardState, RestoredState, Snapshot } from '../lib/raft/types.js';
import { SnapshotCorruptionError, StorageCorruptionError, StorageErrorCode } from '../lib/storage/errors.js';
import { openFileStorage, walFiles } from '../lib/storage/file-storage.js';
import { MemoryStorage } from '../lib/storage/memory-storage.js';
import {
  REDUNDANT_SEGMENT_SUFFIX,
  segmentSequence,
  tailMarkerName,
  SNAPSHOT_ASYNC_TEMP_PREFIX,
  SNAPSHOT_FILE_NAME,
  SNAPSHOT_TEMP_FILE_NAME,
  decodeSnapshotFile,
  encodeSnapshotFile,
  encodeSnapshotFileHead,
} from '../lib/storage/record.js';
import type { LogStorage } from '../lib/storage/types.js';
import { createPrng, testSeed } from './helpers/seed.js';

const SMALL_SEGMENT_BYTES = 256;

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function entries(from: number, to: number, term: number): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push({ index, term, data: new TextEncoder().encode(`v${index}@${term}`) });
  return result;
}

function hard(currentTerm: number, votedFor: number, commitIndex: number): HardState {
  return { currentTerm, votedFor, commitIndex };
}

function snapshotAt(index: number, term: number, text = `state@${index}`): Snapshot {
  return { index, term, data: new TextEncoder().encode(text) };
}

/** saveSnapshotAsync as a promise of whether the snapshot was saved. */
function saveAsync(storage: LogStorage, snapshot: Snapshot): Promise<boolean> {
  return new Promise((resolve, reject) => storage.saveSnapshotAsync(snapshot, (error, saved) => (error !== null ? reject(error) : resolve(saved))));
}

function indexes(state: RestoredState): number[] {
  return state.entries.map((entry) => entry.index);
}

function snapshotText(state: RestoredState): string | null {
  return state.snapshot === null || state.snapshot === undefined ? null : new TextDecoder().decode(state.snapshot.data);
}

interface Disk {
  fresh(): LogStorage;
  /** Stop (dropping anything unsynced) and reopen on the same disk, not loaded. */
  restart(previous: LogStorage): LogStorage;
}

/** A fresh storage, loaded, with entries 1..last (term 1) appended and not yet synced. */
function loadedWith(disk: Disk, last: number): LogStorage {
  const storage = disk.fresh();
  storage.load();
  storage.append(entries(1, last, 1));
  return storage;
}

const implementations: readonly { name: string; create(t: ExecutionContext): Disk }[] = [
  {
    name: 'FileStorage',
    create(t) {
      const dir = join(tempDir(t), 'node-1');
      const open = (): LogStorage => openFileStorage(dir, { fsync: true, segmentBytes: SMALL_SEGMENT_BYTES, verifyWrites: true });
      return {
        fresh: open,
        restart(previous) {
          previous.close();
          return open();
        },
      };
    },
  },
  {
    name: 'MemoryStorage',
    create() {
      const storage = new MemoryStorage();
      return {
        fresh: () => storage,
        restart(previous) {
          (previous as MemoryStorage).crash();
          return previous;
        },
      };
    },
  },
];

for (const implementation of implementations) {
  const name = (title: string): string => `${implementation.name}: ${title}`;

  test(name('a compaction keeps the entries after the snapshot; a restart loads the snapshot and them'), (t) => {
    const disk = implementation.create(t);
    let storage = disk.fresh();
    storage.load();
    storage.append(entries(1, 40, 1));
    storage.setHardState(hard(1, 2, 35));
    storage.sync();
    storage.saveSnapshot(snapshotAt(30, 1));
    t.is(storage.stats().snapshotIndex, 30);
    storage.append(entries(41, 45, 1));
    storage.sync();
    storage = disk.restart(storage);
    const { state, recovery } = storage.load();
    t.is(snapshotText(state), 'state@30');
    t.is(state.snapshot?.index, 30);
    t.is(state.snapshot?.term, 1);
    t.deepEqual(indexes(state), entries(31, 45, 1).map((entry) => entry.index));
    t.deepEqual(state.hardState, hard(1, 2, 35));
    t.is(recovery.snapshotIndex, 30);
    t.is(recovery.entries, 15);
    // Nothing may be written at or below the snapshot.
    const error = t.throws(() => storage.append(entries(30, 31, 1)));
    t.is((error as { code?: string }).code, StorageErrorCode.Invariant);
    storage.close();
  });

  test(name('saveSnapshotAsync: appends go on while the file is written; once saved, a restart loads it and the entries after it'), async (t) => {
    const disk = implementation.create(t);
    let storage = loadedWith(disk, 40);
    storage.setHardState(hard(1, 2, 35));
    storage.sync();
    const saved = saveAsync(storage, snapshotAt(30, 1));
    // The node keeps working meanwhile.
    storage.append(entries(41, 45, 1));
    storage.sync();
    t.true(await saved);
    t.is(storage.stats().snapshotIndex, 30);
    storage.append(entries(46, 47, 1));
    storage.sync();
    storage = disk.restart(storage);
    const { state } = storage.load();
    t.is(snapshotText(state), 'state@30');
    t.deepEqual(indexes(state), entries(31, 47, 1).map((entry) => entry.index));
    storage.close();
  });

  test(name('saveSnapshotAsync is superseded by a newer snapshot saved while it is in flight'), async (t) => {
    const disk = implementation.create(t);
    let storage = loadedWith(disk, 40);
    storage.sync();
    const saved = saveAsync(storage, snapshotAt(20, 1, 'older'));
    storage.saveSnapshot(snapshotAt(30, 1, 'newer'));
    t.false(await saved, 'the older snapshot is dropped');
    t.is(storage.stats().snapshotIndex, 30);
    storage = disk.restart(storage);
    const { state } = storage.load();
    t.is(snapshotText(state), 'newer');
    t.deepEqual(indexes(state), entries(31, 40, 1).map((entry) => entry.index));
    storage.close();
  });

  test(name('a snapshot from the leader replaces a log that disagrees at its index; later entries follow it'), (t) => {
    const disk = implementation.create(t);
    let storage = disk.fresh();
    storage.load();
    storage.append(entries(1, 20, 1));
    storage.setHardState(hard(2, 0, 3));
    storage.sync();
    storage.saveSnapshot(snapshotAt(15, 2));
    storage.append(entries(16, 18, 2));
    storage.setHardState(hard(2, 0, 16));
    storage.sync();
    storage = disk.restart(storage);
    const { state } = storage.load();
    t.is(state.snapshot?.index, 15);
    t.is(state.snapshot?.term, 2);
    t.deepEqual(
      state.entries.map((entry) => [entry.index, entry.term]),
      [
        [16, 2],
        [17, 2],
        [18, 2],
      ],
      'none of the old term-1 entries after 15 came back',
    );
    t.deepEqual(state.hardState, hard(2, 0, 16));
    storage.close();
  });

  test(name('a snapshot beyond a short log leaves an empty log after it, which grows from snapshot + 1'), (t) => {
    const disk = implementation.create(t);
    let storage = disk.fresh();
    storage.load();
    storage.append(entries(1, 5, 1));
    storage.sync();
    storage.saveSnapshot(snapshotAt(30, 3));
    storage = disk.restart(storage);
    let loaded = storage.load().state;
    t.is(loaded.snapshot?.index, 30);
    t.deepEqual(indexes(loaded), []);
    storage.append(entries(31, 32, 3));
    storage.sync();
    storage = disk.restart(storage);
    loaded = storage.load().state;
    t.deepEqual(indexes(loaded), [31, 32]);
    storage.close();
  });

  test(name('buffered, unsynced records are written before the snapshot, and successive snapshots replace each other'), (t) => {
    const disk = implementation.create(t);
    let storage = disk.fresh();
    storage.load();
    storage.append(entries(1, 12, 1));
    storage.setHardState(hard(1, 1, 8));
    storage.saveSnapshot(snapshotAt(6, 1, 'first'));
    storage.append(entries(13, 30, 1));
    storage.sync();
    storage.saveSnapshot(snapshotAt(20, 1, 'second'));
    storage = disk.restart(storage);
    const { state } = storage.load();
    t.is(snapshotText(state), 'second');
    t.deepEqual(indexes(state), entries(21, 30, 1).map((entry) => entry.index));
    t.deepEqual(state.hardState, hard(1, 1, 8));
    const error = t.throws(() => storage.saveSnapshot(snapshotAt(20, 1)));
    t.is((error as { code?: string }).code, StorageErrorCode.Invariant, 'a snapshot must move forward');
    storage.close();
  });
}

// ---- FileStorage only ------------------------------------------------------------------

function openFile(dir: string, fsync = true): LogStorage {
  return openFileStorage(dir, { fsync, segmentBytes: SMALL_SEGMENT_BYTES, verifyWrites: true });
}

function loadFile(dir: string): RestoredState {
  const storage = openFile(dir, false);
  try {
    return storage.load().state;
  } finally {
    storage.close();
  }
}

/** Writes from..to in batches of 5 (one sync each) at `term`, with hard state (term, 0, commitIndex). */
function fill(storage: LogStorage, from: number, to: number, term: number, commitIndex = 0): void {
  for (let first = from; first <= to; first += 5) {
    const last = Math.min(to, first + 4);
    storage.append(entries(first, last, term));
    storage.setHardState(hard(term, 0, commitIndex));
    storage.sync();
  }
}

function filesOf(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) files.set(name, readFileSync(join(dir, name)));
  return files;
}

test('FileStorage: segments holding nothing after the snapshot are deleted, the rest stays, and the WAL shrinks', (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 300, 1);
  const before = storage.stats();
  t.true(before.files.length > 10, `${before.files.length} segments`);
  storage.saveSnapshot(snapshotAt(250, 1));
  const after = storage.stats();
  t.true(after.files.length < before.files.length / 3, `${after.files.length} of ${before.files.length} segments left: ${after.files.join(' ')}`);
  t.deepEqual(after.files, walFiles(dir), 'stats match the directory');
  t.true(after.walBytes < before.walBytes / 4);
  t.true(existsSync(join(dir, SNAPSHOT_FILE_NAME)));
  t.false(existsSync(join(dir, SNAPSHOT_TEMP_FILE_NAME)));
  storage.close();
  const state = loadFile(dir);
  t.is(state.snapshot?.index, 250);
  t.deepEqual(indexes(state), entries(251, 300, 1).map((entry) => entry.index));
});

test('encodeSnapshotFileHead: head then data is encodeSnapshotFile, byte for byte, at every msgpack bin size', (t) => {
  const seed = testSeed('SNAPSHOT_HEAD_SEED');
  const random = createPrng(seed);
  // 0: empty; 255/256 and 65535/65536: the bin8 -> bin16 -> bin32 edges; 1.5 MB: a real snapshot.
  for (const size of [0, 1, 255, 256, 65_535, 65_536, 1_500_000]) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 97) data[i] = Math.floor(random() * 256);
    for (const [index, term] of [[1, 1], [250, 3], [2 ** 40, 2 ** 33]] as const) {
      const whole = encodeSnapshotFile(index, term, data);
      const head = encodeSnapshotFileHead(index, term, data);
      t.true(Buffer.concat([head, data]).equals(whole), `seed ${seed} (SNAPSHOT_HEAD_SEED): ${size} bytes at ${index}@t${term}`);
      const decoded = decodeSnapshotFile(Buffer.concat([head, data]));
      t.true(decoded.ok && decoded.index === index && decoded.term === term && Buffer.from(decoded.data).equals(data), `decodes: ${size} bytes`);
    }
  }
});

test('FileStorage: saveSnapshotAsync (a compaction) and saveSnapshot (a leader\'s snapshot, installed) write the file encodeSnapshotFile describes, head and data written apart, and a large one loads back whole', async (t) => {
  const membership = { voters: [1, 2, 3], learners: [] };
  const saves = [
    { name: 'saveSnapshotAsync', index: 50, membership: undefined, save: (storage: LogStorage, snapshot: Snapshot) => saveAsync(storage, snapshot) },
    { name: 'saveSnapshot', index: 55, membership, save: (storage: LogStorage, snapshot: Snapshot) => (storage.saveSnapshot(snapshot), true) },
  ];
  for (const { name, index, membership, save } of saves) {
    const dir = tempDir(t);
    let storage = openFile(dir);
    storage.load();
    fill(storage, 1, 60, 1);
    const data = new Uint8Array(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + index) & 0xff;
    t.true(await save(storage, membership === undefined ? { index, term: 1, data } : { index, term: 1, data, membership }), name);
    t.true(readFileSync(join(dir, SNAPSHOT_FILE_NAME)).equals(encodeSnapshotFile(index, 1, data, membership)), `${name}: the file is the one frame around [version, index, term, membership, data]`);
    storage.close();
    storage = openFile(dir);
    const { state } = storage.load();
    t.is(state.snapshot?.index, index, name);
    t.true(Buffer.from(state.snapshot!.data).equals(data), `${name}: the snapshot loads back byte for byte`);
    t.deepEqual(indexes(state), entries(index + 1, 60, 1).map((entry) => entry.index), name);
    storage.close();
  }
});

test('FileStorage: saveSnapshotAsync deletes the segments it made redundant off the caller\'s thread; by done they are gone, and only they', async (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 300, 1);
  const before = walFiles(dir);
  t.true(before.length > 10, `${before.length} segments`);
  t.true(await saveAsync(storage, snapshotAt(250, 1)));
  const after = walFiles(dir);
  t.true(after.length < before.length / 3, `${after.length} of ${before.length} segments left: ${after.join(' ')}`);
  t.deepEqual(storage.stats().files, after, 'stats match the directory');
  t.deepEqual(readdirSync(dir).filter((name) => name.endsWith(REDUNDANT_SEGMENT_SUFFIX)), [], 'no retired segment left once done');
  // The survivors: the newest segments of before, then the one the cut record began.
  const kept = after.slice(0, -1);
  t.deepEqual(kept, before.slice(before.length - kept.length), `kept ${kept.join(' ')}`);
  t.false(before.includes(after.at(-1)!), 'the cut begins a new segment');
  storage.append(entries(301, 305, 1));
  storage.sync();
  storage.close();
  const state = loadFile(dir);
  t.is(state.snapshot?.index, 250);
  t.deepEqual(indexes(state), entries(251, 305, 1).map((entry) => entry.index));
});

test('FileStorage: redundant segments larger than one deletion step are cut down and deleted whole before done', async (t) => {
  // Redundant segments are truncated a step (256 KiB) at a time before the unlink.
  const dir = tempDir(t);
  const storage = openFileStorage(dir, { fsync: true, segmentBytes: 700 * 1024, preallocate: false });
  storage.load();
  const big = new Uint8Array(40 * 1024).fill(7);
  for (let index = 1; index <= 60; index++) {
    storage.append([{ index, term: 1, data: big }]);
    storage.sync();
  }
  const before = walFiles(dir);
  t.true(before.length >= 3, `${before.length} segments`);
  t.true(before.slice(0, -1).every((name) => statSync(join(dir, name)).size > 512 * 1024), 'the closed segments span several deletion steps');
  t.true(await saveAsync(storage, snapshotAt(60, 1)));
  t.deepEqual(walFiles(dir).filter((name) => before.includes(name)), [], 'every segment before the cut is gone');
  t.deepEqual(readdirSync(dir).filter((name) => name.endsWith(REDUNDANT_SEGMENT_SUFFIX)), [], 'and no retired file is left');
  storage.append([{ index: 61, term: 1, data: big }]);
  storage.sync();
  storage.close();
  const state = loadFile(dir);
  t.is(state.snapshot?.index, 60);
  t.deepEqual(indexes(state), [61]);
});

test('FileStorage: segments retired by a snapshot but not yet unlinked when the node crashed are removed by load()', async (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 300, 1);
  const copies = new Map(walFiles(dir).map((name) => [name, readFileSync(join(dir, name))]));
  t.true(await saveAsync(storage, snapshotAt(250, 1)));
  storage.close();
  // As if the crash came after the renames and before the unlinks.
  const deleted = [...copies.keys()].filter((name) => !existsSync(join(dir, name)));
  t.true(deleted.length > 5, `${deleted.length} segments deleted`);
  for (const name of deleted) writeFileSync(join(dir, name + REDUNDANT_SEGMENT_SUFFIX), copies.get(name)!);
  const state = loadFile(dir);
  t.is(state.snapshot?.index, 250);
  t.deepEqual(indexes(state), entries(251, 300, 1).map((entry) => entry.index));
  t.deepEqual(readdirSync(dir).filter((name) => name.endsWith(REDUNDANT_SEGMENT_SUFFIX)), [], 'load() removed the retired segments');
});

test('FileStorage: a conflict truncation reaching back into deleted segments replays correctly', (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 100, 1);
  // A new leader's log replaces 61.. (uncommitted at the time) with term 2 entries.
  fill(storage, 61, 160, 2);
  storage.saveSnapshot(snapshotAt(120, 2));
  storage.close();
  const state = loadFile(dir);
  t.is(state.snapshot?.index, 120);
  t.deepEqual(
    state.entries.map((entry) => `${entry.index}@${entry.term}`),
    entries(121, 160, 2).map((entry) => `${entry.index}@${entry.term}`),
  );
});

/**
 * saveSnapshot in three steps: (1) the snapshot file, (2) a fresh segment with the
 * snapshot record, (3) deletion of redundant segments. A crash after each step must
 * recover to the same state as a completed call.
 */
for (const kind of ['compaction', 'snapshot from the leader'] as const) {
  test(`FileStorage: a crash at any step of saveSnapshot (${kind}) recovers to the same log`, (t) => {
    const reference = tempDir(t);
    const snapshot = kind === 'compaction' ? snapshotAt(150, 1) : snapshotAt(150, 2);
    const run = (dir: string): { segmentsBefore: Map<string, Buffer>; segmentsAfter: string[] } => {
      const storage = openFile(dir);
      storage.load();
      fill(storage, 1, 200, 1, kind === 'compaction' ? 190 : 100);
      const segmentsBefore = new Map([...filesOf(dir)].filter(([name]) => name.startsWith('wal-')));
      storage.saveSnapshot(snapshot);
      const segmentsAfter = storage.stats().files;
      storage.close();
      return { segmentsBefore, segmentsAfter };
    };
    const { segmentsBefore, segmentsAfter } = run(reference);
    const expected = loadFile(reference);
    const expectedEntries = kind === 'compaction' ? entries(151, 200, 1).map((entry) => entry.index) : [];
    t.deepEqual(indexes(expected), expectedEntries);
    const deleted = [...segmentsBefore.keys()].filter((segment) => !segmentsAfter.includes(segment));
    const recordSegment = segmentsAfter[segmentsAfter.length - 1]!;
    t.true(deleted.length > 3, `${deleted.length} segments deleted`);

    const crashes: [string, (dir: string) => void][] = [
      // After step 1: the old WAL is intact and the snapshot record never written.
      [
        'after the snapshot file',
        (dir) => {
          for (const [segment, bytes] of segmentsBefore) writeFileSync(join(dir, segment), bytes);
          unlinkSync(join(dir, recordSegment));
          // The roll to the record's segment had not happened: the tail marker names the segment before (restored above).
          unlinkSync(join(dir, tailMarkerName(segmentSequence(recordSegment)!)));
        },
      ],
      // After step 2: nothing deleted yet.
      ['after the snapshot record', (dir) => deleted.forEach((segment) => writeFileSync(join(dir, segment), segmentsBefore.get(segment)!))],
      // During step 3: the oldest segments deleted, the later ones not.
      [
        'midway through the deletions',
        (dir) => deleted.slice(Math.floor(deleted.length / 2)).forEach((segment) => writeFileSync(join(dir, segment), segmentsBefore.get(segment)!)),
      ],
    ];
    for (const [when, crash] of crashes) {
      const dir = tempDir(t);
      run(dir);
      crash(dir);
      const recovered = loadFile(dir);
      t.is(recovered.snapshot?.index, 150, when);
      t.is(recovered.snapshot?.term, snapshot.term, when);
      t.deepEqual(indexes(recovered), expectedEntries, when);
      t.deepEqual(recovered.hardState, expected.hardState, when);
      // And the node carries on from there.
      const storage = openFile(dir);
      storage.load();
      storage.append(entries(expectedEntries.length === 0 ? 151 : 201, expectedEntries.length === 0 ? 152 : 202, 2));
      storage.sync();
      storage.close();
      t.is(loadFile(dir).entries.at(-1)?.term, 2, when);
    }
  });
}

test('FileStorage: a damaged snapshot file is refused with SNAPSHOT_CORRUPT, and no file changes', async (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 60, 1);
  // Saved asynchronously so that its done comes after the redundant segments are
  // unlinked (on libuv's pool): the listings below must not race that.
  t.true(await saveAsync(storage, snapshotAt(50, 1, 'x'.repeat(200))));
  storage.close();
  const good = readFileSync(join(dir, SNAPSHOT_FILE_NAME));
  const damages: [string, Buffer][] = [
    ['a flipped bit in the data', Buffer.from(good.map((byte, offset) => (offset === good.length - 10 ? byte ^ 0x04 : byte)))],
    ['a flipped bit in the length', Buffer.from(good.map((byte, offset) => (offset === 1 ? byte ^ 0x01 : byte)))],
    ['cut short', good.subarray(0, good.length - 7)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0, 0, 0])])],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [what, bytes] of damages) {
    writeFileSync(join(dir, SNAPSHOT_FILE_NAME), bytes);
    const before = filesOf(dir);
    const reopened = openFile(dir);
    const error = t.throws(() => reopened.load(), { instanceOf: SnapshotCorruptionError }, what);
    reopened.close();
    t.is(error?.code, StorageErrorCode.SnapshotCorrupt, what);
    t.is(error?.file, join(dir, SNAPSHOT_FILE_NAME), what);
    t.regex(error?.message ?? '', /snapshot corrupt: .* at offset \d+: expected/, what);
    const after = filesOf(dir);
    t.deepEqual([...after.keys()], [...before.keys()], `${what}: file names changed`);
    for (const [file, content] of before) t.true(content.equals(after.get(file)!), `${what}: ${file} was modified`);
  }
  writeFileSync(join(dir, SNAPSHOT_FILE_NAME), good);
  t.is(loadFile(dir).snapshot?.index, 50, 'the intact file loads again');
});

test('FileStorage: a leftover temporary snapshot file (a crash mid-write) is ignored', (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 40, 1);
  storage.saveSnapshot(snapshotAt(20, 1));
  storage.close();
  writeFileSync(join(dir, SNAPSHOT_TEMP_FILE_NAME), Buffer.from('half a snapsh'));
  const state = loadFile(dir);
  t.is(state.snapshot?.index, 20);
  t.deepEqual(indexes(state), entries(21, 40, 1).map((entry) => entry.index));
  // The next snapshot overwrites it.
  const reopened = openFile(dir);
  reopened.load();
  reopened.saveSnapshot(snapshotAt(30, 1));
  reopened.close();
  t.false(existsSync(join(dir, SNAPSHOT_TEMP_FILE_NAME)));
  t.is(loadFile(dir).snapshot?.index, 30);
});

test('FileStorage: a WAL that records a snapshot whose file is missing is corruption', (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 200, 1);
  storage.saveSnapshot(snapshotAt(180, 1));
  storage.close();
  const saved = join(dir, 'saved-snapshot');
  copyFileSync(join(dir, SNAPSHOT_FILE_NAME), saved);
  unlinkSync(join(dir, SNAPSHOT_FILE_NAME));
  const reopened = openFile(dir);
  const error = t.throws(() => reopened.load(), { instanceOf: StorageCorruptionError });
  reopened.close();
  t.is(error?.code, StorageErrorCode.Corrupt);
  t.regex(error?.message ?? '', /snapshot/);
});

test('FileStorage: a snapshot file with every WAL segment gone is corruption (the term and vote are gone with them), and no file changes', (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  fill(storage, 1, 200, 3);
  storage.setHardState(hard(5, 2, 180));
  storage.sync();
  storage.saveSnapshot(snapshotAt(180, 3));
  storage.close();
  for (const name of walFiles(dir)) unlinkSync(join(dir, name));
  const before = readdirSync(dir).sort();
  const snapshotBytes = readFileSync(join(dir, SNAPSHOT_FILE_NAME));
  const reopened = openFile(dir);
  const error = t.throws(() => reopened.load(), { instanceOf: StorageCorruptionError });
  reopened.close();
  t.is(error?.code, StorageErrorCode.Corrupt);
  t.regex(error?.message ?? '', /no WAL segment/);
  t.deepEqual(readdirSync(dir).sort(), before, 'load() made or removed no file');
  t.deepEqual(readFileSync(join(dir, SNAPSHOT_FILE_NAME)), snapshotBytes);
});

test('FileStorage: saveSnapshotAsync on a storage closed before the file is in: dropped, its temporary file removed, the old state loads', async (t) => {
  const dir = join(tempDir(t), 'node-1');
  const open = (): LogStorage => openFileStorage(dir, { fsync: true, segmentBytes: SMALL_SEGMENT_BYTES, verifyWrites: true });
  const storage = open();
  storage.load();
  storage.append(entries(1, 20, 1));
  storage.sync();
  const saved = saveAsync(storage, snapshotAt(10, 1));
  storage.close();
  t.false(await saved);
  t.false(existsSync(join(dir, SNAPSHOT_FILE_NAME)));
  const reopened = open();
  const { state } = reopened.load();
  t.deepEqual(readdirSync(dir).filter((name) => name.startsWith(SNAPSHOT_ASYNC_TEMP_PREFIX)), [], 'no temporary file left after a load');
  t.is(state.snapshot ?? null, null);
  t.deepEqual(indexes(state), entries(1, 20, 1).map((entry) => entry.index));
  reopened.close();
});

test('FileStorage: asynchronous snapshots overlapping appends, syncs and crashes always reload, with every synced entry (seeded stress)', async (t) => {
  const seed = testSeed('STORAGE_TEST_SEED');
  const random = createPrng(seed);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const rounds = 150;
  let reloads = 0;
  let saved = 0;
  for (let round = 0; round < rounds; round++) {
    const dir = join(tempDir(t), 'node-1');
    const open = (): LogStorage => openFileStorage(dir, { fsync: true, segmentBytes: 2048, verifyWrites: true });
    let storage = open();
    storage.load();
    let last = 0;
    let snapshotIndex = 0;
    let syncedUpTo = 0;
    let syncing: Promise<number> | null = null;
    let saving: Promise<boolean> | null = null;
    const reload = (): void => {
      storage.close();
      storage = open();
      const { state } = storage.load();
      const loadedLast = state.entries.at(-1)?.index ?? state.snapshot?.index ?? 0;
      if (loadedLast < syncedUpTo) throw new Error(`loaded up to ${loadedLast}, but ${syncedUpTo} was synced`);
      for (const entry of state.entries) {
        if (decoder.decode(entry.data ?? new Uint8Array()) !== `entry ${entry.index}`) throw new Error(`entry ${entry.index} came back wrong`);
      }
      last = loadedLast;
      snapshotIndex = state.snapshot?.index ?? 0;
      reloads++;
    };
    try {
      for (let step = 0; step < 300; step++) {
        const count = 1 + Math.floor(random() * 12);
        const batch: Entry[] = [];
        for (let i = 1; i <= count; i++) batch.push({ index: last + i, term: 1, data: encoder.encode(`entry ${last + i}`) });
        storage.append(batch);
        last += count;
        storage.setHardState(hard(1, 1, last));
        if (syncing === null) {
          const upTo = last;
          syncing = new Promise((resolve, reject) => storage.syncAsync((error) => (error !== null ? reject(error) : resolve(upTo))));
        }
        if (random() < 0.5) {
          syncedUpTo = await syncing;
          syncing = null;
        }
        // Like a node: the snapshot is of what was applied, which may not be durable here yet.
        const applied = random() < 0.5 ? syncedUpTo : last;
        if (saving === null && applied - snapshotIndex >= 25) {
          const at = applied;
          saving = new Promise((resolve, reject) =>
            storage.saveSnapshotAsync(snapshotAt(at, 1), (error, ok) => {
              if (error !== null) return reject(error);
              if (ok) {
                snapshotIndex = Math.max(snapshotIndex, at);
                saved++;
              }
              resolve(ok);
            }),
          );
        }
        if (saving !== null && random() < 0.1) {
          await saving;
          saving = null;
        }
        if (random() < 0.03) {
          // A crash: nothing in flight is waited for.
          void syncing?.catch(() => {});
          void saving?.catch(() => {});
          syncing = null;
          saving = null;
          reload();
        }
      }
      if (syncing !== null) syncedUpTo = await syncing;
      if (saving !== null) await saving;
      reload();
      storage.close();
    } catch (error) {
      t.fail(`seed ${seed} round ${round}: ${String(error)}`);
      return;
    }
  }
  t.log(`seed ${seed}: ${rounds} rounds, ${reloads} reloads, ${saved} snapshots saved, all clean`);
  t.true(reloads >= rounds && saved > rounds, `seed ${seed}: ${reloads} reloads, ${saved} snapshots saved`);
});
