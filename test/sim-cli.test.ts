// `raftlab sim` end to end, as a user runs it: exit status, summary, replay trace.

import { spawn, spawnSync } from 'node:child_process';
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

test('raftlab sim --seed S piped to a reader that leaves after the first line ends quietly, exit 0', async (t) => {
  const child = spawn(process.execPath, [CLI, 'sim', '--seed', '4', '--nodes', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // What `| head -1` does: read a little, then close the pipe.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve(status);
    });
  });
  t.is(code, 0, stderr);
  t.notRegex(stderr, /EPIPE|Error/);
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

test('raftlab sim refuses --seed with --seeds or --from, repeated options and numbers not in decimal', (t) => {
  for (const [args, reason] of [
    [['--seed', '1', '--seeds', '2'], /--seed replays one seed: leave out --seeds/],
    [['--from', '3', '--seed', '1'], /--seed replays one seed: leave out --from/],
    [['--seeds', '2', '--seeds', '3'], /--seeds given twice/],
    [['--seeds=3'], /unknown argument '--seeds=3' \(an option's value is the next argument: --seeds 3\)/],
    [['--seeds', '1e3'], /--seeds needs an integer from 1 to 4294967296, got '1e3'/],
    [['--seeds', '0x10'], /--seeds needs an integer from 1 to/],
    [['--nodes', '3.5'], /--nodes needs an integer from 3 to 7, got '3.5'/],
    [['--from', ''], /--from needs an integer from 0 to 4294967295, got ''/],
    [['--from', '-1'], /--from needs an integer from 0/],
    [['--seeds'], /--seeds needs a value/],
    [['--bug', '--seeds', '2'], /--bug needs a value/],
    // The generators use a seed's low 32 bits: 2^32 would replay seed 0.
    [['--seed', '4294967296'], /--seed needs an integer from 0 to 4294967295/],
    [['--from', '4294967295', '--seeds', '2'], /goes past the last seed, 4294967295/],
  ] as const) {
    const run = raftlab('sim', ...args);
    t.is(run.status, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
    t.regex(run.stderr, reason, args.join(' '));
  }
});

test('raftlab sim --help prints the usage and exits 0', (t) => {
  const run = raftlab('sim', '--help');
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /raftlab sim --seed S/);
  t.regex(run.stdout, /--bug NAME/);
});

test('raftlab sim --no-crash-across-sync runs a seed as before the thirtieth session: seed 3 draws those faults, and leaves them out with the option', (t) => {
  const fingerprint = (stdout: string): string => /fingerprint ([0-9a-f]{8})/.exec(stdout)?.[1] ?? '';
  const with_ = raftlab('sim', '--seed', '3');
  const without = raftlab('sim', '--seed', '3', '--no-crash-across-sync');
  t.is(with_.status, 0, with_.stdout);
  t.is(without.status, 0, without.stdout);
  t.regex(with_.stdout, /"slowSyncProbability":0\.\d/);
  t.regex(without.stdout, /"slowSyncProbability":0,"crashUnsyncedCandidateProbability":0,"holdAcrossRestartProbability":0/);
  // Seed 3's run on main before the faults were added (the twenty-ninth session's build).
  t.is(fingerprint(without.stdout), '314725cc');
  t.not(fingerprint(with_.stdout), '314725cc');
});
