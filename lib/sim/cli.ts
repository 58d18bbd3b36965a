// `raftlab sim`: run many seeds and summarize, or replay one seed with its full trace.

import type { TestOnlyBugs } from '../raft/types.js';
import { CLUSTER_SIZE_MAX, CLUSTER_SIZE_MIN, DEFAULT_MAX_QUEUED_EVENTS, DEFAULT_MAX_STEPS, runSeed } from './simulator.js';
import type { SimOptions, SimResult } from './simulator.js';

const DEFAULT_SEEDS = 100;
/** Trace tails printed in full; later violations get one line each. */
const VIOLATIONS_WITH_TRACE_MAX = 3;
const PROGRESS_EVERY_SEEDS = 1000;
/** The simulator's generators use a seed's low 32 bits: a larger seed would replay a smaller one. */
const SEED_MAX = 0xffffffff;

const usage = `usage:
  raftlab sim [--seeds N] [--from S] [--nodes N] [--bug NAME]...   run seeds S..S+N-1 (default 1..${DEFAULT_SEEDS})
  raftlab sim --seed S [--nodes N] [--bug NAME]...                 replay one seed, printing its trace
  --seeds N   how many seeds to run (default ${DEFAULT_SEEDS})
  --from S    the first of them (default 1); seeds are 0 to ${SEED_MAX}
  --seed S    replay seed S alone, with one line per delivered message and state change
  --nodes N   cluster size, ${CLUSTER_SIZE_MIN}-${CLUSTER_SIZE_MAX} (default: drawn from each seed)
  --bug NAME  run a deliberately broken core (repeatable): one of the bugs below
  --no-crash-across-sync
              leave out the faults added in the thirtieth session (slow fdatasyncs, candidates crashed
              before their log is durable, messages held across a restart): every seed runs as before them
bugs (test-only broken variants): voteWithoutUpToDateCheck, commitPreviousTermByCounting,
  grantVoteBeforePersist, skipPrevLogTermCheck, skipSnapshotTermCheck, countOwnVoteBeforeDurable,
  voteRequestBeforeDurable,
  concurrentMembershipChanges, membershipChangeBeforeFirstCommit, countLearnersInQuorum, acceptSnapshotChunkAnywhere,
  ignoreOutgoingVoters, ignoreAppendRejections, heartbeatsWithoutCommit, checkQuorumIgnoresHeartbeats,
  transferCampaignWithoutFlag, transferNeverTimesOut (these five break availability only),
  restartSnapshotOnStaleAnswer (a message storm: a Runaway run)
a seed whose run takes over ${DEFAULT_MAX_STEPS} steps, or queues over ${DEFAULT_MAX_QUEUED_EVENTS} events at once, is a Runaway violation
exit 0 no violation, 1 a violation (naming the seed and the property), 2 bad usage`;

const BUG_NAMES = [
  'voteWithoutUpToDateCheck',
  'commitPreviousTermByCounting',
  'grantVoteBeforePersist',
  'skipPrevLogTermCheck',
  'skipSnapshotTermCheck',
  'countOwnVoteBeforeDurable',
  'voteRequestBeforeDurable',
  'concurrentMembershipChanges',
  'membershipChangeBeforeFirstCommit',
  'countLearnersInQuorum',
  'acceptSnapshotChunkAnywhere',
  'ignoreOutgoingVoters',
  'ignoreAppendRejections',
  'heartbeatsWithoutCommit',
  'checkQuorumIgnoresHeartbeats',
  'transferCampaignWithoutFlag',
  'transferNeverTimesOut',
  'restartSnapshotOnStaleAnswer',
] as const;
type BugName = (typeof BUG_NAMES)[number];

interface Arguments {
  readonly seeds: number;
  readonly from: number;
  readonly seed: number | null;
  readonly nodes: number | null;
  readonly bugs: readonly BugName[];
  readonly crashAcrossSync: boolean;
}

class UsageError extends Error {
  readonly code = 'SIM_USAGE';
}

/** An option's value: the next argument, unless the list ends or it is another option. */
function optionValue(flag: string, text: string | undefined): string {
  if (text === undefined || text.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  return text;
}

/** A whole number written in decimal digits (no 1e3, 0x10, 3.5 or blank), from min to max. */
function parseInteger(flag: string, text: string | undefined, min: number, max: number): number {
  const digits = optionValue(flag, text);
  const value = Number(digits);
  if (!/^\d+$/.test(digits) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} needs an integer from ${min} to ${max}, got '${digits}'`);
  }
  return value;
}

function isBugName(name: string): name is BugName {
  return (BUG_NAMES as readonly string[]).includes(name);
}

function parseArguments(argv: readonly string[]): Arguments {
  let seeds: number | null = null;
  let from: number | null = null;
  let seed: number | null = null;
  let nodes: number | null = null;
  const bugs: BugName[] = [];
  let crashAcrossSync = true;
  const seen = new Set<string>();
  for (let position = 0; position < argv.length; position++) {
    const flag = argv[position]!;
    // --bug may be given once per bug; any other option twice would silently keep the last.
    if (flag !== '--bug' && seen.has(flag)) throw new UsageError(`${flag} given twice`);
    seen.add(flag);
    const value = argv[position + 1];
    switch (flag) {
      case '--seeds':
        seeds = parseInteger(flag, value, 1, SEED_MAX + 1);
        position++;
        break;
      case '--from':
        from = parseInteger(flag, value, 0, SEED_MAX);
        position++;
        break;
      case '--seed':
        seed = parseInteger(flag, value, 0, SEED_MAX);
        position++;
        break;
      case '--nodes':
        nodes = parseInteger(flag, value, CLUSTER_SIZE_MIN, CLUSTER_SIZE_MAX);
        position++;
        break;
      case '--no-crash-across-sync':
        crashAcrossSync = false;
        break;
      case '--bug': {
        const name = optionValue(flag, value);
        if (!isBugName(name)) throw new UsageError(`--bug needs one of ${BUG_NAMES.join(', ')}, got ${name}`);
        bugs.push(name);
        position++;
        break;
      }
      default: {
        const equals = flag.indexOf('=');
        const hint = flag.startsWith('--') && equals > 0 ? ` (an option's value is the next argument: ${flag.slice(0, equals)} ${flag.slice(equals + 1)})` : '';
        throw new UsageError(`unknown argument '${flag}'${hint}`);
      }
    }
  }
  if (seed !== null && (seeds !== null || from !== null)) throw new UsageError(`--seed replays one seed: leave out ${seeds !== null ? '--seeds' : '--from'}`);
  const first = from ?? 1;
  const count = seeds ?? DEFAULT_SEEDS;
  if (first + count - 1 > SEED_MAX) throw new UsageError(`--from ${first} --seeds ${count} goes past the last seed, ${SEED_MAX}`);
  return { seeds: count, from: first, seed, nodes, bugs, crashAcrossSync };
}

function optionsFor(args: Arguments): SimOptions {
  const testOnlyBugs: Partial<Record<BugName, boolean>> = {};
  for (const bug of args.bugs) testOnlyBugs[bug] = true;
  return { ...(args.nodes === null ? {} : { nodes: args.nodes }), testOnlyBugs: testOnlyBugs satisfies TestOnlyBugs, crashAcrossSync: args.crashAcrossSync };
}

function describeViolation(result: SimResult): string {
  const violation = result.violation;
  if (violation === null) return `seed ${result.seed}: ok`;
  return `seed ${result.seed} (${result.nodes} nodes): ${violation.property} at step ${violation.step} (tick ${violation.timeTicks.toFixed(3)}): ${violation.message}`;
}

/**
 * A reader that goes away (`raftlab sim --seed 5 | head`) ends the output, not the run:
 * the exit code still says whether a violation was found.
 */
function ignoreClosedStdout(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
}

export async function runSimCli(argv: readonly string[]): Promise<number> {
  if (!process.stdout.listeners('error').includes(ignoreClosedStdout)) process.stdout.on('error', ignoreClosedStdout);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  let args: Arguments;
  try {
    args = parseArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`raftlab sim: ${error.message}\n${usage}\n`);
    return 2;
  }
  const options = optionsFor(args);
  if (args.seed !== null) return replay(args.seed, options);
  return runMany(args, options);
}

function replay(seed: number, options: SimOptions): number {
  const result = runSeed(seed, { ...options, trace: (line) => process.stdout.write(line + '\n') });
  const stats = result.stats;
  process.stdout.write(
    `\nseed ${seed}: ${result.nodes} nodes, ${stats.steps} steps, ${stats.ticks} ticks, ${stats.commits} commits, ` +
      `${stats.elections} elections, ${stats.crashes} crashes, ${stats.partitions} partitions, ` +
      `${stats.membershipChanges} membership changes (${stats.jointChanges} joint, ${stats.demotions} demoting, ${stats.configurationsApplied} configuration entries applied), fingerprint ${result.fingerprint}\n`,
  );
  if (result.violation !== null) {
    process.stdout.write(`VIOLATION ${describeViolation(result)}\n`);
    return 1;
  }
  process.stdout.write(`ok: no violation; converged ${stats.livenessTicks ?? '?'} ticks after healing\n`);
  return 0;
}

function runMany(args: Arguments, options: SimOptions): number {
  const started = performance.now();
  const failures: SimResult[] = [];
  let commits = 0;
  let elections = 0;
  let crashes = 0;
  let steps = 0;
  const longest = { steps: 0, stepsSeed: 0, queued: 0, queuedSeed: 0 };
  let membershipChanges = 0;
  let jointChanges = 0;
  let demotions = 0;
  let decommissioned = 0;
  const quiet = { windows: 0, leaderTicks: 0, convergedTicks: 0, stuckTicks: 0 };
  const transfers = { asked: 0, quiet: 0, quietTicks: 0, ticks: 0 };
  const last = args.from + args.seeds - 1;
  process.stdout.write(
    `raftlab sim: seeds ${args.from}..${last}, ${args.nodes === null ? `${CLUSTER_SIZE_MIN}-${CLUSTER_SIZE_MAX}` : args.nodes} nodes` +
      `${args.bugs.length > 0 ? `, test-only bugs: ${args.bugs.join(', ')}` : ''}${args.crashAcrossSync ? '' : ', no crash-across-sync faults'}\n`,
  );
  for (let seed = args.from; seed <= last; seed++) {
    const result = runSeed(seed, options);
    commits += result.stats.commits;
    elections += result.stats.elections;
    crashes += result.stats.crashes;
    steps += result.stats.steps;
    if (result.stats.steps > longest.steps) Object.assign(longest, { steps: result.stats.steps, stepsSeed: seed });
    if (result.stats.queuedEventsMax > longest.queued) Object.assign(longest, { queued: result.stats.queuedEventsMax, queuedSeed: seed });
    membershipChanges += result.stats.membershipChanges;
    jointChanges += result.stats.jointChanges;
    demotions += result.stats.demotions;
    decommissioned += result.stats.decommissioned;
    quiet.windows += result.stats.quietWindows;
    quiet.leaderTicks = Math.max(quiet.leaderTicks, result.stats.quietLeaderTicksMax);
    quiet.convergedTicks = Math.max(quiet.convergedTicks, result.stats.quietConvergedTicksMax);
    quiet.stuckTicks = Math.max(quiet.stuckTicks, result.stats.quietStuckTicksMax);
    transfers.asked += result.stats.transfersAsked;
    transfers.quiet += result.stats.quietTransfers;
    transfers.quietTicks = Math.max(transfers.quietTicks, result.stats.quietTransferTicksMax);
    transfers.ticks = Math.max(transfers.ticks, result.stats.transferTicksMax);
    if (result.violation !== null) {
      failures.push(result);
      process.stdout.write(`VIOLATION ${describeViolation(result)}\n`);
      if (failures.length <= VIOLATIONS_WITH_TRACE_MAX) {
        process.stdout.write(result.violation.traceTail.map((line) => `    ${line}\n`).join(''));
        process.stdout.write(`  replay: raftlab sim --seed ${seed}${args.nodes === null ? '' : ` --nodes ${args.nodes}`}${args.bugs.map((bug) => ` --bug ${bug}`).join('')}${args.crashAcrossSync ? '' : ' --no-crash-across-sync'}\n`);
      }
    }
    const done = seed - args.from + 1;
    if (done % PROGRESS_EVERY_SEEDS === 0 && done < args.seeds) {
      process.stdout.write(`  ${done} seeds, ${failures.length} violations, ${(done / ((performance.now() - started) / 1000)).toFixed(1)} seeds/s\n`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `seeds: ${args.seeds}  violations: ${failures.length}  seeds/s: ${(args.seeds / seconds).toFixed(1)}  ` +
      `commits: ${commits}  elections: ${elections}  crashes: ${crashes}  membership changes: ${membershipChanges} (${jointChanges} joint, ${demotions} demoting)  ` +
      `decommissioned: ${decommissioned}  quiet windows: ${quiet.windows} (slowest leader ${quiet.leaderTicks}, convergence ${quiet.convergedTicks}, ` +
      `longest stall ${quiet.stuckTicks} ticks)  transfers asked: ${transfers.asked} (${transfers.quiet} completed in quiet windows, slowest ${transfers.quietTicks} ticks; longest in progress ${transfers.ticks} ticks)  steps: ${steps} (at most ${longest.steps}, seed ${longest.stepsSeed}; bound ${DEFAULT_MAX_STEPS})  ` +
      `events queued: at most ${longest.queued} (seed ${longest.queuedSeed}; bound ${DEFAULT_MAX_QUEUED_EVENTS})  time: ${seconds.toFixed(1)}s\n`,
  );
  if (failures.length > 0) {
    const properties = [...new Set(failures.map((failure) => failure.violation?.property))].join(', ');
    process.stdout.write(`FAILED: ${failures.length} seed(s) violated ${properties}: seeds ${failures.map((failure) => failure.seed).join(', ')}\n`);
    return 1;
  }
  return 0;
}
