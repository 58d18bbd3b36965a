// The membership nemesis on a cluster with no room for more nodes. Its joint replacement
// adds two learners before it changes the voters, but a cluster runs at most MAX_NODES (9)
// nodes: on 9 nodes (and on 8 for the second learner) addNode was refused and the run
// failed on the nemesis's own error (the thirtieth session's `check --nodes 9 --seed 3037`:
// `nemesis membership failed ...: the cluster already runs 9 nodes, the most it may (9)`).
// Such a cluster now takes the nemesis's other change, a removal and then an addition.

import test from 'ava';
import { Verdict } from '../lib/check/linearizability.js';
import { NemesisKind, formatCheckSummary, runCheck, Workload } from '../lib/check/run.js';

test.serial('the membership nemesis on a full cluster (9 nodes) removes before it adds', async (t) => {
  // Seed 3 draws the joint replacement for its first fault (before the fix: refused at 2.8 s).
  const seed = 3;
  t.log(`replay: raftlab check --nodes 9 --nemesis membership --duration 6 --seed ${seed}`);
  const result = await runCheck({ nodes: 9, durationMs: 6_000, clients: 10, workload: Workload.Register, nemesis: [NemesisKind.Membership], seed, historyFile: null });
  const summary = formatCheckSummary(result).split('\n').filter((line) => !/^\s+"/.test(line)).join('\n');
  t.deepEqual(result.problems, [], `seed ${seed}\n${summary}`);
  t.is(result.verdict, Verdict.Linearizable, `seed ${seed}\n${summary}`);
  const changes = result.timeline.filter((record) => /^remove node \d+( \(leader\))? from the cluster, then add node \d+ /.test(record.text));
  t.true(changes.length >= 1, `seed ${seed}: no membership change completed\n${summary}`);
});
