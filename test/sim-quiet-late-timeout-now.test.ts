// A quiet window does not converge while a TimeoutNow its leader sent in its term is still
// on its way. A leader gives a transfer up after an election timeout, but a TimeoutNow it
// sent just before may arrive after that (the network delays messages sent before a window
// as the faults drew them), and its target then campaigns, as thesis §3.10 has it: a
// leader deposed by its own message, not a lost office. Seed 3,013,909 (3 nodes, delays up
// to 8 ticks): n3 sent n2 a TimeoutNow 1 tick before quiet window 4, gave the transfer up
// after its election timeout, the window converged on it, and the TimeoutNow reached n2 2
// ticks later: a false `leader n3 of term 6 lost its office`.

import test from 'ava';
import { runSeed } from '../lib/sim/simulator.js';

test('seed 3013909: a quiet window waits for its leader\'s TimeoutNow still in flight', (t) => {
  const seed = 3013909;
  const lines: string[] = [];
  const result = runSeed(seed, { trace: (line) => lines.push(line) });
  t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
  // The situation: the transfer asked before the window, given up in it, and its
  // TimeoutNow delivered after that, to a target that campaigns.
  const window = lines.findIndex((line) => line.includes('QUIET WINDOW 4:'));
  const aborted = lines.findIndex((line) => line.includes('n3 3 aborted leadership transfer to 2: timed out'));
  const received = lines.findIndex((line) => line.includes('n2 2 received TimeoutNow from 3 at term 6'));
  const campaigned = lines.findIndex((line) => line.includes('n2 2 became candidate at term 7'));
  t.true(window >= 0 && window < aborted && aborted < received && received < campaigned, `seed ${seed}: lines ${window}, ${aborted}, ${received}, ${campaigned}`);
  // The window converged only after it, on the new leader or on n3 again.
  const converged = lines.findIndex((line) => /quiet window 4: converged on leader/.test(line));
  t.true(converged > received, `seed ${seed}: window 4 converged at line ${converged}, the TimeoutNow arrived at line ${received}`);
});
