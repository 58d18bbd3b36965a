// `raftlab verify` as a user runs it: its exit codes and its report.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { events, repoRoot, type Row } from './check-helpers.js';

const cli = path.join(repoRoot, 'dist', 'lib', 'cli.js');
const directory = mkdtempSync(path.join(tmpdir(), 'raftlab-verify-'));
test.after.always(() => rmSync(directory, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const where = path.join(directory, name);
  writeFileSync(where, content);
  return where;
}

function raftlab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const verify = (...args: string[]): ReturnType<typeof raftlab> => raftlab('verify', ...args);

const linearizable: Row[] = [
  [0, 'invoke', 'put', 'x', 1],
  [1, 'invoke', 'get', 'x', null],
  [0, 'ok', 'put', 'x', null],
  [1, 'ok', 'get', 'x', 1],
  [2, 'invoke', 'append', 'l', 'a'],
  [2, 'ok', 'append', 'l', null],
  [3, 'invoke', 'cas', 'x', [1, 2]],
  [3, 'info', 'cas', 'x', null],
];

const stale: Row[] = [
  [0, 'invoke', 'put', 'x', 1],
  [0, 'ok', 'put', 'x', null],
  [0, 'invoke', 'put', 'x', 2],
  [0, 'ok', 'put', 'x', null],
  [1, 'invoke', 'get', 'x', null],
  [1, 'ok', 'get', 'x', 1],
  [1, 'invoke', 'get', 'x', null],
  [1, 'fail', 'get', 'x', null],
];

test('exit 0 for a linearizable history, with the report', (t) => {
  const result = verify(file('good.json', JSON.stringify(events(linearizable))));
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /verdict: linearizable/);
  t.regex(result.stdout, /4 operations \(ok 3, info 1; 0 failed, left out\)/);
  t.regex(result.stdout, /cas\s+0\s+0\s+1/);
  t.regex(result.stdout, /"x"\s+3\s+2\s+1\s+\d+\s+\d+\s+linearizable/);
});

test('exit 1 for a history that is not linearizable, with the anomaly explained', (t) => {
  const result = verify(file('stale.json', JSON.stringify(events(stale))));
  t.is(result.status, 1, result.stderr);
  t.regex(result.stdout, /verdict: not-linearizable/);
  t.regex(result.stdout, /anomalies \(1\):/);
  t.regex(result.stdout, /\[not linearizable\] key "x"/);
  t.regex(result.stdout, /it read 1 but the value was 2/);
  t.regex(result.stdout, /get\s+1\s+1\s+0/);
});

test('exit 2 when the search budget is exceeded', (t) => {
  const result = verify('--max-steps', '2', file('budget.json', JSON.stringify(events(stale))));
  t.is(result.status, 2, result.stderr);
  t.regex(result.stdout, /verdict: unknown/);
  t.regex(result.stdout, /search budget exceeded/);
});

test('exit 3 for unreadable input, with the reason', (t) => {
  const notJson = verify(file('broken.json', '[{"process": 0'));
  t.is(notJson.status, 3);
  t.regex(notJson.stderr, /not a valid history \(HISTORY_NOT_JSON\)/);

  const badEvent = verify(file('bad-event.json', JSON.stringify([{ process: 0, type: 'invoke', f: 'incr', key: 'x', value: null, time: 0 }])));
  t.is(badEvent.status, 3);
  t.regex(badEvent.stderr, /HISTORY_BAD_EVENT.*event 0: f must be one of/);

  const missing = verify(path.join(directory, 'no-such-file.json'));
  t.is(missing.status, 3);
  t.regex(missing.stderr, /cannot read .*no-such-file\.json/);

  const noFile = verify();
  t.is(noFile.status, 3);
  t.regex(noFile.stderr, /no history file given/);
});

test('check: a short run on a real cluster passes, writes its history, and verify agrees', (t) => {
  const historyFile = path.join(directory, 'check-history.json');
  const result = raftlab('check', '--nodes', '3', '--duration', '3', '--clients', '4', '--workload', 'append', '--nemesis', 'crash', '--seed', '5', '--history', historyFile);
  t.is(result.status, 0, `${result.stdout}\n${result.stderr}`);
  t.regex(result.stderr, /seed 5/);
  t.regex(result.stdout, /raftlab check: workload append, 3 nodes, 4 clients, 3\.0s, nemesis crash, seed 5/);
  t.regex(result.stdout, /check: PASS \(replay: --seed 5\)/);
  const replay = verify(historyFile);
  t.is(replay.status, 0, replay.stdout);
  t.regex(replay.stdout, /verdict: linearizable/);
});

test('check: bad arguments exit 3 with the reason', (t) => {
  const workload = raftlab('check', '--workload', 'bank');
  t.is(workload.status, 3);
  t.regex(workload.stderr, /--workload must be register or append/);
  const nemesis = raftlab('check', '--nemesis', 'crash,meteor');
  t.is(nemesis.status, 3);
  t.regex(nemesis.stderr, /unknown nemesis "meteor"/);
  const nodes = raftlab('check', '--nodes', 'many');
  t.is(nodes.status, 3);
  t.regex(nodes.stderr, /--nodes needs a positive integer/);
});
