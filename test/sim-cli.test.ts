// `raftlab sim` end to end, as a user runs it: exit status, summary, replay trace.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const CLI = fileURLToPath(new URL('../lib/cli.js', import.meta.url));
const TIMEOUT_MS = 60_000;

function raftlab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: TIMEOUT_MS });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

test('raftlab sim --seeds N: summary line and exit 0 when nothing is violated', (t) => {
  const run = raftlab('sim', '--seeds', '5');
  t.is(run.status, 0, run.stdout + run.stderr);
  t.regex(run.stdout, /seeds: 5 {2}violations: 0 {2}seeds\/s: [\d.]+ {2}commits: \d+ {2}elections: \d+/);
});

test('raftlab sim --seed S --nodes N: replays with a readable trace', (t) => {
  const run = raftlab('sim', '--seed', '4', '--nodes', '3');
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, / n\d <- \d->\d AppendEntries /, 'one line per delivered message');
  t.regex(run.stdout, /became leader at term \d+/, 'state changes');
  t.regex(run.stdout, /CONVERGED: leader n\d/);
  t.regex(run.stdout, /seed 4: 3 nodes, \d+ steps/);
  t.is(raftlab('sim', '--seed', '4', '--nodes', '3').stdout, run.stdout, 'a replay is exact');
});

test('raftlab sim exits non-zero naming the seed and the property when a broken core is caught', (t) => {
  const run = raftlab('sim', '--seeds', '10', '--bug', 'skipPrevLogTermCheck');
  t.is(run.status, 1, run.stdout);
  t.regex(run.stdout, /VIOLATION seed \d+ \(\d nodes\): LogMatching at step \d+/);
  t.regex(run.stdout, /replay: raftlab sim --seed \d+ --bug skipPrevLogTermCheck/);
  t.regex(run.stdout, /FAILED: \d+ seed\(s\) violated/);
});

test('raftlab sim rejects bad arguments with exit 2', (t) => {
  for (const args of [['--nodes', '9'], ['--seeds', 'x'], ['--bug', 'nope'], ['--frobnicate']]) {
    const run = raftlab('sim', ...args);
    t.is(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    t.regex(run.stderr, /usage:/);
  }
});

test('raftlab sim --help prints the usage and exits 0', (t) => {
  const run = raftlab('sim', '--help');
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /raftlab sim --seed S/);
  t.regex(run.stdout, /--bug NAME/);
});
