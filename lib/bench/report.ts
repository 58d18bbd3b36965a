// The terminal report: a table per node count and a bar chart of throughput against
// node count. Plain text, so it pastes into a README unchanged.

import type { BaselineMeasurements, FdatasyncUnderLoad } from './baseline.js';
import type { BenchReport, NodeCountResult, PhaseResult } from './run.js';
import { fractionText, laterPhases } from './run.js';
import type { MachineNoise } from './machine-noise.js';
import { generatorsFor } from './options.js';
import { BENCH_LIMITS, ISSUE_TARGETS } from './types.js';

const CHART_WIDTH = 50;

function thousands(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function ms(value: number | null): string {
  return value === null ? '-' : value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function optional(value: number | null, digits: number): string {
  return value === null ? 'n/a' : value.toFixed(digits);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: readonly string[]): string => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

/** p50, p90, p99, p99.9 and max, the columns every table shows. */
function latencyColumns(latency: NodeCountResult['writeLatencyMs']): string[] {
  return [ms(latency.p50), ms(latency.p90), ms(latency.p99), ms(latency.p999), ms(latency.max)];
}

/** The tables' latency columns are the writes' (with --reads, the reads' are in readLatencyText). */
const WRITE_LATENCY_HEADER = ['write p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'];

export function resultsTable(results: readonly NodeCountResult[], withReads: boolean): string {
  const header = ['nodes', 'writes/s', ...(withReads ? ['reads/s'] : []), ...WRITE_LATENCY_HEADER, 'CPU cores', 'writes/CPU-s', 'other CPU', 'leader fsyncs/s', 'entries/fsync', 'all fsyncs/s', 'entries/AE', 'errors'];
  const rows = results.map((result) => [
    String(result.nodes),
    thousands(result.writesPerSecond),
    ...(withReads ? [thousands(result.readsPerSecond)] : []),
    ...latencyColumns(result.writeLatencyMs),
    result.cpuCoresUsed.toFixed(2),
    result.writesPerCpuSecond === null ? '-' : thousands(result.writesPerCpuSecond),
    result.otherProcessesCpuCores.toFixed(2),
    optional(result.disk.leaderFsyncsPerSecond, 0),
    optional(result.disk.leaderEntriesPerFsync, 1),
    optional(result.disk.allFsyncsPerSecond, 0),
    optional(result.disk.entriesPerAppendEntries, 1),
    String(result.errors.total),
  ]);
  return table([header, ...rows]);
}

export function halfPeakTable(results: readonly NodeCountResult[]): string {
  const header = ['nodes', 'rate/s', 'writes/s', ...WRITE_LATENCY_HEADER, 'CPU cores', 'other CPU', 'hiccup p99 ms', 'steal', 'errors'];
  const rows = results.flatMap((result) => {
    const half = result.halfPeak;
    if (half === null) return [];
    return [
      [
        String(result.nodes),
        thousands(half.ratePerSecond ?? 0),
        thousands(half.writesPerSecond),
        ...latencyColumns(half.writeLatencyMs),
        half.cpuCoresUsed.toFixed(2),
        half.otherProcessesCpuCores.toFixed(2),
        optional(half.machineNoise.hiccupMs.p99, 2),
        optional(half.machineNoise.stolenCores, 2),
        String(half.errors.total),
      ],
    ];
  });
  const generators = [...new Set(results.map((result) => result.halfPeak?.generators).filter((count) => count !== undefined))].join(' or ');
  return [`latency at half the peak (open loop, from the intended send time; ${generators} generator thread(s)):`, table([header, ...rows])].join('\n');
}

/** How late an idle thread's 10 ms timer woke, and the hypervisor's steal, per measured window. */
export function machineNoiseText(results: readonly NodeCountResult[]): string {
  const describe = (noise: MachineNoise): string => {
    const hiccup = noise.hiccupMs;
    const steal = noise.stolenCores === null ? 'steal unknown' : `steal ${noise.stolenCores.toFixed(2)} cores`;
    return `hiccups p99 ${optional(hiccup.p99, 2)} ms, max ${optional(hiccup.max, 1)} ms, ${steal}`;
  };
  const lines = results.map((result) => {
    const half = result.halfPeak === null ? '' : `; at half peak ${describe(result.halfPeak.machineNoise)}`;
    return `  ${result.nodes} node(s): ${describe(result.machineNoise)}${half}`;
  });
  return ['machine noise (a 10 ms timer on the bench\'s idle main thread: how late it woke; hypervisor steal):', ...lines].join('\n');
}

/**
 * The slow fdatasyncs of each measured window: the leader's, and the other nodes' summed,
 * per second over each threshold. A write waits for its leader's fdatasync or for enough
 * followers', so where these are frequent the latency tail follows them.
 */
export function slowFsyncText(results: readonly NodeCountResult[]): string | null {
  const measured = results.filter((result) => result.disk.slowFsyncs !== null);
  if (measured.length === 0) return null;
  const thresholds = measured[0]!.disk.slowFsyncs!.thresholdsMs;
  const rates = (values: readonly number[]): string => values.map((value) => value.toFixed(value >= 10 ? 0 : 1)).join(' / ');
  const describe = (phase: PhaseResult): string => {
    const slow = phase.disk.slowFsyncs;
    if (slow === null) return 'unknown';
    const others = phase.disk.allFsyncsPerSecond === null || phase.disk.leaderFsyncsPerSecond === null ? null : phase.disk.allFsyncsPerSecond - phase.disk.leaderFsyncsPerSecond;
    const leader = `leader ${rates(slow.leader)} of ${optional(phase.disk.leaderFsyncsPerSecond, 0)}`;
    return slow.others.length === 0 || others === null || others === 0 ? leader : `${leader}, other nodes ${rates(slow.others)} of ${optional(others, 0)}`;
  };
  const lines = measured.map((result) => {
    const half = result.halfPeak === null ? '' : `; at half peak ${describe(result.halfPeak)}`;
    return `  ${result.nodes} node(s): ${describe(result)}${half}`;
  });
  return [`slow fdatasyncs per second, over ${thresholds.join(' / ')} ms (from the call until the node sees it done, a wait for a core included), of all per second:`, ...lines].join('\n');
}

/**
 * Why a node count's fdatasync and batching columns say n/a, for each one where they do
 * (only the first such node count's reason was printed, without saying which, until the
 * thirty-first session); null when none.
 */
export function diskMissingText(results: readonly NodeCountResult[]): string | null {
  const lines = results.filter((result) => result.disk.missing !== null).map((result) => `  ${result.nodes} node(s): ${result.disk.missing}`);
  return lines.length === 0 ? null : ['the leader\'s fdatasync and batching figures are n/a:', ...lines].join('\n');
}

export function throughputChart(results: readonly NodeCountResult[]): string {
  const peak = Math.max(1, ...results.map((result) => result.writesPerSecond));
  const lines = results.map((result) => {
    const bar = '█'.repeat(Math.max(result.writesPerSecond > 0 ? 1 : 0, Math.round((result.writesPerSecond / peak) * CHART_WIDTH)));
    return `${String(result.nodes).padStart(2)} nodes | ${bar.padEnd(CHART_WIDTH)} ${thousands(result.writesPerSecond)} writes/s`;
  });
  return ['acknowledged writes/s against node count', ...lines].join('\n');
}

/**
 * With --reads: each measured window's read latency (linearizable gets), as the tables
 * give the writes'.
 */
export function readLatencyText(results: readonly NodeCountResult[]): string {
  const describe = (phase: PhaseResult): string => {
    const latency = phase.readLatencyMs;
    return `${thousands(phase.readsPerSecond)} reads/s, p50 ${ms(latency.p50)} / p90 ${ms(latency.p90)} / p99 ${ms(latency.p99)} / p99.9 ${ms(latency.p999)} / max ${ms(latency.max)} ms`;
  };
  const lines = results.flatMap((result) => [
    `  ${result.nodes} node(s): ${describe(result)}`,
    ...laterPhases(result).map(({ at, phase }) => `  ${at}: ${describe(phase)}`),
  ]);
  return ['read latency (linearizable gets; the tables above give the writes\'):', ...lines].join('\n');
}

/** Each window's operations second by second (10,000 and up in thousands, "k"), and its second half over its first. */
export function perSecondText(results: readonly NodeCountResult[]): string {
  const lines = results.map((result) => {
    if (result.perSecond === null) return `  ${result.nodes} node(s): not sampled`;
    const inThousands = Math.max(...result.perSecond) >= 10_000;
    const seconds = result.perSecond.map((count) => (inThousands ? `${Math.round(count / 1000)}k` : String(Math.round(count)))).join(' ');
    const ratio = result.secondHalfOverFirst === null ? '' : `  (second half x${result.secondHalfOverFirst.toFixed(2)} the first)`;
    return `  ${result.nodes} node(s): ${seconds}${ratio}`;
  });
  // Open loop: by when answered, so a backlog from the warm-up shows here though the window's figures leave it out.
  const openLoop = results.some((result) => result.mode === 'open-loop') ? ' (by when they were answered, a backlog from the warm-up included)' : '';
  return [`acknowledged operations in each second of the measured window${openLoop}:`, ...lines].join('\n');
}

/** The baseline's fdatasync latency line: cores idle against cores kept busy. */
export function fdatasyncLatencyText(latency: FdatasyncUnderLoad): string {
  const ms = (value: number | null): string => (value === null ? '-' : value.toFixed(value < 10 ? 2 : 1));
  const { idle, busy } = latency;
  const ratio = idle.p99 !== null && busy.p99 !== null && idle.p99 > 0 ? ` (x${(busy.p99 / idle.p99).toFixed(1)} at p99)` : '';
  return (
    `  fdatasync latency (4 KiB append, one a millisecond): cores idle p50 ${ms(idle.p50)} / p99 ${ms(idle.p99)} / max ${ms(idle.max)} ms; ` +
    `every core busy (${latency.spinners} spinning thread(s) at nice 19) p50 ${ms(busy.p50)} / p99 ${ms(busy.p99)} / max ${ms(busy.max)} ms${ratio}`
  );
}

export function baselineText(baseline: BaselineMeasurements, results: readonly NodeCountResult[]): string {
  const lines = [
    'machine baseline (same building blocks, no protocol):',
    `  fdatasync (4 KiB append + fdatasync): ${thousands(baseline.fdatasyncPerSecond)}/s, ${baseline.fdatasyncMeanMs.toFixed(3)} ms each`,
    `  MessagePort, worker to worker (1 KiB transferred): ${thousands(baseline.portMessagesPerSecond)} messages/s`,
    `  msgpackr, AppendEntries-shaped entries: encode ${thousands(baseline.msgpackEncodeEntriesPerSecond)}/s, decode ${thousands(baseline.msgpackDecodeEntriesPerSecond)}/s`,
    fdatasyncLatencyText(baseline.fdatasyncLatency),
  ];
  const withLimits = results.filter((result) => result.pipelineLimit !== null);
  if (withLimits.length > 0) {
    lines.push('', 'raftlab against the pipeline limit those rates imply (see lib/bench/baseline.ts for the model):');
    const rows = [['nodes', 'batch', 'leader µs/write', 'follower µs/write', 'cluster CPU µs/write', 'leader-bound/s', 'follower-bound/s', 'CPU-bound/s', 'disk-bound/s', 'limit/s', 'raftlab writes/s', 'fraction']];
    for (const result of withLimits) {
      const limit = result.pipelineLimit!;
      rows.push([
        String(result.nodes),
        limit.batchEntries.toFixed(0),
        limit.leaderMicrosPerWrite.toFixed(2),
        limit.followerMicrosPerWrite === null ? 'n/a' : limit.followerMicrosPerWrite.toFixed(2),
        limit.clusterCpuMicrosPerWrite.toFixed(2),
        thousands(limit.leaderBoundWritesPerSecond),
        limit.followerBoundWritesPerSecond === null ? 'n/a' : thousands(limit.followerBoundWritesPerSecond),
        thousands(limit.cpuBoundWritesPerSecond),
        limit.diskBoundWritesPerSecond === null ? 'n/a' : thousands(limit.diskBoundWritesPerSecond),
        thousands(limit.limitWritesPerSecond),
        thousands(result.writesPerSecond),
        `${(100 * (result.fractionOfPipelineLimit ?? 0)).toFixed(0)}%${(result.fractionOfPipelineLimit ?? 0) > 1 ? ' *' : ''}`,
      ]);
    }
    lines.push(table(rows));
    if (withLimits.some((result) => (result.fractionOfPipelineLimit ?? 0) > 1)) {
      lines.push('  * over 100%: the limit was measured low (a busy machine during the baseline, or its speed changing), not beaten; see the notes');
    }
  }
  return lines.join('\n');
}

/**
 * The closed loop's writes/s and the half-peak p99 against issue 6's targets, for the node
 * counts it names (null: none measured, or not a closed loop). The targets were set for
 * fsync on and 128-byte values on a 2-core machine: other settings are said to differ.
 */
export function targetsText(report: BenchReport): string | null {
  if (report.options.mode !== 'closed-loop') return null;
  const lines = report.results.flatMap((result) => {
    const target = ISSUE_TARGETS.writesPerSecond.get(result.nodes);
    if (target === undefined) return [];
    // Rounded down, so that the share printed is at least 100% exactly when the target is met.
    const share = Math.floor((result.writesPerSecond / target) * 100);
    const p99 = result.halfPeak?.writeLatencyMs.p99 ?? null;
    const p99Met = p99 !== null && p99 < ISSUE_TARGETS.halfPeakP99Ms;
    // To the microsecond where two decimals would print the target itself beside "met" (4.996 as 5.00).
    const p99Text = p99 === null ? '' : p99Met && Number(ms(p99)) >= ISSUE_TARGETS.halfPeakP99Ms ? p99.toFixed(3) : ms(p99);
    const latency = p99 === null ? '' : `; p99 at half the peak ${p99Text} ms against ${ISSUE_TARGETS.halfPeakP99Ms} (${p99Met ? 'met' : 'not met'})`;
    return [`  ${result.nodes} node(s): ${thousands(result.writesPerSecond)} writes/s, ${share}% of ${thousands(target)} (${share >= 100 ? 'met' : 'not met'})${latency}`];
  });
  if (lines.length === 0) return null;
  const differs =
    report.machine.fsync !== 'on' || report.options.valueBytes !== BENCH_LIMITS.defaultValueBytes || report.options.readFraction > 0 ? ' -- this run differs from those settings' : '';
  return [`against issue 6's targets (set for a 2-core machine, fsync on, ${BENCH_LIMITS.defaultValueBytes}-byte values, writes only${differs}):`, ...lines].join('\n');
}

/** The header's generator threads: the number, and how open-loop windows choose theirs. */
function generatorsText(options: BenchReport['options']): string {
  const threads = `${generatorsFor(options, options.ratePerSecond)} generator thread(s)`;
  if (options.generators !== null || options.ratePerSecond !== null || (!options.halfPeak && options.loadCurve.length === 0)) return threads;
  const windows = options.halfPeak ? 'at half the peak' : 'in the load curve';
  return `${threads} (${windows}, one per ${thousands(BENCH_LIMITS.openLoopRatePerGenerator)} requests/s)`;
}

/**
 * --load-curve: each node count's open-loop windows at fractions of its peak, highest
 * load first, and per node count the fractions at which p99 came under issue 6's 5 ms.
 */
export function loadCurveText(results: readonly NodeCountResult[]): string | null {
  const measured = results.filter((result) => result.loadCurve.length > 0);
  if (measured.length === 0) return null;
  const header = ['nodes', 'of peak', 'rate/s', 'writes/s', ...WRITE_LATENCY_HEADER, 'CPU cores', 'hiccup p99 ms', 'errors'];
  const byLoad = (result: NodeCountResult) => [...result.loadCurve].sort((a, b) => b.fraction - a.fraction);
  const rows = measured.flatMap((result) =>
    byLoad(result).map(({ fraction, phase }) => [
      String(result.nodes),
      fractionText(fraction),
      thousands(phase.ratePerSecond ?? 0),
      thousands(phase.writesPerSecond),
      ...latencyColumns(phase.writeLatencyMs),
      phase.cpuCoresUsed.toFixed(2),
      optional(phase.machineNoise.hiccupMs.p99, 2),
      String(phase.errors.total),
    ]),
  );
  const target = ISSUE_TARGETS.halfPeakP99Ms;
  const under = measured.map((result) => {
    const met = byLoad(result).filter(({ phase }) => phase.writeLatencyMs.p99 !== null && phase.writeLatencyMs.p99 < target);
    if (met.length === 0) return `  ${result.nodes} node(s): at none of the loads measured`;
    const highest = met[0]!;
    return `  ${result.nodes} node(s): at ${met.map(({ fraction }) => fractionText(fraction)).join(', ')} of the peak (the highest ${thousands(highest.phase.writesPerSecond)} writes/s)`;
  });
  return [
    'latency against load (open loop at fractions of the closed loop\'s operations/s, reads included, from the intended send time):',
    table([header, ...rows]),
    `p99 under ${target} ms:`,
    ...under,
  ].join('\n');
}

export function formatReport(report: BenchReport): string {
  const { machine, options } = report;
  const withReads = options.readFraction > 0;
  const mode = options.mode === 'closed-loop' ? `closed loop, ${options.requestsInFlight} requests in flight` : `open loop at ${thousands(options.ratePerSecond ?? 0)} requests/s`;
  const parts = [
    ...(report.commandLine === null ? [] : [`$ ${report.commandLine}`]),
    `raftlab bench: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}${machine.processFlags.length > 0 ? ` ${machine.processFlags.join(' ')}` : ''}, fsync ${machine.fsync}`,
    `${mode}, ${options.clients} sessions (${options.client} client) on ${generatorsText(options)}, ${options.valueBytes}-byte values, ${options.keys} keys, reads ${options.readFraction}, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured per node count, seed ${options.seed}`,
    '',
    resultsTable(report.results, withReads),
    '',
    throughputChart(report.results),
  ];
  if (withReads) parts.push('', readLatencyText(report.results));
  parts.push('', perSecondText(report.results));
  if (report.results.some((result) => result.halfPeak !== null)) parts.push('', halfPeakTable(report.results));
  const curve = loadCurveText(report.results);
  if (curve !== null) parts.push('', curve);
  const batching = report.results
    .filter((result) => result.requestsPerClientMessage !== null)
    .map((result) => `${result.nodes} node(s) ${result.requestsPerClientMessage!.toFixed(1)} requests/message, ${result.repliesPerReplyMessage?.toFixed(1) ?? '-'} replies/message`);
  if (batching.length > 0) parts.push('', `client-port batching: ${batching.join('; ')}`);
  parts.push('', machineNoiseText(report.results));
  // With fsync off there are no fdatasyncs to count.
  const slowFsyncs = machine.fsync === 'on' ? slowFsyncText(report.results) : null;
  if (slowFsyncs !== null) parts.push('', slowFsyncs);
  const missingCounters = diskMissingText(report.results);
  if (missingCounters !== null) parts.push('', missingCounters);
  if (report.baseline !== null) parts.push('', baselineText(report.baseline, report.results));
  const targets = targetsText(report);
  if (targets !== null) parts.push('', targets);
  const checked = report.results.reduce((acc, result) => acc + result.verify.checked + laterPhases(result).reduce((later, { phase }) => later + phase.verify.checked, 0), 0);
  parts.push('', `read-back: ${checked} acknowledged key(s) read through linearizable gets, ${report.writesMissing} missing`);
  if (report.notes.length > 0) parts.push('', 'notes:', ...report.notes.map((note) => `  - ${note}`));
  if (report.problems.length > 0) {
    parts.push('', report.writesMissing > 0 ? 'FAILED: acknowledged writes were lost' : 'THIS RUN HAD ERRORS:', ...report.problems.map((problem) => `  - ${problem}`));
  }
  return parts.join('\n');
}
