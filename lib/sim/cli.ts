// `raftlab sim`: run many seeds and summarize, or replay one seed with its full trace.

import type { TestOnlyBugs } from '../raft/types.js';
import { CLUSTER_SIZE_MAX, CLUSTER_SIZE_MIN, runSeed } from './simulator.js';
import type { SimOptions, SimResult } from './simulator.js';

const DEFAULT_SEEDS = 100;
/** Trace tails printed in full; later violations get one line each. */
const VIOLATIONS_WITH_TRACE_MAX = 3;
const PROGRESS_EVERY_SEEDS = 1000;

const usage = `usage:
  raftlab sim [--seeds N] [--from S] [--nodes N] [--bug NAME]...   run seeds S..S+N-1 (default 1..${DEFAULT_SEEDS})
  raftlab sim --seed S [--nodes N] [--bug NAME]...                 replay one seed, printing its trace
bugs (test-only broken variants): voteWithoutUpToDateCheck, commitPreviousTermByCounting,
  grantVoteBeforePersist, skipPrevLogTermCheck, skipSnapshotTermCheck, countOwnVoteBeforeDurable,
  concurrentMembershipChanges, countLearnersInQuorum, acceptSnapshotChunkAnywhere, ignoreOutgoingVoters`;

const BUG_NAMES = [
  'voteWithoutUpToDateCheck',
  'commitPreviousTermByCounting',
  'grantVoteBeforePersist',
  'skipPrevLogTermCheck',
  'skipSnapshotTermCheck',
  'countOwnVoteBeforeDurable',
  'concurrentMembershipChanges',
  'countLearnersInQuorum',
  'acceptSnapshotChunkAnywhere',
  'ignoreOutgoingVoters',
] as const;
type BugName = (typeof BUG_NAMES)[number];

interface Arguments {
  readonly seeds: number;
  readonly from: number;
  readonly seed: number | null;
  readonly nodes: number | null;
  readonly bugs: readonly BugName[];
}

class UsageError extends Error {
  readonly code = 'SIM_USAGE';
}

function parseInteger(flag: string, text: string | undefined, min: number): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value < min) {
    throw new UsageError(`${flag} needs an integer >= ${min}, got ${text ?? 'nothing'}`);
  }
  return value;
}

function isBugName(name: string): name is BugName {
  return (BUG_NAMES as readonly string[]).includes(name);
}

function parseArguments(argv: readonly string[]): Arguments {
  let seeds = DEFAULT_SEEDS;
  let from = 1;
  let seed: number | null = null;
  let nodes: number | null = null;
  const bugs: BugName[] = [];
  for (let position = 0; position < argv.length; position++) {
    const flag = argv[position]!;
    const value = argv[position + 1];
    switch (flag) {
      case '--seeds':
        seeds = parseInteger(flag, value, 1);
        position++;
        break;
      case '--from':
        from = parseInteger(flag, value, 0);
        position++;
        break;
      case '--seed':
        seed = parseInteger(flag, value, 0);
        position++;
        break;
      case '--nodes':
        nodes = parseInteger(flag, value, CLUSTER_SIZE_MIN);
        if (nodes > CLUSTER_SIZE_MAX) throw new UsageError(`--nodes must be at most ${CLUSTER_SIZE_MAX}`);
        position++;
        break;
      case '--bug':
        if (value === undefined || !isBugName(value)) throw new UsageError(`--bug needs one of ${BUG_NAMES.join(', ')}, got ${value ?? 'nothing'}`);
        bugs.push(value);
        position++;
        break;
      default:
        throw new UsageError(`unknown argument '${flag}'`);
    }
  }
  return { seeds, from, seed, nodes, bugs };
}

function optionsFor(args: Arguments): SimOptions {
  const testOnlyBugs: Partial<Record<BugName, boolean>> = {};
  for (const bug of args.bugs) testOnlyBugs[bug] = true;
  return { ...(args.nodes === null ? {} : { nodes: args.nodes }), testOnlyBugs: testOnlyBugs satisfies TestOnlyBugs };
}

function describeViolation(result: SimResult): string {
  const violation = result.violation;
  if (violation === null) return `seed ${result.seed}: ok`;
  return `seed ${result.seed} (${result.nodes} nodes): ${violation.property} at step ${violation.step} (tick ${violation.timeTicks.toFixed(3)}): ${violation.message}`;
}

export async function runSimCli(argv: readonly string[]): Promise<number> {
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
  let membershipChanges = 0;
  let jointChanges = 0;
  let demotions = 0;
  let decommissioned = 0;
  const last = args.from + args.seeds - 1;
  process.stdout.write(
    `raftlab sim: seeds ${args.from}..${last}, ${args.nodes === null ? `${CLUSTER_SIZE_MIN}-${CLUSTER_SIZE_MAX}` : args.nodes} nodes` +
      `${args.bugs.length > 0 ? `, test-only bugs: ${args.bugs.join(', ')}` : ''}\n`,
  );
  for (let seed = args.from; seed <= last; seed++) {
    const result = runSeed(seed, options);
    commits += result.stats.commits;
    elections += result.stats.elections;
    crashes += result.stats.crashes;
    steps += result.stats.steps;
    membershipChanges += result.stats.membershipChanges;
    jointChanges += result.stats.jointChanges;
    demotions += result.stats.demotions;
    decommissioned += result.stats.decommissioned;
    if (result.violation !== null) {
      failures.push(result);
      process.stdout.write(`VIOLATION ${describeViolation(result)}\n`);
      if (failures.length <= VIOLATIONS_WITH_TRACE_MAX) {
        process.stdout.write(result.violation.traceTail.map((line) => `    ${line}\n`).join(''));
        process.stdout.write(`  replay: raftlab sim --seed ${seed}${args.nodes === null ? '' : ` --nodes ${args.nodes}`}${args.bugs.map((bug) => ` --bug ${bug}`).join('')}\n`);
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
      `decommissioned: ${decommissioned}  steps: ${steps}  time: ${seconds.toFixed(1)}s\n`,
  );
  if (failures.length > 0) {
    const properties = [...new Set(failures.map((failure) => failure.violation?.property))].join(', ');
    process.stdout.write(`FAILED: ${failures.length} seed(s) violated ${properties}: seeds ${failures.map((failure) => failure.seed).join(', ')}\n`);
    return 1;
  }
  return 0;
}
