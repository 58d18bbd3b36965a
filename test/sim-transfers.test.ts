// Leadership transfers in the simulator (thesis §3.10): in half the seeds the operator asks
// the leader to hand over, to voters that may be down, lagging or cut off and now and then
// to a learner, a spare, a removed node or itself; the quiet windows ask a converged leader
// and check that the target leads within an election timeout. Every run stays safe.

import test from 'ava';
import { Property } from '../lib/sim/checker.js';
import { QUIET_TRANSFER_BOUND_ELECTIONS, TRANSFER_BOUND_ELECTIONS, runSeed } from '../lib/sim/simulator.js';

const SEEDS = 60;

test(`seeds 1..${SEEDS}: transfers start, complete, time out and refuse proposals, and every run stays safe and converges`, (t) => {
  const seen = { asked: 0, ignored: 0, timeoutNow: 0, aborted: 0, refused: 0, quietTransfers: 0, quietTicksMax: 0, ticksMax: 0, seedsWith: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const lines: string[] = [];
    const result = runSeed(seed, { trace: (line) => lines.push(line) });
    if (!result.ok) {
      t.fail(`seed ${seed}: ${result.violation?.message ?? ''}\n${result.violation?.traceTail.join('\n') ?? ''}\nreplay: raftlab sim --seed ${seed}`);
      return;
    }
    if (result.profile.transferMeanIntervalTicks !== Infinity) seen.seedsWith++;
    else t.is(result.stats.transfersAsked, 0, `seed ${seed} draws no transfers but asked for some`);
    seen.asked += result.stats.transfersAsked;
    seen.quietTransfers += result.stats.quietTransfers;
    seen.quietTicksMax = Math.max(seen.quietTicksMax, result.stats.quietTransferTicksMax);
    seen.ticksMax = Math.max(seen.ticksMax, result.stats.transferTicksMax);
    seen.ignored += lines.filter((line) => / ignored transfer to n\d/.test(line)).length;
    seen.timeoutNow += lines.filter((line) => / received TimeoutNow from /.test(line)).length;
    seen.aborted += lines.filter((line) => / aborted leadership transfer to \d+: timed out/.test(line)).length;
    seen.refused += lines.filter((line) => / refused proposal \S+: LEADERSHIP_TRANSFER_IN_PROGRESS/.test(line)).length;
  }
  t.log(`${SEEDS} seeds, ${seen.seedsWith} with transfers: ${JSON.stringify(seen)}`);
  t.true(seen.seedsWith >= SEEDS / 4 && seen.seedsWith <= (SEEDS * 3) / 4, `${seen.seedsWith} of ${SEEDS} seeds draw transfers`);
  t.true(seen.asked > 100, 'transfers are asked for');
  t.true(seen.ignored > 0, 'some targets are no voters (a learner, a spare, the leader itself): the core ignores them');
  t.true(seen.timeoutNow > 0, 'targets receive TimeoutNow and campaign');
  t.true(seen.aborted > 0, 'some transfers (to a down, lagging or cut-off target) time out after an election timeout');
  t.true(seen.refused > 0, 'a transfer in progress refuses proposals');
  t.true(seen.quietTransfers > 0, 'quiet windows see transfers complete');
  t.true(seen.ticksMax >= 9 && seen.ticksMax <= TRANSFER_BOUND_ELECTIONS * 10, `transfers that cannot complete last about an election timeout (longest ${seen.ticksMax} ticks)`);
  t.true(seen.quietTicksMax <= QUIET_TRANSFER_BOUND_ELECTIONS * 10, `a quiet window's transfer completes within its bound (slowest ${seen.quietTicksMax} ticks)`);
});

test('a quiet window catches a transfer whose candidate is held back by the lease, and only through its transfers', (t) => {
  const bugs = { transferCampaignWithoutFlag: true };
  let caught: number | null = null;
  for (let seed = 1; seed <= 100 && caught === null; seed++) {
    const result = runSeed(seed, { testOnlyBugs: bugs });
    if (result.violation?.property === Property.Availability && result.violation.message.includes('leadership transfer')) caught = seed;
  }
  if (caught === null) return t.fail('transferCampaignWithoutFlag: no failed transfer in seeds 1..100');
  t.log(`transferCampaignWithoutFlag: seed ${caught}`);
  // The same seed with the quiet windows' transfers switched off is no catch: the transfers the operator asks under faults only delay an election.
  const without = runSeed(caught, { testOnlyBugs: bugs, profile: { quietTransferProbability: 0 } });
  t.true(without.ok, `seed ${caught} without the quiet windows' transfers: ${without.violation?.message ?? ''}`);
});

test('a leader that never gives a transfer up is caught by the transfer bound, and only once transfers are asked', (t) => {
  const bugs = { transferNeverTimesOut: true };
  let caught: number | null = null;
  for (let seed = 1; seed <= 100 && caught === null; seed++) {
    const result = runSeed(seed, { testOnlyBugs: bugs });
    if (result.violation?.property === Property.Availability && result.violation.message.includes('has been transferring its leadership')) caught = seed;
  }
  if (caught === null) return t.fail('transferNeverTimesOut: no transfer outlasting its bound in seeds 1..100');
  t.log(`transferNeverTimesOut: seed ${caught}`);
  const without = runSeed(caught, { testOnlyBugs: bugs, profile: { transferMeanIntervalTicks: Infinity, quietTransferProbability: 0 } });
  t.true(without.ok, `seed ${caught} without transfers asked: ${without.violation?.message ?? ''}`);
});

test('a transfer under way when a quiet window begins is no false alarm: the window converges only once it is over (seed 622)', (t) => {
  // Converging on the transferring leader, such a window saw it lose its office a tick
  // later to the target, a false "lost its office" (before a window waited for the
  // transfer): seeds 93 and 348 until the thirtieth session's stall count changed their
  // runs, seed 622 since (n2 of term 14 deposed by n1; checked without the wait).
  for (const [seed, window, target] of [[622, 3, 1]] as const) {
    const lines: string[] = [];
    const result = runSeed(seed, { trace: (line) => lines.push(line) });
    t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
    const start = lines.findIndex((line) => line.includes(`QUIET WINDOW ${window}:`));
    const before = lines.slice(0, start).filter((line) => / transferring leadership to \d+ at term /.test(line) || / dropped leadership transfer| aborted leadership transfer/.test(line));
    t.regex(before.at(-1) ?? '', /transferring leadership to/, `seed ${seed}: a transfer is under way when window ${window} begins`);
    const converged = lines.slice(start).find((line) => line.includes(`quiet window ${window}: converged on leader`));
    t.regex(converged ?? '', new RegExp(`converged on leader n${target} `), `seed ${seed}: window ${window} converges on the target n${target}`);
  }
});

test('a TimeoutNow sent before a quiet window and arriving in it is lost with the faults (seed 2,938,907: a false "lost its office")', (t) => {
  // n1's transfer to n3 timed out a tick before window 3 began; one of its TimeoutNows,
  // delayed 6 ticks by the network, reached n3 after the window had converged on n1, and
  // n3 campaigned: the leader lost its office to a leftover of the faults, not to a stall.
  const seed = 2938907;
  const lines: string[] = [];
  const result = runSeed(seed, { trace: (line) => lines.push(line) });
  t.true(result.ok, `seed ${seed}: ${result.violation?.message ?? ''}`);
  const start = lines.findIndex((line) => line.includes('QUIET WINDOW 3:'));
  const aborted = lines.findIndex((line) => line.includes('n1 1 aborted leadership transfer to 3: timed out'));
  const lost = lines.findIndex((line) => line.includes('quiet window 3: 1->3 TimeoutNow t5 sent before the window, lost'));
  t.true(aborted >= 0 && aborted < start && start < lost, `seed ${seed}: lines ${aborted}, ${start}, ${lost}`);
  // n1 kept its office until the window itself asked it to hand over.
  const asked = lines.findIndex((line) => line.includes('quiet window 3: operator asks leader n1 to transfer leadership'));
  t.true(asked > lost, `seed ${seed}: n1 led window 3 until the window's own transfer (line ${asked})`);
  t.false(lines.slice(start).some((line) => line.includes('n3 3 received TimeoutNow from 1 at term 5')), 'n3 never took it');
});
