// A `raftlab` command whose reader goes away (`raftlab check 2>&1 | head -2`): every
// later write fails with EPIPE. It used to die of that write's error, exit 1 (check's
// code for an anomaly), and leave its cluster's scratch directory behind; now, as
// `raftlab sim` (test/sim-cli.test.ts), the output ends and the run does not: its exit
// code is its verdict's, and it removes its scratch directory itself.

import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './helpers/cli.js';

const BOUND_MS = 90_000;

test('a check whose output pipe closes runs to its verdict, exit 0 for a pass, and removes its scratch directory', async (t) => {
  // The command's temporary directory: its scratch cluster directory is made here.
  const scratch = mkdtempSync(join(tmpdir(), 'raftlab-output-closed-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const child = spawn(process.execPath, [CLI, 'check', '--nodes', '1', '--duration', '2', '--nemesis', 'none', '--seed', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: scratch },
  });
  let seen = '';
  const closed = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (!/starting 1 nodes in /.test(seen)) return;
      // The reader goes away, as `head` does once it has its lines.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([closed.then(() => exited), new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), BOUND_MS)))]);
  clearTimeout(timer);
  if (outcome === 'hung') {
    child.kill('SIGKILL');
    return t.fail(`not ended within ${BOUND_MS} ms; output so far:\n${seen}`);
  }
  t.deepEqual(outcome, { code: 0, signal: null }, seen);
  t.deepEqual(readdirSync(scratch).filter((name) => name.startsWith('raftlab-check-')), [], 'the scratch cluster directory is gone');
});
