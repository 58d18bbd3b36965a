// `raftlab bench --baseline`: what the machine can do at all with raftlab's building
// blocks, and the replication-pipeline throughput those rates imply.
//
// The model (also in the report and the README): per acknowledged write the cluster
// spends, as CPU time,
//   on the leader's thread:
//     codec   2 msgpack decodes (the client frame, the command when applied)
//           + 2 msgpack encodes (the entry in the AppendEntries batch, the reply)
//     ports   per batch of B entries: (n-1) AppendEntries sent, (n-1) acks received,
//             1 client batch received, 1 reply batch sent -> 2n port messages / B
//     (its fdatasync, one per batch, runs on libuv's pool while the thread goes on:
//     thesis §10.2.1, lib/cluster/node-host.ts processReadies)
//   on each follower's thread:
//     codec   2 decodes (the AppendEntries batch, the command when applied)
//     ports   2 port messages / B, and it waits for its own fdatasync: 1 / (F * B)
//   on the load generators: 1 encode (request) + 1 decode (reply), 2 messages / B.
// The leader's thread is one core:  T_leader = 1 / leaderSeconds.
// A follower's thread is one core, its fdatasync's wait included:  T_follower = 1 / followerSeconds.
// Every thread shares the machine:  T_cpu = cores / totalSeconds.
// One fdatasync covers at most the W requests in flight:  T_disk = W * F.
// The implied limit is min(T_leader, T_follower, T_cpu, T_disk). fdatasync blocks a
// thread without using the CPU, so it counts in a follower's thread time but not in
// T_cpu. Until the thirty-first session the model charged the leader's thread for its
// fdatasync too, as when the leader synced inline: that lowered the limit, and so raised
// the fraction of it raftlab was said to reach (the nineteenth session's 74% and 40% at 1
// and 3 nodes were 63% and 35% by this model).
// B is the leader's measured entries per AppendEntries (with one node: per fdatasync);
// without counters, W (every batch carries everything in flight), the best case.
//
// The model has no latency in it. For that the baseline also measures how long one
// fdatasync takes with the cores idle and with every core kept busy by a spinning thread
// at nice 19, which a woken thread preempts at once, in alternating phases: on a virtual
// machine whose disk emulation competes with its busy virtual CPUs (this project's
// machine), the second p99 is several times the first, and a cluster at half its peak
// keeps the cores nearly that busy.

import { once } from 'node:events';
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Packr } from 'msgpackr';
import type { Histogram } from 'hdr-histogram-js';
import type { Piscina } from 'piscina';
import { newLatencyHistogram, recordLatencyMs, summarizeMs } from './histogram.js';
import type { LatencySummaryMs } from './histogram.js';
import type { BenchTask, BenchTaskResult } from './types.js';

export const BASELINE_LIMITS = {
  fsyncDurationMs: 1000,
  /** Bytes appended before each fdatasync: a small WAL batch. */
  fsyncWriteBytes: 4096,
  portDurationMs: 1000,
  /** A client batch or AppendEntries of a few entries. */
  portMessageBytes: 1024,
  portAckEvery: 256,
  portWindow: 4096,
  codecDurationMs: 500,
  /** Entries per encoded batch in the codec measurement. */
  codecBatchEntries: 64,
  /** Entry header bytes around the value in the command (client id, seq, key). */
  commandOverheadBytes: 64,
  /** The fdatasync latency measurement: rounds of a phase with the cores idle, then one with them busy. */
  fsyncLatencyPhaseMs: 400,
  fsyncLatencyRounds: 4,
  /** The pause between two fdatasyncs of the latency measurement, as a WAL that is not saturated. */
  fsyncLatencyPauseMs: 1,
  /** How long the spinning threads may take to start before the measurement gives up. */
  spinnerStartTimeoutMs: 5000,
} as const;

export interface FdatasyncUnderLoad {
  /** With nothing else of the bench's running. */
  readonly idle: LatencySummaryMs;
  /** With `spinners` threads (one per core) spinning at nice 19. */
  readonly busy: LatencySummaryMs;
  readonly spinners: number;
}

export interface BaselineMeasurements {
  readonly fdatasyncPerSecond: number;
  readonly fdatasyncMeanMs: number;
  readonly portMessagesPerSecond: number;
  readonly msgpackEncodeEntriesPerSecond: number;
  readonly msgpackDecodeEntriesPerSecond: number;
  readonly fdatasyncLatency: FdatasyncUnderLoad;
}

export interface PipelineLimit {
  readonly nodes: number;
  /** Entries per batch (per AppendEntries, per fdatasync) assumed by the model. */
  readonly batchEntries: number;
  /** The leader's thread per write: CPU only (its fdatasync overlaps on libuv's pool). */
  readonly leaderMicrosPerWrite: number;
  /** A follower's thread per write, its fdatasync's wait included; null with one node. */
  readonly followerMicrosPerWrite: number | null;
  readonly clusterCpuMicrosPerWrite: number;
  readonly leaderBoundWritesPerSecond: number;
  readonly followerBoundWritesPerSecond: number | null;
  readonly cpuBoundWritesPerSecond: number;
  /** null in open loop, where the number of requests in flight is not fixed. */
  readonly diskBoundWritesPerSecond: number | null;
  readonly limitWritesPerSecond: number;
}

/** Appends a small record and fdatasyncs it, again and again, on the data dir's disk. */
export function measureFdatasync(dir: string, durationMs: number = BASELINE_LIMITS.fsyncDurationMs): { perSecond: number; meanMs: number } {
  const path = join(dir, `fdatasync-probe-${process.pid}.bin`);
  const fd = openSync(path, 'w');
  const record = Buffer.alloc(BASELINE_LIMITS.fsyncWriteBytes, 0x5a);
  let count = 0;
  const startedAt = performance.now();
  try {
    while (performance.now() - startedAt < durationMs) {
      writeSync(fd, record);
      fdatasyncSync(fd);
      count++;
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  const elapsedMs = performance.now() - startedAt;
  return { perSecond: (count * 1000) / elapsedMs, meanMs: elapsedMs / count };
}

/** Appends a small record to `fd` and fdatasyncs it, pausing `pauseMs` between two, for `durationMs`. */
function sampleFdatasync(fd: number, durationMs: number, pauseMs: number, latencies: Histogram): void {
  const record = Buffer.alloc(BASELINE_LIMITS.fsyncWriteBytes, 0x5a);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const startedAt = performance.now();
  while (performance.now() - startedAt < durationMs) {
    const before = performance.now();
    writeSync(fd, record);
    fdatasyncSync(fd);
    recordLatencyMs(latencies, performance.now() - before);
    Atomics.wait(pause, 0, 0, pauseMs);
  }
}

/** How often the spinning threads' start (and failure) is checked. */
const SPINNER_POLL_MS = 5;

/** Int32 slots shared with the spinning threads. */
const SpinSlot = {
  /** Set to 1 to end the threads. */
  Stop: 0,
  /** Each thread adds 1 once it runs at its lowered priority. */
  Started: 1,
  /** 1: spin; 0: sleep until it is 1 again. */
  Spin: 2,
} as const;

/**
 * A spinning thread (slots as in SpinSlot): it lowers its own priority to nice 19 (on
 * Linux, where a thread has an id of its own; elsewhere it spins at the normal
 * priority), counts itself started, then spins while told to and sleeps otherwise.
 */
const SPINNER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { readlinkSync } = require('node:fs');
const { setPriority } = require('node:os');
try { setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19); } catch {}
const flags = new Int32Array(workerData.buffer);
Atomics.add(flags, ${SpinSlot.Started}, 1);
Atomics.notify(flags, ${SpinSlot.Started});
let x = 0;
while (Atomics.load(flags, ${SpinSlot.Stop}) === 0) {
  if (Atomics.load(flags, ${SpinSlot.Spin}) === 0) Atomics.wait(flags, ${SpinSlot.Spin}, 0, 100);
  else for (let i = 0; i < 100000; i++) x = (x + i) | 0;
}
`;

/**
 * fdatasync latency with the cores idle and with `spinners` low-priority threads spinning
 * (one per core by default), in `rounds` alternating phases of `phaseMs` each, so that a
 * noisy stretch of a shared machine falls on both sides.
 */
export async function measureFdatasyncUnderLoad(
  dir: string,
  phaseMs: number = BASELINE_LIMITS.fsyncLatencyPhaseMs,
  spinners: number = availableParallelism(),
  rounds: number = BASELINE_LIMITS.fsyncLatencyRounds,
): Promise<FdatasyncUnderLoad> {
  if (!(Number.isSafeInteger(spinners) && spinners >= 1)) throw new RangeError(`fdatasync under load: ${spinners} spinning threads`);
  if (!(Number.isSafeInteger(rounds) && rounds >= 1)) throw new RangeError(`fdatasync under load: ${rounds} rounds`);
  const buffer = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
  const flags = new Int32Array(buffer);
  const workers = Array.from({ length: spinners }, () => new Worker(SPINNER_SOURCE, { eval: true, workerData: { buffer } }));
  const failures: Error[] = [];
  const exits = workers.map((worker) => {
    worker.on('error', (error) => failures.push(error));
    return once(worker, 'exit');
  });
  const path = join(dir, `fdatasync-latency-probe-${process.pid}.bin`);
  let fd: number | null = null;
  try {
    const deadline = performance.now() + BASELINE_LIMITS.spinnerStartTimeoutMs;
    // Polled with the event loop free, so that a thread's 'error' event can arrive.
    for (let started = Atomics.load(flags, SpinSlot.Started); started < spinners; started = Atomics.load(flags, SpinSlot.Started)) {
      if (failures.length > 0) throw new Error(`fdatasync under load: a spinning thread failed: ${failures[0]!.message}`);
      if (performance.now() >= deadline) throw new Error(`fdatasync under load: ${started} of ${spinners} spinning threads started in ${BASELINE_LIMITS.spinnerStartTimeoutMs} ms`);
      await delay(SPINNER_POLL_MS);
    }
    fd = openSync(path, 'w');
    const idle = newLatencyHistogram();
    const busy = newLatencyHistogram();
    for (let round = 0; round < rounds; round++) {
      sampleFdatasync(fd, phaseMs, BASELINE_LIMITS.fsyncLatencyPauseMs, idle);
      Atomics.store(flags, SpinSlot.Spin, 1);
      Atomics.notify(flags, SpinSlot.Spin);
      sampleFdatasync(fd, phaseMs, BASELINE_LIMITS.fsyncLatencyPauseMs, busy);
      Atomics.store(flags, SpinSlot.Spin, 0);
    }
    // A thread that failed while the samples were taken (synchronously) says so now.
    await delay(SPINNER_POLL_MS);
    if (failures.length > 0) throw new Error(`fdatasync under load: a spinning thread failed: ${failures[0]!.message}`);
    const summary = { idle: summarizeMs(idle), busy: summarizeMs(busy), spinners };
    idle.destroy();
    busy.destroy();
    return summary;
  } finally {
    if (fd !== null) closeSync(fd);
    rmSync(path, { force: true });
    Atomics.store(flags, SpinSlot.Stop, 1);
    Atomics.notify(flags, SpinSlot.Spin);
    await Promise.all(exits);
  }
}

/** Encode and decode rate of batches shaped like AppendEntries entries. */
export function measureMsgpack(valueBytes: number, durationMs: number = BASELINE_LIMITS.codecDurationMs): { encodePerSecond: number; decodePerSecond: number } {
  const packr = new Packr({ useRecords: false, moreTypes: false });
  const entries = Array.from({ length: BASELINE_LIMITS.codecBatchEntries }, (_, i) => ({
    index: 1_000_000 + i,
    term: 7,
    data: new Uint8Array(valueBytes + BASELINE_LIMITS.commandOverheadBytes).fill(i & 0xff),
  }));
  const batch = { type: 'AppendEntries', term: 7, from: 1, to: 2, prevLogIndex: 999_999, prevLogTerm: 7, leaderCommit: 999_990, entries };
  let encoded = packr.pack(batch);
  let batches = 0;
  let startedAt = performance.now();
  while (performance.now() - startedAt < durationMs) {
    encoded = packr.pack(batch);
    batches++;
  }
  const encodePerSecond = (batches * entries.length * 1000) / (performance.now() - startedAt);
  const exact = Uint8Array.from(encoded);
  batches = 0;
  let sink = 0;
  startedAt = performance.now();
  while (performance.now() - startedAt < durationMs) {
    const decoded = packr.unpack(exact) as { entries: unknown[] };
    sink += decoded.entries.length;
    batches++;
  }
  const decodePerSecond = (batches * entries.length * 1000) / (performance.now() - startedAt);
  if (sink !== batches * entries.length) throw new Error('msgpack baseline: decoded batches lost entries');
  return { encodePerSecond, decodePerSecond };
}

/** Transferred-buffer messages per second from one pool worker to another. */
export async function measurePortRate(pool: Piscina<BenchTask, BenchTaskResult>, durationMs: number = BASELINE_LIMITS.portDurationMs): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const sink = pool.run({ type: 'port-sink', port: port2, ackEvery: BASELINE_LIMITS.portAckEvery }, { transferList: [port2] });
  const source = pool.run(
    { type: 'port-source', port: port1, durationMs, messageBytes: BASELINE_LIMITS.portMessageBytes, ackEvery: BASELINE_LIMITS.portAckEvery, window: BASELINE_LIMITS.portWindow },
    { transferList: [port1] },
  );
  const [sourceResult] = await Promise.all([source, sink]);
  if (sourceResult.type !== 'port-rate') throw new Error(`port baseline: unexpected result ${sourceResult.type}`);
  return (sourceResult.messages * 1000) / sourceResult.elapsedMs;
}

export async function measureBaseline(dir: string, valueBytes: number, pool: Piscina<BenchTask, BenchTaskResult>): Promise<BaselineMeasurements> {
  const fsync = measureFdatasync(dir);
  const portMessagesPerSecond = await measurePortRate(pool);
  const codec = measureMsgpack(valueBytes);
  const fdatasyncLatency = await measureFdatasyncUnderLoad(dir);
  return {
    fdatasyncPerSecond: fsync.perSecond,
    fdatasyncMeanMs: fsync.meanMs,
    portMessagesPerSecond,
    msgpackEncodeEntriesPerSecond: codec.encodePerSecond,
    msgpackDecodeEntriesPerSecond: codec.decodePerSecond,
    fdatasyncLatency,
  };
}

/** The model in this file's header, for n nodes and batches of B entries. */
export function pipelineLimit(
  baseline: BaselineMeasurements,
  nodes: number,
  batchEntries: number,
  requestsInFlight: number | null,
  fsync: boolean,
  cores: number,
): PipelineLimit {
  const micros = 1_000_000;
  const encode = micros / baseline.msgpackEncodeEntriesPerSecond;
  const decode = micros / baseline.msgpackDecodeEntriesPerSecond;
  const message = micros / baseline.portMessagesPerSecond;
  const fdatasync = fsync ? micros / baseline.fdatasyncPerSecond : 0;
  const leaderMicrosPerWrite = 2 * decode + 2 * encode + (2 * nodes * message) / batchEntries;
  const followerCpu = 2 * decode + (2 * message) / batchEntries;
  const followerMicrosPerWrite = nodes > 1 ? followerCpu + fdatasync / batchEntries : null;
  const generatorCpu = encode + decode + (2 * message) / batchEntries;
  const clusterCpuMicrosPerWrite = leaderMicrosPerWrite + (nodes - 1) * followerCpu + generatorCpu;
  const leaderBoundWritesPerSecond = micros / leaderMicrosPerWrite;
  const followerBoundWritesPerSecond = followerMicrosPerWrite === null ? null : micros / followerMicrosPerWrite;
  const cpuBoundWritesPerSecond = (cores * micros) / clusterCpuMicrosPerWrite;
  const diskBoundWritesPerSecond = fsync && requestsInFlight !== null ? requestsInFlight * baseline.fdatasyncPerSecond : null;
  return {
    nodes,
    batchEntries,
    leaderMicrosPerWrite,
    followerMicrosPerWrite,
    clusterCpuMicrosPerWrite,
    leaderBoundWritesPerSecond,
    followerBoundWritesPerSecond,
    cpuBoundWritesPerSecond,
    diskBoundWritesPerSecond,
    limitWritesPerSecond: Math.min(
      leaderBoundWritesPerSecond,
      followerBoundWritesPerSecond ?? Number.POSITIVE_INFINITY,
      cpuBoundWritesPerSecond,
      diskBoundWritesPerSecond ?? Number.POSITIVE_INFINITY,
    ),
  };
}

/**
 * The caveat for a cluster that did more writes/s than its pipeline limit (null when it
 * did not). The limit is no ceiling then: it charges each write the building blocks'
 * rates as the baseline measured them, once, before any cluster ran, and a busy or slower
 * machine at that moment (or a faster one later) makes it low; the batch size it assumes
 * is an estimate too.
 */
export function overPipelineLimitNote(limit: PipelineLimit, writesPerSecond: number, baseline: BaselineMeasurements): string | null {
  if (!(writesPerSecond > limit.limitWritesPerSecond)) return null;
  const count = (value: number): string => Math.round(value).toLocaleString('en-US');
  const bound =
    limit.limitWritesPerSecond === limit.diskBoundWritesPerSecond
      ? 'disk'
      : limit.limitWritesPerSecond === limit.leaderBoundWritesPerSecond
        ? "leader's thread"
        : limit.limitWritesPerSecond === limit.followerBoundWritesPerSecond
          ? "a follower's thread"
          : 'CPU';
  return (
    `raftlab did ${((100 * writesPerSecond) / limit.limitWritesPerSecond).toFixed(0)}% of its pipeline limit (${count(writesPerSecond)} against ${count(limit.limitWritesPerSecond)} writes/s, the ${bound} bound): ` +
    `the limit is no ceiling here. It comes from rates the baseline measured once, before the clusters ran (MessagePort ${count(baseline.portMessagesPerSecond)} messages/s, ` +
    `msgpackr ${count(baseline.msgpackEncodeEntriesPerSecond)} / ${count(baseline.msgpackDecodeEntriesPerSecond)} entries/s, fdatasync ${count(baseline.fdatasyncPerSecond)}/s); ` +
    `other processes busy then, or the machine's speed changing since, make them low and the limit with them. Trust the fraction only from a quiet machine`
  );
}
