// The simulator has teeth: each deliberately broken variant of the core (Config.testOnlyBugs)
// must be caught, as a Figure 3 safety violation, within SEED_BUDGET seeds; and each broken
// variant that keeps safety but loses availability, by an Availability check: a quiet
// window's, or a leader's transfer outlasting TRANSFER_BOUND_ELECTIONS (not by the final
// liveness phase, which restarts every node and so hides a stalled leader).

import test from 'ava';
import type { TestOnlyBugs } from '../lib/raft/types.js';
import { Property } from '../lib/sim/checker.js';
import { runSeed } from '../lib/sim/simulator.js';
import type { SimResult } from '../lib/sim/simulator.js';

/**
 * Which seed first catches a bug moves whenever the core's messages change: after
 * followers acknowledged a snapshot's last chunk at once (the twenty-first session),
 * concurrentMembershipChanges was first caught by seed 201 instead of within 200. So
 * does it when the simulator's faults change: the crash-across-sync faults (the thirtieth
 * session) changed half the seeds' runs, and countLearnersInQuorum, caught by seed 161
 * before, was first caught by seed 602 (500 until then). The budget leaves room for that;
 * each test logs the seed that caught its bug.
 */
const SEED_BUDGET = 1000;

/** A catch must be a broken safety property (or a core assertion), not just a stall. */
const SAFETY_PROPERTIES: ReadonlySet<Property> = new Set([
  Property.ElectionSafety,
  Property.LeaderAppendOnly,
  Property.LogMatching,
  Property.LeaderCompleteness,
  Property.StateMachineSafety,
  Property.CoreAssertion,
]);

const BUGS: readonly (keyof TestOnlyBugs)[] = [
  'voteWithoutUpToDateCheck',
  'commitPreviousTermByCounting',
  'grantVoteBeforePersist',
  'countOwnVoteBeforeDurable',
  'skipPrevLogTermCheck',
  'skipSnapshotTermCheck',
  'concurrentMembershipChanges',
  'membershipChangeBeforeFirstCommit',
  'countLearnersInQuorum',
  'acceptSnapshotChunkAnywhere',
  'ignoreOutgoingVoters',
  'voteRequestBeforeDurable',
];
/** Broken cores that stay safe but stall: caught as Property.Availability. */
const AVAILABILITY_BUGS: readonly (keyof TestOnlyBugs)[] = [
  'ignoreAppendRejections',
  'heartbeatsWithoutCommit',
  'checkQuorumIgnoresHeartbeats',
  'transferCampaignWithoutFlag',
  'transferNeverTimesOut',
];

// countOwnVoteBeforeDurable needs a rare interleaving: it was caught by about 1 seed in
// 2,000, then by none of 3,500 once a quarter of the seeds persisted the cluster's way
// (a candidate syncs its vote first there) and a third changed membership. The
// simulator now crashes a leader that leads before its own term is durable (only a
// broken core does) before the term is, which catches it in about 1 seed in 200; a
// scripted test in raft-async-persist.test.ts shows the two leaders it makes.
//
// voteRequestBeforeDurable (the twenty-ninth session's fix) was caught by no drawn seed of
// 1-3,000 (only by a fixed fault mix, below): a candidate must hold an entry the cluster
// committed only in writes not yet durable, be back in the previous term after a crash,
// campaign for the same term again (PreVote off) and receive a grant given to its earlier
// life before anything of a higher term reaches it. In seeds 1-300 of the mix, 420 of 965
// such candidates got a vote, 60 grants reached a later life, and 55 of those arrived
// before it campaigned again (it then adopted the term). Since the thirty-first session
// such a candidate, if its requests went at once (only a broken core sends them so), is
// crashed as the first grant reaches it and hears nothing until it campaigns again; and
// a quarter of the seeds with the crash-across-sync faults take their mix (PreVote off,
// asynchronous persistence on every node). Half of them did at first, but that moved
// seed 77, heartbeatsWithoutCommit's only catch in seeds 1-1,000, into the mix.

for (const bug of [...BUGS, ...AVAILABILITY_BUGS]) {
  const availability = AVAILABILITY_BUGS.includes(bug);
  const wanted = (property: Property): boolean => (availability ? property === Property.Availability : SAFETY_PROPERTIES.has(property));
  test(`${bug} is caught within ${SEED_BUDGET} seeds${availability ? ' (availability)' : ''}`, (t) => {
    let caught: SimResult | null = null;
    for (let seed = 1; seed <= SEED_BUDGET && caught === null; seed++) {
      const result = runSeed(seed, { testOnlyBugs: { [bug]: true } });
      if (result.violation !== null && wanted(result.violation.property)) caught = result;
    }
    if (caught === null || caught.violation === null) {
      t.fail(`${bug}: no ${availability ? 'availability' : 'safety'} violation in seeds 1..${SEED_BUDGET}`);
      return;
    }
    t.log(`${bug}: caught by seed ${caught.seed} as ${caught.violation.property}: ${caught.violation.message}`);
    t.true(caught.violation.traceTail.length > 0, 'a violation carries the trace leading to it');
    // The same seed with the rule restored passes: what was caught is the bug.
    const healthy = runSeed(caught.seed);
    t.true(healthy.ok, `seed ${caught.seed} without ${bug}: ${healthy.violation?.message ?? ''}`);
  });
}

test('a leader that leads before its own term is durable is crashed before it is: only a broken core is touched, and that is what catches countOwnVoteBeforeDurable', (t) => {
  // A correct core never leads that early: switching the fault off changes none of its runs.
  const off = { profile: { crashNewLeaderBeforeSyncProbability: 0 } };
  for (let seed = 1; seed <= 40; seed++) t.is(runSeed(seed).fingerprint, runSeed(seed, off).fingerprint, `seed ${seed}`);
  // The broken core: its first catch within the budget is no catch without the fault.
  const bugs = { countOwnVoteBeforeDurable: true };
  let caught: number | null = null;
  for (let seed = 1; seed <= SEED_BUDGET && caught === null; seed++) if (!runSeed(seed, { testOnlyBugs: bugs }).ok) caught = seed;
  if (caught === null) return t.fail(`countOwnVoteBeforeDurable: no violation in seeds 1..${SEED_BUDGET}`);
  const without = runSeed(caught, { testOnlyBugs: bugs, ...off });
  t.true(without.ok, `seed ${caught} without the fault: ${without.violation?.message ?? ''}`);
});

test('a new leader is asked for a change before its first commit of its term: a correct core refuses and no run changes; that is what catches membershipChangeBeforeFirstCommit', (t) => {
  // A correct core refuses every such change (thesis §4.1): switching the asking off changes none of its runs.
  const off = { profile: { changeOnNewLeaderProbability: 0 } };
  let asked = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const lines: string[] = [];
    const on = runSeed(seed, { trace: (line) => lines.push(line) });
    t.is(on.fingerprint, runSeed(seed, off).fingerprint, `seed ${seed}`);
    asked += lines.filter((line) => line.includes('operator asks new leader')).length;
    t.false(
      lines.some((line) => line.includes('a leader that changed its configuration before committing')),
      `seed ${seed}: a correct core accepted a change before its first commit`,
    );
  }
  t.true(asked > 40, `the new leaders were asked (${asked} times in 40 seeds)`);
  // The broken core: its first catch within the budget is no catch without the asking.
  const bugs = { membershipChangeBeforeFirstCommit: true };
  let caught: number | null = null;
  for (let seed = 1; seed <= SEED_BUDGET && caught === null; seed++) if (!runSeed(seed, { testOnlyBugs: bugs }).ok) caught = seed;
  if (caught === null) return t.fail(`membershipChangeBeforeFirstCommit: no violation in seeds 1..${SEED_BUDGET}`);
  const without = runSeed(caught, { testOnlyBugs: bugs, ...off });
  t.true(without.ok, `seed ${caught} without the asking: ${without.violation?.message ?? ''}`);
});

test('a candidate whose vote requests advertise a log not yet durable crashes as a grant reaches it: only a broken core is touched, and that is what catches voteRequestBeforeDurable in the drawn profiles', (t) => {
  // A correct core never sends such requests (it holds them behind the fdatasync):
  // switching the fault off changes none of its runs.
  const off = { profile: { crashEarlyVoteRequestProbability: 0 } };
  for (let seed = 1; seed <= 40; seed++) t.is(runSeed(seed).fingerprint, runSeed(seed, off).fingerprint, `seed ${seed}`);
  // The broken core: its first catch within the budget is no catch without the fault.
  const bugs = { voteRequestBeforeDurable: true };
  let caught: number | null = null;
  for (let seed = 1; seed <= SEED_BUDGET && caught === null; seed++) {
    const violation = runSeed(seed, { testOnlyBugs: bugs }).violation;
    if (violation !== null && SAFETY_PROPERTIES.has(violation.property)) caught = seed;
  }
  if (caught === null) return t.fail(`voteRequestBeforeDurable: no violation in seeds 1..${SEED_BUDGET}`);
  const lines: string[] = [];
  runSeed(caught, { testOnlyBugs: bugs, trace: (line) => lines.push(line) });
  t.true(lines.some((line) => / crashes as \d+->\d+ RequestVoteResponse t\d+ granted reaches it/.test(line)), `seed ${caught}: the candidate crashed as a grant reached it`);
  const without = runSeed(caught, { testOnlyBugs: bugs, ...off });
  t.true(without.ok, `seed ${caught} without the fault: ${without.violation?.message ?? ''}`);
});

/**
 * The crash-across-sync mix (swarm testing: one fault mix, every fault of it on): three
 * nodes, PreVote off, asynchronous persistence everywhere, half the syncs of log writes
 * slower than an election timeout, every candidate campaigning with such writes crashed
 * before they are durable, every message reaching a node that crashed since it was sent
 * held across its restart. What reaches a vote request sent before the log it advertises
 * is durable (the twenty-ninth session's fix, found by reading the core).
 */
const CRASH_ACROSS_SYNC_MIX = {
  nodes: 3,
  // Without the crash of a candidate whose vote requests went early (the test above): the
  // mix's own faults, as the thirtieth session measured them.
  profile: { preVote: false, asyncPersistence: true, syncFollowers: false, slowSyncProbability: 0.5, crashUnsyncedCandidateProbability: 1, holdAcrossRestartProbability: 1, crashEarlyVoteRequestProbability: 0 },
} as const;

test('voteRequestBeforeDurable is caught by the crash-across-sync mix within the budget; the correct core passes those seeds; without messages held across a restart it is not caught', (t) => {
  const bugs = { voteRequestBeforeDurable: true };
  let caught: SimResult | null = null;
  for (let seed = 1; seed <= SEED_BUDGET && caught === null; seed++) {
    const result = runSeed(seed, { ...CRASH_ACROSS_SYNC_MIX, testOnlyBugs: bugs });
    if (result.violation !== null && SAFETY_PROPERTIES.has(result.violation.property)) caught = result;
  }
  if (caught === null || caught.violation === null) return t.fail(`voteRequestBeforeDurable: no safety violation in seeds 1..${SEED_BUDGET} of the mix`);
  t.log(`voteRequestBeforeDurable: caught by seed ${caught.seed} of the mix as ${caught.violation.property}: ${caught.violation.message}`);
  for (let seed = 1; seed <= caught.seed; seed++) {
    const healthy = runSeed(seed, CRASH_ACROSS_SYNC_MIX);
    t.true(healthy.ok, `seed ${seed} of the mix, correct core: ${healthy.violation?.message ?? ''}`);
  }
  // The late grant is what elects the candidate that lost its log: without the network
  // holding messages across a restart, the same seed catches nothing.
  const withoutHold = runSeed(caught.seed, { ...CRASH_ACROSS_SYNC_MIX, profile: { ...CRASH_ACROSS_SYNC_MIX.profile, holdAcrossRestartProbability: 0 }, testOnlyBugs: bugs });
  t.true(withoutHold.ok, `seed ${caught.seed} without held messages: ${withoutHold.violation?.message ?? ''}`);
});

test('a leader accepting a change is cut off with a majority of its new voters where the network allows it: only joint changes in a correct core, and that is what catches ignoreOutgoingVoters', (t) => {
  // A correct core's single-server changes never allow the split (their majorities meet):
  // a run without a split is the run without the fault.
  const off = { profile: { changeSplitProbability: 0 } };
  let splits = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const lines: string[] = [];
    const on = runSeed(seed, { trace: (line) => lines.push(line) });
    t.true(on.ok, `seed ${seed}: ${on.violation?.message ?? ''}`);
    const cut = lines.findIndex((line) => line.includes('a leader that changed its configuration to voters'));
    if (cut < 0) {
      t.is(on.fingerprint, runSeed(seed, off).fingerprint, `seed ${seed}`);
      continue;
    }
    splits++;
    t.regex(lines[cut + 1] ?? '', / accepted joint change /, `seed ${seed}: a correct core's split follows a joint change`);
  }
  t.true(splits > 0, `some joint changes were split (${splits} in 60 seeds)`);
  // The broken cores: their first catch within the budget is no catch without the split.
  // (concurrentMembershipChanges too when the split came in, by seed 17; since the
  // crashes across a sync its first catch, seed 54, comes without a split.)
  for (const bug of ['ignoreOutgoingVoters'] as const) {
    let caught: number | null = null;
    for (let seed = 1; seed <= SEED_BUDGET && caught === null; seed++) {
      const violation = runSeed(seed, { testOnlyBugs: { [bug]: true } }).violation;
      if (violation !== null && SAFETY_PROPERTIES.has(violation.property)) caught = seed;
    }
    if (caught === null) return t.fail(`${bug}: no violation in seeds 1..${SEED_BUDGET}`);
    t.log(`${bug}: seed ${caught}`);
    const without = runSeed(caught, { testOnlyBugs: { [bug]: true }, ...off });
    t.true(without.ok, `${bug}: seed ${caught} without the split: ${without.violation?.message ?? ''}`);
  }
});
