// Snapshots in the simulator: seeds really exercise compaction and InstallSnapshot, the
// simulated disk keeps its crash semantics with snapshots, and the checker fires on a
// snapshot that does not stand for the committed prefix.

import test from 'ava';
import type { NodeId, Status } from '../lib/raft/types.js';
import { chainStateHash, dataKey, EMPTY_STATE_HASH, InvariantChecker, InvariantViolation, Property } from '../lib/sim/checker.js';
import { SimDisk } from '../lib/sim/disk.js';
import { runSeed } from '../lib/sim/simulator.js';
import { entry, status } from './helpers/sim-fixtures.js';

const follower = (id: NodeId, currentTerm: number): Status => status(id, 'follower', currentTerm);


const SEEDS = 150;

test(`seeds 1..${SEEDS}: hosts compact, leaders send InstallSnapshot, and every run stays safe and converges`, (t) => {
  let compactions = 0;
  let installs = 0;
  let seedsWithInstall = 0;
  let chunks = 0;
  let seedsWithChunks = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = runSeed(seed);
    if (!result.ok || result.stats.livenessTicks === null) {
      t.fail(`seed ${seed}: ${result.violation?.message ?? 'did not converge'} (replay: node dist/lib/cli.js sim --seed ${seed})`);
      return;
    }
    compactions += result.stats.compactions;
    installs += result.stats.snapshotsInstalled;
    if (result.stats.snapshotsInstalled > 0) seedsWithInstall++;
    chunks += result.stats.snapshotChunksSent;
    if (result.stats.snapshotChunksSent > 0 && result.stats.snapshotsInstalled > 0) seedsWithChunks++;
  }
  t.log(`${SEEDS} seeds: ${compactions} compactions, ${installs} snapshots installed, in ${seedsWithInstall} seeds; ${chunks} chunks of snapshots sent in pieces, ${seedsWithChunks} seeds installed such snapshots`);
  t.true(seedsWithChunks > SEEDS / 10, 'snapshots sent in chunks (Figure 13) are installed in many runs');
  t.true(compactions > 10 * SEEDS, 'hosts compact often');
  t.true(installs > SEEDS, 'InstallSnapshot is exercised');
  t.true(seedsWithInstall > SEEDS / 4, 'in many runs, not a few');
});

test('with compaction switched off, no snapshot is taken or installed, and runs still converge', (t) => {
  for (const seed of [3, 4, 5]) {
    const result = runSeed(seed, { profile: { snapshotEveryEntries: Infinity } });
    t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
    t.is(result.stats.compactions, 0);
    t.is(result.stats.snapshotsInstalled, 0);
  }
});

test('compacting after every few entries with lossy links: still safe, and snapshots are installed', (t) => {
  let installs = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const result = runSeed(seed, { profile: { snapshotEveryEntries: 2, dropProbability: 0.1 } });
    t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
    installs += result.stats.snapshotsInstalled;
  }
  t.true(installs > 20, `${installs} snapshots installed`);
});

test('SimDisk: an installed snapshot is lost in a crash before the sync; a compaction is durable at once', (t) => {
  const disk = new SimDisk();
  disk.write([entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')], { currentTerm: 1, votedFor: 0, commitIndex: 2 });
  disk.sync();
  disk.compact({ index: 2, term: 1, data: new Uint8Array(4) });
  t.is(disk.snapshotIndex, 2);
  t.is(disk.entry(2), undefined, 'compacted entries are gone');
  t.is(disk.termAt(2), 1, 'the snapshot still knows the term of its last entry');
  disk.crash(false);
  t.is(disk.restore()?.snapshot?.index, 2, 'the compaction survived the crash');
  t.deepEqual(disk.restore()?.entries.map((restored) => restored.index), [3]);

  disk.installSnapshot({ index: 7, term: 3, data: new Uint8Array(4) });
  disk.write([entry(8, 3, 'h')], { currentTerm: 3, votedFor: 0, commitIndex: 7 });
  t.is(disk.lastIndex, 8);
  t.is(disk.entry(3), undefined, 'the old log is discarded');
  disk.crash(false);
  const restored = disk.restore();
  t.is(restored?.snapshot?.index, 2, 'the unsynced install was rolled back');
  t.deepEqual(restored?.entries.map((kept) => kept.index), [3]);
  t.is(restored?.hardState.commitIndex, 2);
  t.throws(() => disk.write([entry(2, 1, 'x')], null), { message: /must start within the log/ }, 'no write below the snapshot');
});

test('SimDisk: durableLastIndex is the last index a crash now would leave', (t) => {
  const disk = new SimDisk();
  t.is(disk.durableLastIndex, 0);
  disk.write([entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')], null);
  t.is(disk.durableLastIndex, 0, 'nothing synced yet');
  disk.sync();
  disk.write([entry(4, 1, 'd'), entry(5, 1, 'e')], null);
  disk.write([entry(3, 2, 'x')], { currentTerm: 2, votedFor: 0, commitIndex: 0 });
  t.is(disk.lastIndex, 3, 'a truncating write');
  t.is(disk.durableLastIndex, 3, 'the synced log, before the appends and the truncation');
  disk.installSnapshot({ index: 9, term: 2, data: new Uint8Array(4) });
  t.is(disk.durableLastIndex, 3, 'an unsynced snapshot is rolled back too');
  disk.crash(false);
  t.is(disk.lastIndex, 3);
  disk.write([entry(4, 1, 'd')], null);
  t.is(disk.durableLastIndex, 3);
  disk.sync();
  t.is(disk.durableLastIndex, 4);
});

test('checker: a snapshot that does not stand for the committed prefix is a State Machine Safety violation', (t) => {
  const disks = new Map<NodeId, SimDisk>([
    [1, new SimDisk()],
    [2, new SimDisk()],
  ]);
  const checker = new InvariantChecker(disks);
  const entries = [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')];
  for (const [id, disk] of disks) {
    checker.beforeWrite(id, entries, follower(id, 1));
    disk.write(entries, { currentTerm: 1, votedFor: 0, commitIndex: 3 });
    checker.afterWrite(id, entries, { currentTerm: 1, votedFor: 0, commitIndex: 3 });
    disk.sync();
  }
  let stateHash = EMPTY_STATE_HASH;
  for (const applied of entries.slice(0, 2)) {
    checker.onApply(1, applied, 1);
    stateHash = chainStateHash(stateHash, applied.term, dataKey(applied.data));
  }
  checker.onCompact(1, 2, 1, stateHash);
  const wrongState = (): void => checker.onCompact(1, 2, 1, stateHash ^ 1);
  const error = t.throws(wrongState, { instanceOf: InvariantViolation }) as InvariantViolation;
  t.is(error.property, Property.StateMachineSafety);
  const wrongTerm = t.throws(() => checker.onSnapshotWritten(2, 2, 2, stateHash), { instanceOf: InvariantViolation }) as InvariantViolation;
  t.is(wrongTerm.property, Property.StateMachineSafety);
  const beyond = t.throws(() => checker.onSnapshotWritten(2, 9, 1, stateHash), { instanceOf: InvariantViolation }) as InvariantViolation;
  t.regex(beyond.message, /beyond the committed prefix/);
  t.notThrows(() => checker.onSnapshotWritten(2, 2, 1, stateHash), 'a correct snapshot is accepted');
  t.is(checker.committedLength, 3);
});
