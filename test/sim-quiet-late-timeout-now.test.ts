// A quiet window does not converge while a TimeoutNow its leader sent in its term is still
// on its way. A leader gives a transfer up after an election timeout, but a TimeoutNow it
// sent just before may arrive after that, and its target then campaigns, as thesis §3.10
// has it: a leader deposed by its own message, not a lost office. Seed 3,061,679 (3
// nodes; found on the thirtieth session's merged build): n3 was asked to transfer to n1
// before quiet window 4, sent its TimeoutNow in the window, gave the transfer up at its
// timeout, the window converged on it, and the TimeoutNow reached n1 0.1 tick later: a
// false `leader n3 of term 10 lost its office`. (The same soak's seed 3,013,909 was the
// case of a TimeoutNow sent before the window: lost in it, test/sim-transfers.test.ts.)

import test from 'ava';
import { runSeed } from '../lib/sim/simulator.js';

test('seed 3061679: a quiet window waits for its leader\'s TimeoutNow still in flight', (t) => {
  const seed = 3061679;
  const lines: string[] = [];
  const result = runSeed(seed, { trace: (line) => lines.push(line) });
  t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
  // The situation: the transfer given up in the window, its TimeoutNow delivered after.
  const window = lines.findIndex((line) => line.includes('QUIET WINDOW 4:'));
  const aborted = lines.findIndex((line, at) => at > window && line.includes('n3 3 aborted leadership transfer to 1: timed out'));
  const received = lines.findIndex((line) => line.includes('n1 1 received TimeoutNow from 3 at term 10'));
  const campaigned = lines.findIndex((line) => line.includes('n1 1 became candidate at term 11'));
  t.true(window >= 0 && window < aborted && aborted < received && received < campaigned, `seed ${seed}: lines ${window}, ${aborted}, ${received}, ${campaigned}`);
  // The window converged only after it, on the new leader.
  const converged = lines.findIndex((line) => /quiet window 4: converged on leader/.test(line));
  t.true(converged > received, `seed ${seed}: window 4 converged at line ${converged}, the TimeoutNow arrived at line ${received}`);
});
