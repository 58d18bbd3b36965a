// `crash(id, { loseUnsynced: true })`, the `lose` nemesis of `raftlab check`, as a power
// loss: it cuts what was written and not yet fdatasynced (crash() says how many bytes),
// and nothing acknowledged. The test-only build that acknowledges before its fsync loses
// acknowledged writes on any crash: it holds them in memory, unwritten, until its next
// sync, so what catches it in `raftlab check` is a majority crashed at once, not the cut.

import test, { type ExecutionContext } from 'ava';
import type { Cluster } from '../lib/cluster/cluster.js';
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../lib/cluster/errors.js';
import { loseUnsyncedFiles, POWER_LOSS_STATE_BYTES, PowerLossSlot, segmentDeletionHooks, snapshotRenameHooks } from '../lib/cluster/power-loss.js';
import type { Entry } from '../lib/raft/types.js';
import { openFileStorage, truncateToSyncedPosition, walFiles } from '../lib/storage/file-storage.js';
import { decodeSnapshotFile, REDUNDANT_SEGMENT_SUFFIX } from '../lib/storage/record.js';
import type { SyncedPosition } from '../lib/storage/types.js';
import { eventually, startCluster } from './helpers/cluster.js';

const writes = 100;

/** Writes `writes` keys on a one-node cluster; returns once all are acknowledged. */
async function writeAll(cluster: Cluster): Promise<void> {
  const kv = cluster.client({ timeoutMs: 8_000 });
  try {
    for (let i = 0; i < writes; i++) await kv.put(`k${i}`, i);
  } finally {
    kv.close();
  }
}

/** How many of the keys writeAll wrote the restarted node still has. */
async function survivors(cluster: Cluster): Promise<number> {
  await cluster.waitForLeader(10_000);
  const kv = cluster.client({ timeoutMs: 8_000 });
  try {
    let found = 0;
    for (let i = 0; i < writes; i++) if ((await kv.get(`k${i}`)) === i) found++;
    return found;
  } finally {
    kv.close();
  }
}

test.serial('under writes, a power loss of every node cuts written but not yet fdatasynced WAL bytes, and crash() says how many', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, fsync: true });
  await cluster.waitForLeader(10_000);
  let stop = false;
  const writers = Array.from({ length: 6 }, async (_, index) => {
    const kv = cluster.client({ timeoutMs: 2_000 });
    for (let i = 0; !stop; i++) await kv.put(`w${index}`, i).catch(() => undefined);
    kv.close();
  });
  // Bytes are cut only when a node goes while an fdatasync of its is running (a few in
  // ten nodes under this load): up to 20 power losses of the whole cluster.
  const cut: number[] = [];
  try {
    for (let round = 0; round < 20 && !cut.some((bytes) => bytes > 0); round++) {
      await cluster.waitFor((status) => status.leaderId !== 0 && status.nodes.every((each) => each.alive), 15_000, 'a leader, every node up');
      const start = cluster.status().nodes.find((each) => each.id === cluster.status().leaderId)!.commitIndex;
      await cluster.waitFor((status) => status.nodes.some((each) => each.commitIndex >= start + 50), 15_000, 'writes under way');
      const crashed = await Promise.all(cluster.nodeIds.map((id) => cluster.crash(id, { loseUnsynced: true })));
      cut.push(...crashed.map(({ unsyncedBytesLost }) => unsyncedBytesLost));
      await Promise.all(cluster.nodeIds.map((id) => cluster.restart(id)));
    }
  } finally {
    stop = true;
    await Promise.all(writers);
  }
  t.log(`bytes cut per node crash: ${cut.join(' ')}`);
  t.true(cut.some((bytes) => bytes > 0), `no power loss cut anything: ${cut.join(' ')}`);
});

test.serial('writes acknowledged before their fsync (the test-only broken build) are lost by any crash: they wait in memory, unwritten', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1, fsync: true, testOnly: { ackBeforeFsync: true } });
  await cluster.waitForLeader(10_000);
  await writeAll(cluster);
  // The broken build writes and syncs only every 250 ms: a plain crash drops the rest.
  const { unsyncedBytesLost } = await cluster.crash(1);
  t.is(unsyncedBytesLost, 0);
  await cluster.restart(1);
  const kept = await survivors(cluster);
  t.true(kept < writes, `${kept} of ${writes} acknowledged writes survived`);
});

test.serial('with writes acknowledged after their fsync, a power loss loses none of them', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 1, fsync: true });
  await cluster.waitForLeader(10_000);
  await writeAll(cluster);
  const { unsyncedBytesLost } = await cluster.crash(1, { loseUnsynced: true });
  await cluster.restart(1);
  t.is(await survivors(cluster), writes, `a power loss that cut ${unsyncedBytesLost} bytes took nothing acknowledged`);
});

// crash(id, { loseUnsynced: true }) cuts a node's WAL back to the position its worker last
// published as synced. A compaction writes its snapshot record, synced, into a fresh
// segment and deletes the segments it covers; the position was published only by the
// next sync, so a crash in between deleted the synced segment too, and with the old ones
// already gone the node came back with no WAL at all: term 0, its vote forgotten (check
// --seed 2958: three such nodes, asking for votes in term 1 with a log of a later term,
// never elected a leader again).

const SNAPSHOT_ENTRIES = 4;

test.serial('a crash losing unsynced writes right after a compaction keeps the snapshot record and the term', async (t) => {
  const { cluster, events, dataDir } = await startCluster(t, { nodes: 1, fsync: true, snapshotEntries: SNAPSHOT_ENTRIES });
  await cluster.waitForLeader(10_000);
  const kv = cluster.client();
  const compactedUpTo = (): number[] =>
    events.filter((event) => event.kind === 'log-compacted').map((event) => Number(/up to index (\d+)/.exec(event.text)?.[1] ?? NaN));
  // Write until a compaction covers the whole log: then every segment before the fresh
  // one is deleted, and nothing is written after it (one node, no other writes).
  let covered = 0;
  for (let i = 0; i < 6 * SNAPSHOT_ENTRIES && covered === 0; i++) {
    await kv.put(`k${i}`, i);
    const applied = cluster.status().nodes[0]!.appliedIndex;
    const due = compactedUpTo().length + 1;
    // A compaction is due about every SNAPSHOT_ENTRIES applied entries: wait for it when one may come.
    try {
      await eventually(() => compactedUpTo().length >= due && compactedUpTo().at(-1)! >= applied, 300, `a compaction up to ${applied}`);
    } catch {
      continue;
    }
    await eventually(() => cluster.status().nodes[0]!.snapshotIndex === compactedUpTo().at(-1), 5_000, 'the status to show the snapshot');
    const node = cluster.status().nodes[0]!;
    if (node.snapshotIndex === node.lastLogIndex) covered = node.snapshotIndex;
  }
  t.true(covered > 0, `no compaction covered the whole log; events:\n${events.map((event) => event.text).join('\n')}`);
  const termBefore = cluster.status().nodes[0]!.term;
  const walBefore = readdirSync(join(dataDir, 'node-1')).filter((name) => name.startsWith('wal-')).sort();
  await cluster.crash(1, { loseUnsynced: true });
  const walAfter = readdirSync(join(dataDir, 'node-1')).filter((name) => name.startsWith('wal-') && name.endsWith('.log')).sort();
  const crash = events.find((event) => event.kind === 'crash')!.text;
  t.log(`compaction up to ${covered}, term ${termBefore}; WAL ${walBefore.join(' ')} -> ${walAfter.join(' ')}; ${crash}`);
  t.regex(crash, /losing 0 unsynced bytes/, 'nothing was written after the synced snapshot record');
  // The snapshot file's data was fsynced before its rename, and the rename made durable.
  t.notRegex(crash, /snapshot\.bin/, 'the snapshot file in place was durable');
  const recovery = await cluster.restart(1);
  t.is(recovery.term, termBefore, `the restarted node's term (WAL ${walAfter.join(' ') || 'gone'})`);
  await cluster.waitForLeader(10_000);
  t.is(await kv.get('k0'), 0);
});

/** Writes on a one-node cluster until a compaction covers its whole log; returns the index covered (0: none did). */
async function compactWholeLog(cluster: Cluster, events: readonly { kind: string; text: string }[]): Promise<number> {
  const kv = cluster.client();
  const compactedUpTo = (): number[] =>
    events.filter((event) => event.kind === 'log-compacted').map((event) => Number(/up to index (\d+)/.exec(event.text)?.[1] ?? NaN));
  try {
    for (let i = 0; i < 6 * SNAPSHOT_ENTRIES; i++) {
      await kv.put(`k${i}`, i);
      const applied = cluster.status().nodes[0]!.appliedIndex;
      const due = compactedUpTo().length + 1;
      try {
        await eventually(() => compactedUpTo().length >= due && compactedUpTo().at(-1)! >= applied, 300, `a compaction up to ${applied}`);
      } catch {
        continue;
      }
      await eventually(() => cluster.status().nodes[0]!.snapshotIndex === compactedUpTo().at(-1), 5_000, 'the status to show the snapshot');
      const node = cluster.status().nodes[0]!;
      if (node.snapshotIndex === node.lastLogIndex) return node.snapshotIndex;
    }
    return 0;
  } finally {
    kv.close();
  }
}

// A power loss takes more than the WAL's unsynced tail: a snapshot file whose data was
// never fsynced comes back empty. The test-only build that renames snapshot files into
// place before their fsync shows that the simulated power loss takes it: after a
// compaction that deleted the segments before it, the node cannot start again (the
// correct build, above, keeps everything).

test.serial('a power loss takes a snapshot file renamed into place before its fsync (the test-only broken build): the node cannot start on it', async (t) => {
  const { cluster, events } = await startCluster(t, {
    nodes: 1,
    fsync: true,
    snapshotEntries: SNAPSHOT_ENTRIES,
    testOnly: { storageFaults: { node: 1, faults: { snapshotRenameBeforeFsync: true } } },
  });
  await cluster.waitForLeader(10_000);
  const covered = await compactWholeLog(cluster, events);
  t.true(covered > 0, `no compaction covered the whole log; events:\n${events.map((event) => event.text).join('\n')}`);
  const { unsyncedFilesLost } = await cluster.crash(1, { loseUnsynced: true });
  t.log(`compaction up to ${covered}; the power loss took: ${unsyncedFilesLost.join('; ')}`);
  t.true(
    unsyncedFilesLost.some((what) => /the data of snapshot\.bin, never fsynced/.test(what)),
    unsyncedFilesLost.join('; '),
  );
  t.regex(events.filter((event) => event.kind === 'crash').at(-1)!.text, /and the data of snapshot\.bin, never fsynced \(it is empty\)/);
  const error = await t.throwsAsync(cluster.restart(1));
  t.regex(error?.message ?? '', /snapshot/i, `the restart's error: ${error?.message}`);
  t.not((error as { code?: unknown } | undefined)?.code, ErrorCode.NodeAlreadyRunning);
});

function powerLossDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-lose-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const entries = (from: number, to: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, offset) => ({ index: from + offset, term: 1, data: new Uint8Array([from + offset]) }));

test('a power loss while a snapshot file\'s rename is not yet known durable undoes it: the previous snapshot is back, the WAL still holds the log', (t) => {
  const dir = powerLossDir(t);
  const copy = powerLossDir(t);
  const state = new SharedArrayBuffer(POWER_LOSS_STATE_BYTES);
  const slots = new Int32Array(state);
  const hooks = snapshotRenameHooks(dir, state);
  // The moment the directory fsync after the second snapshot's rename returned, before the
  // storage is told: the node's directory and its published state, copied as a power loss
  // then would find them.
  let copied: SharedArrayBuffer | null = null;
  let renames = 0;
  const storage = openFileStorage(dir, {
    fsync: true,
    preallocate: false,
    onSynced: (position: SyncedPosition) => {
      Atomics.store(slots, PowerLossSlot.Segment, position.segment);
      Atomics.store(slots, PowerLossSlot.Offset, position.offset);
    },
    onSnapshotRename: {
      renaming: (dataSynced) => hooks.renaming(dataSynced),
      durable: (rename) => {
        if (++renames === 2) {
          cpSync(dir, copy, { recursive: true });
          copied = new SharedArrayBuffer(POWER_LOSS_STATE_BYTES);
          new Int32Array(copied).set(slots);
        }
        hooks.durable(rename);
      },
    },
  });
  storage.load();
  storage.append(entries(1, 10));
  storage.setHardState({ currentTerm: 1, votedFor: 1, commitIndex: 10 });
  storage.sync();
  storage.saveSnapshot({ index: 4, term: 1, data: new Uint8Array([4]) });
  storage.append(entries(11, 20));
  storage.setHardState({ currentTerm: 1, votedFor: 1, commitIndex: 20 });
  storage.sync();
  storage.saveSnapshot({ index: 15, term: 1, data: new Uint8Array([15]) });
  storage.close();
  t.not(copied, null, 'the second rename was seen');
  // With the rename made durable, nothing is pending: the published state says so.
  t.is(Atomics.load(slots, PowerLossSlot.SnapshotRename), 0);
  t.deepEqual(readdirSync(dir).filter((name) => name.includes('before-rename')), []);

  const lost = loseUnsyncedFiles(copy, copied!);
  const position = new Int32Array(copied!);
  truncateToSyncedPosition(copy, { segment: Atomics.load(position, PowerLossSlot.Segment), offset: Atomics.load(position, PowerLossSlot.Offset) });
  t.deepEqual(lost, ['the rename of a new snapshot.bin (the previous one is back)']);
  t.deepEqual(readdirSync(copy).filter((name) => name.includes('before-rename')), []);
  const reopened = openFileStorage(copy, { fsync: true, preallocate: false });
  const { state: restored } = reopened.load();
  reopened.close();
  t.is(restored.snapshot?.index, 4, 'the previous snapshot');
  t.deepEqual(
    restored.entries.map((entry) => entry.index),
    entries(5, 20).map((entry) => entry.index),
    'the log after it, whole: the second snapshot had not cut it yet',
  );
  t.is(restored.hardState.commitIndex, 20);

  // The same moment without a power loss: the new snapshot stands.
  const plain = openFileStorage(dir, { fsync: true, preallocate: false });
  t.is(plain.load().state.snapshot?.index, 15);
  plain.close();
});

// The same in a real node: its compaction's directory fsync held back (test-only
// snapshotDirectorySyncDelayMs), so the power is cut while the rename of its new snapshot
// file is pending (the second name of the file it replaces, snapshot.bin.before-rename,
// exists exactly then). The previous snapshot comes back; nothing acknowledged is lost.

const DIRECTORY_SYNC_DELAY_MS = 3_000;

test.serial('a power loss while a compaction\'s snapshot rename is pending brings the previous snapshot back and loses no acknowledged write', async (t) => {
  const { cluster, events, dataDir } = await startCluster(t, {
    nodes: 1,
    fsync: true,
    snapshotEntries: SNAPSHOT_ENTRIES,
    testOnly: { storageFaults: { node: 1, faults: { snapshotDirectorySyncDelayMs: DIRECTORY_SYNC_DELAY_MS } } },
  });
  await cluster.waitForLeader(10_000);
  const nodeDir = join(dataDir, 'node-1');
  const pending = (): boolean => readdirSync(nodeDir).includes('snapshot.bin.before-rename');
  const compacted = (): number => events.filter((event) => event.kind === 'log-compacted').length;
  const kv = cluster.client({ timeoutMs: 8_000 });
  let written = 0;
  const writeUntil = async (condition: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 20 * SNAPSHOT_ENTRIES && !condition(); i++) await kv.put(`k${written}`, written++);
    t.true(condition(), `${what}, after ${written} writes; events:\n${events.map((event) => event.text).join('\n')}`);
  };
  // The first compaction's rename becomes durable (DIRECTORY_SYNC_DELAY_MS late): a snapshot to come back.
  await writeUntil(() => readdirSync(nodeDir).includes('snapshot.bin'), 'a first snapshot file');
  await eventually(() => compacted() >= 1, 2 * DIRECTORY_SYNC_DELAY_MS + 5_000, 'the first compaction done');
  const firstSnapshot = Number(/up to index (\d+)/.exec(events.find((event) => event.kind === 'log-compacted')!.text)?.[1]);
  await writeUntil(pending, 'a second snapshot file renamed in, its directory fsync pending');
  const { unsyncedFilesLost } = await cluster.crash(1, { loseUnsynced: true });
  kv.close();
  t.log(`first snapshot at ${firstSnapshot}, ${written} writes acknowledged; the power loss took: ${unsyncedFilesLost.join('; ')}`);
  t.deepEqual(
    unsyncedFilesLost.filter((what) => /snapshot\.bin \(/.test(what)),
    ['the rename of a new snapshot.bin (the previous one is back)'],
  );
  t.false(pending(), 'the second name is gone');
  const onDisk = decodeSnapshotFile(readFileSync(join(nodeDir, 'snapshot.bin')));
  t.true(onDisk.ok && onDisk.index === firstSnapshot, `the snapshot file the node restarts on: ${JSON.stringify(onDisk.ok ? onDisk.index : onDisk)}`);
  await cluster.restart(1);
  await cluster.waitForLeader(10_000);
  const reader = cluster.client({ timeoutMs: 8_000 });
  try {
    const missing: number[] = [];
    for (let i = 0; i < written; i++) if ((await reader.get(`k${i}`)) !== i) missing.push(i);
    t.deepEqual(missing, [], `acknowledged writes lost (of ${written})`);
  } finally {
    reader.close();
  }
});

test('renames overlapping (an asynchronous save\'s directory fsync returning after a later rename): the state turns durable only with the newest, and the oldest file is the one that comes back', (t) => {
  const dir = powerLossDir(t);
  const state = new SharedArrayBuffer(POWER_LOSS_STATE_BYTES);
  const slots = new Int32Array(state);
  const hooks = snapshotRenameHooks(dir, state);
  const snapshotFile = join(dir, 'snapshot.bin');
  const put = (content: string): void => {
    writeFileSync(join(dir, 'next.tmp'), content);
    renameSync(join(dir, 'next.tmp'), snapshotFile);
  };
  put('A');
  const first = hooks.renaming(true);
  put('B');
  const second = hooks.renaming(true);
  put('C');
  // The first rename's directory fsync began before the second rename: it covers only the first.
  hooks.durable(first);
  t.not(Atomics.load(slots, PowerLossSlot.SnapshotRename), 0, 'the second rename is still pending');
  const copy = powerLossDir(t);
  cpSync(dir, copy, { recursive: true });
  const copied = new SharedArrayBuffer(POWER_LOSS_STATE_BYTES);
  new Int32Array(copied).set(slots);
  t.deepEqual(loseUnsyncedFiles(copy, copied), ['the rename of a new snapshot.bin (the previous one is back)']);
  t.is(readFileSync(join(copy, 'snapshot.bin'), 'utf8'), 'A', 'the oldest file a power loss could leave');
  hooks.durable(second);
  t.is(Atomics.load(slots, PowerLossSlot.SnapshotRename), 0);
  t.deepEqual(loseUnsyncedFiles(dir, state), []);
  t.is(readFileSync(snapshotFile, 'utf8'), 'C');
});

// The thirty-first session: a power loss also brings back WAL segments a compaction made
// redundant while their renames are not yet durable (the directory fsync after them has
// not returned). They come back whole: the storage cuts them down only after that fsync.
// Recovery takes them back (the log and hard state as without the power loss).

test('a power loss while segments a snapshot made redundant are renamed but not yet durably brings them back whole, and recovery accepts them', async (t) => {
  const dir = powerLossDir(t);
  const copy = powerLossDir(t);
  const state = new SharedArrayBuffer(POWER_LOSS_STATE_BYTES);
  const slots = new Int32Array(state);
  const hooks = segmentDeletionHooks(state);
  const before = new Map<string, Buffer>();
  // The moment the directory fsync after the renames returned, before the storage is told
  // (and before any file is cut): the node's directory and its state, copied.
  let copied: SharedArrayBuffer | null = null;
  const storage = openFileStorage(dir, {
    fsync: true,
    preallocate: false,
    segmentBytes: 512,
    onSynced: (position: SyncedPosition) => {
      Atomics.store(slots, PowerLossSlot.Segment, position.segment);
      Atomics.store(slots, PowerLossSlot.Offset, position.offset);
    },
    onSegmentDeletion: {
      retiring: (sequences) => hooks.retiring(sequences),
      retired: (batch) => {
        cpSync(dir, copy, { recursive: true });
        copied = new SharedArrayBuffer(POWER_LOSS_STATE_BYTES);
        new Int32Array(copied).set(slots);
        hooks.retired(batch);
      },
    },
  });
  storage.load();
  for (let index = 1; index <= 200; index += 4) {
    storage.append(entries(index, index + 3));
    storage.setHardState({ currentTerm: 1, votedFor: 1, commitIndex: index + 3 });
    storage.sync();
  }
  for (const name of walFiles(dir)) before.set(name, readFileSync(join(dir, name)));
  await new Promise<void>((resolve, reject) =>
    storage.saveSnapshotAsync({ index: 150, term: 1, data: new Uint8Array([150]) }, (error, saved) => (error !== null ? reject(error) : saved ? resolve() : reject(new Error('not saved')))),
  );
  storage.close();
  t.not(copied, null, 'the renames were seen durable');
  t.is(Atomics.load(slots, PowerLossSlot.RetiringFrom), 0, 'nothing pending once they are');
  const deleted = [...before.keys()].filter((name) => !walFiles(dir).includes(name));
  t.true(deleted.length >= 2, `segments deleted: ${deleted.join(' ')}`);
  const redundant = readdirSync(copy).filter((name) => name.endsWith(REDUNDANT_SEGMENT_SUFFIX));
  t.deepEqual(redundant, deleted.map((name) => name + REDUNDANT_SEGMENT_SUFFIX), 'at that moment, every one renamed and none unlinked');

  const lost = loseUnsyncedFiles(copy, copied!);
  const position = new Int32Array(copied!);
  truncateToSyncedPosition(copy, { segment: Atomics.load(position, PowerLossSlot.Segment), offset: Atomics.load(position, PowerLossSlot.Offset) });
  t.deepEqual(lost, [`the deletion of ${deleted.length} WAL segments a snapshot made redundant (${deleted.join(', ')} back)`]);
  for (const name of deleted) t.true(readFileSync(join(copy, name)).equals(before.get(name)!), `${name} came back whole`);

  const reference = openFileStorage(dir, { fsync: true, preallocate: false, segmentBytes: 512 });
  const expected = reference.load();
  reference.close();
  const reopened = openFileStorage(copy, { fsync: true, preallocate: false, segmentBytes: 512 });
  const { state: restored, recovery } = reopened.load();
  reopened.close();
  t.is(recovery.segments, expected.recovery.segments + deleted.length, 'the segments that came back are read');
  t.is(restored.snapshot?.index, 150);
  t.deepEqual(restored.entries.map((entry) => entry.index), expected.state.entries.map((entry) => entry.index));
  t.deepEqual(restored.hardState, expected.state.hardState);
});

// The same in a real node: its compaction's directory fsync after the renames held back
// (test-only segmentDeletionSyncDelayMs), so the power is cut with redundant segments not
// yet durably renamed. They come back; the node restarts on them and loses nothing.

test.serial('a power loss while a compaction\'s segment deletions are pending brings the segments back, and the node restarts on them losing no acknowledged write', async (t) => {
  const { cluster, events, dataDir } = await startCluster(t, {
    nodes: 1,
    fsync: true,
    snapshotEntries: SNAPSHOT_ENTRIES,
    testOnly: { storageFaults: { node: 1, faults: { segmentDeletionSyncDelayMs: DIRECTORY_SYNC_DELAY_MS } } },
  });
  await cluster.waitForLeader(10_000);
  const nodeDir = join(dataDir, 'node-1');
  const pending = (): boolean => readdirSync(nodeDir).some((name) => name.endsWith(REDUNDANT_SEGMENT_SUFFIX));
  const kv = cluster.client({ timeoutMs: 8_000 });
  let written = 0;
  for (let i = 0; i < 20 * SNAPSHOT_ENTRIES && !pending(); i++) await kv.put(`k${written}`, written++);
  t.true(pending(), `a redundant segment not yet deleted, after ${written} writes; events:\n${events.map((event) => event.text).join('\n')}`);
  const { unsyncedFilesLost } = await cluster.crash(1, { loseUnsynced: true });
  kv.close();
  t.log(`${written} writes acknowledged; the power loss took: ${unsyncedFilesLost.join('; ')}`);
  t.true(
    unsyncedFilesLost.some((what) => /^the deletion of \d+ WAL segments? a snapshot made redundant \(wal-\d+\.log.* back\)$/.test(what)),
    unsyncedFilesLost.join('; '),
  );
  t.false(pending(), 'no redundant segment left');
  await cluster.restart(1);
  await cluster.waitForLeader(10_000);
  const reader = cluster.client({ timeoutMs: 8_000 });
  try {
    const missing: number[] = [];
    for (let i = 0; i < written; i++) if ((await reader.get(`k${i}`)) !== i) missing.push(i);
    t.deepEqual(missing, [], `acknowledged writes lost (of ${written})`);
  } finally {
    reader.close();
  }
});
