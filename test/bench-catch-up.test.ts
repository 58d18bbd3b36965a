// `raftlab bench --catch-up` end to end on a small state: the follower restarted under
// load installs a snapshot (the leader compacted past it while it was down) and catches up.

import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCatchUpOptions, formatCatchUp, parseCatchUpArgs, runCatchUp } from '../lib/bench/catch-up.js';
import { BenchUsageError } from '../lib/bench/options.js';

test('catch-up options: defaults, flags, and nonsense refused with a reason', (t) => {
  t.like(parseCatchUpArgs(['--catch-up']), { nodes: 3, keys: 300_000, snapshotEntries: 20_000, downSeconds: 3, timeoutSeconds: 60 });
  t.like(parseCatchUpArgs(['--catch-up', '--nodes', '5', '--keys', '1000', '--down', '0.5']), { nodes: 5, keys: 1000, downSeconds: 0.5 });
  t.throws(() => parseCatchUpArgs(['--catch-up', '--nodes', '1']), { instanceOf: BenchUsageError, message: /--nodes must be an integer from 3 to 9/ });
  t.throws(() => parseCatchUpArgs(['--catch-up', '--nodes', '3.5']), { instanceOf: BenchUsageError, message: /--nodes must be an integer/ });
  t.throws(() => parseCatchUpArgs(['--catch-up', '--keys']), { instanceOf: BenchUsageError, message: /--keys needs a value/ });
  t.throws(() => parseCatchUpArgs(['--catch-up', '--rate', '5']), { instanceOf: BenchUsageError, message: /unknown option/ });
  // Unknown whether or not a value follows; a known one is not given the next option as its value.
  t.throws(() => parseCatchUpArgs(['--catch-up', '--bogus']), { instanceOf: BenchUsageError, message: /unknown option for --catch-up '--bogus'/ });
  t.throws(() => parseCatchUpArgs(['--catch-up', '--data-dir', '--keys', '5']), { instanceOf: BenchUsageError, message: /--data-dir needs a value/ });
});

test('catch-up: a follower restarted under load installs a snapshot and catches up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-catch-up-test-'));
  try {
    const report = await runCatchUp({ ...defaultCatchUpOptions(), keys: 2000, snapshotEntries: 500, concurrency: 64, downSeconds: 1, timeoutSeconds: 60, dataParent: dir });
    const text = formatCatchUp(report);
    t.true(report.caughtUp, text);
    t.true(report.snapshotsInstalled >= 1, `the leader compacted past the follower while it was down: ${text}`);
    t.true(report.snapshotBytes > 2000 * 200, `the snapshot holds the 2,000 values: ${text}`);
    t.true(report.installMs !== null && report.installMs.written >= 0 && report.installMs.restored >= 0, `the install's times are told: ${text}`);
    t.regex(text, /\(the largest [\d.]+ MB, written in [\d.]+ ms and restored in [\d.]+ ms\)/);
    t.true(report.samples.length > 0 && report.writesPerSecond > 0, text);
    const last = report.samples.at(-1)!;
    t.true(last.leaderCommit - last.followerApplied < 500, text);
    t.regex(text, /caught up in [\d.]+ s .* snapshot\(s\) installed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
