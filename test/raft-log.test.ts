import test from 'ava';
import { RaftLog } from '../lib/raft/log.js';
import type { Entry } from '../lib/raft/types.js';
import { createPrng, testSeed } from './helpers/seed.js';

/** Entries 1..terms.length with the given terms. */
function entries(terms: readonly number[], startIndex = 1): Entry[] {
  return terms.map((term, position) => ({ index: startIndex + position, term, data: null }));
}

test('empty log: last index 0, term 0', (t) => {
  const log = new RaftLog([], 0, 0);
  t.is(log.lastIndex(), 0);
  t.is(log.lastTerm(), 0);
  t.is(log.term(0), 0);
  t.is(log.term(1), undefined);
  t.is(log.firstIndex(), 1);
});

test('restored log: persisted, commit and applied', (t) => {
  const log = new RaftLog(entries([1, 1, 2]), 2, 1);
  t.is(log.lastIndex(), 3);
  t.is(log.lastTerm(), 2);
  t.is(log.persistedIndex, 3);
  t.is(log.commitIndex, 2);
  t.is(log.appliedIndex, 1);
  t.is(log.term(2), 1);
});

test('restored log must be contiguous from 1 with non-decreasing terms', (t) => {
  t.throws(() => new RaftLog(entries([1, 1], 2), 0, 0), { message: /contiguous/ });
  t.throws(() => new RaftLog(entries([2, 1]), 0, 0), { message: /terms must not decrease/ });
  t.throws(() => new RaftLog(entries([1]), 5, 0), { message: /commitIndex/ });
});

test('appendOne requires the next index', (t) => {
  const log = new RaftLog([], 0, 0);
  log.appendOne({ index: 1, term: 1, data: null });
  t.throws(() => log.appendOne({ index: 3, term: 1, data: null }), { message: /does not follow/ });
  t.throws(() => log.appendOne({ index: 2, term: 0, data: null }), { message: /below last term/ });
});

test('merge: matching entries are kept, a stale shorter request never truncates', (t) => {
  const log = new RaftLog(entries([1, 1, 2, 2]), 0, 0);
  const outcome = log.merge(entries([1, 1]), false);
  t.is(outcome.firstChangedIndex, 0);
  t.is(log.lastIndex(), 4);
});

test('merge: a conflict deletes the existing entry and all that follow it (§5.3)', (t) => {
  const log = new RaftLog(entries([1, 1, 2, 2, 2]), 2, 0);
  const outcome = log.merge(entries([3, 3], 3), false);
  t.is(outcome.firstChangedIndex, 3);
  t.deepEqual([1, 2, 3, 4].map((index) => log.term(index)), [1, 1, 3, 3]);
  t.is(log.lastIndex(), 4);
  t.is(log.persistedIndex, 2, 'truncation lowers the persisted index so the suffix is rewritten');
});

test('merge: appending past the end', (t) => {
  const log = new RaftLog(entries([1]), 0, 0);
  t.is(log.merge(entries([1, 2], 1), false).firstChangedIndex, 2);
  t.is(log.lastIndex(), 2);
});

test('merge: truncating a committed entry is an invariant violation', (t) => {
  const log = new RaftLog(entries([1, 1, 1]), 3, 0);
  t.throws(() => log.merge(entries([2], 2), false), { message: /truncate committed/ });
});

test('isUpToDate compares last term, then last index (§5.4.1)', (t) => {
  const log = new RaftLog(entries([1, 2, 2]), 0, 0);
  t.true(log.isUpToDate(1, 3), 'higher last term wins even when shorter');
  t.false(log.isUpToDate(10, 1), 'lower last term loses even when longer');
  t.true(log.isUpToDate(3, 2));
  t.true(log.isUpToDate(4, 2));
  t.false(log.isUpToDate(2, 2));
});

test('conflictHint: log too short, and first index of the conflicting term', (t) => {
  const log = new RaftLog(entries([1, 1, 2, 2, 2, 4]), 0, 0);
  t.deepEqual(log.conflictHint(10), { conflictTerm: 0, conflictIndex: 7 });
  t.deepEqual(log.conflictHint(5), { conflictTerm: 2, conflictIndex: 3 });
  t.deepEqual(log.conflictHint(6), { conflictTerm: 4, conflictIndex: 6 });
  t.deepEqual(log.conflictHint(2), { conflictTerm: 1, conflictIndex: 1 });
});

test('lastIndexWithTermAtMost finds the last entry of a term or earlier', (t) => {
  const log = new RaftLog(entries([1, 1, 2, 2, 2, 4, 4]), 0, 0);
  t.is(log.lastIndexWithTermAtMost(2, 7), 5);
  t.is(log.lastIndexWithTermAtMost(3, 7), 5);
  t.is(log.lastIndexWithTermAtMost(1, 7), 2);
  t.is(log.lastIndexWithTermAtMost(0, 7), 0);
  t.is(log.lastIndexWithTermAtMost(9, 4), 4, 'bounded by atOrBefore');
});

test('slice honours the entry and byte limits and always returns one entry', (t) => {
  const big = (index: number): Entry => ({ index, term: 1, data: new Uint8Array(100) });
  const log = new RaftLog([big(1), big(2), big(3), big(4)], 0, 0);
  t.is(log.slice(1, 10, 250).length, 2);
  t.is(log.slice(1, 3, 10_000).length, 3);
  t.is(log.slice(2, 10, 1).length, 1, 'an oversized entry still goes alone');
  t.is(log.slice(5, 10, 1000).length, 0);
});

test('commitTo never lowers and never passes lastIndex', (t) => {
  const log = new RaftLog(entries([1, 1]), 0, 0);
  t.true(log.commitTo(2));
  t.false(log.commitTo(1));
  t.is(log.commitIndex, 2);
  t.throws(() => log.commitTo(3), { message: /exceed lastIndex/ });
});

test('the entry storage of the log: appends, conflict truncations and compactions agree with a plain model (seeded)', (t) => {
  const seed = testSeed('RAFT_LOG_SEED');
  const random = createPrng(seed);
  const log = new RaftLog([], 0, 0);
  // model[i] is the term of index first + i; base / baseTerm the entry before first.
  let model: number[] = [];
  let first = 1;
  let baseTerm = 0;
  let term = 1;
  const last = (): number => first + model.length - 1;
  const lastTerm = (): number => (model.length === 0 ? baseTerm : model[model.length - 1]!);
  for (let step = 0; step < 3000; step++) {
    const roll = random();
    if (roll < 0.5) {
      const count = 1 + Math.floor(random() * 40);
      for (let i = 0; i < count; i++) {
        log.appendOne({ index: last() + 1, term, data: null });
        model.push(term);
      }
    } else if (roll < 0.65 && last() > log.commitIndex) {
      // A follower's conflict: entries from an uncommitted index replaced by a newer term's.
      term++;
      const from = log.commitIndex + 1 + Math.floor(random() * (last() - log.commitIndex));
      const count = 1 + Math.floor(random() * 10);
      const incoming: Entry[] = [];
      for (let i = 0; i < count; i++) incoming.push({ index: from + i, term, data: null });
      log.merge(incoming, false);
      model = [...model.slice(0, from - first), ...incoming.map((entry) => entry.term)];
    } else if (roll < 0.85) {
      log.persistedIndex = last();
      log.handedOutIndex = last();
      log.commitTo(last());
      log.appliedIndex = last();
    } else if (log.appliedIndex > first) {
      const index = first + Math.floor(random() * (log.appliedIndex - first + 1));
      log.compact(index, new Uint8Array(0));
      baseTerm = model[index - first]!;
      model = model.slice(index + 1 - first);
      first = index + 1;
    } else {
      term++;
    }
    if (random() < 0.1) term++;
    const where = `seed ${seed} (RAFT_LOG_SEED), step ${step}`;
    if (log.firstIndex() !== first || log.lastIndex() !== last() || log.lastTerm() !== lastTerm()) {
      t.fail(`${where}: first/last ${log.firstIndex()}/${log.lastIndex()}@t${log.lastTerm()}, model ${first}/${last()}@t${lastTerm()}`);
      return;
    }
    for (let index = first - 1; index <= last() + 3; index++) {
      const expected = index === first - 1 ? baseTerm : model[index - first];
      if (log.term(index) !== expected || (index >= first && log.entry(index)?.term !== expected)) {
        t.fail(`${where}: index ${index} has term ${log.term(index)}, model ${expected}`);
        return;
      }
    }
  }
  t.deepEqual(log.range(first, last()).map((entry) => entry.term), model, `seed ${seed} (RAFT_LOG_SEED)`);
  t.is(log.range(first, last() + 5).length, model.length, `seed ${seed} (RAFT_LOG_SEED): range stops at the last entry`);
});
