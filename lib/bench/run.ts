// The benchmark's supervisor: for each node count a fresh cluster in a fresh temp dir,
// load from a piscina pool of generators (each with its own ports to the nodes), a
// warm-up, a measured window, a read-back of acknowledged keys, and the figures.

import { arch, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { makeScratchDir, removeScratchDir } from '../cluster/scratch-dir.js';
import { Piscina } from 'piscina';
import { Cluster } from '../cluster/cluster.js';
import { KV_LIMITS } from '../kv/command.js';
import { EventKind, SLOW_FSYNC_THRESHOLDS_MS } from '../cluster/types.js';
import { processFlags } from '../cluster/v8-tuning.js';
import type { ClusterEvent, ClusterStatus, NodeStatus } from '../cluster/types.js';
import type { NodeId } from '../raft/types.js';
import { measureBaseline, overPipelineLimitNote, pipelineLimit } from './baseline.js';
import type { BaselineMeasurements, PipelineLimit } from './baseline.js';
import { mergeHistograms, summarizeMs } from './histogram.js';
import { MachineNoiseMeter } from './machine-noise.js';
import { Pacer } from './pacer.js';
import type { MachineNoise } from './machine-noise.js';
import type { LatencySummaryMs } from './histogram.js';
import { checkBenchOptions, generatorsFor } from './options.js';
import { ThroughputTrace, secondHalfOverFirst, unsteadyWindowNote } from './throughput-trace.js';
import type { BenchOptions } from './options.js';
import { BENCH_LIMITS, PROGRESS_SLOTS_PER_GENERATOR, ProgressSlot } from './types.js';
import type { BenchTask, BenchTaskResult, LoadResult, LoadTask, VerifyResult, WireCounts } from './types.js';

const WORKER_FILENAME = new URL('../../workers/bench-client.js', import.meta.url).href;
/** Generators stay up between node counts (a cluster start takes far less than this). */
const POOL_IDLE_TIMEOUT_MS = 60_000;
/** Other processes using more than this many cores during a window earn a note. */
const OTHER_CPU_NOTE_CORES = 0.25;
/**
 * Open loop: a window always has some operations due just before it still in flight as it
 * starts (and as many of its own answered after it ends); more than this share of the
 * window's requests carried in from the warm-up is a backlog, and earns a note.
 */
const CARRIED_IN_NOTE_SHARE = 0.01;
/**
 * Open loop: a generator that sent a request due inside the window more than this late
 * earns a note (its tick is 1 ms; issue 6's p99 target is 5 ms).
 */
const SEND_LATE_NOTE_MS = 5;
/** Open loop without node counters: the batch size the pipeline model assumes. */
const ASSUMED_BATCH_ENTRIES = 64;

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly nodeVersion: string;
  readonly platform: string;
  readonly osRelease: string;
  readonly arch: string;
  readonly totalMemoryBytes: number;
  readonly fsync: 'on' | 'off';
  /** Node and V8 flags of the bench's process (its command line's, then what the raftlab command set). */
  readonly processFlags: readonly string[];
}

export interface DiskAndBatching {
  /** null when they cannot be derived (see `missing`). */
  readonly leaderFsyncsPerSecond: number | null;
  /**
   * Every node's fdatasyncs per second, summed (the leader's on libuv's pool, each
   * follower's on its own thread); null when a node had no status or restarted.
   */
  readonly allFsyncsPerSecond: number | null;
  readonly leaderEntriesPerFsync: number | null;
  readonly entriesPerAppendEntries: number | null;
  /** Mean fdatasync latency the leader reported at the end of the window. */
  readonly leaderFsyncLatencyMs: number | null;
  /** The fdatasyncs slower than each of SLOW_FSYNC_THRESHOLDS_MS over the window; null
   *  when a node had no status or restarted. */
  readonly slowFsyncs: SlowFsyncs | null;
  readonly missing: string | null;
}

/**
 * Slow fdatasyncs per second, timed from the call to the node seeing it done (so a wait
 * for a core counts, as it does for the writes waiting on it): the leader's, and every
 * other node's summed. leader[i] and others[i] count those over thresholdsMs[i].
 */
export interface SlowFsyncs {
  readonly thresholdsMs: readonly number[];
  readonly leader: readonly number[];
  readonly others: readonly number[];
}

/** A window's read-back, every generator's summed: the same fields as one generator's. */
export type PhaseVerify = VerifyResult;

/** The generators' read-backs as one (missing keys listed up to BENCH_LIMITS.missingKeysListed). */
export function sumVerify(results: readonly Pick<LoadResult, 'verify'>[]): PhaseVerify {
  const readErrorCodes: Record<string, number> = {};
  for (const result of results) addCounts(readErrorCodes, result.verify.readErrorCodes);
  return {
    checked: results.reduce((acc, result) => acc + result.verify.checked, 0),
    missing: results.reduce((acc, result) => acc + result.verify.missing, 0),
    missingListed: results.flatMap((result) => result.verify.missingListed).slice(0, BENCH_LIMITS.missingKeysListed),
    readErrors: results.reduce((acc, result) => acc + result.verify.readErrors, 0),
    readErrorCodes,
  };
}

/** One measured window on one cluster. */
export interface PhaseResult {
  readonly mode: 'closed-loop' | 'open-loop';
  /** Open loop: the arrival rate, requests per second. */
  readonly ratePerSecond: number | null;
  /** Load-generator threads that drove this window. */
  readonly generators: number;
  readonly leaderId: NodeId;
  readonly windowSeconds: number;
  /**
   * Closed loop: the writes answered inside the window. Open loop: the writes that fell
   * due inside it (answered then or after), so writesPerSecond is the throughput at the
   * rate asked for, never above it; see openLoopCarriedIn.
   */
  readonly writesAcked: number;
  readonly writesPerSecond: number;
  readonly readsOk: number;
  readonly readsPerSecond: number;
  readonly writeLatencyMs: LatencySummaryMs;
  readonly readLatencyMs: LatencySummaryMs;
  /** process.cpuUsage() over the window: every thread of this process. */
  readonly cpuCoresUsed: number;
  readonly cpuPercentOfMachine: number;
  /** Writes per CPU-second this process spent: less sensitive to other processes
   *  competing for the machine than writes/s (but not immune: caches, frequency). */
  readonly writesPerCpuSecond: number | null;
  /** Cores other processes kept busy during the window (from the OS's per-core times). */
  readonly otherProcessesCpuCores: number;
  /** The OS's 1-minute load average at the end of the window. */
  readonly loadAverage1m: number;
  readonly disk: DiskAndBatching;
  readonly leaderElectionsDuringRun: number;
  readonly errors: {
    readonly total: number;
    readonly writes: number;
    readonly reads: number;
    readonly writesIndeterminate: number;
    readonly byCode: Readonly<Record<string, number>>;
  };
  readonly verify: PhaseVerify;
  readonly openLoopBacklogMax: number;
  /** Open loop: the longest a request due inside the window waited for its generator to send it, in ms (0 in closed loop). */
  readonly openLoopSendLateMaxMs: number;
  /**
   * Closed loop: the longest latency of the requests in flight as the window ended,
   * answered after it (in no percentile: the window counts what it answered); 0 in open
   * loop, whose window counts those too.
   */
  readonly closedLoopAnsweredAfterMaxMs: number;
  /** Open loop: operations due in the warm-up and answered inside the window (not in writesAcked, readsOk or the latencies). */
  readonly openLoopCarriedIn: number;
  /** Open loop: requests due inside the window and still unsent a request timeout after it ended (in no figure; their latency was at least their wait). */
  readonly openLoopDueNotSent: number;
  readonly writesAckedTotal: number;
  /** Client-side batching over the whole phase (lean client only): how many requests
   *  share one port message to the leader, and how many replies come back in one. */
  readonly requestsPerClientMessage: number | null;
  readonly repliesPerReplyMessage: number | null;
  /** What the machine itself did to latency during the window (lib/bench/machine-noise.ts). */
  readonly machineNoise: MachineNoise;
  /** Acknowledged operations (writes and reads) in each second of the window, from the
   *  generators' running counts (lib/bench/throughput-trace.ts); null if not sampled. */
  readonly perSecond: readonly number[] | null;
  /** The window's second half over its first, in operations/s (above 1: the second half was the faster). */
  readonly secondHalfOverFirst: number | null;
}

export interface NodeCountResult extends PhaseResult {
  readonly nodes: number;
  /** With --half-peak: a second window in open loop at half the operations/s just measured (writes, and reads with --reads). */
  readonly halfPeak: PhaseResult | null;
  /** With --load-curve: an open-loop window at each fraction of the operations/s just measured, in the order asked. */
  readonly loadCurve: readonly LoadPoint[];
  readonly pipelineLimit: PipelineLimit | null;
  readonly fractionOfPipelineLimit: number | null;
}

/** One point of --load-curve: an open-loop window at `fraction` of the closed loop's operations/s. */
export interface LoadPoint {
  readonly fraction: number;
  readonly phase: PhaseResult;
}

export interface BenchReport {
  readonly tool: 'raftlab bench';
  /** The command that produced this report, when run from the CLI. */
  readonly commandLine: string | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineInfo;
  readonly options: Omit<BenchOptions, 'testOnlyForgetKey' | 'jsonPath'> & { readonly mode: 'closed-loop' | 'open-loop'; readonly requestsInFlight: number | null };
  readonly baseline: BaselineMeasurements | null;
  readonly results: readonly NodeCountResult[];
  /** Every acknowledged key sampled was read back intact and nothing errored. */
  readonly clean: boolean;
  /** Acknowledged writes that the read-back did not find: the run is a failure. */
  readonly writesMissing: number;
  readonly problems: readonly string[];
  /** Conditions that do not make the run wrong but matter when reading it. */
  readonly notes: readonly string[];
}

export interface BenchIo {
  /** A one-line progress update (the CLI draws it on a TTY). */
  readonly progress?: (line: string) => void;
  /** A finished phase, for logs: "3 nodes: cluster up, leader 2". */
  readonly note?: (line: string) => void;
}

export function machineInfo(fsync: boolean): MachineInfo {
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    nodeVersion: process.version,
    platform: platform(),
    osRelease: release(),
    arch: arch(),
    totalMemoryBytes: totalmem(),
    fsync: fsync ? 'on' : 'off',
    processFlags: processFlags(),
  };
}

/**
 * Seconds between a node's two statuses. A node's counters are as of its last status
 * (posted every 100 ms, later when its thread is busy), not as of the supervisor's samples
 * at the window's ends: its rates are over its own reports' interval, which lies inside the
 * window give or take one status interval at each end. Null when it did not report again.
 */
function reportSeconds(start: NodeStatus, end: NodeStatus): number | null {
  const seconds = (end.reportedAt - start.reportedAt) / 1000;
  return seconds > 0 ? seconds : null;
}

/** The fdatasyncs of every node over the window, per second (each over its own reports' interval); null if a node had no status, did not report again or restarted. */
function allFsyncsPerSecond(before: ClusterStatus, after: ClusterStatus): number | null {
  let perSecond = 0;
  for (const end of after.nodes) {
    const start = before.nodes.find((node) => node.id === end.id);
    if (start === undefined || end.fsyncCount < start.fsyncCount) return null;
    const seconds = reportSeconds(start, end);
    if (seconds === null) return null;
    perSecond += (end.fsyncCount - start.fsyncCount) / seconds;
  }
  return after.nodes.length === 0 ? null : perSecond;
}

/** See SlowFsyncs; null if the leader or any node had no status, did not report again or restarted. */
function slowFsyncsPerSecond(leaderId: NodeId, before: ClusterStatus, after: ClusterStatus): SlowFsyncs | null {
  const leader = SLOW_FSYNC_THRESHOLDS_MS.map(() => 0);
  const others = SLOW_FSYNC_THRESHOLDS_MS.map(() => 0);
  if (!after.nodes.some((node) => node.id === leaderId)) return null;
  for (const end of after.nodes) {
    const start = before.nodes.find((node) => node.id === end.id);
    if (start === undefined || end.fsyncCount < start.fsyncCount) return null;
    const seconds = reportSeconds(start, end);
    if (seconds === null) return null;
    const into = end.id === leaderId ? leader : others;
    for (let i = 0; i < into.length; i++) into[i]! += ((end.slowFsyncs[i] ?? 0) - (start.slowFsyncs[i] ?? 0)) / seconds;
  }
  return { thresholdsMs: SLOW_FSYNC_THRESHOLDS_MS, leader, others };
}

/**
 * The disk and batching figures of a window, from the cluster's statuses sampled at its
 * start and end. Every count is a difference of one node's counters between two of its
 * own reports, divided by the time between those reports (not by the supervisor's
 * window: the reports are up to a status interval older than the samples, and the
 * interval between them can be longer or shorter than the window by that much).
 */
export function diskFigures(leaderId: NodeId, before: ClusterStatus, after: ClusterStatus): DiskAndBatching {
  const leaderBefore = before.nodes.find((node) => node.id === leaderId);
  const leaderAfter = after.nodes.find((node) => node.id === leaderId);
  const leaderFsyncLatencyMs = leaderAfter?.fsyncLatencyMs ?? null;
  const all = allFsyncsPerSecond(before, after);
  const slowFsyncs = slowFsyncsPerSecond(leaderId, before, after);
  const none = { leaderFsyncsPerSecond: null, allFsyncsPerSecond: all, leaderEntriesPerFsync: null, entriesPerAppendEntries: null, leaderFsyncLatencyMs, slowFsyncs };
  if (leaderBefore === undefined || leaderAfter === undefined) return { ...none, missing: 'no leader status' };
  // The counters are cumulative per worker: a leader that restarted in the window has
  // smaller ones, and its figures would be nonsense.
  if (leaderAfter.fsyncCount < leaderBefore.fsyncCount) return { ...none, missing: 'the leader restarted during the window' };
  const seconds = reportSeconds(leaderBefore, leaderAfter);
  if (seconds === null) return { ...none, missing: 'the leader sent no status during the window' };
  const start = leaderBefore;
  const end = leaderAfter;
  const fsyncs = end.fsyncCount - start.fsyncCount;
  const persisted = end.entriesPersisted - start.entriesPersisted;
  const appends = end.appendEntriesSent - start.appendEntriesSent;
  const sent = end.entriesSent - start.entriesSent;
  return {
    leaderFsyncsPerSecond: fsyncs / seconds,
    allFsyncsPerSecond: all,
    leaderEntriesPerFsync: fsyncs === 0 ? null : persisted / fsyncs,
    entriesPerAppendEntries: appends === 0 ? null : sent / appends,
    leaderFsyncLatencyMs,
    slowFsyncs,
    missing: null,
  };
}

function sleepUntil(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}

function ratio(results: readonly LoadResult[], top: (wire: WireCounts) => number, bottom: (wire: WireCounts) => number): number | null {
  let over = 0;
  let under = 0;
  for (const result of results) {
    if (result.wire === null) return null;
    over += top(result.wire);
    under += bottom(result.wire);
  }
  return under === 0 ? null : over / under;
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [code, count] of Object.entries(from)) into[code] = (into[code] ?? 0) + count;
}

type Pool = Piscina<BenchTask, BenchTaskResult>;

/** Milliseconds every core of the machine spent busy (any process), since boot. */
function machineBusyMs(): number {
  let busy = 0;
  for (const cpu of cpus()) busy += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  return busy;
}

interface ClusterSample {
  readonly machineBusyMs: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly status: ClusterStatus;
  readonly at: number;
  readonly elections: number;
}

/** Phases on one cluster write disjoint seq ranges, so a read-back never confuses them. */
const SEQ_RANGE_PER_PHASE = 1_000_000_000;

/** One warm-up + measured window + read-back on a running cluster. */
async function runPhase(
  cluster: Cluster,
  phase: { readonly index: number; readonly label: string; readonly ratePerSecond: number | null },
  options: BenchOptions,
  pool: Pool,
  io: BenchIo,
  elections: () => number,
  cores: number,
): Promise<PhaseResult> {
  const nodes = cluster.nodeIds.length;
  const generators = generatorsFor(options, phase.ratePerSecond);
  const progress = new SharedArrayBuffer(generators * PROGRESS_SLOTS_PER_GENERATOR * Int32Array.BYTES_PER_ELEMENT);
  const counters = new Int32Array(progress);
  const startAtMs = Date.now() + BENCH_LIMITS.startDelayMs;
  const warmupEndsAtMs = startAtMs + options.warmupSeconds * 1000;
  const measureEndsAtMs = warmupEndsAtMs + options.durationSeconds * 1000;
  const tasks: Promise<BenchTaskResult>[] = [];
  const pacer = phase.ratePerSecond === null ? null : new Pacer(BENCH_LIMITS.openLoopTickMs);
  await pacer?.ready();
  for (let generatorId = 0; generatorId < generators; generatorId++) {
    const ports = [...cluster.connectClientPorts()].map(([node, port]) => ({ node, port }));
    const verifyPorts = [...cluster.connectClientPorts()].map(([node, port]) => ({ node, port }));
    const clients = Math.floor(options.clients / generators) + (generatorId < options.clients % generators ? 1 : 0);
    const task: LoadTask = {
      type: 'load',
      generatorId,
      generators,
      seed: (options.seed ^ (nodes * 0x9e3779b1) ^ (generatorId * 0x85ebca6b) ^ (phase.index * 0xc2b2ae35)) | 0,
      nodeIds: cluster.nodeIds,
      ports,
      verifyPorts,
      client: options.client,
      clients,
      inflightPerClient: options.inflightPerClient,
      ratePerSecond: phase.ratePerSecond === null ? null : phase.ratePerSecond / generators,
      readFraction: options.readFraction,
      valueBytes: options.valueBytes,
      keys: options.keys,
      // The clients' own check must not refuse what the nodes (default limit) accept.
      maxValueBytes: Math.max(options.valueBytes, KV_LIMITS.defaultMaxValueBytes),
      seqStart: phase.index * SEQ_RANGE_PER_PHASE + 1,
      startAtMs,
      warmupEndsAtMs,
      measureEndsAtMs,
      verifySample: options.verifySamplePerGenerator,
      requestTimeoutMs: BENCH_LIMITS.requestTimeoutMs,
      progress,
      pacer: pacer === null ? null : pacer.buffer,
      testOnlyForgetKey: options.testOnlyForgetKey,
    };
    tasks.push(pool.run(task, { transferList: [...ports, ...verifyPorts].map(({ port }) => port) }));
  }
  // Fail fast if a generator dies, but keep every rejection handled.
  const allDone = Promise.all(tasks);
  allDone.catch(() => undefined);

  const total = (slot: number): number => {
    let sum = 0;
    for (let g = 0; g < generators; g++) sum += Atomics.load(counters, g * PROGRESS_SLOTS_PER_GENERATOR + slot);
    return sum;
  };
  // The trace runs on the monotonic clock; the window's bounds are wall-clock times.
  const wallMinusMonotonic = Date.now() - performance.now();
  const trace = new ThroughputTrace();
  const ackedSoFar = (): number => total(ProgressSlot.WritesAcked) + total(ProgressSlot.ReadsOk);
  let lastAt = performance.now();
  let lastAcked = ackedSoFar();
  trace.add(lastAt, lastAcked);
  const progressTimer = setInterval(() => {
    const now = Date.now();
    const at = performance.now();
    const acked = ackedSoFar();
    trace.add(at, acked);
    const rate = ((acked - lastAcked) * 1000) / Math.max(1, at - lastAt);
    lastAcked = acked;
    lastAt = at;
    const stage = now < warmupEndsAtMs ? 'warm-up' : now < measureEndsAtMs ? 'measure' : 'read-back';
    const fraction = Math.min(1, Math.max(0, (now - startAtMs) / (measureEndsAtMs - startAtMs)));
    io.progress?.(progressLine(`${nodes} node(s) ${phase.label}`, stage, fraction, rate, acked, total(ProgressSlot.Errors)));
  }, BENCH_LIMITS.progressIntervalMs);

  let results: LoadResult[];
  let before: ClusterSample;
  let after: ClusterSample;
  const sample = (): ClusterSample => {
    const at = performance.now();
    trace.add(at, ackedSoFar());
    return { machineBusyMs: machineBusyMs(), cpu: process.cpuUsage(), status: cluster.status(), at, elections: elections() };
  };
  const electionsAtStart = elections();
  const noiseMeter = new MachineNoiseMeter();
  let machineNoise: MachineNoise;
  try {
    await Promise.race([sleepUntil(warmupEndsAtMs), allDone]);
    before = sample();
    noiseMeter.start();
    await Promise.race([sleepUntil(measureEndsAtMs), allDone]);
    after = sample();
    machineNoise = noiseMeter.stop();
    results = (await allDone).map((result) => {
      if (result.type !== 'load') throw new Error(`bench: a load generator returned a ${result.type} result`);
      return result;
    });
    // `after` can fall a millisecond short of the window's end (timers and the two clocks
    // round differently); the generators are done now, so this one is past it.
    trace.add(performance.now(), ackedSoFar());
  } finally {
    clearInterval(progressTimer);
    if (noiseMeter.running) noiseMeter.stop();
    await pacer?.stop();
  }
  const windowSeconds = options.durationSeconds;
  const perSecond = trace.perSecond(warmupEndsAtMs - wallMinusMonotonic, measureEndsAtMs - wallMinusMonotonic);
  const cpu = process.cpuUsage(before.cpu);
  const measuredMs = after.at - before.at;
  const cpuCoresUsed = (cpu.user + cpu.system) / 1000 / measuredMs;
  // Other processes on the machine compete for the same cores: say how much they took.
  const machineCoresBusy = (after.machineBusyMs - before.machineBusyMs) / measuredMs;
  const writeHistogram = mergeHistograms(results.map((result) => result.writeHistogram));
  const readHistogram = mergeHistograms(results.map((result) => result.readHistogram));
  const writeLatencyMs = summarizeMs(writeHistogram);
  const readLatencyMs = summarizeMs(readHistogram);
  writeHistogram.destroy();
  readHistogram.destroy();
  const byCode: Record<string, number> = {};
  for (const result of results) addCounts(byCode, result.errorCodes);
  const sum = (pick: (result: LoadResult) => number): number => results.reduce((acc, result) => acc + pick(result), 0);
  const writesAcked = sum((r) => r.writesAcked);
  const readsOk = sum((r) => r.readsOk);
  const leaderId = after.status.leaderId === 0 ? before.status.leaderId : after.status.leaderId;
  return {
    mode: phase.ratePerSecond === null ? 'closed-loop' : 'open-loop',
    ratePerSecond: phase.ratePerSecond,
    generators: results.length,
    leaderId,
    windowSeconds,
    writesAcked,
    writesPerSecond: writesAcked / windowSeconds,
    readsOk,
    readsPerSecond: readsOk / windowSeconds,
    writeLatencyMs,
    readLatencyMs,
    cpuCoresUsed,
    cpuPercentOfMachine: (100 * cpuCoresUsed) / cores,
    writesPerCpuSecond: cpuCoresUsed > 0 ? writesAcked / windowSeconds / cpuCoresUsed : null,
    otherProcessesCpuCores: Math.max(0, machineCoresBusy - cpuCoresUsed),
    loadAverage1m: loadavg()[0] ?? 0,
    disk: diskFigures(leaderId, before.status, after.status),
    leaderElectionsDuringRun: elections() - electionsAtStart,
    errors: {
      total: sum((r) => r.writeErrors + r.readErrors),
      writes: sum((r) => r.writeErrors),
      reads: sum((r) => r.readErrors),
      writesIndeterminate: sum((r) => r.writesIndeterminate),
      byCode,
    },
    verify: sumVerify(results),
    openLoopBacklogMax: Math.max(0, ...results.map((r) => r.backlogMax)),
    openLoopSendLateMaxMs: Math.max(0, ...results.map((r) => r.sendLateMaxMs)),
    closedLoopAnsweredAfterMaxMs: Math.max(0, ...results.map((r) => r.answeredAfterWindowMaxMs)),
    openLoopCarriedIn: sum((r) => r.carriedIn),
    openLoopDueNotSent: sum((r) => r.dueNotSent),
    writesAckedTotal: sum((r) => r.writesAckedTotal),
    requestsPerClientMessage: ratio(results, (wire) => wire.requestFrames, (wire) => wire.requestMessages),
    repliesPerReplyMessage: ratio(results, (wire) => wire.replyFrames, (wire) => wire.replyMessages),
    machineNoise,
    perSecond,
    secondHalfOverFirst: perSecond === null ? null : secondHalfOverFirst(perSecond),
  };
}

async function runNodeCount(nodes: number, options: BenchOptions, pool: Pool, io: BenchIo, baseline: BaselineMeasurements | null, cores: number): Promise<NodeCountResult> {
  const parent = options.dataParent ?? tmpdir();
  const dataDir = makeScratchDir(parent, `raftlab-bench-${nodes}n-`);
  let cluster: Cluster | null = null;
  try {
    cluster = await Cluster.start({
      nodes,
      dataDir,
      fsync: options.fsync,
      seed: (options.seed + nodes * 7919) | 0,
      ...(options.snapshotEntries === null ? {} : { snapshotEntries: options.snapshotEntries }),
      ...(options.followerSyncSpacingMs === null ? {} : { followerSyncSpacingMs: options.followerSyncSpacingMs }),
    });
    // Elections after the first leader's term: events arrive batched, so the first
    // leader's own event may come after waitForLeader has returned.
    let elections = 0;
    let firstTerm = Number.POSITIVE_INFINITY;
    cluster.on('event', (event: ClusterEvent) => {
      if (event.kind === EventKind.LeaderElected && (event.term === undefined || event.term > firstTerm)) elections++;
    });
    const firstLeader = await cluster.waitForLeader(BENCH_LIMITS.leaderTimeoutMs);
    firstTerm = cluster.status().term;
    elections = 0;
    io.note?.(`${nodes} node(s): cluster up in ${dataDir}, leader ${firstLeader}`);
    const electionCount = (): number => elections;

    const main = await runPhase(cluster, { index: 0, label: options.ratePerSecond === null ? 'closed loop' : 'open loop', ratePerSecond: options.ratePerSecond }, options, pool, io, electionCount, cores);
    // The peak the open-loop windows take fractions of: every operation the closed loop
    // completed, reads (--reads) with the writes, since their rate covers both. Until the
    // thirty-first session it was the writes/s alone: with --reads 0.3 "half the peak" was
    // 35% of it, a lighter load than the p99 beside it claimed.
    const peakPerSecond = main.writesPerSecond + main.readsPerSecond;
    let halfPeak: PhaseResult | null = null;
    if (options.halfPeak && main.writesPerSecond > 0) {
      // Latency at half of the peak just measured, in open loop (issue: p99 at half of peak).
      const ratePerSecond = Math.max(1, peakPerSecond / 2);
      io.note?.(`${nodes} node(s): open loop at half the peak, ${Math.round(ratePerSecond).toLocaleString('en-US')} requests/s`);
      halfPeak = await runPhase(cluster, { index: 1, label: 'half peak', ratePerSecond }, options, pool, io, electionCount, cores);
    }
    const loadCurve: LoadPoint[] = [];
    for (const [at, fraction] of options.loadCurve.entries()) {
      if (main.writesPerSecond <= 0) break;
      if (fraction === 0.5 && halfPeak !== null) {
        loadCurve.push({ fraction, phase: halfPeak });
        continue;
      }
      const ratePerSecond = Math.max(1, peakPerSecond * fraction);
      io.note?.(`${nodes} node(s): open loop at ${fractionText(fraction)} of the peak, ${Math.round(ratePerSecond).toLocaleString('en-US')} requests/s`);
      const phase = await runPhase(cluster, { index: 2 + at, label: `${fractionText(fraction)} of peak`, ratePerSecond }, options, pool, io, electionCount, cores);
      loadCurve.push({ fraction, phase });
    }
    const requestsInFlight = options.ratePerSecond === null ? options.clients * options.inflightPerClient : null;
    // The batch the model charges per-message and per-fsync costs to: what the leader
    // measured (entries per AppendEntries; with one node, entries per fdatasync), else
    // everything in flight (the best case).
    const batchEntries = main.disk.entriesPerAppendEntries ?? main.disk.leaderEntriesPerFsync ?? requestsInFlight ?? ASSUMED_BATCH_ENTRIES;
    const limit = baseline === null ? null : pipelineLimit(baseline, nodes, batchEntries, requestsInFlight, options.fsync, cores);
    return {
      ...main,
      leaderId: main.leaderId === 0 ? firstLeader : main.leaderId,
      nodes,
      halfPeak,
      loadCurve,
      pipelineLimit: limit,
      fractionOfPipelineLimit: limit === null ? null : main.writesPerSecond / limit.limitWritesPerSecond,
    };
  } finally {
    if (cluster !== null) await cluster.stop();
    removeScratchDir(dataDir);
  }
}

const PROGRESS_BAR_WIDTH = 20;

function progressLine(label: string, stage: string, fraction: number, ratePerSecond: number, acked: number, errors: number): string {
  const filled = Math.round(fraction * PROGRESS_BAR_WIDTH);
  const bar = '#'.repeat(filled) + '-'.repeat(PROGRESS_BAR_WIDTH - filled);
  const errorText = errors > 0 ? `  ERRORS ${errors.toLocaleString('en-US')}` : '';
  return `${label} [${bar}] ${stage.padEnd(9)} ${Math.round(ratePerSecond).toLocaleString('en-US').padStart(9)} ops/s  ${acked.toLocaleString('en-US')} acked${errorText}`;
}

export function phaseProblems(at: string, result: PhaseResult): string[] {
  const problems: string[] = [];
  if (result.verify.missing > 0) problems.push(`${at}: ${result.verify.missing} acknowledged write(s) MISSING on read-back (e.g. ${JSON.stringify(result.verify.missingListed[0])})`);
  if (result.verify.readErrors > 0) problems.push(`${at}: ${result.verify.readErrors} read-back get(s) failed, so those keys are unverified: ${JSON.stringify(result.verify.readErrorCodes)}`);
  if (result.errors.total > 0) problems.push(`${at}: ${result.errors.total} request(s) failed: ${JSON.stringify(result.errors.byCode)}`);
  if (result.writesAckedTotal === 0) problems.push(`${at}: no write was acknowledged at all`);
  if (result.leaderElectionsDuringRun > 0) problems.push(`${at}: ${result.leaderElectionsDuringRun} leader election(s) during the run`);
  return problems;
}

/** Worth knowing, not wrong: the numbers stand, but read them in this light. */
export function phaseNotes(at: string, result: PhaseResult, cores: number): string[] {
  const notes: string[] = [];
  if (result.openLoopBacklogMax > 0) {
    notes.push(`${at}: the open-loop generator fell behind its schedule by up to ${result.openLoopBacklogMax} request(s) (latency still counts from the intended send time)`);
  }
  if (result.openLoopSendLateMaxMs > SEND_LATE_NOTE_MS) {
    notes.push(
      `${at}: the open-loop generator sent some requests up to ${result.openLoopSendLateMaxMs.toFixed(1)} ms after they fell due (it woke late: a pause, or no core free); their latency counts from when they fell due, so that wait is in the percentiles`,
    );
  }
  if (result.ratePerSecond !== null && result.openLoopCarriedIn > CARRIED_IN_NOTE_SHARE * result.ratePerSecond * result.windowSeconds) {
    notes.push(
      `${at}: ${result.openLoopCarriedIn} operation(s) due in the warm-up were answered inside the window: writes/s and latency count only what fell due inside it, but the per-second counts and the cluster's figures (CPU, fdatasyncs) include that work`,
    );
  }
  if (result.openLoopDueNotSent > 0) {
    notes.push(
      `${at}: ${result.openLoopDueNotSent} request(s) due inside the window were still unsent ${BENCH_LIMITS.requestTimeoutMs / 1000} s after it ended: writes/s falls short of the rate by them, and their latency (over ${BENCH_LIMITS.requestTimeoutMs / 1000} s) is in no percentile`,
    );
  }
  if (result.verify.checked === 0 && result.writesAckedTotal > 0) {
    notes.push(`${at}: no acknowledged key was read back (--verify-sample 0), so nothing in this run shows that its acknowledged writes are there`);
  }
  const slowestInWindow = Math.max(result.writeLatencyMs.max ?? 0, result.readLatencyMs.max ?? 0);
  if (result.mode === 'closed-loop' && result.closedLoopAnsweredAfterMaxMs > slowestInWindow) {
    notes.push(
      `${at}: requests in flight as the window ended were answered after it, the slowest ${result.closedLoopAnsweredAfterMaxMs.toFixed(1)} ms after it was sent: ` +
        `over the window's max (${slowestInWindow.toFixed(1)} ms), and in no percentile (a closed-loop window counts what it answered; a stall at its end shows here)`,
    );
  }
  const unsteady = result.mode === 'closed-loop' ? unsteadyWindowNote(result.secondHalfOverFirst) : null;
  if (unsteady !== null) notes.push(`${at}: ${unsteady}`);
  if (result.otherProcessesCpuCores > OTHER_CPU_NOTE_CORES) {
    notes.push(
      `${at}: other processes kept ${result.otherProcessesCpuCores.toFixed(2)} of ${cores} cores busy (load average ${result.loadAverage1m.toFixed(1)}); raftlab got ${result.cpuCoresUsed.toFixed(2)}, so these figures understate it`,
    );
  }
  return notes;
}

/** A fraction of the peak as the report says it: 50%, 12.5%. */
export function fractionText(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))}%`;
}

/** Every window of a node count after its first, named as its notes and problems name it. */
export function laterPhases(result: NodeCountResult): { at: string; phase: PhaseResult }[] {
  const at = `${result.nodes} node(s)`;
  const phases = result.halfPeak === null ? [] : [{ at: `${at} at half peak`, phase: result.halfPeak }];
  for (const point of result.loadCurve) {
    if (point.phase !== result.halfPeak) phases.push({ at: `${at} at ${fractionText(point.fraction)} of peak`, phase: point.phase });
  }
  return phases;
}

function notesOf(result: NodeCountResult, cores: number, baseline: BaselineMeasurements | null): string[] {
  const overLimit = baseline === null || result.pipelineLimit === null ? null : overPipelineLimitNote(result.pipelineLimit, result.writesPerSecond, baseline);
  return [
    ...phaseNotes(`${result.nodes} node(s)`, result, cores),
    ...(overLimit === null ? [] : [`${result.nodes} node(s): ${overLimit}`]),
    ...laterPhases(result).flatMap(({ at, phase }) => phaseNotes(at, phase, cores)),
  ];
}

function problemsOf(result: NodeCountResult): string[] {
  return [...phaseProblems(`${result.nodes} node(s)`, result), ...laterPhases(result).flatMap(({ at, phase }) => phaseProblems(at, phase))];
}

/** Runs the whole benchmark. Throws only on a broken harness; lost writes are in the report. */
export async function runBench(options: BenchOptions, io: BenchIo = {}, commandLine: string | null = null): Promise<BenchReport> {
  checkBenchOptions(options);
  const startedAt = new Date().toISOString();
  const machine = machineInfo(options.fsync);
  const generators = generatorsFor(options, options.ratePerSecond);
  // The baseline's MessagePort measurement needs two workers at once.
  const threads = Math.max(generators, options.baseline ? 2 : 1);
  // atomics 'disabled': an idle generator waits in its event loop, not in Atomics.wait.
  const pool: Pool = new Piscina({ filename: WORKER_FILENAME, minThreads: threads, maxThreads: threads, idleTimeout: POOL_IDLE_TIMEOUT_MS, concurrentTasksPerWorker: 1, atomics: 'disabled' });
  const results: NodeCountResult[] = [];
  let baseline: BaselineMeasurements | null = null;
  try {
    if (options.baseline) {
      const dir = makeScratchDir(options.dataParent ?? tmpdir(), 'raftlab-baseline-');
      try {
        io.note?.('baseline: measuring fdatasync, MessagePort and msgpackr rates, and fdatasync latency with the cores idle and busy');
        baseline = await measureBaseline(dir, options.valueBytes, pool);
      } finally {
        removeScratchDir(dir);
      }
    }
    for (const nodes of options.nodeCounts) {
      const result = await runNodeCount(nodes, options, pool, io, baseline, machine.cores);
      results.push(result);
      const half = result.halfPeak === null ? '' : `; at half peak p99 ${result.halfPeak.writeLatencyMs.p99 ?? '-'} ms`;
      io.note?.(`${nodes} node(s): ${Math.round(result.writesPerSecond).toLocaleString('en-US')} writes/s, p99 ${result.writeLatencyMs.p99 ?? '-'} ms${half}`);
    }
  } finally {
    await pool.destroy();
  }
  const problems = results.flatMap(problemsOf);
  const writesMissing = results.reduce((acc, result) => acc + result.verify.missing + laterPhases(result).reduce((later, { phase }) => later + phase.verify.missing, 0), 0);
  const { testOnlyForgetKey: _forget, jsonPath: _json, ...publicOptions } = options;
  void _forget;
  void _json;
  return {
    tool: 'raftlab bench',
    commandLine,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    options: {
      ...publicOptions,
      mode: options.ratePerSecond === null ? 'closed-loop' : 'open-loop',
      requestsInFlight: options.ratePerSecond === null ? options.clients * options.inflightPerClient : null,
    },
    baseline,
    results,
    clean: problems.length === 0,
    writesMissing,
    problems,
    notes: results.flatMap((result) => notesOf(result, machine.cores, baseline)),
  };
}
