// One load generator: runs inside a piscina worker (workers/bench-client.ts) with its
// own ports to every node, so the supervisor's thread is never the bottleneck.
//
// Honesty rules this file keeps:
// - A write counts only when its node answers ok (lean client) or the KvClient
//   resolves, i.e. after the leader committed and applied it. Errors are counted by
//   code, never retried into the numbers.
// - The read-back goes through the public KvClient on ports of its own, so a bug in the
//   lean client cannot vouch for itself.
// - Closed loop: latency runs from the moment the request was issued. Open loop
//   (--rate): latency runs from the moment the request was *due*, so a stall that
//   delays sending is charged to the system, not hidden (no coordinated omission).
// - Which requests make the window's figures: closed loop, those answered inside it.
//   Open loop, those that fell *due* inside it, whenever sent and answered (a backlog
//   left at the window's end is still sent, for up to a request timeout): the window then
//   measures the load asked for, and a backlog left from the warm-up and answered in the
//   window (counted apart, as carriedIn) cannot push writes/s above the rate.
// - The generator owns a disjoint slice of the key space and never has two writes to
//   one key in flight, so the last acknowledged write to a key is well defined and the
//   read-back at the end can demand it (or something newer from this generator).

import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { ClientHub } from '../cluster/client.js';
import type { KvClient } from '../cluster/client.js';
import type { JsonValue } from '../cluster/types.js';
import { createPrng } from '../raft/prng.js';
import { LatencyRecorder, encodeHistogram, newLatencyHistogram } from './histogram.js';
import { LeanClient } from './lean-client.js';
import { nextPacerTick } from './pacer.js';
import { OpenLoopSchedule } from './schedule.js';
import type { LeanRequests, RequestFailure } from './lean-client.js';
import { decimalLength } from '../transport/msgpack-writer.js';
import type { MsgpackWriter } from '../transport/msgpack-writer.js';
import { BENCH_LIMITS, PROGRESS_SLOTS_PER_GENERATOR, ProgressSlot } from './types.js';
import type { LoadResult, LoadTask, MissingWrite, VerifyResult, WireCounts } from './types.js';

/** JSON adds two quote characters around a string value. */
const JSON_STRING_QUOTES = 2;
const NO_FREE_KEY = -1;
/** The key slot of a read (it owns no key). */
const NO_KEY = -1;

export function keyName(index: number): string {
  return `k${index}`;
}

/** The value of write `seq` of generator `generatorId`: parseable prefix, then padding
 *  up to exactly valueBytes bytes of JSON. */
export function makeValue(generatorId: number, seq: number, valueBytes: number, padding: string): string {
  const prefix = `${generatorId}:${seq}:`;
  return prefix + padding.slice(0, Math.max(0, valueBytes - JSON_STRING_QUOTES - prefix.length));
}

const ASCII_K = 0x6b;
const ASCII_COLON = 0x3a;
const ASCII_X = 0x78;

/** Writes keyName(index) as a msgpack string, without building the string. */
export function writeKeyName(out: MsgpackWriter, index: number): void {
  const digits = decimalLength(index);
  out.strHeader(1 + digits);
  out.byte(ASCII_K);
  out.asciiDigits(index, digits);
}

/** Writes makeValue(generatorId, seq, valueBytes, 'x'.repeat(valueBytes)) as a msgpack string, without building it. */
export function writeMadeValue(out: MsgpackWriter, generatorId: number, seq: number, valueBytes: number): void {
  const generatorDigits = decimalLength(generatorId);
  const seqDigits = decimalLength(seq);
  const prefixBytes = generatorDigits + 1 + seqDigits + 1;
  const paddingBytes = Math.max(0, valueBytes - JSON_STRING_QUOTES - prefixBytes);
  out.strHeader(prefixBytes + paddingBytes);
  out.asciiDigits(generatorId, generatorDigits);
  out.byte(ASCII_COLON);
  out.asciiDigits(seq, seqDigits);
  out.byte(ASCII_COLON);
  out.fill(ASCII_X, paddingBytes);
}

export function parseValue(value: unknown): { generatorId: number; seq: number } | null {
  if (typeof value !== 'string') return null;
  const match = /^(\d+):(\d+):/.exec(value);
  if (match === null) return null;
  return { generatorId: Number(match[1]), seq: Number(match[2]) };
}

/** One key of the read-back: the seq of its last acknowledged write, and the highest seq sent to it. */
export interface ReadBackCheck {
  readonly key: string;
  readonly expectedSeq: number;
  readonly maxSeq: number;
}

/**
 * Whether the value a read-back get returned is what generator `generatorId` may find
 * there: exactly the value of its last acknowledged write to the key, or of a later one
 * whose outcome it never learned (seq up to maxSeq), byte for byte. The "<generator>:<seq>:"
 * prefix alone would pass a value truncated or garbled after it.
 */
export function readBackOk(value: unknown, check: ReadBackCheck, generatorId: number, valueBytes: number): boolean {
  const parsed = parseValue(value);
  if (parsed === null || parsed.generatorId !== generatorId || parsed.seq < check.expectedSeq || parsed.seq > check.maxSeq) return false;
  return value === makeValue(generatorId, parsed.seq, valueBytes, 'x'.repeat(valueBytes));
}

/**
 * The key slots the read-back checks, at most `sampleSize`: first the slots of the most
 * recently acknowledged writes (`recentSlots`, oldest first; distinct, newest first), up to
 * half the sample, so the writes acknowledged as the run ended are always among those
 * checked; then a seeded random choice among the other slots with an acknowledged write.
 */
export function chooseReadBack(lastAckedSeq: Float64Array, recentSlots: readonly number[], sampleSize: number, random: () => number): number[] {
  const chosen: number[] = [];
  const taken = new Set<number>();
  const recentShare = Math.ceil(sampleSize / 2);
  for (let i = recentSlots.length - 1; i >= 0 && chosen.length < recentShare; i--) {
    const slot = recentSlots[i]!;
    if (taken.has(slot) || !(lastAckedSeq[slot]! > 0)) continue;
    taken.add(slot);
    chosen.push(slot);
  }
  const others: number[] = [];
  for (let slot = 0; slot < lastAckedSeq.length; slot++) if (lastAckedSeq[slot]! > 0 && !taken.has(slot)) others.push(slot);
  // A seeded partial Fisher-Yates shuffle picks the rest.
  const rest = Math.min(sampleSize - chosen.length, others.length);
  for (let i = 0; i < rest; i++) {
    const j = i + Math.floor(random() * (others.length - i));
    [others[i], others[j]] = [others[j]!, others[i]!];
    chosen.push(others[i]!);
  }
  return chosen;
}

/**
 * Where an answered operation belongs (see the header): 'window' when it is one of the
 * measured window's, 'carriedIn' when it fell due in the warm-up of an open loop and was
 * answered inside the window, 'outside' otherwise. `since` is when its latency clock
 * started (issued, closed loop; due, open loop), `answeredAt` when it was answered; all
 * on one clock.
 */
export function windowPlace(openLoop: boolean, since: number, answeredAt: number, windowStart: number, windowEnd: number): 'window' | 'carriedIn' | 'outside' {
  if (!openLoop) return answeredAt >= windowStart && answeredAt <= windowEnd ? 'window' : 'outside';
  if (since < windowStart) return answeredAt >= windowStart && answeredAt <= windowEnd ? 'carriedIn' : 'outside';
  return since < windowEnd ? 'window' : 'outside';
}

function errorCode(error: unknown): RequestFailure {
  const shape = error as { code?: unknown; indeterminate?: unknown };
  return { code: typeof shape.code === 'string' ? shape.code : 'UNKNOWN', indeterminate: shape.indeterminate === true };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The generator's side of a request, by tag: what the clients below ask of it. */
interface LoadRequests extends LeanRequests {
  /** Put `tag`'s key and value as strings (for the public client, which takes strings). */
  keyOf(tag: number): string;
  valueOf(tag: number): string;
}

/** What the generator drives: the lean bench client, or the public KvClient. */
interface LoadClient {
  open(): Promise<void>;
  wire(): WireCounts | null;
  put(session: number, tag: number): void;
  get(key: string, tag: number): void;
  close(): void;
}

class LeanLoadClient implements LoadClient {
  private readonly client: LeanClient;

  constructor(
    private readonly task: LoadTask,
    requests: LoadRequests,
  ) {
    this.client = new LeanClient(task.nodeIds, task.ports, task.requestTimeoutMs, requests);
  }

  open(): Promise<void> {
    return this.client.openSessions(this.task.clients);
  }

  wire(): WireCounts {
    return { ...this.client.wire };
  }

  put(session: number, tag: number): void {
    this.client.put(session, tag);
  }

  get(key: string, tag: number): void {
    this.client.get(key, tag);
  }

  close(): void {
    this.client.close();
  }
}

/** The public client (lib/cluster/client.ts), one KvClient per session. */
class KvLoadClient implements LoadClient {
  private readonly hub: ClientHub;
  private readonly clients: KvClient[];

  constructor(
    task: LoadTask,
    private readonly requests: LoadRequests,
  ) {
    this.hub = new ClientHub(task.nodeIds, { maxValueBytes: task.maxValueBytes });
    for (const { node, port } of task.ports) this.hub.connect(node, port);
    this.clients = Array.from({ length: task.clients }, () => this.hub.client({ timeoutMs: task.requestTimeoutMs }));
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  wire(): null {
    return null;
  }

  put(session: number, tag: number): void {
    this.clients[session]!.put(this.requests.keyOf(tag), this.requests.valueOf(tag)).then(
      () => this.requests.done(tag, null, null, performance.now()),
      (error: unknown) => this.requests.done(tag, errorCode(error), null, performance.now()),
    );
  }

  get(key: string, tag: number): void {
    this.clients[0]!.get(key).then(
      (value) => this.requests.done(tag, null, value, performance.now()),
      (error: unknown) => this.requests.done(tag, errorCode(error), null, performance.now()),
    );
  }

  close(): void {
    this.hub.close();
  }
}

class LoadGenerator implements LoadRequests {
  private readonly client: LoadClient;
  private readonly random: () => number;
  private readonly progress: Int32Array;
  private readonly padding: string;
  // Per request in flight, by tag: when its latency clock started, its session, its key
  // slot (NO_KEY for a read) and, for a put, its seq. Tags are reused once done.
  private readonly tagSince: number[] = [];
  private readonly tagSession: number[] = [];
  private readonly tagKeySlot: number[] = [];
  private readonly tagSeq: number[] = [];
  private readonly freeTags: number[] = [];
  /** Closed loop: each completion issues the next request of its session. */
  private reissue = false;
  /** Keys this generator writes: index = generatorId + slot * generators. */
  private readonly ownedKeys: number;
  /**
   * The slots with no write outstanding, in freeKeys[0, freeCount): a write takes a random
   * one (swapping the last into its place) and gives it back when done. Probing for a free
   * slot from a random start instead cost more the more keys were busy: an open loop that
   * fell behind filled its keys with outstanding writes and its generator spent its core
   * probing, which starved the node it measured (lib/bench/README.md, "The fifteenth session's look
   * at the tail").
   */
  private readonly freeKeys: Int32Array;
  private freeCount: number;
  /** Per slot: last acknowledged seq (0: none) and last issued seq. */
  private readonly lastAckedSeq: Float64Array;
  private readonly lastIssuedSeq: Float64Array;
  /** The slots of the last acknowledged writes, a ring of verifySample places (recentAt: writes acknowledged so far). */
  private readonly recentAcked: Int32Array;
  private recentAt = 0;
  private nextSeq: number;
  private outstanding = 0;
  private loopsRunning = 0;
  private finished: (() => void) | null = null;
  private readonly writeHistogram: Histogram = newLatencyHistogram();
  private readonly readHistogram: Histogram = newLatencyHistogram();
  private readonly writeLatencies = new LatencyRecorder(this.writeHistogram);
  private readonly readLatencies = new LatencyRecorder(this.readHistogram);
  private writesAcked = 0;
  private readsOk = 0;
  private carriedIn = 0;
  private dueNotSent = 0;
  private writesAckedTotal = 0;
  private writeErrors = 0;
  private readErrors = 0;
  private writesIndeterminate = 0;
  private readonly errorCodes: Record<string, number> = {};
  private backlogMax = 0;
  private sendLateMaxMs = 0;
  private answeredAfterWindowMaxMs = 0;
  /** performance.now() instants of the task's wall-clock phases. */
  private readonly startAt: number;
  private readonly warmupEndsAt: number;
  private readonly measureEndsAt: number;

  constructor(private readonly task: LoadTask) {
    this.client = task.client === 'lean' ? new LeanLoadClient(task, this) : new KvLoadClient(task, this);
    this.nextSeq = task.seqStart;
    this.random = createPrng(task.seed);
    this.progress = new Int32Array(task.progress);
    this.padding = 'x'.repeat(task.valueBytes);
    this.ownedKeys = Math.floor((task.keys - 1 - task.generatorId) / task.generators) + 1;
    this.freeKeys = new Int32Array(this.ownedKeys);
    for (let slot = 0; slot < this.ownedKeys; slot++) this.freeKeys[slot] = slot;
    this.freeCount = this.ownedKeys;
    this.lastAckedSeq = new Float64Array(this.ownedKeys);
    this.lastIssuedSeq = new Float64Array(this.ownedKeys);
    this.recentAcked = new Int32Array(Math.max(1, task.verifySample));
    const offset = performance.now() - Date.now();
    this.startAt = task.startAtMs + offset;
    this.warmupEndsAt = task.warmupEndsAtMs + offset;
    this.measureEndsAt = task.measureEndsAtMs + offset;
  }

  async run(): Promise<LoadResult> {
    try {
      await this.client.open();
      await sleep(Math.max(0, this.startAt - performance.now()));
      if (this.task.ratePerSecond === null) await this.closedLoop();
      else await this.openLoop(this.task.ratePerSecond);
      await this.allSettled();
      this.writeLatencies.flush();
      this.readLatencies.flush();
      const verify = await this.verify();
      return {
        type: 'load',
        generatorId: this.task.generatorId,
        writesAcked: this.writesAcked,
        readsOk: this.readsOk,
        carriedIn: this.carriedIn,
        dueNotSent: this.dueNotSent,
        writeErrors: this.writeErrors,
        readErrors: this.readErrors,
        errorCodes: this.errorCodes,
        writesIndeterminate: this.writesIndeterminate,
        writesAckedTotal: this.writesAckedTotal,
        writeHistogram: encodeHistogram(this.writeHistogram),
        readHistogram: encodeHistogram(this.readHistogram),
        backlogMax: this.backlogMax,
        sendLateMaxMs: this.sendLateMaxMs,
        answeredAfterWindowMaxMs: this.answeredAfterWindowMaxMs,
        wire: this.client.wire(),
        verify,
      };
    } finally {
      this.writeHistogram.destroy();
      this.readHistogram.destroy();
      this.client.close();
    }
  }

  private bump(slot: number): void {
    Atomics.add(this.progress, this.task.generatorId * PROGRESS_SLOTS_PER_GENERATOR + slot, 1);
  }

  private countError(code: string): void {
    this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
    this.bump(ProgressSlot.Errors);
  }

  /**
   * Whether an operation started at `since` and answered at `now` is one of the window's;
   * counts the carried-in on the way, and (closed loop) keeps the longest latency of those
   * in flight as the window ended and answered after it, which no percentile holds.
   */
  private countsInWindow(since: number, now: number): boolean {
    const openLoop = this.task.ratePerSecond !== null;
    const place = windowPlace(openLoop, since, now, this.warmupEndsAt, this.measureEndsAt);
    if (place === 'carriedIn') this.carriedIn++;
    if (!openLoop && since < this.measureEndsAt && now > this.measureEndsAt) this.answeredAfterWindowMaxMs = Math.max(this.answeredAfterWindowMaxMs, now - since);
    return place === 'window';
  }

  /** A slot with no write outstanding, chosen at random and taken, or NO_FREE_KEY. */
  private takeFreeKey(): number {
    if (this.freeCount === 0) return NO_FREE_KEY;
    const at = Math.floor(this.random() * this.freeCount);
    const slot = this.freeKeys[at]!;
    this.freeKeys[at] = this.freeKeys[--this.freeCount]!;
    return slot;
  }

  /** Issues one request through `session` whose latency clock started at `since`. False when no key is free. */
  private issue(session: number, since: number): boolean {
    if (this.task.readFraction > 0 && this.random() < this.task.readFraction) {
      const tag = this.newTag(session, since, NO_KEY, 0);
      this.outstanding++;
      this.client.get(keyName(Math.floor(this.random() * this.task.keys)), tag);
      return true;
    }
    const slot = this.takeFreeKey();
    if (slot === NO_FREE_KEY) return false;
    const seq = this.nextSeq++;
    this.lastIssuedSeq[slot] = seq;
    this.outstanding++;
    this.client.put(session, this.newTag(session, since, slot, seq));
    return true;
  }

  private newTag(session: number, since: number, keySlot: number, seq: number): number {
    const tag = this.freeTags.pop() ?? this.tagSince.length;
    this.tagSince[tag] = since;
    this.tagSession[tag] = session;
    this.tagKeySlot[tag] = keySlot;
    this.tagSeq[tag] = seq;
    return tag;
  }

  private keyOfSlot(slot: number): number {
    return this.task.generatorId + slot * this.task.generators;
  }

  writePut(out: MsgpackWriter, tag: number): void {
    writeKeyName(out, this.keyOfSlot(this.tagKeySlot[tag]!));
    writeMadeValue(out, this.task.generatorId, this.tagSeq[tag]!, this.task.valueBytes);
  }

  keyOf(tag: number): string {
    return keyName(this.keyOfSlot(this.tagKeySlot[tag]!));
  }

  valueOf(tag: number): string {
    return makeValue(this.task.generatorId, this.tagSeq[tag]!, this.task.valueBytes, this.padding);
  }

  done(tag: number, failure: RequestFailure | null, _value: JsonValue, now: number): void {
    const since = this.tagSince[tag]!;
    const session = this.tagSession[tag]!;
    const slot = this.tagKeySlot[tag]!;
    const seq = this.tagSeq[tag]!;
    this.freeTags.push(tag);
    if (slot === NO_KEY) {
      if (failure === null) {
        this.bump(ProgressSlot.ReadsOk);
        if (this.countsInWindow(since, now)) {
          this.readsOk++;
          this.readLatencies.recordMs(now - since);
        }
      } else {
        this.readErrors++;
        this.countError(`read ${failure.code}`);
      }
    } else {
      this.freeKeys[this.freeCount++] = slot;
      if (failure === null) {
        // Acknowledged means committed and applied: only now does it count.
        this.lastAckedSeq[slot] = seq;
        this.recentAcked[this.recentAt++ % this.recentAcked.length] = slot;
        this.writesAckedTotal++;
        this.bump(ProgressSlot.WritesAcked);
        if (this.countsInWindow(since, now)) {
          this.writesAcked++;
          this.writeLatencies.recordMs(now - since);
        }
      } else {
        this.writeErrors++;
        if (failure.indeterminate) this.writesIndeterminate++;
        this.countError(`write ${failure.code}`);
      }
    }
    this.settleOne();
    if (this.reissue) this.next(session, now);
  }

  private settleOne(): void {
    this.outstanding--;
    this.checkFinished();
  }

  private checkFinished(): void {
    if (this.outstanding === 0 && this.loopsRunning === 0 && this.finished !== null) {
      const finished = this.finished;
      this.finished = null;
      finished();
    }
  }

  /** Resolves once the load loops stopped and every request they sent was answered. */
  private allSettled(): Promise<void> {
    return new Promise((resolve) => {
      this.finished = resolve;
      this.checkFinished();
    });
  }

  /** N outstanding requests per session, each re-issued as soon as it completes. */
  private closedLoop(): Promise<void> {
    this.reissue = true;
    for (let session = 0; session < this.task.clients; session++) {
      for (let i = 0; i < this.task.inflightPerClient; i++) {
        this.loopsRunning++;
        this.next(session, performance.now());
      }
    }
    return Promise.resolve();
  }

  /** Closed loop: the next request of one of `session`'s loops, or the loop's end. */
  private next(session: number, now: number): void {
    if (now >= this.measureEndsAt) {
      this.loopsRunning--;
      this.checkFinished();
      return;
    }
    // Options validation guarantees a free key for every outstanding request.
    if (!this.issue(session, now)) throw new Error('closed loop invariant violated: no free key for an outstanding request');
  }

  /** Requests fall due at fixed intervals from the start, whatever the system does. */
  private async openLoop(ratePerSecond: number): Promise<void> {
    // The rate ramps up over the first half of the warm-up (see OpenLoopSchedule).
    const schedule = new OpenLoopSchedule(ratePerSecond, (this.warmupEndsAt - this.startAt) / 2);
    if (this.task.pacer === null) throw new Error('bench: an open-loop generator was given no pacer');
    const pacer = new Int32Array(this.task.pacer);
    const maxOutstanding = Math.min(BENCH_LIMITS.openLoopMaxOutstanding, this.ownedKeys);
    let issued = 0;
    let nextSession = 0;
    const dueByEnd = schedule.dueBy(this.measureEndsAt - this.startAt);
    // Once the window is over, what fell due inside it is still sent, nothing later: a
    // backlog left at its end is the window's worst latency, not to be left out. For up
    // to a request timeout: a generator still further behind gives up on the rest.
    const sendUntil = this.measureEndsAt + this.task.requestTimeoutMs;
    for (;;) {
      const now = performance.now();
      const ended = now >= this.measureEndsAt;
      const due = ended ? dueByEnd : schedule.dueBy(now - this.startAt);
      if (issued < due) {
        // How late this wake sends the oldest request due (a request due inside the window;
        // the warm-up's ramp is not measured): the generator's own lateness, waking on a
        // tick or from a pause. Its latency counts from when it fell due either way.
        const oldestDueAt = this.startAt + schedule.dueAt(issued);
        if (oldestDueAt >= this.warmupEndsAt) this.sendLateMaxMs = Math.max(this.sendLateMaxMs, now - oldestDueAt);
      }
      while (issued < due && this.outstanding < maxOutstanding) {
        if (!this.issue(nextSession, this.startAt + schedule.dueAt(issued))) break;
        nextSession = (nextSession + 1) % this.task.clients;
        issued++;
      }
      this.backlogMax = Math.max(this.backlogMax, due - issued);
      if (ended && (issued >= dueByEnd || now >= sendUntil)) break;
      await nextPacerTick(pacer);
    }
    // Due inside the window and still unsent a request timeout after it: the newest of the backlog.
    this.dueNotSent = Math.min(dueByEnd - schedule.dueBy(this.warmupEndsAt - this.startAt), dueByEnd - issued);
  }

  /**
   * Reads back a sample of acknowledged keys through linearizable gets, with the public
   * KvClient on ports of its own: the check does not trust the lean client.
   */
  private async verify(): Promise<VerifyResult> {
    const ring = this.recentAcked.length;
    const recent: number[] = [];
    for (let at = Math.max(0, this.recentAt - ring); at < this.recentAt; at++) recent.push(this.recentAcked[at % ring]!);
    const checks: ReadBackCheck[] = chooseReadBack(this.lastAckedSeq, recent, this.task.verifySample, this.random).map((slot) => ({
      key: keyName(this.keyOfSlot(slot)),
      expectedSeq: this.lastAckedSeq[slot]!,
      maxSeq: this.lastIssuedSeq[slot]!,
    }));
    if (this.task.testOnlyForgetKey) {
      checks.push({ key: `never-written-by-generator-${this.task.generatorId}`, expectedSeq: 1, maxSeq: 1 });
    }
    const hub = new ClientHub(this.task.nodeIds, { maxValueBytes: this.task.maxValueBytes });
    for (const { node, port } of this.task.verifyPorts) hub.connect(node, port);
    const client = hub.client({ timeoutMs: this.task.requestTimeoutMs });
    const missingListed: MissingWrite[] = [];
    const readErrorCodes: Record<string, number> = {};
    let missing = 0;
    let readErrors = 0;
    let next = 0;
    const reader = async (): Promise<void> => {
      while (next < checks.length) {
        const check = checks[next++]!;
        let value: unknown;
        try {
          value = await client.get(check.key);
        } catch (error) {
          readErrors++;
          const { code } = errorCode(error);
          readErrorCodes[code] = (readErrorCodes[code] ?? 0) + 1;
          continue;
        }
        if (readBackOk(value, check, this.task.generatorId, this.task.valueBytes)) continue;
        missing++;
        if (missingListed.length < BENCH_LIMITS.missingKeysListed) {
          missingListed.push({ key: check.key, expectedSeq: check.expectedSeq, found: typeof value === 'string' ? value.slice(0, 40) : value === null ? null : JSON.stringify(value).slice(0, 40) });
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: BENCH_LIMITS.verifyConcurrency }, reader));
    } finally {
      hub.close();
    }
    return { checked: checks.length, missing, missingListed, readErrors, readErrorCodes };
  }
}

export function runLoad(task: LoadTask): Promise<LoadResult> {
  return new LoadGenerator(task).run();
}
