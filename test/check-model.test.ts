// The checker's model of one key against the real store (lib/kv's state machine): the
// same operations, applied one at a time, must give the same results, a stored null and
// an absent key included. A sequential history of what the store answered is
// linearizable; the same history with any one answer changed is not.

import test from 'ava';
import type { JsonValue } from '../lib/cluster/types.js';
import { checkLinearizability, Verdict } from '../lib/check/linearizability.js';
import { canonicalJson } from '../lib/check/model.js';
import { verifyHistory } from '../lib/check/verify.js';
import { encodeCommand, type KvOperation, type KvReply } from '../lib/kv/command.js';
import { KvStateMachine } from '../lib/kv/state-machine.js';
import { createPrng } from '../lib/raft/prng.js';
import { freshSeed, history, type Row } from './check-helpers.js';

/** One client of a fresh store, one request per operation, as the cluster would apply them. */
class Store {
  private readonly machine = new KvStateMachine();
  private readonly session: number;
  private seq = 0;

  constructor() {
    const registered = this.machine.apply(1, encodeCommand({ type: 'register', clientId: 'model-test' }));
    if (registered === null || !registered.ok || typeof registered.value !== 'number') throw new Error(`register yielded ${JSON.stringify(registered)}`);
    this.session = registered.value;
  }

  /** `limit`: an append's bound on its list (as a client puts its maxValueBytes in the entry). */
  apply(operation: KvOperation, limit?: number): KvReply {
    this.seq++;
    const request = { type: 'request', session: this.session, seq: this.seq, ackedBelow: this.seq, operation } as const;
    const reply = this.machine.apply(this.machine.appliedIndex + 1, encodeCommand(limit === undefined ? request : { ...request, maxValueBytes: limit }));
    if (reply === null) throw new Error('request yielded null');
    return reply;
  }
}

/** One operation as a history's invoke value. */
function invokeValue(operation: KvOperation): JsonValue {
  switch (operation.op) {
    case 'put':
    case 'append':
      return operation.value;
    case 'cas':
      return [operation.expected, operation.value];
    case 'get':
    case 'delete':
      return null;
  }
}

/** Runs operations on the real store (appends bounded by `appendLimit`, if given); returns the sequential history of what it answered. */
function storeHistory(operations: readonly KvOperation[], appendLimit?: number): Row[] {
  const store = new Store();
  const rows: Row[] = [];
  for (const operation of operations) {
    const reply = store.apply(operation, operation.op === 'append' ? appendLimit : undefined);
    rows.push([0, 'invoke', operation.op, operation.key, invokeValue(operation)]);
    rows.push(reply.ok ? [0, 'ok', operation.op, operation.key, reply.value] : [0, 'fail', operation.op, operation.key, null]);
  }
  return rows;
}

test('put null stores a value: append then fails as it does in the store (NOT_A_LIST), get reads null', (t) => {
  const rows = storeHistory([
    { op: 'put', key: 'x', value: null },
    { op: 'append', key: 'x', value: 'a' },
    { op: 'get', key: 'x' },
  ]);
  // The store refuses the append: a definite failure.
  t.deepEqual(rows[3], [0, 'fail', 'append', 'x', null]);
  t.deepEqual(rows[5], [0, 'ok', 'get', 'x', null]);
  t.is(checkLinearizability(history(rows).operations).verdict, Verdict.Linearizable);

  // The audit's history: the append acknowledged, the read showing it. No store does that.
  const impossible: Row[] = [
    [0, 'invoke', 'put', 'x', null],
    [0, 'ok', 'put', 'x', null],
    [0, 'invoke', 'append', 'x', 'a'],
    [0, 'ok', 'append', 'x', null],
    [0, 'invoke', 'get', 'x', null],
    [0, 'ok', 'get', 'x', ['a']],
  ];
  const result = checkLinearizability(history(impossible).operations);
  t.is(result.verdict, Verdict.NotLinearizable);
  t.regex(result.anomalies[0]?.explanation ?? '', /append "a".*cannot: it was acknowledged but the value was null, not a list/);
});

test('an append the store refuses for its size (VALUE_TOO_LARGE) is a definite failure: the history is linearizable, the append checks find nothing', (t) => {
  // Elements of 4 bytes: a list of n is 1 + 4n bytes, so 3 fit in 13 and a 4th does not.
  const operations: KvOperation[] = [
    ...['aaa', 'bbb', 'ccc', 'ddd'].map((value): KvOperation => ({ op: 'append', key: 'l', value })),
    { op: 'get', key: 'l' },
    { op: 'append', key: 'l', value: 'e' },
    { op: 'get', key: 'l' },
  ];
  const rows = storeHistory(operations, 13);
  t.deepEqual(
    rows.filter((row) => row[1] !== 'invoke').map((row) => `${row[1]}:${JSON.stringify(row[4])}`),
    ['ok:null', 'ok:null', 'ok:null', 'fail:null', 'ok:["aaa","bbb","ccc"]', 'fail:null', 'ok:["aaa","bbb","ccc"]'],
  );
  const report = verifyHistory(history(rows));
  t.is(report.verdict, Verdict.Linearizable);
  t.deepEqual(report.appends.keysChecked, ['l']);
  t.deepEqual(report.appends.anomalies, []);
  // Concurrent: of two appends racing for the last room, the one refused never shows in a read.
  const racing: Row[] = [
    [0, 'invoke', 'append', 'l', 'aaa'],
    [0, 'ok', 'append', 'l', null],
    [1, 'invoke', 'append', 'l', 'bbb'],
    [2, 'invoke', 'append', 'l', 'ccc'],
    [1, 'fail', 'append', 'l', null],
    [2, 'ok', 'append', 'l', null],
    [3, 'invoke', 'get', 'l', null],
    [3, 'ok', 'get', 'l', ['aaa', 'ccc']],
  ];
  t.is(verifyHistory(history(racing)).verdict, Verdict.Linearizable);
  // A read that shows the refused element is caught, by both checks.
  const shown = racing.map((row, at): Row => (at === 7 ? [3, 'ok', 'get', 'l', ['aaa', 'ccc', 'bbb']] : row));
  const caught = verifyHistory(history(shown));
  t.is(caught.verdict, Verdict.NotLinearizable);
  t.deepEqual(caught.appends.anomalies.map((anomaly) => anomaly.kind), ['unknown-element']);
  t.is(checkLinearizability(history(shown).operations).verdict, Verdict.NotLinearizable);
});

test('cas(null, v) succeeds on an absent key and on a stored null alike; delete makes the key absent again', (t) => {
  const rows = storeHistory([
    { op: 'cas', key: 'x', expected: null, value: 1 },
    { op: 'put', key: 'x', value: null },
    { op: 'cas', key: 'x', expected: null, value: 2 },
    { op: 'delete', key: 'x' },
    { op: 'append', key: 'x', value: 'a' },
    { op: 'get', key: 'x' },
  ]);
  t.deepEqual(
    rows.filter((row) => row[1] !== 'invoke').map((row) => row[4]),
    [true, null, true, null, null, ['a']],
  );
  t.is(checkLinearizability(history(rows).operations).verdict, Verdict.Linearizable);
});

/** Values that exercise the model's corners: null, empty and non-empty lists, equal objects written differently. */
const values: readonly JsonValue[] = [null, 0, 1, 1.5, 'a', '', true, [], ['a'], ['a', 'b'], { p: 1, q: [2] }, { q: [2], p: 1 }, {}];

function randomOperation(random: () => number): KvOperation {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const roll = random();
  if (roll < 0.25) return { op: 'get', key: 'k' };
  if (roll < 0.45) return { op: 'put', key: 'k', value: pick(values) };
  if (roll < 0.55) return { op: 'delete', key: 'k' };
  if (roll < 0.75) return { op: 'append', key: 'k', value: pick(values) };
  return { op: 'cas', key: 'k', expected: pick(values), value: pick(values) };
}

test('the model gives the store\'s answer to every operation, and refuses any other (random sequences)', (t) => {
  const seed = freshSeed();
  const random = createPrng(seed);
  let refutations = 0;
  for (let round = 0; round < 300; round++) {
    const operations = Array.from({ length: 2 + Math.floor(random() * 8) }, () => randomOperation(random));
    const rows = storeHistory(operations);
    const context = (): string => `seed ${seed} (replay with CHECK_SEED=${seed}), round ${round}: ${JSON.stringify(rows)}`;
    if (checkLinearizability(history(rows).operations).verdict !== Verdict.Linearizable) {
      t.fail(`the store's own answers refused: ${context()}`);
      return;
    }
    // Change one answer: a read of another value, a cas's result flipped, a refused append acknowledged.
    rows.forEach((row, index) => {
      const [process, type, f, key, value] = row;
      let changed: Row | null = null;
      if (type === 'ok' && f === 'get') {
        const other = values.find((candidate) => canonicalJson(candidate) !== canonicalJson(value));
        changed = [process, 'ok', f, key, other ?? 'other'];
      } else if (type === 'ok' && f === 'cas') {
        changed = [process, 'ok', f, key, value !== true];
      } else if (type === 'fail' && f === 'append') {
        changed = [process, 'ok', f, key, null];
      }
      if (changed === null) return;
      const altered = rows.map((original, at) => (at === index ? changed! : original));
      if (checkLinearizability(history(altered).operations).verdict !== Verdict.NotLinearizable) {
        t.fail(`a changed answer at row ${index} accepted: ${context()}\nchanged: ${JSON.stringify(altered)}`);
      }
      refutations++;
    });
  }
  t.log(`seed ${seed}: ${refutations} changed histories refuted`);
  t.true(refutations > 300, `seed ${seed}`);
});
