// Parsing and validating histories, and pairing invokes with completions.

import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HistoryError, HistoryErrorCode, historyLimits, OperationStatus, parseHistory, readHistoryFile } from '../lib/check/history.js';
import { writeHistory } from '../lib/check/run.js';
import { events, history } from './check-helpers.js';

const directory = mkdtempSync(path.join(tmpdir(), 'raftlab-history-'));
test.after.always(() => rmSync(directory, { recursive: true, force: true }));

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
  t.regex(reasonOf(t, broken({ time: '12:00' }), HistoryErrorCode.BadEvent), /time must be a finite number, got "12:00"/);
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

test('values and events that break the format are refused with the real reason', (t) => {
  const good = { process: 0, type: 'invoke', f: 'get', key: 'x', value: null, time: 0 };
  const broken = (patch: object): string => JSON.stringify([{ ...good, ...patch }]);
  // 1e400 parses to Infinity, which JSON.stringify would call null.
  t.regex(reasonOf(t, '[{"process": 0, "type": "invoke", "f": "get", "key": "x", "value": null, "time": 1e400}]', HistoryErrorCode.BadEvent), /time must be a finite number, got a number out of range/);
  t.regex(reasonOf(t, '[{"process": 0, "type": "invoke", "f": "put", "key": "x", "value": [1, -1e400], "time": 0}]', HistoryErrorCode.BadEvent), /value holds a number out of range/);
  // Valid JSON, but deeper than the checkers take: the limit is named.
  const deep = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const nested = (levels: number): string => `[{"process": 0, "type": "invoke", "f": "put", "key": "x", "value": ${deep(levels)}, "time": 0}]`;
  t.regex(reasonOf(t, nested(300), HistoryErrorCode.BadEvent), /value is nested deeper than 256 levels/);
  t.notThrows(() => parseHistory(nested(256)));
  // DESIGN.md: get/delete invoke with null; put/delete/append return null.
  t.regex(reasonOf(t, broken({ value: 42 }), HistoryErrorCode.BadEvent), /a get invoke's value must be null \(get takes no argument\), got 42/);
  t.regex(reasonOf(t, broken({ f: 'delete', value: 'x' }), HistoryErrorCode.BadEvent), /a delete invoke's value must be null/);
  const completed = (f: string, value: unknown): string =>
    JSON.stringify([
      { ...good, f, value: f === 'get' || f === 'delete' ? null : 1 },
      { ...good, type: 'ok', f, value, time: 1 },
    ]);
  t.regex(reasonOf(t, completed('put', 999), HistoryErrorCode.BadEvent), /event 1: an ok put returns null \(only get and cas return a result\), got 999/);
  t.regex(reasonOf(t, completed('append', []), HistoryErrorCode.BadEvent), /an ok append returns null/);
  t.regex(reasonOf(t, completed('delete', false), HistoryErrorCode.BadEvent), /an ok delete returns null/);
  t.notThrows(() => parseHistory(completed('get', { any: ['value'] })));
});

test('text that is not one JSON array is refused as not JSON, with where', (t) => {
  t.regex(reasonOf(t, '', HistoryErrorCode.NotJson), /the input is empty/);
  t.regex(reasonOf(t, '[]  x', HistoryErrorCode.NotJson), /unexpected data at byte 4, after the history's closing "\]"/);
  const event = JSON.stringify({ process: 0, type: 'invoke', f: 'get', key: 'x', value: null, time: 0 });
  t.regex(reasonOf(t, `[${event}, ]`, HistoryErrorCode.NotJson), new RegExp(`unexpected "\\]" at byte ${event.length + 3}, where event 1 belongs`));
  t.regex(reasonOf(t, '[{"process": 0}', HistoryErrorCode.NotJson), /the input ends at byte 15, before the history's closing "\]"/);
  t.regex(reasonOf(t, '\uFEFF[]', HistoryErrorCode.NotJson), /byte order mark/);
  t.regex(reasonOf(t, '[{"a": tru}]', HistoryErrorCode.NotJson), /event 0 \(at byte 1\)/);
  t.deepEqual(parseHistory(' [ ] \n').events, []);
});

/** A history whose strings hold the bytes the splitter must not mistake for structure. */
const trickyEvents = events([
  [0, 'invoke', 'put', 'k,]}', { 'a"]': ['[', '\\', '\\"', ',{'], é: 'ünïcödé ✓ 𝄞' }],
  [0, 'ok', 'put', 'k,]}', null],
  [1, 'invoke', 'get', 'k,]}', null],
  [1, 'ok', 'get', 'k,]}', { 'a"]': ['[', '\\', '\\"', ',{'], é: 'ünïcödé ✓ 𝄞' }],
  [2, 'invoke', 'cas', '', [[[[]]], { '}': 7 }]],
  [2, 'info', 'cas', '', null],
]);

test('a history file is read in chunks: any chunk size gives the same events as the whole text', async (t) => {
  const file = path.join(directory, 'tricky.json');
  writeFileSync(file, `[\n${trickyEvents.map((event) => JSON.stringify(event)).join(' ,\n')}\n]\n`);
  const whole = parseHistory(JSON.stringify(trickyEvents));
  t.deepEqual(whole.events, trickyEvents);
  // 1 byte at a time splits every multi-byte character and every escape.
  for (const chunkBytes of [1, 2, 3, 7, 64, 1 << 20]) {
    const read = await readHistoryFile(file, { chunkBytes });
    t.deepEqual(read.events, trickyEvents, `chunks of ${chunkBytes} bytes`);
    t.deepEqual(read.operations, whole.operations, `chunks of ${chunkBytes} bytes`);
  }
});

test('an event over the size limit is refused with the limit named (an injected small limit)', async (t) => {
  const file = path.join(directory, 'large-event.json');
  const small = { process: 0, type: 'invoke', f: 'put', key: 'x', value: 1, time: 0 };
  const large = { process: 0, type: 'ok', f: 'put', key: 'x'.repeat(200), value: null, time: 1 };
  writeFileSync(file, JSON.stringify([small, large]));
  for (const chunkBytes of [5, 1 << 20]) {
    const error = await t.throwsAsync(readHistoryFile(file, { maxEventBytes: 150, chunkBytes }), { instanceOf: HistoryError });
    t.is(error?.code, HistoryErrorCode.TooLarge, error?.message);
    t.regex(error?.message ?? '', /event 1 \(at byte \d+\) is over 150 bytes of JSON text, the most read for one event/);
  }
  // Under the limit, the same file reads.
  await t.throwsAsync(readHistoryFile(file, { maxEventBytes: 1_000 }), { instanceOf: HistoryError, message: /does not match process 0's invoke of put "x"/ });
  t.true(historyLimits.maxEventBytes < 2 ** 29 - 24, 'below V8\'s longest string');
});

test('check writes its history in chunks that verify reads back', async (t) => {
  const file = path.join(directory, 'written.json');
  for (const chunkChars of [1, 100, 1 << 20]) {
    t.is(writeHistory(file, trickyEvents, chunkChars), null);
    const text = readFileSync(file, 'utf8');
    t.is(text, `[\n${trickyEvents.map((event) => JSON.stringify(event)).join(',\n')}\n]\n`, `chunks of ${chunkChars} characters`);
    t.deepEqual((await readHistoryFile(file)).events, trickyEvents);
  }
  t.is(writeHistory(file, [], 4), null);
  t.is(readFileSync(file, 'utf8'), '[\n]\n');
  t.deepEqual((await readHistoryFile(file)).events, []);
  t.regex(writeHistory(path.join(directory, 'no-such-dir', 'h.json'), trickyEvents) ?? '', /ENOENT/);
});

test('a header first in the history carries the run\'s limits; check writes it and verify reads it back', async (t) => {
  const header = { process: 'header', limits: { maxValueBytes: 1024 } };
  const withHeader = parseHistory(JSON.stringify([header, ...trickyEvents]));
  t.deepEqual(withHeader.limits, { maxValueBytes: 1024 });
  // The header is no event: the events, their positions and the operations are as without it.
  const without = parseHistory(JSON.stringify(trickyEvents));
  t.is(without.limits, null);
  t.deepEqual(withHeader.events, without.events);
  t.deepEqual(withHeader.operations, without.operations);
  // Extra fields are ignored; a header without limits, or without maxValueBytes, records none.
  t.deepEqual(parseHistory(JSON.stringify([{ ...header, tool: 'raftlab check', limits: { maxValueBytes: 7, other: 1 } }])).limits, { maxValueBytes: 7 });
  t.deepEqual(parseHistory(JSON.stringify([{ process: 'header' }])).limits, { maxValueBytes: null });
  for (const bad of ['0', '-1', '1.5', '"1024"', '1e400']) {
    const text = `[{"process":"header","limits":{"maxValueBytes":${bad}}}]`;
    t.regex(reasonOf(t, text, HistoryErrorCode.BadEvent), /the header: limits\.maxValueBytes must be an integer of at least 1/, bad);
  }
  t.regex(reasonOf(t, JSON.stringify([{ process: 'header', limits: 3 }]), HistoryErrorCode.BadEvent), /the header: limits must be an object/);
  t.regex(reasonOf(t, JSON.stringify([trickyEvents[0], header]), HistoryErrorCode.BadEvent), /event 1: a header \(process "header"\) may only be the history's first element/);
  // Errors count events after the header, as the decoder does: the first event is event 0.
  t.regex(reasonOf(t, `[${JSON.stringify(header)}, {"process": 0,}]`, HistoryErrorCode.NotJson), /not valid JSON: event 0 \(at byte \d+\)/);
  t.regex(reasonOf(t, `[${JSON.stringify(header)}, ]`, HistoryErrorCode.NotJson), /where event 0 belongs/);
  const tooLarge = path.join(directory, 'header-large-event.json');
  writeFileSync(tooLarge, JSON.stringify([header, { process: 0, type: 'invoke', f: 'put', key: 'x'.repeat(200), value: 1, time: 0 }]));
  await t.throwsAsync(readHistoryFile(tooLarge, { maxEventBytes: 150, chunkBytes: 7 }), { instanceOf: HistoryError, message: /^event 0 \(at byte \d+\) is over 150 bytes/ });
  const file = path.join(directory, 'with-header.json');
  for (const chunkChars of [1, 1 << 20]) {
    t.is(writeHistory(file, trickyEvents, chunkChars, { maxValueBytes: 1024 }), null);
    t.is(readFileSync(file, 'utf8'), `[\n${JSON.stringify(header)},\n${trickyEvents.map((event) => JSON.stringify(event)).join(',\n')}\n]\n`);
    const read = await readHistoryFile(file, { chunkBytes: 3 });
    t.deepEqual(read.limits, { maxValueBytes: 1024 });
    t.deepEqual(read.events, trickyEvents);
  }
  t.is(writeHistory(file, [], 4, { maxValueBytes: 1024 }), null);
  t.deepEqual((await readHistoryFile(file)).limits, { maxValueBytes: 1024 });
  t.deepEqual((await readHistoryFile(file)).events, []);
});

// Nemesis events (lib/check/README.md, "Nemesis events"): Jepsen's form, an extension of
// DESIGN.md's format that the checkers pass over and the reports show.

const nemesisAt = (time: number, f: string, value: unknown): object => ({ process: 'nemesis', type: 'info', f, value, time });

test('nemesis events are read in their place, kept apart from the operations, and change no pairing', (t) => {
  const client = events([
    [0, 'invoke', 'put', 'x', 1],
    [0, 'ok', 'put', 'x', null],
    [1, 'invoke', 'get', 'x', null],
    [1, 'ok', 'get', 'x', 1],
  ]);
  const partition = nemesisAt(0.5, 'partition', { groups: [[1], [2, 3]] });
  const heal = nemesisAt(2.5, 'heal', null);
  const mixed = [client[0]!, partition, client[1]!, client[2]!, heal, client[3]!];
  const h = parseHistory(JSON.stringify(mixed));
  t.is(h.events.length, 6);
  t.deepEqual(h.nemesis, [partition, heal]);
  t.deepEqual(h.counts, { ok: 2, fail: 0, info: 0, neverCompleted: 0 });
  const without = history([
    [0, 'invoke', 'put', 'x', 1],
    [0, 'ok', 'put', 'x', null],
    [1, 'invoke', 'get', 'x', null],
    [1, 'ok', 'get', 'x', 1],
  ]);
  // Positions count every element (as "event N" in errors do); their order is the same.
  t.deepEqual(
    h.operations.map((op) => [op.f, op.input, op.output, op.callPosition, op.returnPosition]),
    [
      ['put', 1, null, 0, 2],
      ['get', null, 1, 3, 5],
    ],
  );
  t.deepEqual(
    h.operations.map((op) => [op.f, op.call, op.return]),
    without.operations.map((op) => [op.f, op.call, op.return]),
  );
  // A key on a nemesis event is ignored; a history of nemesis events alone is a history.
  t.deepEqual(parseHistory(JSON.stringify([{ ...nemesisAt(0, 'crash', { node: 1 }), key: 'anything' }])).nemesis, [nemesisAt(0, 'crash', { node: 1 })]);
});

test('nemesis events that break the format are refused with the reason', (t) => {
  t.regex(reasonOf(t, JSON.stringify([{ ...nemesisAt(0, 'crash', null), type: 'invoke' }]), HistoryErrorCode.BadEvent), /event 0: a nemesis event's type must be "info", got "invoke"/);
  t.regex(reasonOf(t, JSON.stringify([nemesisAt(0, '', null)]), HistoryErrorCode.BadEvent), /a nemesis event's f must be a name of 1 to 64 characters, got ""/);
  t.regex(reasonOf(t, JSON.stringify([nemesisAt(0, 7 as unknown as string, null)]), HistoryErrorCode.BadEvent), /a nemesis event's f must be a name/);
  t.regex(reasonOf(t, JSON.stringify([{ process: 'nemesis', type: 'info', f: 'heal', time: 0 }]), HistoryErrorCode.BadEvent), /value is missing/);
  t.regex(reasonOf(t, JSON.stringify([nemesisAt(Number.NaN, 'heal', null)]), HistoryErrorCode.BadEvent), /time must be a finite number/);
  // Time order holds across client and nemesis events alike.
  const text = JSON.stringify([events([[0, 'invoke', 'get', 'x', null]])[0], nemesisAt(-1, 'heal', null)]);
  t.regex(reasonOf(t, text, HistoryErrorCode.BadSequence), /event 1: time -1 is before the previous event's time 0/);
  // Another process name is no nemesis: the old message, naming the one string allowed.
  t.regex(reasonOf(t, JSON.stringify([{ ...nemesisAt(0, 'heal', null), process: 'chaos' }]), HistoryErrorCode.BadEvent), /process must be an integer \(or "nemesis"\), got "chaos"/);
});

test('check writes nemesis events as verify reads them back', async (t) => {
  const file = path.join(directory, 'with-nemesis.json');
  const mixed = [trickyEvents[0]!, { process: 'nemesis' as const, type: 'info' as const, f: 'lose', value: { nodes: [{ node: 1, unsyncedBytesLost: 12 }] }, time: 0 }, ...trickyEvents.slice(1)];
  t.is(writeHistory(file, mixed, 64), null);
  const read = await readHistoryFile(file, { chunkBytes: 7 });
  t.deepEqual(read.events, mixed);
  t.is(read.nemesis.length, 1);
});
