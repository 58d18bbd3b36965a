// The cheap append-workload checks: each anomaly kind on a small history, and silence on
// correct ones.

import test from 'ava';
import { AppendAnomalyKind, checkAppends } from '../lib/check/append-checks.js';
import { pairOperations, parseHistory } from '../lib/check/history.js';
import { Verdict } from '../lib/check/linearizability.js';
import { formatReport, verifyHistory } from '../lib/check/verify.js';
import { events, freshSeed, history, simulateHistory, type Row } from './check-helpers.js';

const kindsOf = (rows: readonly Row[]): string[] => checkAppends(history(rows).operations).anomalies.map((anomaly) => anomaly.kind);

const appendAB: Row[] = [
  [0, 'invoke', 'append', 'l', 'a'],
  [0, 'ok', 'append', 'l', null],
  [0, 'invoke', 'append', 'l', 'b'],
  [0, 'ok', 'append', 'l', null],
];

test('a correct append history has no anomalies', (t) => {
  const result = checkAppends(
    history([
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', null],
      ...appendAB,
      [2, 'invoke', 'append', 'l', 'c'],
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', ['a', 'b']],
      [2, 'info', 'append', 'l', null],
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', ['a', 'b', 'c']],
    ]).operations,
  );
  t.deepEqual(result.anomalies, []);
  t.deepEqual(result.keysChecked, ['l']);
});

test('an element read twice is a duplicate application', (t) => {
  t.deepEqual(kindsOf([...appendAB, [1, 'invoke', 'get', 'l', null], [1, 'ok', 'get', 'l', ['a', 'b', 'b']]]), [AppendAnomalyKind.DuplicateElement]);
});

test('an element nobody appended is reported', (t) => {
  t.deepEqual(kindsOf([...appendAB, [1, 'invoke', 'get', 'l', null], [1, 'ok', 'get', 'l', ['a', 'b', 'z']]]), [AppendAnomalyKind.UnknownElement]);
});

test('an element whose append failed is reported', (t) => {
  t.deepEqual(
    kindsOf([
      [0, 'invoke', 'append', 'l', 'a'],
      [0, 'fail', 'append', 'l', null],
      [1, 'invoke', 'get', 'l', null],
      [1, 'ok', 'get', 'l', ['a']],
    ]),
    [AppendAnomalyKind.UnknownElement],
  );
});

test('reads that are not prefixes of one another are incompatible', (t) => {
  const rows: Row[] = [
    [0, 'invoke', 'append', 'l', 'a'],
    [1, 'invoke', 'append', 'l', 'b'],
    [2, 'invoke', 'get', 'l', null],
    [2, 'ok', 'get', 'l', ['a', 'b']],
    [3, 'invoke', 'get', 'l', null],
    [3, 'ok', 'get', 'l', ['b', 'a']],
    [0, 'ok', 'append', 'l', null],
    [1, 'ok', 'append', 'l', null],
  ];
  t.deepEqual(kindsOf(rows), [AppendAnomalyKind.IncompatibleReads]);
});

test('a read that starts after a longer read ended must not be shorter', (t) => {
  const rows: Row[] = [
    [0, 'invoke', 'append', 'l', 'a'],
    [1, 'invoke', 'get', 'l', null],
    [1, 'ok', 'get', 'l', ['a']],
    [2, 'invoke', 'get', 'l', null],
    [2, 'ok', 'get', 'l', null],
    [0, 'info', 'append', 'l', null],
  ];
  t.deepEqual(kindsOf(rows), [AppendAnomalyKind.NonMonotonicReads]);
});

test('an acknowledged append missing from a later read is stale, from the final read lost', (t) => {
  const rows: Row[] = [
    ...appendAB,
    [1, 'invoke', 'get', 'l', null],
    [1, 'ok', 'get', 'l', ['a']],
    [0, 'invoke', 'append', 'l', 'c'],
    [0, 'ok', 'append', 'l', null],
    [1, 'invoke', 'get', 'l', null],
    [1, 'ok', 'get', 'l', ['a', 'b']],
  ];
  const result = checkAppends(history(rows).operations);
  t.deepEqual(
    result.anomalies.map((anomaly) => anomaly.kind),
    [AppendAnomalyKind.StaleRead, AppendAnomalyKind.LostAppend],
  );
  const lost = result.anomalies[1]!;
  t.regex(lost.explanation, /misses 1 acknowledged append/);
  t.regex(lost.explanation, /append "c"/);
  t.true(lost.operations.some((op) => op.f === 'append' && op.input === 'c'));
});

test('a read that is not a list is reported', (t) => {
  t.deepEqual(kindsOf([...appendAB, [1, 'invoke', 'get', 'l', null], [1, 'ok', 'get', 'l', 'ab']]), [AppendAnomalyKind.NotAList]);
});

test('keys that also see put, delete or cas are skipped, with the reason', (t) => {
  const result = checkAppends(history([...appendAB, [1, 'invoke', 'put', 'l', ['x']], [1, 'ok', 'put', 'l', null]]).operations);
  t.deepEqual(result.keysChecked, []);
  t.is(result.keysSkipped[0]?.key, 'l');
  t.regex(result.keysSkipped[0]?.reason ?? '', /also sees put/);
});

test('reports of one kind on one key are capped and summarised', (t) => {
  const rows: Row[] = [...appendAB];
  for (let i = 0; i < 10; i++) rows.push([1, 'invoke', 'get', 'l', null], [1, 'ok', 'get', 'l', ['a', 'a', 'b']]);
  const anomalies = checkAppends(history(rows).operations).anomalies;
  t.is(anomalies.length, 4);
  t.regex(anomalies[3]?.explanation ?? '', /and 7 more duplicate-element anomalies/);
});

test('simulated correct append histories pass; a dropped element is caught', (t) => {
  const seed = freshSeed();
  const events = simulateHistory({ seed, operations: 3_000, clients: 10, registerKeys: 0, appendKeys: 3, infoRate: 0.02, failRate: 0.02 });
  t.deepEqual(checkAppends(pairOperations(events).operations).anomalies, [], `seed ${seed}`);
  // The last read of some key loses its first element: every acknowledged append of that
  // element is now missing from the final read.
  let lastRead = -1;
  events.forEach((event, index) => {
    if (event.type === 'ok' && event.f === 'get' && Array.isArray(event.value) && event.value.length > 1) lastRead = index;
  });
  t.true(lastRead > 0, `seed ${seed}`);
  const mutated = events.map((event, index) => (index === lastRead && Array.isArray(event.value) ? { ...event, value: event.value.slice(1) } : event));
  const kinds = checkAppends(pairOperations(mutated).operations).anomalies.map((anomaly) => anomaly.kind);
  t.true(kinds.includes(AppendAnomalyKind.IncompatibleReads), `seed ${seed}: ${kinds.join(', ')}`);
});

// The run's maxValueBytes from the history's header (lib/check/README.md, "The header"):
// an append the store should have refused for its size (VALUE_TOO_LARGE) yet acknowledged.
// Each element 'aaaa' encodes to 5 bytes, a list of n < 16 of them to 1 + 5n.
const pastLimitRows: Row[] = [
  [0, 'invoke', 'append', 'l', 'aaaa'],
  [0, 'ok', 'append', 'l', null],
  [0, 'invoke', 'append', 'l', 'bbbb'],
  [0, 'ok', 'append', 'l', null],
  [0, 'invoke', 'append', 'l', 'cccc'],
  [0, 'ok', 'append', 'l', null],
  [1, 'invoke', 'get', 'l', null],
  [1, 'ok', 'get', 'l', ['aaaa', 'bbbb', 'cccc']],
];
const headed = (rows: readonly Row[], maxValueBytes: number): string => JSON.stringify([{ process: 'header', limits: { maxValueBytes } }, ...events(rows)]);

test('with the run\'s maxValueBytes in the header, an append acknowledged past it is flagged; the same history without a header is not', (t) => {
  // 16 bytes against a bound of 11: the third append ('cccc', the list from 11 to 16 bytes) is past it.
  const report = verifyHistory(parseHistory(headed(pastLimitRows, 11)));
  t.is(report.verdict, Verdict.NotLinearizable);
  t.deepEqual(report.appends.anomalies.map((anomaly) => anomaly.kind), [AppendAnomalyKind.PastLimit]);
  const [anomaly] = report.appends.anomalies;
  t.regex(anomaly!.explanation, /encodes to 16 bytes, over the run's maxValueBytes, 11 bytes .*element 2 took it past the bound: .*"cccc".*, acknowledged/);
  t.deepEqual(anomaly!.operations.map((operation) => operation.input), [null, 'cccc']);
  t.regex(formatReport(report), /\[append-past-limit\] key "l"/);
  t.regex(formatReport(report), /lists bounded by maxValueBytes 11 \(the history's header\)/);
  // At the bound exactly, nothing: the store refuses only a list that would encode to more.
  t.deepEqual(verifyHistory(parseHistory(headed(pastLimitRows, 16))).appends.anomalies, []);
  // An old history (no header) reads as before, and says what it cannot check.
  const old = verifyHistory(parseHistory(JSON.stringify(events(pastLimitRows))));
  t.is(old.history.limits, null);
  t.is(old.verdict, Verdict.Linearizable);
  t.regex(formatReport(old), /list sizes not checked \(the history records no maxValueBytes\)/);
});

test('an acknowledged append whose element alone is past maxValueBytes is flagged with no read of the list', (t) => {
  const rows: Row[] = [
    [0, 'invoke', 'append', 'l', 'x'.repeat(40)],
    [0, 'ok', 'append', 'l', null],
    [1, 'invoke', 'append', 'l', 'y'.repeat(40)],
    [1, 'info', 'append', 'l', null],
  ];
  // 'x' * 40 encodes to 42 bytes, 43 as a list: past a bound of 42. The info append of the
  // same size is no anomaly: the store may have refused it, as it should.
  const anomalies = checkAppends(history(rows).operations, { maxValueBytes: 42 }).anomalies;
  t.deepEqual(anomalies.map((anomaly) => anomaly.kind), [AppendAnomalyKind.PastLimit]);
  t.regex(anomaly0(anomalies), /was acknowledged, but a list holding only its element encodes to 43 bytes, over the run's maxValueBytes, 42 bytes/);
  t.deepEqual(checkAppends(history(rows).operations, { maxValueBytes: 43 }).anomalies, []);
  t.deepEqual(checkAppends(history(rows).operations, { maxValueBytes: null }).anomalies, []);
});

test('a read past maxValueBytes names the append that crossed it, acknowledged or not', (t) => {
  const rows: Row[] = [
    [0, 'invoke', 'append', 'l', 'aaaa'],
    [0, 'ok', 'append', 'l', null],
    [2, 'invoke', 'append', 'l', 'bbbb'],
    [2, 'info', 'append', 'l', null],
    [1, 'invoke', 'get', 'l', null],
    [1, 'ok', 'get', 'l', ['aaaa', 'bbbb']],
  ];
  const anomalies = checkAppends(history(rows).operations, { maxValueBytes: 10 }).anomalies;
  t.deepEqual(anomalies.map((anomaly) => anomaly.kind), [AppendAnomalyKind.PastLimit]);
  t.regex(anomaly0(anomalies), /encodes to 11 bytes.*element 1 took it past the bound: .*"bbbb".* \(never acknowledged, but applied\)/);
});

function anomaly0(anomalies: readonly { readonly explanation: string }[]): string {
  return anomalies[0]?.explanation ?? '';
}
