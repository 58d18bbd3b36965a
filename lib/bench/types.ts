// The data that crosses between the benchmark's supervisor (lib/bench/run.ts) and its
// load-generator workers (workers/bench-client.ts): plain, readonly, structured-clone
// friendly. Histograms travel as hdr-histogram's compressed base64 strings.

import type { MessagePort } from 'node:worker_threads';
import type { NodeId } from '../raft/types.js';

/** Every limit and default of the benchmark, named. */
export const BENCH_LIMITS = {
  defaultNodeCounts: [1, 3, 5, 7],
  defaultDurationSeconds: 10,
  defaultWarmupSeconds: 2,
  /** KvClient sessions across all generators. */
  defaultClients: 64,
  /**
   * Concurrent requests per session in closed loop: 64 x 32 = 2048 in flight. The bare
   * pipeline saturated its leader with about 1,000; with the whole protocol, 2,048 gave
   * 1.15-1.2 times the writes/s of 1,024 at 3, 5 and 7 nodes (the same at 1), for about
   * twice the latency at the peak (lib/bench/README.md).
   */
  defaultInflightPerClient: 32,
  defaultValueBytes: 128,
  defaultKeys: 10_000,
  /** Closed loop: one per core (the generators compete with the nodes for the same CPU). */
  defaultGenerators: 2,
  /**
   * Open loop, unless --generators says otherwise: one generator per this many requests
   * a second (at most defaultGenerators). Each generator thread is one more thread
   * waking for the same two cores: at 3 nodes and 120,000 writes/s one generator instead
   * of two saved 0.15 cores and took p99 from 19-22 to 15-16 ms; at 1 node and 380,000-
   * 420,000 (half the peak) one used 0.92-1.04 cores against 1.09-1.17, and one fell into
   * a backlog in none of 6 runs, two in 2 of 6; at 500,000 one fell behind by more (lib/bench/README.md).
   */
  openLoopRatePerGenerator: 450_000,
  /** Acknowledged keys read back per generator at the end of a node count. */
  defaultVerifySamplePerGenerator: 500,
  maxNodes: 9,
  maxGenerators: 16,
  /** --load-curve's open-loop windows per node count (each a warm-up and a window). */
  maxLoadCurvePoints: 8,
  maxClients: 4096,
  maxInflightPerClient: 1024,
  /** Keys are written as `k<number>`; values carry "<generator>:<seq>:" plus padding. */
  minValueBytes: 32,
  maxValueBytes: 64 * 1024,
  maxKeys: 10_000_000,
  maxDurationSeconds: 3600,
  /** A request's deadline. Longer than any healthy commit; a timeout is an error. */
  requestTimeoutMs: 10_000,
  /**
   * Open loop: requests a generator may have outstanding before it queues locally (the
   * queue still counts latency from the intended send time, and costs nothing but a
   * count). Twice the 2,048 in flight with which the closed loop reaches its peak: more
   * buys no throughput, only a deeper queue inside the cluster once the generator is
   * behind, whose memory slowed the node until it never caught up. At 1 node, 340,000
   * writes/s, 2 s warm-up: 2,048 fell into such a backlog in 0 of 4 runs, 20,000 (then
   * capped at the 10,000 keys) in 2 of 4; 4,096 against 20,000 at 340,000 and 370,000:
   * no backlog in either, p99 lower in 6 of 8 pairs (lib/bench/README.md, "The sixteenth session").
   */
  openLoopMaxOutstanding: 4_096,
  /**
   * Open loop: how often the pacer (lib/bench/pacer.ts) wakes the generators to send what
   * is due. Shorter ticks sent smaller batches and cost more than they saved: at 0.25 ms,
   * 1 node at 370,000 writes/s used 0.35 cores more (the node ran 1.6 times the
   * fdatasyncs) and fell behind its schedule (lib/bench/README.md).
   */
  openLoopTickMs: 1,
  /** Concurrent linearizable gets during read-back verification. */
  verifyConcurrency: 64,
  /** Missing keys listed in the report (all are counted). */
  missingKeysListed: 20,
  /** Time for a new cluster to elect its first leader. */
  leaderTimeoutMs: 15_000,
  /** Delay between handing out ports and the start of load, so every generator
   *  starts at the same instant. */
  startDelayMs: 300,
  /** Also how often the running count of acknowledged operations is sampled (throughput-trace.ts). */
  progressIntervalMs: 250,
  /** A closed-loop window whose second half differs from its first by more than this share, either way, gets a note. */
  unsteadyChange: 0.1,
  /** Latencies are recorded in microseconds; anything above this is clamped. */
  histogramMaxMicros: 120_000_000,
} as const;

/** Indices into a generator's slice of the shared progress counters. */
export const ProgressSlot = {
  WritesAcked: 0,
  ReadsOk: 1,
  Errors: 2,
} as const;
export const PROGRESS_SLOTS_PER_GENERATOR = 3;

/** lean: lib/bench/lean-client.ts; kv: the public KvClient (to compare the two). */
export const BenchClientKind = {
  Lean: 'lean',
  Kv: 'kv',
} as const;
export type BenchClientKind = (typeof BenchClientKind)[keyof typeof BenchClientKind];

export interface LoadTask {
  readonly type: 'load';
  readonly generatorId: number;
  readonly generators: number;
  readonly seed: number;
  readonly nodeIds: readonly NodeId[];
  /** One fresh client port per node, from Cluster.connectClientPorts(), for the load. */
  readonly ports: readonly { readonly node: NodeId; readonly port: MessagePort }[];
  /** Another set, for the read-back through the public KvClient. */
  readonly verifyPorts: readonly { readonly node: NodeId; readonly port: MessagePort }[];
  readonly client: BenchClientKind;
  readonly clients: number;
  readonly inflightPerClient: number;
  /** Open loop: requests per second for this generator; null for closed loop. */
  readonly ratePerSecond: number | null;
  readonly readFraction: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly maxValueBytes: number;
  /** The first write's seq: phases on one cluster use disjoint ranges. */
  readonly seqStart: number;
  /** Wall-clock (Date.now) instants shared by every thread of the process. */
  readonly startAtMs: number;
  readonly warmupEndsAtMs: number;
  readonly measureEndsAtMs: number;
  readonly verifySample: number;
  /** Each request's deadline (BENCH_LIMITS.requestTimeoutMs; shorter in tests): one unanswered by then is a TIMEOUT error. */
  readonly requestTimeoutMs: number;
  /** Int32Array over this: PROGRESS_SLOTS_PER_GENERATOR counters per generator. */
  readonly progress: SharedArrayBuffer;
  /** Open loop: the pacer's buffer (lib/bench/pacer.ts), whose ticks say when to send; null in closed loop. */
  readonly pacer: SharedArrayBuffer | null;
  /** Test only: read back a key that was never written, as if its write had been
   *  acknowledged, to prove that verification catches a lost write. */
  readonly testOnlyForgetKey: boolean;
}

export interface MissingWrite {
  readonly key: string;
  /** The sequence number of the last acknowledged write to the key. */
  readonly expectedSeq: number;
  /** What the linearizable get returned (null: the key is absent). */
  readonly found: string | null;
}

export interface VerifyResult {
  readonly checked: number;
  readonly missing: number;
  readonly missingListed: readonly MissingWrite[];
  /** Gets that failed (a read-back that could not be done is not a pass). */
  readonly readErrors: number;
  /** The read-back gets that failed, by error code (they leave their keys unverified). */
  readonly readErrorCodes: Readonly<Record<string, number>>;
}

export interface WireCounts {
  readonly requestFrames: number;
  readonly requestMessages: number;
  readonly replyFrames: number;
  readonly replyMessages: number;
}

export interface LoadResult {
  readonly type: 'load';
  readonly generatorId: number;
  /**
   * The window's operations: closed loop, those answered inside the measured window;
   * open loop, those that fell due inside it (answered then or after; see load.ts).
   */
  readonly writesAcked: number;
  readonly readsOk: number;
  /** Open loop: operations that fell due before the window (in the warm-up) and were answered inside it; not counted above. */
  readonly carriedIn: number;
  /** Open loop: requests that fell due inside the window and were still unsent a request timeout after it ended (far behind the schedule). */
  readonly dueNotSent: number;
  /** Errors over the whole run (warm-up included), by code. */
  readonly writeErrors: number;
  readonly readErrors: number;
  readonly errorCodes: Readonly<Record<string, number>>;
  /** Indeterminate write errors: timeouts whose outcome is unknown. */
  readonly writesIndeterminate: number;
  /** Acknowledged over the whole run. */
  readonly writesAckedTotal: number;
  readonly writeHistogram: string;
  readonly readHistogram: string;
  /** Open loop: the largest local backlog of due-but-unsent requests (left unsent after a wake: too many outstanding). */
  readonly backlogMax: number;
  /** Open loop: the longest a request due inside the window waited to be sent, in ms (the generator waking late). */
  readonly sendLateMaxMs: number;
  /** Closed loop: the longest latency of a request in flight as the window ended and answered after it, in ms (in no percentile); 0 in open loop. */
  readonly answeredAfterWindowMaxMs: number;
  /** Lean client only (null with KvClient): frames and port messages, whole run. */
  readonly wire: WireCounts | null;
  readonly verify: VerifyResult;
}

/** Two workers exchanging port messages, for the --baseline MessagePort rate. */
export interface PortSinkTask {
  readonly type: 'port-sink';
  readonly port: MessagePort;
  readonly ackEvery: number;
}
export interface PortSourceTask {
  readonly type: 'port-source';
  readonly port: MessagePort;
  readonly durationMs: number;
  readonly messageBytes: number;
  readonly ackEvery: number;
  /** Messages the source may have sent that the sink has not yet acknowledged. */
  readonly window: number;
}
export interface PortRateResult {
  readonly type: 'port-rate';
  readonly messages: number;
  readonly elapsedMs: number;
}
export interface PortSinkResult {
  readonly type: 'port-sink';
  readonly received: number;
}

export type BenchTask = LoadTask | PortSinkTask | PortSourceTask;
export type BenchTaskResult = LoadResult | PortRateResult | PortSinkResult;

/**
 * Issue 6's targets, set for the project's 2-core machine with fsync on and 128-byte
 * values: closed-loop writes/s per node count, and p99 at half the peak.
 */
export const ISSUE_TARGETS = {
  writesPerSecond: new Map<number, number>([
    [1, 170_000],
    [3, 120_000],
    [5, 90_000],
    [7, 80_000],
  ]),
  halfPeakP99Ms: 5,
} as const;
