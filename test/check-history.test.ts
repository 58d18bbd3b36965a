// Parsing and validating histories, and pairing invokes with completions.

import test from 'ava';
import { HistoryError, HistoryErrorCode, OperationStatus, parseHistory } from '../lib/check/history.js';
import { events, history } from './check-helpers.js';

test('invokes pair with their completions per process; fails are dropped; info never returns', (t) => {
  const h = history([
    [0, 'invoke', 'put', 'x', 1],
    [1, 'invoke', 'get', 'x', null],
    [0, 'ok', 'put', 'x', null],
    [1, 'ok', 'get', 'x', 1],
    [2, 'invoke', 'cas', 'x', [1, 2]],
    [2, 'fail', 'cas', 'x', null],
    [2, 'invoke', 'append', 'y', 'a'],
    [2, 'info', 'append', 'y', null],
    [3, 'invoke', 'delete', 'x', null],
  ]);
  t.deepEqual(h.counts, { ok: 2, fail: 1, info: 1, neverCompleted: 1 });
  t.is(h.operations.length, 4);
  const [put, get, append, deletion] = h.operations;
  t.like(put, { id: 0, process: 0, f: 'put', key: 'x', input: 1, output: null, call: 0, return: 2, status: OperationStatus.Ok });
  t.like(get, { id: 1, process: 1, f: 'get', output: 1, call: 1, return: 3, callPosition: 1, returnPosition: 3 });
  t.like(append, { id: 2, f: 'append', input: 'a', status: OperationStatus.Info, call: 6, return: Infinity, returnPosition: Infinity });
  t.like(deletion, { id: 3, f: 'delete', status: OperationStatus.Info, return: Infinity });
});

test('operations are numbered in invoke order even when they complete out of order', (t) => {
  const h = history([
    [0, 'invoke', 'put', 'x', 1],
    [1, 'invoke', 'put', 'x', 2],
    [1, 'ok', 'put', 'x', null],
    [0, 'ok', 'put', 'x', null],
  ]);
  t.deepEqual(
    h.operations.map((op) => [op.id, op.input]),
    [
      [0, 1],
      [1, 2],
    ],
  );
});

function reasonOf(t: import('ava').ExecutionContext, text: string, code: HistoryErrorCode): string {
  const error = t.throws(() => parseHistory(text), { instanceOf: HistoryError });
  t.is(error?.code, code, error?.message);
  return error?.message ?? '';
}

test('unreadable input is refused with a reason that names the problem', (t) => {
  t.regex(reasonOf(t, '[{"process": 0,', HistoryErrorCode.NotJson), /not valid JSON/);
  t.regex(reasonOf(t, '{"events": []}', HistoryErrorCode.BadEvent), /must be a JSON array/);
  t.regex(reasonOf(t, '[1]', HistoryErrorCode.BadEvent), /event 0: not an object/);
  const good = { process: 0, type: 'invoke', f: 'get', key: 'x', value: null, time: 0 };
  const broken = (patch: object): string => JSON.stringify([{ ...good, ...patch }]);
  t.regex(reasonOf(t, broken({ process: 'a' }), HistoryErrorCode.BadEvent), /event 0: process must be an integer/);
  t.regex(reasonOf(t, broken({ type: 'done' }), HistoryErrorCode.BadEvent), /type must be one of/);
  t.regex(reasonOf(t, broken({ f: 'incr' }), HistoryErrorCode.BadEvent), /f must be one of/);
  t.regex(reasonOf(t, broken({ key: 7 }), HistoryErrorCode.BadEvent), /key must be a string/);
  t.regex(reasonOf(t, broken({ time: '12:00' }), HistoryErrorCode.BadEvent), /time must be a number/);
  t.regex(reasonOf(t, JSON.stringify([{ process: 0, type: 'invoke', f: 'get', key: 'x', time: 0 }]), HistoryErrorCode.BadEvent), /value is missing/);
  t.regex(reasonOf(t, broken({ f: 'cas', value: 3 }), HistoryErrorCode.BadEvent), /cas invoke's value must be \[expected, new\]/);
});

test('impossible sequences are refused: they would make the verdict meaningless', (t) => {
  const text = (rows: Parameters<typeof events>[0], times?: number[]): string =>
    JSON.stringify(events(rows).map((event, i) => ({ ...event, time: times?.[i] ?? event.time })));
  t.regex(
    reasonOf(t, text([[0, 'ok', 'get', 'x', null]]), HistoryErrorCode.BadSequence),
    /event 0: ok for process 0, which has no outstanding invoke/,
  );
  t.regex(
    reasonOf(
      t,
      text([
        [0, 'invoke', 'get', 'x', null],
        [0, 'invoke', 'get', 'x', null],
      ]),
      HistoryErrorCode.BadSequence,
    ),
    /event 1: process 0 invoked while its get from event 0 is still outstanding/,
  );
  t.regex(
    reasonOf(
      t,
      text([
        [0, 'invoke', 'put', 'x', 1],
        [0, 'info', 'put', 'x', null],
        [0, 'invoke', 'get', 'x', null],
      ]),
      HistoryErrorCode.BadSequence,
    ),
    /event 2: process 0 invoked after an info/,
  );
  t.regex(
    reasonOf(
      t,
      text([
        [0, 'invoke', 'put', 'x', 1],
        [0, 'ok', 'put', 'y', null],
      ]),
      HistoryErrorCode.BadSequence,
    ),
    /does not match process 0's invoke of put "x"/,
  );
  t.regex(
    reasonOf(
      t,
      text(
        [
          [0, 'invoke', 'put', 'x', 1],
          [0, 'ok', 'put', 'x', null],
        ],
        [10, 5],
      ),
      HistoryErrorCode.BadSequence,
    ),
    /event 1: time 5 is before the previous event's time 10/,
  );
  t.regex(
    reasonOf(
      t,
      text([
        [0, 'invoke', 'cas', 'x', [1, 2]],
        [0, 'ok', 'cas', 'x', 'yes'],
      ]),
      HistoryErrorCode.BadEvent,
    ),
    /ok cas must return true or false/,
  );
});
