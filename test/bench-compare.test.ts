// `raftlab bench --against DIR`: the comparison's arithmetic, its argument handling, and
// one real round of this build against itself through the CLI.
// Not a timed test: it checks that the comparison is made and reported, not its ratios.

import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareSamples, formatComparison, parseAgainstArgs, roundOrder, samplesOf } from '../lib/bench/compare.js';
import type { BenchReport } from '../lib/bench/run.js';
import type { CompareSample, ComparisonReport } from '../lib/bench/compare.js';
import { BenchUsageError } from '../lib/bench/options.js';
import { runCli } from './helpers/cli.js';

/** The checkout this test runs from (dist/test/.. /..): its build is dist/lib/cli.js. */
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const sample = (round: number, build: 'this' | 'other', nodes: number, writesPerSecond: number, p99Ms: number | null = 10, problems: readonly string[] = []): CompareSample => ({
  round,
  build,
  nodes,
  writesPerSecond,
  p99Ms,
  writesPerCpuSecond: null,
  problems,
});

const comparison = (samples: readonly CompareSample[]): ComparisonReport => ({
  tool: 'raftlab bench --against',
  thisBuild: '/this',
  otherBuild: '/other',
  benchArgs: [],
  samples,
  byNodeCount: compareSamples(samples),
  failures: [],
});

test('compareSamples: ratio of sums, median and range of per-round ratios, per node count', (t) => {
  const samples = [
    sample(1, 'other', 3, 100), sample(1, 'this', 3, 110, 8),
    sample(2, 'this', 3, 90, 9), sample(2, 'other', 3, 100, 12),
    sample(3, 'other', 3, 50), sample(3, 'this', 3, 75, 7),
    sample(1, 'other', 1, 200), sample(1, 'this', 1, 100),
  ];
  const [one, three] = compareSamples(samples);
  t.is(one!.nodes, 1);
  t.is(one!.ratioOfSums, 0.5);
  t.is(one!.rounds, 1);
  t.is(three!.nodes, 3);
  t.is(three!.rounds, 3);
  t.is(three!.ratioOfSums, 275 / 250);
  t.is(three!.medianRatio, 1.1);
  t.is(three!.minRatio, 0.9);
  t.is(three!.maxRatio, 1.5);
  t.is(three!.thisMeanWritesPerSecond, 275 / 3);
  t.is(three!.thisMedianP99Ms, 8);
  t.is(three!.otherMedianP99Ms, 10);
});

test('compareSamples: a round with only one build (the other run failed) is left out', (t) => {
  const [three] = compareSamples([sample(1, 'other', 3, 100), sample(1, 'this', 3, 120), sample(2, 'this', 3, 500)]);
  t.is(three!.rounds, 1);
  t.is(three!.ratioOfSums, 1.2);
});

test('roundOrder: the other build goes first in odd rounds, this one in even rounds', (t) => {
  t.deepEqual(roundOrder(1), ['other', 'this']);
  t.deepEqual(roundOrder(2), ['this', 'other']);
});

test('the default rounds give each build the first turn equally often; an unbalanced order is said', (t) => {
  const rounds = parseAgainstArgs(['--against', 'x'])!.rounds;
  const firsts = Array.from({ length: rounds }, (_, i) => roundOrder(i + 1)[0]);
  t.is(firsts.filter((build) => build === 'this').length, rounds / 2, firsts.join(' '));
  // Three rounds, where the build that goes second always gains 10%: the other goes first
  // twice, so this build "wins" x1.1 twice and loses once; the summary must say so.
  const second = 1.1;
  const three = [1, 2, 3].flatMap((round) => roundOrder(round).map((build, turn) => sample(round, build, 3, turn === 1 ? 100 * second : 100)));
  const [odd] = compareSamples(three);
  t.is(odd!.roundsThisFirst, 1);
  t.is(odd!.medianRatio, second);
  t.regex(formatComparison(comparison(three)), /3 node\(s\): the order is not balanced: this build ran first in 1 of 3 round\(s\)/);
  const four = [1, 2, 3, 4].flatMap((round) => roundOrder(round).map((build, turn) => sample(round, build, 3, turn === 1 ? 100 * second : 100)));
  t.is(compareSamples(four)[0]!.roundsThisFirst, 2);
  t.is(compareSamples(four)[0]!.ratioOfSums, 1);
  t.notRegex(formatComparison(comparison(four)), /not balanced/);
});

test('a run whose report listed errors is marked and its problems are listed under its node count', (t) => {
  const report = {
    results: [
      { nodes: 1, writesPerSecond: 100, writeLatencyMs: { p99: 5 }, writesPerCpuSecond: 50 },
      { nodes: 3, writesPerSecond: 60, writeLatencyMs: { p99: 9 }, writesPerCpuSecond: 30 },
    ],
    problems: ['3 node(s): 2 leader election(s) during the run', '3 node(s): 12 request(s) failed: {"write TIMEOUT":12}'],
  } as unknown as BenchReport;
  const [one, three] = samplesOf(report, 2, 'this');
  t.deepEqual(one!.problems, []);
  t.deepEqual(three!.problems, report.problems);
  // A report from a build before the problems list: nothing to attribute, nothing thrown.
  t.deepEqual(samplesOf({ results: report.results } as unknown as BenchReport, 1, 'other')[0]!.problems, []);
  const samples = [sample(1, 'other', 3, 60), sample(1, 'this', 3, 61), sample(2, 'this', 3, 60, 9, three!.problems), sample(2, 'other', 3, 60)];
  const [summary] = compareSamples(samples);
  t.is(summary!.runsWithProblems, 1);
  const text = formatComparison(comparison(samples));
  t.regex(text, /^ {4}2 {2}this {7}3 .*ERRORS \(below\)$/m);
  t.regex(text, /3 node\(s\): 1 of these runs had errors \(listed below\); their writes\/s are in the ratios/);
  t.regex(text, /RUNS WITH ERRORS \(as their own reports said\):\n {2}round 2, this build: 3 node\(s\): 2 leader election\(s\) during the run\n {2}round 2, this build: 3 node\(s\): 12 request/);
  t.notRegex(formatComparison(comparison(samples.map((s) => ({ ...s, problems: [] })))), /ERRORS/);
});

test('an open-loop comparison says its writes/s ratio is the rate\'s, and points at p99', (t) => {
  const samples = [sample(1, 'other', 3, 50_000, 9), sample(1, 'this', 3, 50_000, 30), sample(2, 'this', 3, 50_000, 31), sample(2, 'other', 3, 50_000, 8)];
  const open = formatComparison({ ...comparison(samples), benchArgs: ['--rate', '50000', '--seed', '1'] });
  t.regex(open, /open loop \(--rate\): each run's writes\/s is the rate asked for, less what failed, so their ratio is near x1\.00 whatever the builds do; compare their p99/);
  t.regex(open, /median p99 ms this\/other/);
  t.notRegex(formatComparison(comparison(samples)), /open loop/);
});

test('parseAgainstArgs: takes out --against, --rounds and --json, pins a seed, refuses what cannot combine', (t) => {
  t.is(parseAgainstArgs(['--nodes', '3']), null);
  const parsed = parseAgainstArgs(['--nodes', '3', '--against', '../old', '--rounds', '5', '--json', 'out.json']);
  t.is(parsed!.otherRoot, '../old');
  t.is(parsed!.rounds, 5);
  t.is(parsed!.jsonPath, 'out.json');
  t.deepEqual(parsed!.benchArgs.slice(0, 3), ['--nodes', '3', '--seed']);
  t.regex(parsed!.benchArgs[3]!, /^\d+$/);
  t.deepEqual(parseAgainstArgs(['--against', 'x', '--seed', '7'])!.benchArgs, ['--seed', '7', '--generators', '2']);
  // Both builds get the same generator count, whatever their defaults.
  t.deepEqual(parseAgainstArgs(['--against', 'x', '--seed', '7', '--rate', '100000'])!.benchArgs, ['--seed', '7', '--rate', '100000', '--generators', '1']);
  t.deepEqual(parseAgainstArgs(['--against', 'x', '--seed', '7', '--generators', '3'])!.benchArgs, ['--seed', '7', '--generators', '3']);
  t.is(parseAgainstArgs(['--against', 'x'])!.rounds, 4);
  t.throws(() => parseAgainstArgs(['--rounds', '2']), { instanceOf: BenchUsageError, message: /--rounds goes with --against/ });
  t.throws(() => parseAgainstArgs(['--against']), { instanceOf: BenchUsageError, message: /needs the directory/ });
  t.throws(() => parseAgainstArgs(['--against', 'x', '--rounds', '0']), { instanceOf: BenchUsageError, message: /--rounds must be an integer/ });
  for (const text of ['1e1', '0x3', ' 2', '']) {
    t.throws(() => parseAgainstArgs(['--against', 'x', '--rounds', text]), { instanceOf: BenchUsageError, message: /--rounds must be an integer/ }, `--rounds '${text}'`);
  }
  t.throws(() => parseAgainstArgs(['--against', 'x', '--half-peak']), { instanceOf: BenchUsageError, message: /cannot be combined/ });
});

test('bench --against an unbuilt checkout says how to build it and exits 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-against-empty-'));
  try {
    const { code, stderr } = await runCli(['bench', '--against', dir, '--nodes', '1']);
    t.is(code, 2, stderr);
    t.regex(stderr, /build that checkout first/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench --against this checkout: one round of each build, ratios printed and written to JSON', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'raftlab-against-'));
  const seed = Math.floor(Math.random() * 0x7fffffff);
  const jsonPath = join(dir, 'compare.json');
  try {
    const args = ['bench', '--against', REPO_ROOT, '--rounds', '1', '--nodes', '1', '--duration', '1', '--warmup', '0.2', '--clients', '4', '--inflight', '4', '--keys', '200', '--verify-sample', '20', '--seed', String(seed), '--data-dir', dir, '--json', jsonPath];
    const { code, stdout, stderr } = await runCli(args);
    const context = `seed ${seed}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    t.is(code, 0, context);
    t.regex(stdout, /this ÷ other, writes\/s \(alternating rounds\)/, context);
    t.regex(stdout, /^ {4}1 {7}1 +x[\d.]+ +x[\d.]+ +x[\d.]+-x[\d.]+/m, context);
    t.regex(stderr, /round 1\/1: other build: 1 node\(s\) [\d,]+ writes\/s/, context);
    const report = JSON.parse(readFileSync(jsonPath, 'utf8')) as ComparisonReport;
    t.is(report.tool, 'raftlab bench --against');
    t.deepEqual(report.failures, [], context);
    t.deepEqual(report.samples.map((s) => s.build), ['other', 'this'], context);
    for (const s of report.samples) t.true(s.writesPerSecond > 0, context);
    t.is(report.byNodeCount.length, 1, context);
    t.is(report.byNodeCount[0]!.ratioOfSums, report.samples[1]!.writesPerSecond / report.samples[0]!.writesPerSecond, context);
    t.true(report.benchArgs.includes(String(seed)), context);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
