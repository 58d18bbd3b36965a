// The V8 settings the raftlab command applies to its own process (lib/cluster/v8-tuning.ts).

import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLUSTER_MARKING_WORKERS, processFlags, tuneV8ForCluster } from '../lib/cluster/v8-tuning.js';

test('this Node knows the flag (setFlagsFromString would ignore an unknown one without a word)', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--v8-options'], { maxBuffer: 16 * 1024 * 1024 });
  t.regex(stdout, /--concurrent-marking-max-worker-num\b/);
});

test('tuneV8ForCluster sets one marking worker, unless the command line chose a value', (t) => {
  t.deepEqual(tuneV8ForCluster(['--perf-basic-prof', '--concurrent-marking-max-worker-num=3']), [], 'the command line wins');
  const applied = tuneV8ForCluster([]);
  t.deepEqual(applied, [`--concurrent-marking-max-worker-num=${CLUSTER_MARKING_WORKERS}`]);
  t.is(CLUSTER_MARKING_WORKERS, 1);
  t.deepEqual(processFlags().slice(-1), applied, 'the bench reports it among the process flags');
});
