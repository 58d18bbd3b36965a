// A quiet window's stall check: a member holding the leader's whole log with a commit
// index above the leader's waits on the leader, as one at the leader's commit index does.
// A new leader learns what its predecessor committed only once an entry of its own term
// commits, so such a member cannot move before then; counted as stalled, seed 2,938,832's
// learner n4 came within 6 ticks of a false Availability violation (54 of 60; with the
// transfers asked since, the seed runs otherwise, and the test switches them off).

import test from 'ava';
import { runSeed } from '../lib/sim/simulator.js';

test('seed 2938832: a learner whose commit index is above a new leader\'s is not counted as stalled', (t) => {
  const seed = 2938832;
  const lines: string[] = [];
  // As the seed ran before the simulator asked for leadership transfers (a stream of its
  // own: with them off, the run is the one that found this).
  const result = runSeed(seed, { trace: (line) => lines.push(line), profile: { transferMeanIntervalTicks: Infinity, quietTransferProbability: 0 } });
  t.true(result.ok, `seed ${seed}, transfers off: ${result.violation?.message ?? ''}`);
  // The situation: n4 learned commit 165 from leader n2; n3 then led term 7 knowing 164,
  // while voter n1 caught up one entry per round trip.
  const learned = lines.findIndex((line) => line.includes('n4 4 committed up to 165'));
  const elected = lines.findIndex((line) => line.includes('n3 3 became leader at term 7'));
  const behind = lines.findIndex((line, index) => index > elected && line.includes('n4 <- 3->4 Heartbeat t7 commit=164'));
  t.true(learned >= 0 && learned < elected && elected < behind, `seed ${seed}: lines ${learned}, ${elected}, ${behind}`);
  t.true(result.stats.quietStuckTicksMax < 30, `seed ${seed}: longest stall ${result.stats.quietStuckTicksMax} ticks (bound 60)`);
});
