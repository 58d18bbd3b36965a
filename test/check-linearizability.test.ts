// The linearizability checker on small histories with known verdicts, info operations,
// the search budget, and a 10,000-operation history.

import test from 'ava';
import type { JsonValue } from '../lib/cluster/types.js';
import { pairOperations, type OpFunction, type Operation } from '../lib/check/history.js';
import { checkLinearizability, Verdict } from '../lib/check/linearizability.js';
import { canonicalJson } from '../lib/check/model.js';
import { createPrng } from '../lib/raft/prng.js';
import { freshSeed, history, simulateHistory, type Row } from './check-helpers.js';

const verdictOf = (rows: readonly Row[]): Verdict => checkLinearizability(history(rows).operations).verdict;

const cases: { name: string; verdict: Verdict; rows: Row[] }[] = [
  {
    name: 'get of an absent key reads null',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', null],
    ],
  },
  {
    name: 'get of an absent key reading a value',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', 1],
    ],
  },
  {
    name: 'put then get sees the put',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
    ],
  },
  {
    name: 'stale read after a completed put',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'put', 'x', 2],
      [0, 'ok', 'put', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
    ],
  },
  {
    name: 'a read concurrent with a put may see either value',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'put', 'x', 2],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
      [2, 'invoke', 'get', 'x', null],
      [2, 'ok', 'get', 'x', 2],
      [0, 'ok', 'put', 'x', null],
    ],
  },
  {
    name: 'two readers see a concurrent put in opposite orders (new then old)',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'put', 'x', 2],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 2],
      [2, 'invoke', 'get', 'x', null],
      [2, 'ok', 'get', 'x', 1],
      [0, 'ok', 'put', 'x', null],
    ],
  },
  {
    name: 'delete makes the key read null',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'delete', 'x', null],
      [0, 'ok', 'delete', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', null],
    ],
  },
  {
    name: 'a value read after a completed delete',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'delete', 'x', null],
      [0, 'ok', 'delete', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
    ],
  },
  {
    name: 'appends build a list in order; concurrent appends in either order',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'append', 'l', 'b'],
      [1, 'invoke', 'append', 'l', 'c'],
      [0, 'ok', 'append', 'l', null],
      [1, 'ok', 'append', 'l', null],
      [2, 'invoke', 'get', 'l', null],
      [2, 'ok', 'get', 'l', ['a', 'c', 'b']],
    ],
  },
  {
    name: 'a read misses an acknowledged append',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'append', 'l', 'b'],
      [0, 'ok', 'append', 'l', null],
      [2, 'invoke', 'get', 'l', null],
      [2, 'ok', 'get', 'l', ['a']],
    ],
  },
  {
    name: 'sequential appends read in the wrong order',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'append', 'l', 'b'],
      [0, 'ok', 'append', 'l', null],
      [2, 'invoke', 'get', 'l', null],
      [2, 'ok', 'get', 'l', ['b', 'a']],
    ],
  },
  {
    name: 'an acknowledged append to a non-list value',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'l', 5],
      [0, 'ok', 'put', 'l', null],
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
    ],
  },
  {
    name: 'cas from absent (null) succeeds, a mismatching cas fails',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'cas', 'x', [null, 1]],
      [0, 'ok', 'cas', 'x', true],
      [0, 'invoke', 'cas', 'x', [5, 2]],
      [0, 'ok', 'cas', 'x', false],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
    ],
  },
  {
    name: 'cas compares deeply: object key order does not matter',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', { a: 1, b: [1, 2] }],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'cas', 'x', [{ b: [1, 2], a: 1 }, 'new']],
      [0, 'ok', 'cas', 'x', true],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 'new'],
    ],
  },
  {
    name: 'a cas that returned false although the value matched',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'cas', 'x', [1, 2]],
      [0, 'ok', 'cas', 'x', false],
    ],
  },
  {
    name: 'a cas that succeeded although the value did not match',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'cas', 'x', [3, 2]],
      [0, 'ok', 'cas', 'x', true],
    ],
  },
  {
    name: 'two successful cas from the same value (a lost update)',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 0],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'cas', 'x', [0, 1]],
      [1, 'invoke', 'cas', 'x', [0, 2]],
      [0, 'ok', 'cas', 'x', true],
      [1, 'ok', 'cas', 'x', true],
    ],
  },
  {
    name: 'info put that did take effect, seen later',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'info', 'put', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
    ],
  },
  {
    name: 'info put that never took effect',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'info', 'put', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', null],
    ],
  },
  {
    name: 'info put seen, then unseen: it cannot take effect twice',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'info', 'put', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', null],
    ],
  },
  {
    name: 'an info put cannot take effect before it was invoked',
    verdict: Verdict.NotLinearizable,
    rows: [
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
      [0, 'invoke', 'put', 'x', 1],
      [0, 'info', 'put', 'x', null],
    ],
  },
  {
    name: 'an operation never completed is like info: it may apply late',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', null],
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', ['a']],
    ],
  },
  {
    name: 'info cas applies only if its expected value matched',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'cas', 'x', [7, 2]],
      [0, 'info', 'cas', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 2],
    ],
  },
  {
    name: 'a failed put never happened',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'fail', 'put', 'x', null],
      [1, 'invoke', 'get', 'x', null],
      [1, 'ok', 'get', 'x', 1],
    ],
  },
  {
    // lib/kv keeps a stored null as a value: append to it fails NOT_A_LIST (audit 3, 1.2).
    name: 'put null stores a value: an acknowledged append after it',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'put', 'x', null],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'append', 'x', 'a'],
      [0, 'ok', 'append', 'x', null],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', ['a']],
    ],
  },
  {
    name: 'put null reads null; cas from null succeeds on it; delete then append starts a list',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', null],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', null],
      [0, 'invoke', 'append', 'x', 'a'],
      [0, 'fail', 'append', 'x', null],
      [0, 'invoke', 'cas', 'x', [null, 1]],
      [0, 'ok', 'cas', 'x', true],
      [0, 'invoke', 'delete', 'x', null],
      [0, 'ok', 'delete', 'x', null],
      [0, 'invoke', 'append', 'x', 'b'],
      [0, 'ok', 'append', 'x', null],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', ['b']],
    ],
  },
  {
    name: 'an info append after put null did nothing',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', null],
      [0, 'ok', 'put', 'x', null],
      [1, 'invoke', 'append', 'x', 'a'],
      [1, 'info', 'append', 'x', null],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', null],
    ],
  },
];

for (const { name, verdict, rows } of cases) {
  test(`${verdict}: ${name}`, (t) => {
    t.is(verdictOf(rows), verdict);
  });
}

test('keys are checked separately; the anomaly names the key, the prefix and the operation that cannot be placed', (t) => {
  const result = checkLinearizability(
    history([
      [0, 'invoke', 'put', 'good', 1],
      [0, 'ok', 'put', 'good', null],
      [0, 'invoke', 'put', 'bad', 1],
      [0, 'ok', 'put', 'bad', null],
      [0, 'invoke', 'put', 'bad', 2],
      [0, 'ok', 'put', 'bad', null],
      [1, 'invoke', 'get', 'bad', null],
      [1, 'ok', 'get', 'bad', 1],
      [1, 'invoke', 'get', 'good', null],
      [1, 'ok', 'get', 'good', 1],
    ]).operations,
  );
  t.is(result.verdict, Verdict.NotLinearizable);
  t.deepEqual(
    result.perKey.map((row) => [row.key, row.verdict, row.operations]),
    [
      ['bad', Verdict.NotLinearizable, 3],
      ['good', Verdict.Linearizable, 2],
    ],
  );
  t.is(result.anomalies.length, 1);
  const anomaly = result.anomalies[0]!;
  t.is(anomaly.key, 'bad');
  t.deepEqual(
    anomaly.longestPrefix.map((op) => op.input),
    [1, 2],
  );
  t.is(anomaly.valueAfterPrefix, 2);
  t.like(anomaly.blocked, { f: 'get', output: 1 });
  t.true(anomaly.operations.includes(anomaly.blocked));
  t.regex(anomaly.explanation, /longest linearizable prefix found has 2 operations/);
  t.regex(anomaly.explanation, /it read 1 but the value was 2/);
});

test('the explanation lists the other pending operations that could not go first either', (t) => {
  const result = checkLinearizability(
    history([
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [1, 'invoke', 'cas', 'x', [5, 6]],
      [2, 'invoke', 'get', 'x', null],
      [2, 'ok', 'get', 'x', 9],
      [1, 'ok', 'cas', 'x', true],
    ]).operations,
  );
  t.is(result.verdict, Verdict.NotLinearizable);
  const explanation = result.anomalies[0]?.explanation ?? '';
  t.regex(explanation, /get = 9.*must take effect.*it read 9 but the value was 1/);
  t.regex(explanation, /cas 5→6 = true.*it succeeded but the value was 1, not the expected 5/);
});

/** Concurrent writes of distinct values, then a read of a value nobody wrote: the search
 *  must try every subset of the writes (with each last) before it can refute the read. */
function exponentialHistory(writes: number): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < writes; i++) rows.push([i, 'invoke', 'put', 'x', i]);
  for (let i = 0; i < writes; i++) rows.push([i, 'ok', 'put', 'x', null]);
  rows.push([writes, 'invoke', 'get', 'x', null], [writes, 'ok', 'get', 'x', 'never written']);
  return rows;
}

test('a search over its step budget answers unknown instead of hanging', (t) => {
  const result = checkLinearizability(history(exponentialHistory(40)).operations, { maxStepsPerKey: 100_000 });
  t.is(result.verdict, Verdict.Unknown);
  t.is(result.perKey[0]?.verdict, Verdict.Unknown);
  // A budget of N steps allows N steps, and the report says so.
  t.is(result.perKey[0]?.steps, 100_000);
  t.deepEqual(result.anomalies, []);
});

test('a search over its time budget answers unknown within about that time', (t) => {
  const budgetMs = 200;
  const result = checkLinearizability(history(exponentialHistory(40)).operations, { timeMs: budgetMs });
  t.is(result.verdict, Verdict.Unknown);
  t.true(result.elapsedMs < budgetMs + 2_000, `took ${result.elapsedMs} ms for a ${budgetMs} ms budget`);
});

test('the exponential case is still decided when it is small enough', (t) => {
  t.is(checkLinearizability(history(exponentialHistory(8)).operations).verdict, Verdict.NotLinearizable);
});

test('a 10,000-operation history over 10 keys and 10 clients is checked in seconds', (t) => {
  const seed = freshSeed();
  const events = simulateHistory({ seed, operations: 10_000, clients: 10, registerKeys: 5, appendKeys: 5, infoRate: 0.02, failRate: 0.02 });
  const parsed = pairOperations(events);
  t.true(parsed.operations.length > 9_000, `seed ${seed}`);
  t.true(parsed.counts.info > 0 && parsed.counts.fail > 0, `seed ${seed}: the simulation should produce info and fail`);
  const result = checkLinearizability(parsed.operations, { timeMs: 30_000 });
  t.log(`seed ${seed}: ${parsed.operations.length} operations checked in ${result.elapsedMs} ms`);
  t.is(result.verdict, Verdict.Linearizable, `seed ${seed} (replay with CHECK_SEED=${seed})`);
  t.is(result.perKey.length, 10, `seed ${seed}`);
  const limitMs = 10_000;
  t.true(result.elapsedMs < limitMs, `seed ${seed}: took ${result.elapsedMs} ms, limit ${limitMs} ms`);

  // Teeth: the same history with one read corrupted to a value nobody wrote.
  const readIndex = events.findIndex((event, index) => index > events.length / 2 && event.type === 'ok' && event.f === 'get');
  t.true(readIndex > 0, `seed ${seed}`);
  const corrupted = events.map((event, index) => (index === readIndex ? { ...event, value: 'corrupted' } : event));
  const refuted = checkLinearizability(pairOperations(corrupted).operations, { timeMs: 30_000 });
  t.is(refuted.verdict, Verdict.NotLinearizable, `seed ${seed}`);
  t.is(refuted.anomalies.length, 1, `seed ${seed}`);
  t.is(refuted.anomalies[0]?.blocked.output, 'corrupted', `seed ${seed}`);
});

const pruningCases: { name: string; verdict: Verdict; rows: Row[] }[] = [
  {
    name: 'an info put that only a failed cas observes still counts',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'put', 'x', 1],
      [0, 'ok', 'put', 'x', null],
      [1, 'invoke', 'put', 'x', 2],
      [1, 'info', 'put', 'x', null],
      [0, 'invoke', 'cas', 'x', [1, 3]],
      [0, 'ok', 'cas', 'x', false],
      [0, 'invoke', 'put', 'x', 5],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', 5],
    ],
  },
  {
    name: 'an info put read after a later put must have taken effect after it',
    verdict: Verdict.NotLinearizable,
    rows: [
      [1, 'invoke', 'put', 'x', 2],
      [0, 'invoke', 'put', 'x', 3],
      [0, 'ok', 'put', 'x', null],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', 2],
      [0, 'invoke', 'get', 'x', null],
      [0, 'ok', 'get', 'x', 3],
      [1, 'info', 'put', 'x', null],
    ],
  },
  {
    name: 'an info append shown in the middle of a later read',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [1, 'invoke', 'append', 'l', 'b'],
      [1, 'info', 'append', 'l', null],
      [0, 'invoke', 'append', 'l', 'c'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'get', 'l', null],
      [0, 'ok', 'get', 'l', ['a', 'b', 'c']],
    ],
  },
  {
    name: 'an info append shown, then missing',
    verdict: Verdict.NotLinearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [1, 'invoke', 'append', 'l', 'b'],
      [1, 'info', 'append', 'l', null],
      [0, 'invoke', 'get', 'l', null],
      [0, 'ok', 'get', 'l', ['a', 'b']],
      [0, 'invoke', 'append', 'l', 'c'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'get', 'l', null],
      [0, 'ok', 'get', 'l', ['a', 'c']],
    ],
  },
  {
    name: 'appends acknowledged after the longest read may go in any order',
    verdict: Verdict.Linearizable,
    rows: [
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'get', 'l', null],
      [0, 'ok', 'get', 'l', ['a']],
      [1, 'invoke', 'append', 'l', 'b'],
      [2, 'invoke', 'append', 'l', 'c'],
      [3, 'invoke', 'append', 'l', 'd'],
      [3, 'info', 'append', 'l', null],
      [2, 'ok', 'append', 'l', null],
      [1, 'ok', 'append', 'l', null],
    ],
  },
];

test('a lost append is explained in words, without an internal placeholder for the list', (t) => {
  const result = checkLinearizability(
    history([
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'ok', 'append', 'l', null],
      [0, 'invoke', 'append', 'l', 'b'],
      [0, 'ok', 'append', 'l', null],
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', ['a']],
    ]).operations,
  );
  t.is(result.verdict, Verdict.NotLinearizable);
  const anomaly = result.anomalies[0]!;
  t.regex(anomaly.explanation, /After it the list is the longest read, \["a"\], followed by one or more appends that no read shows/);
  t.notRegex(anomaly.explanation, /\[\.\.\.the longest read/);
  // The value is the part of the list that is known.
  t.deepEqual(anomaly.valueAfterPrefix, ['a']);
});

for (const { name, verdict, rows } of pruningCases) {
  test(`${verdict}: ${name}`, (t) => {
    t.is(verdictOf(rows), verdict);
  });
}

/** An obviously correct, exponential checker: tries every order (and for info operations,
 *  every choice of taking effect or not) that respects real time. The key's state is
 *  undefined when absent: a stored null is a value (append to it fails, as in lib/kv). */
function bruteForceLinearizable(operations: readonly Operation[]): boolean {
  const same = (a: JsonValue, b: JsonValue): boolean => canonicalJson(a) === canonicalJson(b);
  type State = JsonValue | undefined;
  const apply = (state: State, op: Operation): { ok: boolean; next: State } => {
    const known = op.status === 'ok';
    switch (op.f) {
      case 'get':
        return { ok: !known || same(op.output, state ?? null), next: state };
      case 'put':
        return { ok: true, next: op.input };
      case 'delete':
        return { ok: true, next: undefined };
      case 'append':
        if (state === undefined) return { ok: true, next: [op.input] };
        if (Array.isArray(state)) return { ok: true, next: [...state, op.input] };
        return { ok: !known, next: state };
      case 'cas': {
        const [expected, replacement] = op.input as [JsonValue, JsonValue];
        const matches = same(state ?? null, expected);
        if (known && op.output !== matches) return { ok: false, next: state };
        return { ok: true, next: matches ? replacement : state };
      }
    }
  };
  const search = (state: State, remaining: readonly Operation[]): boolean => {
    if (remaining.every((op) => op.status === 'info')) return true;
    return remaining.some((op) => {
      if (remaining.some((other) => other.returnPosition < op.callPosition)) return false;
      const { ok, next } = apply(state, op);
      return ok && search(next, remaining.filter((other) => other !== op));
    });
  };
  return search(undefined, operations);
}

function randomSmallHistory(random: () => number, appendOnly: boolean): Row[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const values: JsonValue[] = [null, 1, 2, ['a'], ['a', 'b'], ['b']];
  const rows: Row[] = [];
  const clients = 3;
  const operationCount = 3 + Math.floor(random() * 5);
  /** undefined: absent (a stored null is a value). */
  let state: JsonValue | undefined;
  let invoked = 0;
  let nextProcess = clients;
  const processes = Array.from({ length: clients }, (_, i) => i);
  const pending: ({ f: OpFunction; input: JsonValue; applied: boolean; output: JsonValue } | null)[] = [null, null, null];
  while (invoked < operationCount || pending.some((op) => op !== null)) {
    const slot = Math.floor(random() * clients);
    const op = pending[slot];
    const process = processes[slot]!;
    if (op === null || op === undefined) {
      if (invoked >= operationCount) continue;
      const f = pick<OpFunction>(appendOnly ? ['get', 'append'] : ['get', 'put', 'delete', 'append', 'cas']);
      const element = appendOnly ? `e${invoked}` : pick(['a', 'b']);
      const input: JsonValue = f === 'put' ? pick([1, 2, null]) : f === 'append' ? element : f === 'cas' ? [pick(values), pick([1, 2])] : null;
      pending[slot] = { f, input, applied: false, output: null };
      rows.push([process, 'invoke', f, 'k', input]);
      invoked++;
    } else if (!op.applied && random() < 0.15) {
      rows.push([process, 'info', op.f, 'k', null]);
      pending[slot] = null;
      processes[slot] = nextProcess++;
    } else if (!op.applied) {
      // Take effect now, as a correct store would.
      if (op.f === 'get') op.output = state ?? null;
      if (op.f === 'put') state = op.input;
      if (op.f === 'delete') state = undefined;
      if (op.f === 'append' && (state === undefined || Array.isArray(state))) state = [...(state ?? []), op.input];
      if (op.f === 'cas') {
        const [expected, replacement] = op.input as [JsonValue, JsonValue];
        op.output = canonicalJson(state ?? null) === canonicalJson(expected);
        if (op.output) state = replacement;
      }
      op.applied = true;
    } else {
      // Sometimes report a wrong result, so that both verdicts occur.
      const wrongRead = (): JsonValue => {
        if (!appendOnly || !Array.isArray(op.output)) return pick(values);
        const list = [...op.output];
        return random() < 0.5 ? list.slice(0, -1) : list.reverse();
      };
      const output = random() < 0.2 ? (op.f === 'cas' ? !op.output : op.f === 'get' ? wrongRead() : op.output) : op.output;
      rows.push(random() < 0.1 ? [process, 'info', op.f, 'k', null] : [process, 'ok', op.f, 'k', op.f === 'get' || op.f === 'cas' ? output : null]);
      if (rows[rows.length - 1]![1] === 'info') processes[slot] = nextProcess++;
      pending[slot] = null;
    }
  }
  return rows;
}

for (const appendOnly of [false, true]) {
  test(`agrees with a brute-force checker on thousands of small random histories (${appendOnly ? 'append only' : 'all operations'})`, (t) => {
    const seed = freshSeed();
    const random = createPrng(seed);
    const tally = { linearizable: 0, not: 0 };
    for (let round = 0; round < 3_000; round++) {
      const rows = randomSmallHistory(random, appendOnly);
      const operations = history(rows).operations;
      const expected = bruteForceLinearizable(operations) ? Verdict.Linearizable : Verdict.NotLinearizable;
      const actual = checkLinearizability(operations).verdict;
      if (actual !== expected) {
        t.fail(`seed ${seed}, round ${round}: expected ${expected}, got ${actual}\n${JSON.stringify(rows)}`);
        return;
      }
      if (expected === Verdict.Linearizable) tally.linearizable++;
      else tally.not++;
    }
    t.log(`seed ${seed}: ${tally.linearizable} linearizable, ${tally.not} not`);
    t.true(tally.linearizable > 200 && tally.not > 200, `seed ${seed}: both verdicts should be common, got ${JSON.stringify(tally)}`);
  });
}
