// `raftlab bench --against DIR [--rounds R]`: this build against another checkout's,
// alternating, in one run. This machine's speed drifts by up to a factor of 1.5 within
// an hour and single runs swing by 10-20%, so "before" measured at two o'clock and
// "after" at three says little: the two builds take turns instead (the other first in
// odd rounds, this one first in even rounds, so neither always follows the other), and
// the summary gives per node count the ratio of the sums, the median of the per-round
// ratios and their range. A range that straddles 1 means the change is inside the noise.
// Only an even number of rounds (the default, 4) gives each build the first turn as often
// as the other, and cancels a machine drifting steadily faster or slower over the
// comparison; with an odd number, or a round left out, the summary says the order was
// not balanced. A run that reported errors (a leader election, failed requests, a
// read-back that could not be done) is in the ratios as it is in its own report, and the
// summary lists it, with what its report said.
//
// Each run is a child process (`node <build>/dist/lib/cli.js bench <args> --json <tmp>`)
// with the same arguments, so both builds see the same load: without --seed, one seed
// is drawn for the whole comparison and passed to every run.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeScratchDir, removeScratchDir } from '../cluster/scratch-dir.js';
import { BenchUsageError, generatorsFor, integer as integerOption } from './options.js';
import type { BenchReport } from './run.js';

export const COMPARE_LIMITS = {
  /** Even: each build goes first in half the rounds (roundOrder). */
  defaultRounds: 4,
  maxRounds: 50,
} as const;

export type Build = 'this' | 'other';

/** What one child run gave for one node count. */
export interface CompareSample {
  readonly round: number;
  readonly build: Build;
  readonly nodes: number;
  readonly writesPerSecond: number;
  readonly p99Ms: number | null;
  readonly writesPerCpuSecond: number | null;
  /** What the run's own report listed as problems for this node count (errors, elections, unverified keys); empty when clean. */
  readonly problems: readonly string[];
}

export interface NodeCountComparison {
  readonly nodes: number;
  /** Σ this build's writes/s over the rounds ÷ Σ the other's. */
  readonly ratioOfSums: number;
  /** Per round, this build's writes/s ÷ the other's: their median, smallest and largest. */
  readonly medianRatio: number;
  readonly minRatio: number;
  readonly maxRatio: number;
  readonly rounds: number;
  /** Of those rounds, the ones in which this build ran first: half of them when the order is balanced. */
  readonly roundsThisFirst: number;
  /** Runs of either build in those rounds whose report listed problems. */
  readonly runsWithProblems: number;
  readonly thisMeanWritesPerSecond: number;
  readonly otherMeanWritesPerSecond: number;
  readonly thisMedianP99Ms: number | null;
  readonly otherMedianP99Ms: number | null;
}

export interface ComparisonReport {
  readonly tool: 'raftlab bench --against';
  readonly thisBuild: string;
  readonly otherBuild: string;
  readonly benchArgs: readonly string[];
  readonly samples: readonly CompareSample[];
  readonly byNodeCount: readonly NodeCountComparison[];
  /** Child runs that failed (exit code, and the end of their stderr). */
  readonly failures: readonly string[];
}

/** `--against DIR` and `--rounds R` taken out of argv; the rest goes to every child run. */
export interface AgainstArgs {
  readonly otherRoot: string;
  readonly rounds: number;
  readonly jsonPath: string | null;
  readonly benchArgs: readonly string[];
}

/** null when argv has no --against. */
export function parseAgainstArgs(argv: readonly string[]): AgainstArgs | null {
  const at = argv.indexOf('--against');
  if (at === -1) {
    if (argv.includes('--rounds')) throw new BenchUsageError('--rounds goes with --against DIR');
    return null;
  }
  const otherRoot = argv[at + 1];
  if (otherRoot === undefined || otherRoot.startsWith('--')) throw new BenchUsageError('--against needs the directory of another raftlab checkout');
  let rest = [...argv.slice(0, at), ...argv.slice(at + 2)];
  let rounds: number = COMPARE_LIMITS.defaultRounds;
  const roundsAt = rest.indexOf('--rounds');
  if (roundsAt !== -1) {
    rounds = integerOption('--rounds', rest[roundsAt + 1] ?? '', 1, COMPARE_LIMITS.maxRounds);
    rest = [...rest.slice(0, roundsAt), ...rest.slice(roundsAt + 2)];
  }
  let jsonPath: string | null = null;
  const jsonAt = rest.indexOf('--json');
  if (jsonAt !== -1) {
    jsonPath = rest[jsonAt + 1] ?? null;
    if (jsonPath === null) throw new BenchUsageError('--json needs a file');
    rest = [...rest.slice(0, jsonAt), ...rest.slice(jsonAt + 2)];
  }
  for (const flag of ['--cpu-prof', '--profile-summary', '--half-peak', '--load-curve']) {
    if (rest.includes(flag)) throw new BenchUsageError(`${flag} cannot be combined with --against`);
  }
  if (!rest.includes('--seed')) rest = [...rest, '--seed', String(Math.floor(Math.random() * 0x7fffffff))];
  // Both builds must drive the same load: one from before open-loop windows chose their
  // own generator count would run two where this build runs one, so the count is pinned.
  if (!rest.includes('--generators')) {
    const rateAt = rest.indexOf('--rate');
    const rate = rateAt === -1 ? null : Number(rest[rateAt + 1]);
    const generators = generatorsFor({ generators: null, clients: Number.MAX_SAFE_INTEGER }, rate !== null && Number.isFinite(rate) && rate > 0 ? rate : null);
    rest = [...rest, '--generators', String(generators)];
  }
  return { otherRoot, rounds, jsonPath, benchArgs: rest };
}

/** The CLI of the checkout at `root` (built: dist/lib/cli.js), or a usage error saying how to build it. */
export function otherCliPath(root: string): string {
  const cli = resolve(root, 'dist', 'lib', 'cli.js');
  if (!existsSync(cli)) {
    throw new BenchUsageError(`--against ${root}: no ${cli}; build that checkout first (cd ${root} && npm ci && npx tsc -p .)`);
  }
  return cli;
}

/** Which build runs first in `round` (1-based): the other one in odd rounds. */
export function roundOrder(round: number): readonly [Build, Build] {
  return round % 2 === 1 ? ['other', 'this'] : ['this', 'other'];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const present = values.filter((value): value is number => value !== null);
  return present.length === 0 ? null : median(present);
}

/** Per node count, the rounds in which both builds produced a result, compared. */
export function compareSamples(samples: readonly CompareSample[]): NodeCountComparison[] {
  const nodeCounts = [...new Set(samples.map((sample) => sample.nodes))].sort((a, b) => a - b);
  const comparisons: NodeCountComparison[] = [];
  for (const nodes of nodeCounts) {
    const pairs: { mine: CompareSample; theirs: CompareSample }[] = [];
    const rounds = [...new Set(samples.filter((sample) => sample.nodes === nodes).map((sample) => sample.round))].sort((a, b) => a - b);
    for (const round of rounds) {
      const mine = samples.find((sample) => sample.nodes === nodes && sample.round === round && sample.build === 'this');
      const theirs = samples.find((sample) => sample.nodes === nodes && sample.round === round && sample.build === 'other');
      if (mine !== undefined && theirs !== undefined && theirs.writesPerSecond > 0) pairs.push({ mine, theirs });
    }
    if (pairs.length === 0) continue;
    const ratios = pairs.map(({ mine, theirs }) => mine.writesPerSecond / theirs.writesPerSecond);
    const sumMine = pairs.reduce((sum, { mine }) => sum + mine.writesPerSecond, 0);
    const sumTheirs = pairs.reduce((sum, { theirs }) => sum + theirs.writesPerSecond, 0);
    comparisons.push({
      nodes,
      ratioOfSums: sumMine / sumTheirs,
      medianRatio: median(ratios),
      minRatio: Math.min(...ratios),
      maxRatio: Math.max(...ratios),
      rounds: pairs.length,
      roundsThisFirst: pairs.filter(({ mine }) => roundOrder(mine.round)[0] === 'this').length,
      runsWithProblems: pairs.reduce((count, { mine, theirs }) => count + (mine.problems.length > 0 ? 1 : 0) + (theirs.problems.length > 0 ? 1 : 0), 0),
      thisMeanWritesPerSecond: sumMine / pairs.length,
      otherMeanWritesPerSecond: sumTheirs / pairs.length,
      thisMedianP99Ms: medianOrNull(pairs.map(({ mine }) => mine.p99Ms)),
      otherMedianP99Ms: medianOrNull(pairs.map(({ theirs }) => theirs.p99Ms)),
    });
  }
  return comparisons;
}

/**
 * The samples one child's report gives. Each node count's problems are those its report
 * listed under that node count (each names it first: "3 node(s): ..."), as that build
 * judged them; a report from before the list has none.
 */
export function samplesOf(report: BenchReport, round: number, build: Build): CompareSample[] {
  const problems: readonly string[] = Array.isArray(report.problems) ? report.problems : [];
  return report.results.map((result) => ({
    round,
    build,
    nodes: result.nodes,
    writesPerSecond: result.writesPerSecond,
    p99Ms: result.writeLatencyMs.p99,
    writesPerCpuSecond: result.writesPerCpuSecond,
    problems: problems.filter((problem) => problem.startsWith(`${result.nodes} node(s)`)),
  }));
}

const integer = (value: number): string => Math.round(value).toLocaleString('en-US');
const ms = (value: number | null): string => (value === null ? '-' : value.toFixed(1));

export function formatComparison(report: ComparisonReport): string {
  const lines: string[] = [];
  lines.push(`this build: ${report.thisBuild}`);
  lines.push(`other build: ${report.otherBuild}`);
  lines.push(`each run: raftlab bench ${report.benchArgs.join(' ')}`);
  lines.push('');
  lines.push('round  build  nodes  writes/s  p99 ms  writes/CPU-s');
  for (const sample of report.samples) {
    const flagged = sample.problems.length > 0 ? '  ERRORS (below)' : '';
    lines.push(
      `${String(sample.round).padStart(5)}  ${sample.build.padEnd(5)}  ${String(sample.nodes).padStart(5)}  ${integer(sample.writesPerSecond).padStart(8)}  ${ms(sample.p99Ms).padStart(6)}  ${(sample.writesPerCpuSecond === null ? '-' : integer(sample.writesPerCpuSecond)).padStart(12)}${flagged}`,
    );
  }
  lines.push('');
  if (report.benchArgs.includes('--rate')) {
    lines.push('open loop (--rate): each run\'s writes/s is the rate asked for, less what failed, so their ratio is near x1.00 whatever the builds do; compare their p99');
  }
  lines.push('this ÷ other, writes/s (alternating rounds):');
  lines.push('nodes  rounds  ratio of sums  median ratio  range          mean this  mean other  median p99 ms this/other');
  for (const c of report.byNodeCount) {
    lines.push(
      `${String(c.nodes).padStart(5)}  ${String(c.rounds).padStart(6)}  ${('x' + c.ratioOfSums.toFixed(2)).padStart(13)}  ${('x' + c.medianRatio.toFixed(2)).padStart(12)}  ${`x${c.minRatio.toFixed(2)}-x${c.maxRatio.toFixed(2)}`.padEnd(13)}  ${integer(c.thisMeanWritesPerSecond).padStart(9)}  ${integer(c.otherMeanWritesPerSecond).padStart(10)}  ${ms(c.thisMedianP99Ms)} / ${ms(c.otherMedianP99Ms)}`,
    );
    if (c.minRatio < 1 && c.maxRatio > 1) lines.push(`       ${c.nodes} node(s): the rounds disagree on the direction; the difference is inside this machine's noise`);
    if (2 * c.roundsThisFirst !== c.rounds) {
      lines.push(
        `       ${c.nodes} node(s): the order is not balanced: this build ran first in ${c.roundsThisFirst} of ${c.rounds} round(s), so going first or second weighs on one side (an even --rounds balances it)`,
      );
    }
    if (c.runsWithProblems > 0) lines.push(`       ${c.nodes} node(s): ${c.runsWithProblems} of these runs had errors (listed below); their writes/s are in the ratios`);
  }
  const withProblems = report.samples.filter((sample) => sample.problems.length > 0);
  if (withProblems.length > 0) {
    lines.push('', 'RUNS WITH ERRORS (as their own reports said):');
    for (const sample of withProblems) lines.push(...sample.problems.map((problem) => `  round ${sample.round}, ${sample.build} build: ${problem}`));
  }
  for (const failure of report.failures) lines.push(`FAILED: ${failure}`);
  return lines.join('\n');
}

interface ChildOutcome {
  readonly code: number;
  readonly stderr: string;
}

function runChild(cli: string, args: readonly string[]): Promise<ChildOutcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, 'bench', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      // Keep the end: that is where a failure says what went wrong.
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolvePromise({ code: code ?? (signal === null ? 1 : 128), stderr }));
  });
}

/**
 * Runs the comparison: `rounds` rounds, each one run of each build (see roundOrder).
 * `note` gets a line per finished run. A failed run is reported and left out of the ratios.
 */
export async function runComparison(thisCli: string, args: AgainstArgs, note: (line: string) => void): Promise<ComparisonReport> {
  const otherCli = otherCliPath(args.otherRoot);
  const scratch = makeScratchDir(tmpdir(), 'raftlab-bench-against-');
  const samples: CompareSample[] = [];
  const failures: string[] = [];
  const cliOf = { this: thisCli, other: otherCli };
  try {
    for (let round = 1; round <= args.rounds; round++) {
      for (const build of roundOrder(round)) {
        const jsonPath = join(scratch, `round-${round}-${build}.json`);
        const outcome = await runChild(cliOf[build], [...args.benchArgs, '--json', jsonPath]);
        if (outcome.code !== 0 || !existsSync(jsonPath)) {
          failures.push(`round ${round}, ${build} build: exit code ${outcome.code}\n${outcome.stderr.trim()}`);
          note(`round ${round}/${args.rounds}: ${build} build FAILED (exit code ${outcome.code})`);
          continue;
        }
        const report = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchReport;
        const got = samplesOf(report, round, build);
        samples.push(...got);
        note(`round ${round}/${args.rounds}: ${build} build: ${got.map((sample) => `${sample.nodes} node(s) ${integer(sample.writesPerSecond)} writes/s`).join(', ')}`);
      }
    }
  } finally {
    removeScratchDir(scratch);
  }
  return {
    tool: 'raftlab bench --against',
    thisBuild: resolve(thisCli, '..', '..', '..'),
    otherBuild: resolve(args.otherRoot),
    benchArgs: args.benchArgs,
    samples,
    byNodeCount: compareSamples(samples),
    failures,
  };
}
