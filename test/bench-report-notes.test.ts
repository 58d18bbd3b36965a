// What the bench's report says about its own figures, on made-up results: the
// unsteady-window note both ways, which operations an open-loop window counts, the
// caveat on a cluster above its "pipeline limit", and read latency printed with --reads.

import test from 'ava';
import { overPipelineLimitNote, pipelineLimit } from '../lib/bench/baseline.js';
import type { BaselineMeasurements } from '../lib/bench/baseline.js';
import type { LatencySummaryMs } from '../lib/bench/histogram.js';
import { windowPlace } from '../lib/bench/load.js';
import { baselineText, diskMissingText, readLatencyText, resultsTable, targetsText } from '../lib/bench/report.js';
import { phaseNotes, phaseProblems, sumVerify } from '../lib/bench/run.js';
import { ISSUE_TARGETS } from '../lib/bench/types.js';
import type { VerifyResult } from '../lib/bench/types.js';
import type { BenchReport, NodeCountResult, PhaseResult } from '../lib/bench/run.js';
import { benchExitCode } from '../lib/bench/cli.js';
import { unsteadyWindowNote } from '../lib/bench/throughput-trace.js';

function latency(p50: number, p99: number, count: number): LatencySummaryMs {
  return { count, p50, p90: p99, p99, p999: p99, max: p99, mean: p50 };
}

/** A measured window with every figure plausible and nothing to note, changed by `overrides`. */
function phase(overrides: Partial<PhaseResult> = {}): PhaseResult {
  return {
    mode: 'closed-loop',
    ratePerSecond: null,
    generators: 2,
    leaderId: 1,
    windowSeconds: 2,
    writesAcked: 20_000,
    writesPerSecond: 10_000,
    readsOk: 0,
    readsPerSecond: 0,
    writeLatencyMs: latency(1.5, 9.25, 20_000),
    readLatencyMs: { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null },
    cpuCoresUsed: 1.2,
    cpuPercentOfMachine: 60,
    writesPerCpuSecond: 8333,
    otherProcessesCpuCores: 0,
    loadAverage1m: 1,
    disk: { leaderFsyncsPerSecond: 100, allFsyncsPerSecond: 100, leaderEntriesPerFsync: 100, entriesPerAppendEntries: null, leaderFsyncLatencyMs: 0.3, slowFsyncs: null, missing: null },
    leaderElectionsDuringRun: 0,
    errors: { total: 0, writes: 0, reads: 0, writesIndeterminate: 0, byCode: {} },
    verify: { checked: 10, missing: 0, missingListed: [], readErrors: 0, readErrorCodes: {} },
    openLoopBacklogMax: 0,
    openLoopSendLateMaxMs: 0,
    closedLoopAnsweredAfterMaxMs: 0,
    openLoopCarriedIn: 0,
    openLoopDueNotSent: 0,
    writesAckedTotal: 30_000,
    requestsPerClientMessage: null,
    repliesPerReplyMessage: null,
    machineNoise: { hiccupMs: latency(0.1, 1, 200), stolenCores: 0 },
    perSecond: [10_000, 10_000],
    secondHalfOverFirst: 1,
    ...overrides,
  };
}

function nodeCount(nodes: number, overrides: Partial<NodeCountResult> = {}): NodeCountResult {
  return { ...phase(), nodes, halfPeak: null, loadCurve: [], pipelineLimit: null, fractionOfPipelineLimit: null, ...overrides };
}

test('unsteady-window note: a second half over 10% faster or slower than the first, as printed (the audit saw x0.74 and x0.34 pass silently)', (t) => {
  t.is(unsteadyWindowNote(null), null);
  for (const steady of [1, 1.1, 1.1049, 0.9, 0.8951, 0.95]) t.is(unsteadyWindowNote(steady), null, `x${steady} is within 10%`);
  const faster = unsteadyWindowNote(1.234);
  t.regex(faster ?? '', /^the window was not steady: its second half did x1\.23 the operations\/s of its first/);
  t.regex(faster ?? '', /warming up, or the machine's speed changing/);
  for (const [ratio, printed] of [
    [0.74, '0.74'],
    [0.34, '0.34'],
    [0.8949, '0.89'],
  ] as const) {
    const slower = unsteadyWindowNote(ratio);
    t.regex(slower ?? '', new RegExp(`^the window was not steady: its second half did x${printed.replace('.', '\\.')} the operations/s of its first`), `x${ratio}`);
    t.notRegex(slower ?? '', /warming up/, 'a slower second half is not a cluster warming up');
  }
  // Through the phase's notes: closed loop only (an open loop's pace is its schedule's).
  t.true(phaseNotes('3 node(s)', phase({ secondHalfOverFirst: 0.74 }), 2).some((note) => /^3 node\(s\): the window was not steady: .*x0\.74/.test(note)));
  t.deepEqual(phaseNotes('3 node(s)', phase({ secondHalfOverFirst: 0.74, mode: 'open-loop', ratePerSecond: 10_000 }), 2), []);
});

test('window membership: closed loop by when answered; open loop by when due, a warm-up backlog answered in the window counted apart', (t) => {
  const [start, end] = [1000, 3000];
  // Closed loop: answered inside [start, end], whenever issued.
  t.is(windowPlace(false, 500, 1500, start, end), 'window');
  t.is(windowPlace(false, 2900, 3000, start, end), 'window');
  t.is(windowPlace(false, 2900, 3001, start, end), 'outside');
  t.is(windowPlace(false, 900, 999, start, end), 'outside');
  // Open loop: due inside [start, end), answered whenever (the generator waits for all).
  t.is(windowPlace(true, 1000, 1001, start, end), 'window');
  t.is(windowPlace(true, 2999, 3500, start, end), 'window', 'due in the window, answered after it: still the window\'s');
  t.is(windowPlace(true, 3000, 3001, start, end), 'outside');
  t.is(windowPlace(true, 900, 1200, start, end), 'carriedIn', 'due in the warm-up, answered in the window: not the window\'s');
  t.is(windowPlace(true, 900, 999, start, end), 'outside');
  // The audit's case, as the generator sees it: 20,000 requests/s with 20,000 of them
  // still due from the warm-up at the window's start, all answered during its 2 s.
  const rate = 20;
  const ops: { since: number; answeredAt: number }[] = [];
  for (let k = 0; k < 20_000; k++) ops.push({ since: start - 1000 + k / rate, answeredAt: start + k / 20 });
  for (let k = 0; k < (end - start) * rate; k++) ops.push({ since: start + k / rate, answeredAt: start + 1000 + k / 40 });
  const places = ops.map(({ since, answeredAt }) => windowPlace(true, since, answeredAt, start, end));
  const count = (place: string): number => places.filter((p) => p === place).length;
  t.is(count('window') / ((end - start) / 1000), 20_000, 'writes/s is the rate, not the rate plus the backlog');
  t.is(count('carriedIn'), 20_000);
});

test('open-loop notes: the backlog carried into the window and what was due but never sent, each said with its effect on writes/s', (t) => {
  const open = { mode: 'open-loop', ratePerSecond: 20_000, generators: 1 } as const;
  t.deepEqual(phaseNotes('1 node(s)', phase(open), 2), [], 'on schedule: nothing to note');
  // What is in flight as any window starts (here 1% of its 40,000 requests) is no backlog.
  t.deepEqual(phaseNotes('1 node(s)', phase({ ...open, openLoopCarriedIn: 400 }), 2), []);
  t.is(phaseNotes('1 node(s)', phase({ ...open, openLoopCarriedIn: 401 }), 2).length, 1);
  const notes = phaseNotes('1 node(s)', phase({ ...open, openLoopBacklogMax: 20_268, openLoopCarriedIn: 20_100, openLoopDueNotSent: 150 }), 2);
  t.is(notes.length, 3, notes.join('\n'));
  t.regex(notes[0]!, /^1 node\(s\): the open-loop generator fell behind its schedule by up to 20268 request\(s\)/);
  t.regex(notes[1]!, /^1 node\(s\): 20100 operation\(s\) due in the warm-up were answered inside the window: writes\/s and latency count only what fell due inside it/);
  t.regex(notes[2]!, /^1 node\(s\): 150 request\(s\) due inside the window were still unsent 10 s after it ended: writes\/s falls short of the rate by them/);
});

const BASELINE: BaselineMeasurements = {
  fdatasyncPerSecond: 4000,
  fdatasyncMeanMs: 0.25,
  portMessagesPerSecond: 14_842,
  msgpackEncodeEntriesPerSecond: 2_000_000,
  msgpackDecodeEntriesPerSecond: 3_000_000,
  fdatasyncLatency: { idle: latency(0.3, 1, 100), busy: latency(0.4, 3, 100), spinners: 2 },
};

test('pipeline limit: a cluster above it gets a caveat naming the bound and the rates measured, in the notes and under the table', (t) => {
  const limit = pipelineLimit(BASELINE, 1, 1000, 2048, true, 2);
  t.is(overPipelineLimitNote(limit, limit.limitWritesPerSecond, BASELINE), null, 'at the limit: nothing to say');
  t.is(overPipelineLimitNote(limit, 0.5 * limit.limitWritesPerSecond, BASELINE), null);
  const over = 3.12 * limit.limitWritesPerSecond;
  const note = overPipelineLimitNote(limit, over, BASELINE) ?? '';
  t.regex(note, /^raftlab did 312% of its pipeline limit \([\d,]+ against [\d,]+ writes\/s, the (leader's thread|CPU|disk) bound\): the limit is no ceiling here/);
  t.regex(note, /MessagePort 14,842 messages\/s/);
  t.regex(note, /Trust the fraction only from a quiet machine$/);
  const results = [
    nodeCount(1, { writesPerSecond: over, pipelineLimit: limit, fractionOfPipelineLimit: 3.12 }),
    nodeCount(3, { writesPerSecond: 1000, pipelineLimit: pipelineLimit(BASELINE, 3, 100, 2048, true, 2), fractionOfPipelineLimit: 0.4 }),
  ];
  const text = baselineText(BASELINE, results);
  t.regex(text, / 312% \*\n/);
  t.regex(text, / 40%\n {2}\* over 100%: the limit was measured low .*, not beaten; see the notes$/);
  t.notRegex(baselineText(BASELINE, [results[1]!]), /over 100%/, 'no footnote when every fraction is under 100%');
});

test('--reads: the table\'s latency columns say they are the writes\', and the reads\' latency is printed per window', (t) => {
  const withReads = { readsOk: 5000, readsPerSecond: 2500, readLatencyMs: { count: 5000, p50: 21.1, p90: 60, p99: 89.4, p999: 120, max: 150, mean: 25 } };
  const half = phase({ ...withReads, mode: 'open-loop', ratePerSecond: 5000, readsPerSecond: 1000, readLatencyMs: latency(2.25, 7.5, 2000) });
  const results = [nodeCount(1, { ...withReads, halfPeak: half })];
  const table = resultsTable(results, true);
  t.regex(table.split('\n')[0]!, /^nodes +writes\/s +reads\/s +write p50 ms +p90 ms +p99 ms +p99\.9 ms +max ms /);
  const reads = readLatencyText(results);
  t.is(
    reads,
    [
      "read latency (linearizable gets; the tables above give the writes'):",
      '  1 node(s): 2,500 reads/s, p50 21.1 / p90 60.0 / p99 89.4 / p99.9 120.0 / max 150.0 ms',
      '  1 node(s) at half peak: 1,000 reads/s, p50 2.25 / p90 7.50 / p99 7.50 / p99.9 7.50 / max 7.50 ms',
    ].join('\n'),
  );
});

test('open-loop note: a generator that sent requests late says so, apart from a backlog (the audit saw a 300 ms late wake pass with no note)', (t) => {
  const open = { mode: 'open-loop' as const, ratePerSecond: 10_000, writesAcked: 20_000 };
  t.deepEqual(phaseNotes('1 node(s)', phase({ ...open, openLoopSendLateMaxMs: 4.9 }), 2), []);
  const notes = phaseNotes('1 node(s)', phase({ ...open, openLoopSendLateMaxMs: 37.25 }), 2);
  t.is(notes.length, 1, JSON.stringify(notes));
  t.regex(notes[0]!, /^1 node\(s\): the open-loop generator sent some requests up to 37\.3 ms after they fell due .*their latency counts from when they fell due/);
});

test('exit code: a later window (half peak, load curve) whose read-back failed or that acknowledged nothing fails the run as the first window would', (t) => {
  const report = (result: NodeCountResult): BenchReport => ({ results: [result], writesMissing: 0 }) as unknown as BenchReport;
  const open = { mode: 'open-loop' as const, ratePerSecond: 5_000 };
  t.is(benchExitCode(report(nodeCount(3))), 0);
  t.is(benchExitCode(report(nodeCount(3, { verify: { checked: 10, missing: 0, missingListed: [], readErrors: 2, readErrorCodes: { TIMEOUT: 2 } } }))), 1);
  const unverifiedHalf = phase({ ...open, verify: { checked: 10, missing: 0, missingListed: [], readErrors: 3, readErrorCodes: { TIMEOUT: 3 } } });
  t.is(benchExitCode(report(nodeCount(3, { halfPeak: unverifiedHalf, loadCurve: [{ fraction: 0.5, phase: unverifiedHalf }] }))), 1, 'half peak unverified');
  const silentPoint = phase({ ...open, writesAcked: 0, writesAckedTotal: 0 });
  t.is(benchExitCode(report(nodeCount(3, { loadCurve: [{ fraction: 0.1, phase: silentPoint }] }))), 1, 'a load-curve window with nothing acknowledged');
});

test('targets: a share printed as 100% is met, one short of the target by any amount is not (the audit saw 169,200 writes/s "100% of 170,000 (met)")', (t) => {
  const target = ISSUE_TARGETS.writesPerSecond.get(1)!;
  const report = (writesPerSecond: number, readFraction = 0): BenchReport =>
    ({ options: { mode: 'closed-loop', valueBytes: 128, readFraction }, machine: { fsync: 'on' }, results: [nodeCount(1, { writesPerSecond })] }) as unknown as BenchReport;
  t.regex(targetsText(report(target)) ?? '', /^against issue 6's targets \(set for a 2-core machine, fsync on, 128-byte values, writes only\):/);
  t.regex(targetsText(report(target, 0.3)) ?? '', /writes only -- this run differs from those settings\):/);
  t.regex(targetsText(report(target - 800)) ?? '', /1 node\(s\): 169,200 writes\/s, 99% of 170,000 \(not met\)/);
  t.regex(targetsText(report(target - 0.5)) ?? '', /99% of 170,000 \(not met\)/);
  t.regex(targetsText(report(target)) ?? '', /100% of 170,000 \(met\)/);
  t.regex(targetsText(report(2.5 * target)) ?? '', /250% of 170,000 \(met\)/);
  // The half-peak p99 beside its verdict never prints as the target itself when under it.
  const withHalfPeak = (p99: number): BenchReport =>
    ({ options: { mode: 'closed-loop', valueBytes: 128, readFraction: 0 }, machine: { fsync: 'on' }, results: [nodeCount(1, { writesPerSecond: target, halfPeak: phase({ writeLatencyMs: latency(1, p99, 100) }) })] }) as unknown as BenchReport;
  t.regex(targetsText(withHalfPeak(4.996)) ?? '', /p99 at half the peak 4\.996 ms against 5 \(met\)/);
  t.regex(targetsText(withHalfPeak(4.25)) ?? '', /p99 at half the peak 4\.25 ms against 5 \(met\)/);
  t.regex(targetsText(withHalfPeak(5)) ?? '', /p99 at half the peak 5\.00 ms against 5 \(not met\)/);
});

test('read-back: the failed gets\' codes are summed across generators into the JSON and named in the problem (they were dropped)', (t) => {
  const generator = (readErrorCodes: Record<string, number>, missingKeys: string[]): { verify: VerifyResult } => ({
    verify: {
      checked: 10,
      missing: missingKeys.length,
      missingListed: missingKeys.map((key) => ({ key, expectedSeq: 1, found: null })),
      readErrors: Object.values(readErrorCodes).reduce((sum, count) => sum + count, 0),
      readErrorCodes,
    },
  });
  const verify = sumVerify([generator({ TIMEOUT: 2 }, ['k1']), generator({ TIMEOUT: 1, NOT_LEADER: 4 }, ['k2', 'k4'])]);
  t.deepEqual(verify, {
    checked: 20,
    missing: 3,
    missingListed: [
      { key: 'k1', expectedSeq: 1, found: null },
      { key: 'k2', expectedSeq: 1, found: null },
      { key: 'k4', expectedSeq: 1, found: null },
    ],
    readErrors: 7,
    readErrorCodes: { TIMEOUT: 3, NOT_LEADER: 4 },
  });
  const problems = phaseProblems('3 node(s)', phase({ verify }));
  t.true(problems.includes('3 node(s): 7 read-back get(s) failed, so those keys are unverified: {"TIMEOUT":3,"NOT_LEADER":4}'), problems.join('\n'));
});

test('closed loop: requests in flight at the window\'s end and answered after it slower than anything in it earn a note (no percentile holds them)', (t) => {
  // phase(): write max 9.25 ms.
  t.deepEqual(phaseNotes('3 node(s)', phase({ closedLoopAnsweredAfterMaxMs: 9 }), 2), []);
  const notes = phaseNotes('3 node(s)', phase({ closedLoopAnsweredAfterMaxMs: 412.5 }), 2);
  t.deepEqual(notes.length, 1);
  t.regex(notes[0]!, /^3 node\(s\): requests in flight as the window ended were answered after it, the slowest 412\.5 ms after it was sent: over the window's max \(9\.3 ms\), and in no percentile/);
  // Reads count too: a read slower than it in the window leaves nothing to say.
  t.deepEqual(phaseNotes('3 node(s)', phase({ closedLoopAnsweredAfterMaxMs: 412.5, readLatencyMs: latency(1, 500, 10) }), 2), []);
  // Open loop counts those requests in its window, by when they fell due.
  t.deepEqual(phaseNotes('3 node(s)', phase({ mode: 'open-loop', ratePerSecond: 10_000, closedLoopAnsweredAfterMaxMs: 412.5 }), 2), []);
});

test('a window that read nothing back (--verify-sample 0) says that nothing shows its writes are there', (t) => {
  const none = { checked: 0, missing: 0, missingListed: [], readErrors: 0, readErrorCodes: {} };
  t.deepEqual(phaseNotes('1 node(s)', phase({ verify: none }), 2), ['1 node(s): no acknowledged key was read back (--verify-sample 0), so nothing in this run shows that its acknowledged writes are there']);
  t.deepEqual(phaseNotes('1 node(s)', phase(), 2), []);
});

test('n/a disk figures: each node count\'s reason, named (only the first was printed, unnamed)', (t) => {
  const missing = (nodes: number, why: string | null): NodeCountResult => nodeCount(nodes, { disk: { ...phase().disk, leaderFsyncsPerSecond: why === null ? 100 : null, missing: why } });
  t.is(diskMissingText([missing(1, null), missing(3, null)]), null);
  t.is(
    diskMissingText([missing(1, null), missing(3, 'the leader restarted during the window'), missing(5, 'no leader status')]),
    "the leader's fdatasync and batching figures are n/a:\n  3 node(s): the leader restarted during the window\n  5 node(s): no leader status",
  );
});
