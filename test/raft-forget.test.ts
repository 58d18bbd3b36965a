// Config.entryLoader: applied, durable entries leave the core's log (their terms stay)
// and are read back from stable storage when a follower needs them.

import test from 'ava';
import { RaftLog } from '../lib/raft/log.js';
import type { Entry } from '../lib/raft/types.js';
import { Harness } from './raft-harness.js';

const quiet = { preVote: false, checkQuorum: false } as const;

function entries(terms: readonly number[], startIndex = 1): Entry[] {
  return terms.map((term, position) => ({ index: startIndex + position, term, data: new Uint8Array([startIndex + position]) }));
}

/** A log over `stored` whose loader reads `stored` and counts the entries it read. */
function logWithLoader(stored: Entry[], commitIndex: number, appliedIndex: number): { log: RaftLog; reads: [number, number][] } {
  const reads: [number, number][] = [];
  const log = new RaftLog(stored, commitIndex, appliedIndex, null, (from, to) => {
    reads.push([from, to]);
    return stored.slice(from - 1, to);
  });
  return { log, reads };
}

test('forgetThrough keeps terms; slice reads the forgotten entries back and checks them', (t) => {
  const stored = entries([1, 1, 2, 2, 2, 3]);
  const { log, reads } = logWithLoader(stored, 6, 4);
  log.forgetThrough(4);
  t.is(log.forgottenIndex(), 4);
  t.deepEqual([1, 2, 3, 4, 5, 6].map((index) => log.term(index)), [1, 1, 2, 2, 2, 3], 'terms stay');
  t.is(log.lastTerm(), 3);
  t.true(log.matchTerm(3, 2));
  t.is(log.entry(2), undefined, 'a forgotten entry is not handed out');
  t.is(log.entry(5), stored[4]);
  const window = log.slice(2, 10, 1 << 20);
  t.deepEqual(window.map((entry) => entry.index), [2, 3, 4], 'the read-back window ends at the last forgotten entry');
  t.deepEqual(reads, [[2, 4]]);
  t.is(window[0], stored[1], 'what the loader returned');
  t.deepEqual(log.slice(5, 10, 1 << 20), stored.slice(4), 'entries still in memory are not read back');
  t.deepEqual(log.slice(1, 2, 1 << 20).map((entry) => entry.index), [1, 2], 'the entry limit holds');
  t.deepEqual(log.slice(1, 10, 1).map((entry) => entry.index), [1], 'the byte limit holds, one entry at least');
  t.deepEqual(log.range(5, 6), stored.slice(4));
  t.throws(() => log.range(4, 6), { message: /dropped from memory/ });
});

test('forgetThrough: only applied and durable entries may go; without a loader nothing goes', (t) => {
  const { log } = logWithLoader(entries([1, 1, 1]), 3, 2);
  t.throws(() => log.forgetThrough(3), { message: /only entries applied/ });
  log.persistedIndex = 1;
  t.throws(() => log.forgetThrough(2), { message: /only entries applied/ });
  const plain = new RaftLog(entries([1, 1, 1]), 3, 3);
  plain.forgetThrough(3);
  t.is(plain.forgottenIndex(), 0);
  t.is(plain.entry(1)?.index, 1);
});

test('a loader that returns other entries than the log holds is an invariant violation', (t) => {
  const stored = entries([1, 1, 2]);
  const log = new RaftLog(stored, 3, 3, null, (from, to) => entries([1, 1, 1]).slice(from - 1, to));
  log.forgetThrough(3);
  t.throws(() => log.slice(1, 10, 1 << 20), { message: /where the log holds 3@t2/ });
  const short = new RaftLog(entries([1, 1]), 2, 2, null, () => []);
  short.forgetThrough(2);
  t.throws(() => short.slice(1, 10, 1 << 20), { message: /returned 0 entries/ });
});

test('compaction and a restored snapshot move past forgotten entries; truncation never reaches them', (t) => {
  const stored = entries([1, 1, 1, 2, 2]);
  const { log } = logWithLoader(stored, 3, 3);
  log.forgetThrough(3);
  t.throws(() => log.merge(entries([3], 3), false), { message: /committed|dropped from memory/ });
  log.compact(2, new Uint8Array([9]));
  t.is(log.firstIndex(), 3);
  t.is(log.term(3), 1);
  t.deepEqual(log.slice(3, 10, 1 << 20).map((entry) => entry.index), [3], 'still read back after the compaction');
  t.deepEqual(log.slice(4, 10, 1 << 20).map((entry) => entry.index), [4, 5]);
  log.restoreSnapshot({ index: 10, term: 3, data: new Uint8Array([1]) });
  t.is(log.lastIndex(), 10);
  t.is(log.forgottenIndex(), 10);
  log.merge(entries([3], 11), false);
  t.is(log.entry(11)?.term, 3);
});

test('followers forget what they applied; a new leader reads it back for a follower that fell behind', (t) => {
  const harness = new Harness(3, { config: quiet, entryLoader: true });
  harness.elect(1);
  harness.isolate(3);
  for (let i = 0; i < 20; i++) harness.propose(1, `w${i}`);
  harness.stabilize();
  // Heartbeats carry the commit index to node 2, which applies and forgets.
  harness.tick(1);
  harness.stabilize();
  t.is(harness.applied.get(2)!.length, 21, 'node 2 applied the no-op and 20 writes');
  t.is(harness.loaded.get(1) ?? 0, 0, 'the leader keeps what node 3 still needs');
  // Node 1 goes; node 2 leads, and node 3 is 21 entries behind it.
  harness.heal();
  harness.crash(1);
  harness.elect(2);
  harness.tick(2);
  harness.stabilize();
  t.deepEqual(harness.leaderIds(), [2]);
  t.true((harness.loaded.get(2) ?? 0) >= 20, `node 2 read back the entries node 3 missed (${harness.loaded.get(2) ?? 0})`);
  t.deepEqual(harness.logOf(3), harness.logOf(2), 'node 3 caught up');
  t.deepEqual(
    harness.applied.get(3)!.map((entry) => entry.index),
    harness.applied.get(2)!.map((entry) => entry.index),
    'and applied the same entries',
  );
});

test('the same scenario without a loader keeps every entry in memory and reads nothing back', (t) => {
  const harness = new Harness(3, { config: quiet });
  harness.elect(1);
  harness.isolate(3);
  for (let i = 0; i < 20; i++) harness.propose(1, `w${i}`);
  harness.stabilize();
  harness.tick(1);
  harness.heal();
  harness.crash(1);
  harness.elect(2);
  harness.tick(2);
  harness.stabilize();
  t.is(harness.loaded.size, 0);
  t.deepEqual(harness.logOf(3), harness.logOf(2));
});
