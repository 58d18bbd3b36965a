// A quiet window's stall check: a member holding the leader's whole log with a commit
// index above the leader's waits on the leader, as one at the leader's commit index does.
// A new leader learns what its predecessor committed only once an entry of its own term
// commits, so such a member cannot move before then; counted as stalled, seed 2,938,832's
// learner n4 came within 6 ticks of a false Availability violation (54 of 60). The
// thirtieth session's stall count changed that seed's run; seed 533, in a profile of one
// entry per AppendEntries and one in flight with a spare and frequent changes and windows,
// shows the same situation (counted as stalled without the rule: 9 ticks, checked).

import test from 'ava';
import { runSeed } from '../lib/sim/simulator.js';

test('seed 533 (one entry per append, one in flight): members whose commit index is above a new leader\'s are not counted as stalled', (t) => {
  const seed = 533;
  const profile = { maxEntriesPerAppend: 1, maxInflightAppends: 1, quietMeanIntervalTicks: 60, spareNodes: 1, membershipMeanIntervalTicks: 40 };
  const lines: string[] = [];
  const result = runSeed(seed, { trace: (line) => lines.push(line), profile });
  t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
  // The situation: in window 2, n2 led term 14 knowing commit 23 while n3 and n4 held 24,
  // and voter n1, at 8, caught up one entry per round trip.
  const window = lines.findIndex((line) => line.includes('QUIET WINDOW 2:'));
  const elected = lines.findIndex((line) => line.includes('n2 2 became leader at term 14'));
  const lastCommit = (node: number): string | undefined =>
    lines.slice(0, elected).filter((line) => line.includes(`n${node} ${node} committed up to `)).at(-1);
  t.true(window >= 0 && window < elected, `seed ${seed}: lines ${window}, ${elected}`);
  t.regex(lastCommit(2) ?? '', / committed up to 23$/);
  t.regex(lastCommit(3) ?? '', / committed up to 24$/);
  t.regex(lastCommit(4) ?? '', / committed up to 24$/);
  t.regex(lastCommit(1) ?? '', / committed up to 8$/);
  t.true(result.stats.quietStuckTicksMax < 5, `seed ${seed}: longest stall ${result.stats.quietStuckTicksMax} ticks (bound 60)`);
});
