// A leader sending a snapshot does not start the transfer over on an answer about an
// older snapshot: seed 2913625 (snapshots every 5 entries, 1-byte chunks, 4 in flight)
// grew its InstallSnapshot messages without bound, and the run never ended.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli.js');

test('sim seed 2913625 ends within 60 s: stale snapshot answers do not restart the transfer', (t) => {
  const seed = 2913625;
  const run = spawnSync(process.execPath, [cli, 'sim', '--seeds', '1', '--from', String(seed)], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 24 });
  t.is(run.error, undefined, `seed ${seed}: ${String(run.error)} (replay: raftlab sim --seed ${seed})`);
  t.is(run.status, 0, `seed ${seed}:\n${run.stdout}${run.stderr}`);
  const steps = Number(/steps: (\d+)/.exec(run.stdout)?.[1] ?? NaN);
  t.true(steps < 1_000_000, `seed ${seed}: ${steps} steps`);
});
