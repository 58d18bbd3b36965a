// The simulator over a fixed list of seeds: no Figure 3 violation in the safety phase,
// availability in its quiet windows (a leader, commits, every member caught up, within
// bounds), and convergence (one leader, every node agreeing on the whole log, the liveness
// proposals committed) once the faults stop. A failure names the seed to replay.

import test from 'ava';
import { runSeed } from '../lib/sim/simulator.js';
import type { SimResult } from '../lib/sim/simulator.js';

/** Seeds 1..SEED_COUNT: about 30-40 s on one core of the CI machine. */
const SEED_COUNT = 1000;

function report(result: SimResult): string {
  const violation = result.violation;
  if (violation === null) return `seed ${result.seed}: ok`;
  return [
    `seed ${result.seed} (${result.nodes} nodes) violated ${violation.property} at step ${violation.step}: ${violation.message}`,
    `replay: node dist/lib/cli.js sim --seed ${result.seed}`,
    ...violation.traceTail,
  ].join('\n');
}

test(`seeds 1..${SEED_COUNT}: no safety violation, and liveness converges after healing`, (t) => {
  const totals = { commits: 0, elections: 0, crashes: 0, partitions: 0, dropped: 0, quietWindows: 0, sizes: new Set<number>() };
  let slowestLivenessTicks = 0;
  for (let seed = 1; seed <= SEED_COUNT; seed++) {
    const result = runSeed(seed);
    if (!result.ok || result.stats.livenessTicks === null) {
      t.fail(report(result));
      return;
    }
    totals.commits += result.stats.commits;
    totals.elections += result.stats.elections;
    totals.crashes += result.stats.crashes;
    totals.partitions += result.stats.partitions;
    totals.dropped += result.stats.messagesDropped;
    totals.quietWindows += result.stats.quietWindows;
    totals.sizes.add(result.nodes);
    slowestLivenessTicks = Math.max(slowestLivenessTicks, result.stats.livenessTicks);
  }
  t.log(
    `${SEED_COUNT} seeds: ${totals.commits} commits, ${totals.elections} elections, ${totals.crashes} crashes, ` +
      `${totals.partitions} partitions, ${totals.dropped} messages dropped, ${totals.quietWindows} quiet windows passed; slowest convergence ${slowestLivenessTicks} ticks`,
  );
  // The run must actually have been hostile, or "no violation" proves nothing.
  t.true(totals.crashes > SEED_COUNT, 'crashes happen');
  t.true(totals.partitions > SEED_COUNT, 'partitions happen');
  t.true(totals.elections > 2 * SEED_COUNT, 'leaders change');
  t.true(totals.commits > 10 * SEED_COUNT, 'entries commit');
  t.true(totals.quietWindows > SEED_COUNT / 2, 'quiet windows happen (about half the seeds draw them)');
  t.deepEqual([...totals.sizes].sort(), [3, 4, 5, 6, 7], 'every cluster size is drawn');
});

test('a fixed cluster size is honoured (--nodes)', (t) => {
  for (const nodes of [3, 7]) {
    const result = runSeed(11, { nodes });
    t.is(result.nodes, nodes);
    t.true(result.ok, report(result));
  }
});

test('profile overrides switch faults off: a calm run has no crash, partition or drop, and converges fast', (t) => {
  const calm = {
    dropProbability: 0,
    duplicateProbability: 0,
    crashMeanIntervalTicks: Infinity,
    crashDuringSyncProbability: 0,
    crashAfterVoteProbability: 0,
    crashNewLeaderProbability: 0,
    partitionMeanIntervalTicks: Infinity,
    isolateNewLeaderProbability: 0,
    isolateAfterCommitProbability: 0,
    livenessFullRestart: false,
    maxEntriesPerAppend: 64,
    maxInflightAppends: 8,
    // Membership changes retire nodes that clients may still pick: off too.
    spareNodes: 0,
    membershipMeanIntervalTicks: Infinity,
    // Quiet windows pause the client's proposals, which this run counts: off too.
    quietMeanIntervalTicks: Infinity,
    // A leader transferring its leadership refuses proposals: off too.
    transferMeanIntervalTicks: Infinity,
    quietTransferProbability: 0,
    // A candidate whose log is not durable may be crashed: off too, with the rest of its mix.
    slowSyncProbability: 0,
    crashUnsyncedCandidateProbability: 0,
    holdAcrossRestartProbability: 0,
  };
  for (const seed of [1, 2, 3]) {
    const result = runSeed(seed, { profile: calm });
    t.true(result.ok, report(result));
    t.is(result.stats.crashes, 0, `seed ${seed}`);
    t.is(result.stats.partitions, 0, `seed ${seed}`);
    t.is(result.stats.messagesDropped, 0, `seed ${seed}`);
    t.true(result.stats.commits > result.profile.safetyTicks / (2 * result.profile.proposalMeanIntervalTicks), `seed ${seed}: ${result.stats.commits} commits`);
    t.true((result.stats.livenessTicks ?? Infinity) < 100, `seed ${seed}: converged in ${result.stats.livenessTicks} ticks`);
  }
});

test("the cluster's persistence (the leader asynchronous, every other node synced first): seeds pass, and both ways ran", (t) => {
  const SEEDS = 300;
  let asyncWrites = 0;
  let syncedWrites = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = runSeed(seed, { profile: { asyncPersistence: true, syncFollowers: true } });
    if (!result.ok || result.stats.livenessTicks === null) {
      t.fail(report(result));
      return;
    }
    asyncWrites += result.stats.asyncWrites;
    syncedWrites += result.stats.syncedWrites;
  }
  t.log(`${SEEDS} seeds: ${asyncWrites} writes persisted asynchronously (leaders), ${syncedWrites} synced first (the others)`);
  // Followers write far more often than they lead, and leaders write every proposal.
  t.true(asyncWrites > SEEDS, 'leaders persisted asynchronously');
  t.true(syncedWrites > SEEDS, 'the other nodes synced first');
});
