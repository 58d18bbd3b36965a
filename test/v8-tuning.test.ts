// The V8 settings for a process that hosts a cluster (lib/cluster/v8-tuning.ts), and the
// raftlab command restarting itself with the start flags (lib/cli.ts).

import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VerifyExitCode } from '../lib/check/verify.js';
import { CLUSTER_MARKING_WORKERS, CLUSTER_START_FLAGS, collectorFlags, missingStartFlags, processFlags, tuneV8ForCluster } from '../lib/cluster/v8-tuning.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../lib/cli.js', import.meta.url));

test('this Node knows the flags (V8 would ignore an unknown one without a word)', async (t) => {
  const { stdout } = await run(process.execPath, ['--v8-options'], { maxBuffer: 16 * 1024 * 1024 });
  // A boolean flag is listed by its name; `--no-` turns it off.
  for (const flag of [...CLUSTER_START_FLAGS, '--concurrent-marking-max-worker-num']) {
    const listed = flag.replace(/^--no-/, '--');
    t.regex(stdout, new RegExp(`^\\s+${listed}\\b`, 'm'), `${flag} is listed`);
  }
});

test('each start flag is missing unless the command line chose that setting itself', (t) => {
  t.deepEqual(CLUSTER_START_FLAGS, ['--single-threaded-gc', '--no-allocation-site-pretenuring']);
  t.deepEqual(missingStartFlags([]), CLUSTER_START_FLAGS);
  t.deepEqual(missingStartFlags(['--perf-basic-prof']), CLUSTER_START_FLAGS);
  t.deepEqual(missingStartFlags(['--single-threaded-gc']), ['--no-allocation-site-pretenuring']);
  t.deepEqual(missingStartFlags(['--no-single-threaded-gc']), ['--no-allocation-site-pretenuring'], 'the command line may keep V8 default threads');
  t.deepEqual(missingStartFlags(['--concurrent-marking-max-worker-num=3']), ['--no-allocation-site-pretenuring']);
  t.deepEqual(missingStartFlags(['--allocation-site-pretenuring']), ['--single-threaded-gc'], 'the command line may keep V8 default pretenuring');
  t.deepEqual(missingStartFlags(['--no-allocation-site-pretenuring', '--single-threaded-gc']), []);
  t.deepEqual(
    collectorFlags(['--cpu-prof', '--single-threaded-gc', '--v8-pool-size=2', '--no-allocation-site-pretenuring', '--max-old-space-size=100']),
    ['--single-threaded-gc', '--v8-pool-size=2', '--no-allocation-site-pretenuring'],
    'what bench --cpu-prof passes on',
  );
});

test('tuneV8ForCluster sets one marking worker at run time, unless the command line chose', (t) => {
  t.deepEqual(tuneV8ForCluster(['--perf-basic-prof', '--concurrent-marking-max-worker-num=3']), [], 'the command line wins');
  t.deepEqual(tuneV8ForCluster(['--single-threaded-gc']), []);
  const applied = tuneV8ForCluster([]);
  t.deepEqual(applied, [`--concurrent-marking-max-worker-num=${CLUSTER_MARKING_WORKERS}`]);
  t.is(CLUSTER_MARKING_WORKERS, 1);
  t.deepEqual(processFlags().slice(-1), applied, 'the bench reports it among the process flags');
});

test('the raftlab command runs in a child started with the start flags, and exits as it did', async (t) => {
  // `help` prints from the child; `verify` of a missing file fails there with its own code.
  const help = await run(process.execPath, [CLI, 'help']);
  t.regex(help.stdout, /^usage:/);
  const missing = await run(process.execPath, [CLI, 'verify', '/nonexistent/history.json']).then(
    () => null,
    (error: { code: number; stderr: string }) => error,
  );
  t.not(missing, null, 'verify of a missing file fails');
  t.is(missing!.code, VerifyExitCode.UnreadableInput, missing!.stderr);
  t.not(VerifyExitCode.UnreadableInput, 1, 'a code of its own, not a generic failure');
  // (test/bench-smoke.test.ts checks the child's flags: the bench reports them.)
});

/** Starts `raftlab bench` for a minute on 1 node; resolves once its cluster is up. */
async function startBench(dir: string): Promise<{ parent: ChildProcess; childPid: number; ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
  const parent = spawn(process.execPath, [CLI, 'bench', '--nodes', '1', '--duration', '60', '--warmup', '1', '--rate', '100', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const started = new Promise<void>((resolve) => {
    const watch = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('cluster up')) resolve();
    };
    parent.stdout!.on('data', watch);
    parent.stderr!.on('data', watch);
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => parent.once('exit', (code, signal) => resolve({ code, signal })));
  await withTimeout(started, 60_000, () => `the bench did not start: ${output}`);
  const children = childrenOf(parent.pid!);
  if (children.length !== 1) throw new Error(`expected the command to run in one child process, found ${children.length}`);
  return { parent, childPid: children[0]!, ended };
}

/** Runs `use` on a bench started in a fresh data directory, removed afterwards. */
async function withBench(use: (bench: Awaited<ReturnType<typeof startBench>>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-restart-'));
  let bench: Awaited<ReturnType<typeof startBench>> | null = null;
  try {
    bench = await startBench(dir);
    await use(bench);
  } finally {
    // A test that failed half way leaves nothing running.
    if (bench !== null) {
      if (bench.parent.exitCode === null && bench.parent.signalCode === null) bench.parent.kill('SIGKILL');
      if (isAlive(bench.childPid)) process.kill(bench.childPid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a SIGTERM sent to the raftlab command alone reaches the child, and the command ends by it', async (t) => {
  if (process.platform !== 'linux') return t.pass('child processes are found through /proc');
  await withBench(async ({ parent, childPid, ended }) => {
    parent.kill('SIGTERM');
    const outcome = await withTimeout(ended, 30_000, () => 'the command did not end after SIGTERM');
    t.deepEqual(outcome, { code: null, signal: 'SIGTERM' });
    t.throws(() => process.kill(childPid, 0), { code: 'ESRCH' }, 'the child is gone too');
  });
});

test('when the raftlab command is killed outright, its child stops too', async (t) => {
  if (process.platform !== 'linux') return t.pass('child processes are found through /proc');
  await withBench(async ({ parent, childPid, ended }) => {
    parent.kill('SIGKILL');
    t.deepEqual(await withTimeout(ended, 30_000, () => 'SIGKILL did not end the command'), { code: null, signal: 'SIGKILL' });
    // The child notices its lifeline close; wait for it to be gone (bounded).
    const deadline = Date.now() + 30_000;
    while (isAlive(childPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    t.false(isAlive(childPid), 'the child stopped once the command was gone');
  });
});

/** True while `pid` exists and is not a zombie. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command name, which is in parentheses: state, ppid, ...
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
