// Configurations in storage (thesis §4): configuration entries go through the WAL
// (append, sync, reload, and the read-back path behind Config.entryLoader), a snapshot's
// configuration through its file; snapshot files from before configurations still load;
// a configuration that is malformed on disk is corruption with a reason, and one a caller
// hands in is refused before anything is written.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { Entry, HardState, Membership, RestoredState, Snapshot } from '../lib/raft/types.js';
import { SnapshotCorruptionError, StorageCorruptionError, StorageErrorCode } from '../lib/storage/errors.js';
import { openFileStorage } from '../lib/storage/file-storage.js';
import { MemoryStorage } from '../lib/storage/memory-storage.js';
import {
  SNAPSHOT_FILE_NAME,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_FORMAT_VERSION_WITHOUT_MEMBERSHIP,
  decodeRecord,
  decodeSnapshotFile,
  encodeBatchPayload,
  encodeSnapshotFile,
  encodeSnapshotFileHead,
  frame,
  segmentFileName,
} from '../lib/storage/record.js';
import type { LogStorage } from '../lib/storage/types.js';

const packr = new Packr({ useRecords: false });

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-membership-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openFile(dir: string): LogStorage {
  return openFileStorage(dir, { fsync: true, segmentBytes: 1024, verifyWrites: true });
}

function hard(currentTerm: number, votedFor: number, commitIndex: number): HardState {
  return { currentTerm, votedFor, commitIndex };
}

function command(index: number, term: number): Entry {
  return { index, term, data: new TextEncoder().encode(`command ${index}@${term}`) };
}

function configuration(index: number, term: number, voters: number[], learners: number[] = []): Entry {
  return { index, term, data: null, membership: { voters, learners } };
}

/** Entries 1..12 of term 2: commands, a no-op, and configuration entries (adding learner 4, promoting it, then 5 as a learner). */
function mixedLog(): Entry[] {
  return [
    { index: 1, term: 2, data: null },
    command(2, 2),
    configuration(3, 2, [1, 2, 3], [4]),
    command(4, 2),
    command(5, 2),
    configuration(6, 2, [1, 2, 3, 4]),
    { index: 7, term: 2, data: null },
    command(8, 2),
    configuration(9, 2, [1, 2, 3, 4], [5]),
    // Joint consensus (thesis §4.3): C_old,new, its outgoing voters third on the wire.
    { index: 10, term: 2, data: null, membership: { voters: [1, 5, 6], learners: [], outgoing: [1, 2, 3, 4] } },
    command(11, 2),
    configuration(12, 2, [], [1_000_000]),
  ];
}

/** An entry as comparable text: index, term, data as text or '-', the configuration if any. */
function described(entry: Entry): string {
  const data = entry.data === null ? '-' : new TextDecoder().decode(entry.data);
  const membership =
    entry.membership === undefined
      ? ''
      : ` voters=${entry.membership.voters.join(',')} learners=${entry.membership.learners.join(',')}${entry.membership.outgoing === undefined ? '' : ` outgoing=${entry.membership.outgoing.join(',')}`}`;
  return `${entry.index}@${entry.term}:${data}${membership}`;
}

/** Every entry without a configuration has exactly the keys index, term, data (no `membership: undefined`). */
function assertShapes(t: ExecutionContext, entries: readonly Entry[], context: string): void {
  for (const entry of entries) {
    const expected = entry.membership === undefined ? ['index', 'term', 'data'] : ['index', 'term', 'data', 'membership'];
    t.deepEqual(Object.keys(entry), expected, `${context}: entry ${entry.index}`);
    if (entry.membership !== undefined) t.is(entry.data, null, `${context}: configuration entry ${entry.index} has no data`);
  }
}

test('FileStorage: configuration entries round-trip through append, sync, the read-back path, close and reload', (t) => {
  const dir = tempDir(t);
  const written = mixedLog();
  let storage = openFile(dir);
  storage.load();
  // Two batches, so the read-back path decodes two records; the segment rolls on the way.
  storage.append(written.slice(0, 5));
  storage.setHardState(hard(2, 1, 3));
  storage.sync();
  storage.append(written.slice(5));
  storage.setHardState(hard(2, 1, 9));
  storage.sync();
  // Read back from the segments (Config.entryLoader), as a follower that fell behind would need them.
  const readBack = storage.entries(1, 12);
  t.deepEqual(readBack.map(described), written.map(described), 'entries() reads the configurations back from disk');
  assertShapes(t, readBack, 'read back');
  t.deepEqual(storage.entries(6, 6)[0]?.membership, { voters: [1, 2, 3, 4], learners: [] });
  storage.close();

  storage = openFile(dir);
  const { state } = storage.load();
  t.deepEqual(state.entries.map(described), written.map(described), 'reload');
  assertShapes(t, state.entries, 'reload');
  t.deepEqual(state.hardState, hard(2, 1, 9));
  // The recovered entries are what entries() hands out; a configuration appended now is read back from its record.
  t.deepEqual(storage.entries(3, 3).map(described), [described(written[2]!)]);
  storage.append([configuration(13, 3, [1, 2])]);
  storage.sync();
  t.deepEqual(storage.entries(12, 13).map(described), [described(written[11]!), described(configuration(13, 3, [1, 2]))]);
  storage.close();
  storage = openFile(dir);
  const reloaded = storage.load().state;
  t.deepEqual(reloaded.entries.at(-1), configuration(13, 3, [1, 2]));
  storage.close();
});

test('FileStorage: a configuration entry replaced by a conflict truncation does not come back; one written after it does', (t) => {
  const dir = tempDir(t);
  let storage = openFile(dir);
  storage.load();
  storage.append([command(1, 1), configuration(2, 1, [1, 2, 3], [4]), command(3, 1)]);
  storage.sync();
  // A new leader's log replaces index 2 on: a command where the configuration was, then a configuration of its own.
  storage.append([command(2, 2), configuration(3, 2, [1, 2, 3, 5])]);
  storage.sync();
  t.deepEqual(storage.entries(1, 3).map(described), [command(1, 1), command(2, 2), configuration(3, 2, [1, 2, 3, 5])].map(described));
  storage.close();
  storage = openFile(dir);
  const { state } = storage.load();
  storage.close();
  t.deepEqual(state.entries.map(described), [command(1, 1), command(2, 2), configuration(3, 2, [1, 2, 3, 5])].map(described));
  assertShapes(t, state.entries, 'reload');
});

test('a configuration entry is written as msgpackr writes [voters, learners] in the data slot, and decodes back', (t) => {
  const entries = mixedLog();
  const payload = encodeBatchPayload(1, entries, hard(2, 1, 9));
  const slots = entries.map((entry) => {
    if (entry.membership === undefined) return entry.data;
    const { voters, learners, outgoing } = entry.membership;
    return outgoing === undefined ? [voters, learners] : [voters, learners, outgoing];
  });
  const tuple = [2, 1, entries.map((entry) => entry.term), slots, [2, 1, 9]];
  t.deepEqual([...payload], [...packr.pack(tuple)]);
  const decoded = decodeRecord(Uint8Array.from(payload));
  if (!decoded.ok || decoded.record.kind !== 2) {
    t.fail('the batch does not decode');
    return;
  }
  t.deepEqual(decoded.record.memberships, entries.map((entry) => entry.membership ?? null));
  t.deepEqual(decoded.record.datas, entries.map((entry) => entry.data));
  // A batch without configuration entries allocates no list for them.
  const plain = decodeRecord(Uint8Array.from(encodeBatchPayload(1, [command(1, 1)], null)));
  t.true(plain.ok && plain.record.kind === 2 && plain.record.memberships === null);
});

/** Writes entries 1..2 (term 1) and returns the segment's bytes, ready for a forged record to be appended. */
function oneSegment(t: ExecutionContext): { dir: string; path: string; original: Buffer } {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  storage.append([command(1, 1), command(2, 1)]);
  storage.sync();
  storage.close();
  const path = join(dir, segmentFileName(1));
  return { dir, path, original: readFileSync(path) };
}

/** Every file in dir with its bytes: to prove a refused load changed nothing. */
function filesOf(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) files.set(name, readFileSync(join(dir, name)));
  return files;
}

/** Malformed [voters, learners] values as they could be on disk, and what the refusal must say. */
const malformedPairs: [string, unknown, RegExp][] = [
  ['voters unsorted', [[3, 1], []], /voters are not sorted ascending: 1 after 3/],
  ['a duplicate learner', [[1], [4, 4]], /learners list node 4 twice/],
  ['a node both voter and learner', [[1, 2], [2]], /node 2 is both a voter and a learner/],
  ['node id 0', [[0], []], /voters\[0\] number 0 is not a positive integer/],
  ['a string node id', [[1], ['5']], /learners\[0\] the string "5" is not a positive integer/],
  ['voters not an array', [7, []], /voters are number 7, not an array/],
  ['not a pair', [[1], [2], [3], [4]], /configuration is an array of 4, not a \[voters, learners\] pair/],
  ['a voter also a learner while joint', [[1, 2], [2], [2, 3]], /node 2 is both a voter and a learner/],
  ['outgoing voters unsorted', [[1], [], [3, 2]], /outgoing voters are not sorted ascending: 2 after 3/],
];

test('FileStorage: a malformed configuration in a WAL record (with a valid CRC) is WAL_CORRUPT, with file, offset and reason, and no file changes', (t) => {
  const { dir, path, original } = oneSegment(t);
  for (const [what, pair, reason] of malformedPairs) {
    // Placed last, where a CRC failure would pass for a torn write: a valid CRC must not.
    writeFileSync(path, Buffer.concat([original, frame(packr.pack([2, 3, [1], [pair], null]))]));
    const before = filesOf(dir);
    const storage = openFile(dir);
    const error = t.throws(() => storage.load(), { instanceOf: StorageCorruptionError }, what);
    storage.close();
    t.is(error?.code, StorageErrorCode.Corrupt, what);
    t.is(error?.file, path, what);
    t.is(error?.offset, original.length, what);
    t.regex(error?.expected ?? '', /a configuration \[voters, learners\] as data of entry 3/, what);
    t.regex(error?.found ?? '', reason, what);
    const after = filesOf(dir);
    for (const [name, bytes] of before) t.true(bytes.equals(after.get(name)!), `${what}: ${name} was modified`);
  }
  // Neither bytes, nil nor an array in the data slot.
  writeFileSync(path, Buffer.concat([original, frame(packr.pack([2, 3, [1], ['text'], null]))]));
  const storage = openFile(dir);
  const error = t.throws(() => storage.load(), { instanceOf: StorageCorruptionError });
  storage.close();
  t.regex(error?.expected ?? '', /bytes, null or a configuration as data of entry 3/);
  // The same record with a valid configuration loads: the refusals above were for the configuration alone.
  writeFileSync(path, Buffer.concat([original, frame(packr.pack([2, 3, [1], [[[1, 2], [3]]], null]))]));
  const good = openFile(dir);
  t.deepEqual(good.load().state.entries.at(-1), configuration(3, 1, [1, 2], [3]));
  good.close();
  // A joint configuration demoting node 2: an outgoing voter may be a learner too.
  writeFileSync(path, Buffer.concat([original, frame(packr.pack([2, 3, [1], [[[1], [2], [1, 2]]], null]))]));
  const demoting = openFile(dir);
  t.deepEqual(demoting.load().state.entries.at(-1)!.membership, { voters: [1], learners: [2], outgoing: [1, 2] });
  demoting.close();
});

test('append refuses a configuration entry with data or with a malformed configuration, and writes nothing', (t) => {
  const invalid: [string, Entry, RegExp][] = [
    ['with data', { index: 3, term: 1, data: Uint8Array.from([1]), membership: { voters: [1], learners: [] } }, /configuration entry 3 also carries data/],
    ['voters unsorted', configuration(3, 1, [2, 1]), /configuration entry 3: membership voters are not sorted ascending: 1 after 2/],
    ['overlapping', configuration(3, 1, [1, 2], [2]), /node 2 is both a voter and a learner/],
    ['learners not a list', { index: 3, term: 1, data: null, membership: { voters: [1], learners: 'none' } } as unknown as Entry, /learners are the string "none", not an array/],
  ];
  for (const storage of [new MemoryStorage(), openFile(tempDir(t))]) {
    storage.load();
    storage.append([command(1, 1), command(2, 1)]);
    storage.sync();
    for (const [what, entry, reason] of invalid) {
      const error = t.throws(() => storage.append([entry]), undefined, what);
      t.is((error as { code?: string }).code, StorageErrorCode.Invariant, what);
      t.regex(error?.message ?? '', reason, what);
    }
    // Nothing of the refused appends was buffered: the log still ends at 2 and goes on from there.
    storage.append([configuration(3, 1, [1, 2])]);
    storage.sync();
    t.deepEqual(storage.entries(1, 3).map(described), [command(1, 1), command(2, 1), configuration(3, 1, [1, 2])].map(described));
    storage.close();
  }
});

// ---- Snapshots ---------------------------------------------------------------------------

function snapshotAt(index: number, term: number, membership?: Membership): Snapshot {
  const data = new TextEncoder().encode(`state@${index}`);
  return membership === undefined ? { index, term, data } : { index, term, data, membership };
}

/** A snapshot with its data as text, so a Buffer read back compares equal to the Uint8Array saved. */
function plainSnapshot(snapshot: Snapshot | null | undefined): unknown {
  if (snapshot === null || snapshot === undefined) return null;
  return { ...snapshot, data: new TextDecoder().decode(snapshot.data) };
}

interface Disk {
  readonly storage: LogStorage;
  /** Stop (dropping anything unsynced) and reopen on the same disk, not loaded. */
  restart(): LogStorage;
}

const implementations: readonly { name: string; create(t: ExecutionContext): Disk }[] = [
  {
    name: 'FileStorage',
    create(t) {
      const dir = tempDir(t);
      let storage = openFile(dir);
      return {
        get storage() {
          return storage;
        },
        restart() {
          storage.close();
          storage = openFile(dir);
          return storage;
        },
      };
    },
  },
  {
    name: 'MemoryStorage',
    create() {
      const storage = new MemoryStorage();
      return {
        storage,
        restart() {
          storage.crash();
          return storage;
        },
      };
    },
  },
];

function saveAsync(storage: LogStorage, snapshot: Snapshot): Promise<boolean> {
  return new Promise((resolve, reject) => storage.saveSnapshotAsync(snapshot, (error, saved) => (error !== null ? reject(error) : resolve(saved))));
}

for (const implementation of implementations) {
  const name = (title: string): string => `${implementation.name}: ${title}`;

  test(name("a snapshot's membership survives saveSnapshot and saveSnapshotAsync, a restart and a load; one without it loads without the key"), async (t) => {
    const disk = implementation.create(t);
    let storage = disk.storage;
    storage.load();
    storage.append(mixedLog());
    storage.sync();
    storage.saveSnapshot(snapshotAt(4, 2, { voters: [1, 2, 3], learners: [4] }));
    storage = disk.restart();
    let state: RestoredState = storage.load().state;
    t.deepEqual(plainSnapshot(state.snapshot), plainSnapshot(snapshotAt(4, 2, { voters: [1, 2, 3], learners: [4] })));
    t.deepEqual(state.entries.map(described), mixedLog().slice(4).map(described), 'the configuration entries after the snapshot stay');

    t.true(await saveAsync(storage, snapshotAt(9, 2, { voters: [1, 2, 3, 4], learners: [5] })));
    storage = disk.restart();
    state = storage.load().state;
    t.deepEqual(state.snapshot?.membership, { voters: [1, 2, 3, 4], learners: [5] });
    t.is(state.snapshot?.index, 9);

    // A snapshot with an empty configuration is still one with a configuration.
    storage.saveSnapshot(snapshotAt(10, 2, { voters: [], learners: [] }));
    storage = disk.restart();
    t.deepEqual(storage.load().state.snapshot?.membership, { voters: [], learners: [] });

    storage.saveSnapshot(snapshotAt(11, 2));
    storage = disk.restart();
    state = storage.load().state;
    t.deepEqual(Object.keys(state.snapshot ?? {}), ['index', 'term', 'data'], 'no membership key, not membership: undefined');
    t.deepEqual(state.entries.map(described), [described(configuration(12, 2, [], [1_000_000]))]);
    storage.close();
  });

  test(name('a snapshot with a malformed membership is refused before anything is written, and the storage goes on'), (t) => {
    const disk = implementation.create(t);
    let storage = disk.storage;
    storage.load();
    storage.append(mixedLog());
    storage.sync();
    storage.saveSnapshot(snapshotAt(3, 2, { voters: [1, 2, 3], learners: [4] }));
    for (const membership of [{ voters: [2, 1], learners: [] }, { voters: [1], learners: [1] }, { voters: [0], learners: [] }]) {
      const error = t.throws(() => storage.saveSnapshot(snapshotAt(6, 2, membership)));
      t.is((error as { code?: string }).code, StorageErrorCode.Invariant);
      t.regex(error?.message ?? '', /saveSnapshot: membership /);
    }
    // Not failed: the same snapshot with a valid configuration goes in.
    storage.saveSnapshot(snapshotAt(6, 2, { voters: [1, 2, 3, 4], learners: [] }));
    storage = disk.restart();
    t.deepEqual(storage.load().state.snapshot?.membership, { voters: [1, 2, 3, 4], learners: [] });
    storage.close();
  });
}

/** A snapshot file as a build from before configurations wrote it: one frame around [1, index, term, data]. */
function formatOneSnapshotFile(index: number, term: number, data: Uint8Array): Buffer {
  return frame(packr.pack([SNAPSHOT_FORMAT_VERSION_WITHOUT_MEMBERSHIP, index, term, data]));
}

test('FileStorage: a snapshot file of format 1 (from before configurations) loads without membership, with the WAL after it', (t) => {
  const dir = tempDir(t);
  let storage = openFile(dir);
  storage.load();
  storage.append(mixedLog());
  storage.setHardState(hard(2, 1, 10));
  storage.sync();
  storage.saveSnapshot(snapshotAt(8, 2, { voters: [1, 2, 3, 4], learners: [] }));
  storage.close();
  const data = new TextEncoder().encode('state@8, as an old build saved it');
  writeFileSync(join(dir, SNAPSHOT_FILE_NAME), formatOneSnapshotFile(8, 2, data));
  storage = openFile(dir);
  const { state } = storage.load();
  t.deepEqual(state.snapshot, { index: 8, term: 2, data: Buffer.from(data) });
  t.deepEqual(Object.keys(state.snapshot ?? {}), ['index', 'term', 'data'], 'no membership key');
  t.deepEqual(state.entries.map(described), mixedLog().slice(8).map(described));
  t.deepEqual(state.hardState, hard(2, 1, 10));
  // The next snapshot is written in the current format, with its configuration.
  storage.saveSnapshot(snapshotAt(10, 2, { voters: [1, 2, 3, 4], learners: [5] }));
  storage.close();
  const file = readFileSync(join(dir, SNAPSHOT_FILE_NAME));
  const decoded = decodeSnapshotFile(file);
  t.true(decoded.ok && decoded.index === 10);
  t.deepEqual(decoded.ok ? decoded.membership : null, { voters: [1, 2, 3, 4], learners: [5] });
  t.deepEqual(packr.unpack(file.subarray(8))[0], SNAPSHOT_FORMAT_VERSION);
});

test('decodeSnapshotFile: format 2 holds [version, index, term, membership | nil, data]; format 1 decodes with membership null', (t) => {
  const data = Uint8Array.from([5, 6, 7]);
  const withMembership = encodeSnapshotFile(40, 3, data, { voters: [1, 2], learners: [3] });
  t.deepEqual(packr.unpack(withMembership.subarray(8)), [2, 40, 3, [[1, 2], [3]], Buffer.from(data)]);
  const decoded = decodeSnapshotFile(withMembership);
  t.true(decoded.ok && decoded.index === 40 && decoded.term === 3 && Buffer.from(decoded.data).equals(data));
  t.deepEqual(decoded.ok ? decoded.membership : 'failed', { voters: [1, 2], learners: [3] });
  const without = encodeSnapshotFile(40, 3, data);
  t.deepEqual(packr.unpack(without.subarray(8)), [2, 40, 3, null, Buffer.from(data)]);
  t.deepEqual(decodeSnapshotFile(without), { ok: true, index: 40, term: 3, data: Buffer.from(data), membership: null });
  const old = decodeSnapshotFile(formatOneSnapshotFile(40, 3, data));
  t.deepEqual(old, { ok: true, index: 40, term: 3, data: Buffer.from(data), membership: null });
  // Format 1 with a fifth field, format 2 with four, an unknown format: refused.
  t.regex(JSON.stringify(decodeSnapshotFile(frame(packr.pack([1, 40, 3, data, null])))), /\[1, index, term, data\]/);
  t.regex(JSON.stringify(decodeSnapshotFile(frame(packr.pack([2, 40, 3, data])))), /\[2, index, term, membership, data\]/);
  t.regex(JSON.stringify(decodeSnapshotFile(frame(packr.pack([3, 40, 3, null, data])))), /snapshot format 2 or 1/);
});

test('encodeSnapshotFileHead with a membership: head then data is encodeSnapshotFile, byte for byte, at every msgpack bin size', (t) => {
  for (const size of [0, 1, 255, 256, 65_535, 65_536, 300_000]) {
    const data = new Uint8Array(size).fill(size & 0xff);
    for (const membership of [undefined, { voters: [1, 2, 3], learners: [] }, { voters: [1, 300, 70_000], learners: [2 ** 40] }]) {
      const whole = encodeSnapshotFile(77, 4, data, membership);
      const head = encodeSnapshotFileHead(77, 4, data, membership);
      t.true(Buffer.concat([head, data]).equals(whole), `${size} bytes, ${JSON.stringify(membership)}`);
      const decoded = decodeSnapshotFile(whole);
      t.deepEqual(decoded.ok ? decoded.membership : 'failed', membership ?? null);
    }
  }
});

test('FileStorage: a malformed membership in a snapshot file (with a valid CRC) is SNAPSHOT_CORRUPT with a reason, and no file changes', (t) => {
  const dir = tempDir(t);
  const storage = openFile(dir);
  storage.load();
  storage.append(mixedLog());
  storage.sync();
  storage.saveSnapshot(snapshotAt(8, 2, { voters: [1, 2, 3, 4], learners: [] }));
  storage.close();
  const good = readFileSync(join(dir, SNAPSHOT_FILE_NAME));
  const data = new TextEncoder().encode('state@8');
  for (const [what, pair, reason] of [...malformedPairs, ['a string', 'voters', /configuration is the string "voters", not a \[voters, learners\] pair/] as [string, unknown, RegExp]]) {
    writeFileSync(join(dir, SNAPSHOT_FILE_NAME), frame(packr.pack([SNAPSHOT_FORMAT_VERSION, 8, 2, pair, data])));
    const before = filesOf(dir);
    const reopened = openFile(dir);
    const error = t.throws(() => reopened.load(), { instanceOf: SnapshotCorruptionError }, what);
    reopened.close();
    t.is(error?.code, StorageErrorCode.SnapshotCorrupt, what);
    t.is(error?.file, join(dir, SNAPSHOT_FILE_NAME), what);
    t.regex(error?.expected ?? '', /the configuration at the snapshot index/, what);
    t.regex(error?.found ?? '', reason, what);
    const after = filesOf(dir);
    t.deepEqual([...after.keys()], [...before.keys()], `${what}: file names changed`);
    for (const [file, content] of before) t.true(content.equals(after.get(file)!), `${what}: ${file} was modified`);
  }
  writeFileSync(join(dir, SNAPSHOT_FILE_NAME), good);
  const reopened = openFile(dir);
  t.deepEqual(reopened.load().state.snapshot?.membership, { voters: [1, 2, 3, 4], learners: [] }, 'the intact file loads again');
  reopened.close();
});
