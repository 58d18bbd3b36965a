// One load generator (lib/bench/load.ts) run on this thread against a scripted
// one-node KV on MessageChannels: what its figures count and leave out. Latency runs from
// the intended send time when the open loop falls behind; a request never answered is a
// counted TIMEOUT, in no latency; the window's counts and latencies are the same
// requests; the read-back demands each key's acknowledged value byte for byte, and
// always covers the writes acknowledged as the run ended.

import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { NodeReplyCode, decodeClientBatch, encodeReplyBatch } from '../lib/cluster/protocol.js';
import type { Reply } from '../lib/cluster/protocol.js';
import type { JsonValue } from '../lib/cluster/types.js';
import { decodeCommand } from '../lib/kv/command.js';
import { chooseReadBack, keyName, makeValue, parseValue, readBackOk, runLoad } from '../lib/bench/load.js';
import { createPrng } from '../lib/raft/prng.js';
import { PROGRESS_SLOTS_PER_GENERATOR } from '../lib/bench/types.js';
import type { LoadResult, LoadTask } from '../lib/bench/types.js';
import { summarizeMs } from '../lib/bench/histogram.js';
import { Pacer } from '../lib/bench/pacer.js';
import type { LatencySummaryMs } from '../lib/bench/histogram.js';

/** What the scripted node does with a put: answer it (after storing `stored`), or never answer. */
interface KvScript {
  /** The value stored for a put (default: the value sent). */
  readonly store?: (key: string, value: JsonValue) => JsonValue;
  /** True: the put is applied but never answered (its reply lost). */
  readonly silent?: (key: string, putNumber: number) => boolean;
  /** Answer each batch of puts this many ms late (0: at once). */
  readonly replyDelayMs?: number;
  /** At the first get, undo this many of the last puts (acknowledged, then lost). */
  readonly rollBackOnFirstRead?: number;
  /** Batches of puts received from this Date.now() on are answered `delayMs` late (a stall). */
  readonly stallFrom?: { readonly epochMs: number; readonly delayMs: number };
}

/** A one-node KV: registrations get session ids, puts are stored, gets read the store. One port per call to connect(). */
class FakeKv {
  readonly data = new Map<string, JsonValue>();
  puts = 0;
  /** The keys rollBackOnFirstRead undid. */
  readonly rolledBack: string[] = [];
  private readonly undo: { key: string; previous: JsonValue | undefined }[] = [];
  private readsSeen = 0;
  private sessions = 0;

  constructor(private readonly script: KvScript = {}) {}

  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (bytes: unknown) => {
      const replies: Reply[] = [];
      for (const frame of decodeClientBatch(bytes).frames) {
        if (frame.t === 'r') {
          if (this.readsSeen++ === 0) this.rollBack(this.script.rollBackOnFirstRead ?? 0);
          replies.push({ rid: frame.rid, ok: true, value: this.data.get(frame.key) ?? null });
          continue;
        }
        const command = decodeCommand(frame.command);
        if (command.type === 'register') {
          replies.push({ rid: frame.rid, ok: true, value: ++this.sessions });
          continue;
        }
        const operation = command.operation;
        if (operation.op !== 'put') {
          replies.push({ rid: frame.rid, ok: false, code: NodeReplyCode.NotLeader, message: 'only puts here', leaderId: 0 });
          continue;
        }
        const putNumber = ++this.puts;
        this.undo.push({ key: operation.key, previous: this.data.get(operation.key) });
        if (this.undo.length > 16) this.undo.shift();
        this.data.set(operation.key, this.script.store === undefined ? operation.value : this.script.store(operation.key, operation.value));
        if (this.script.silent?.(operation.key, putNumber) === true) continue;
        replies.push({ rid: frame.rid, ok: true, value: null });
      }
      if (replies.length === 0) return;
      const stall = this.script.stallFrom;
      const delayMs = stall !== undefined && Date.now() >= stall.epochMs ? stall.delayMs : (this.script.replyDelayMs ?? 0);
      if (delayMs === 0) port1.postMessage(encodeReplyBatch(replies));
      else setTimeout(() => port1.postMessage(encodeReplyBatch(replies)), delayMs);
    });
    port1.unref();
    return port2;
  }

  private rollBack(count: number): void {
    for (let i = 0; i < count; i++) {
      const last = this.undo.pop();
      if (last === undefined) return;
      this.rolledBack.push(last.key);
      if (last.previous === undefined) this.data.delete(last.key);
      else this.data.set(last.key, last.previous);
    }
  }
}

const VALUE_BYTES = 64;
/** From the task to its start: time to register the sessions on a busy machine. */
const START_DELAY_MS = 500;

/** A generator's task against `kv`: 1 node, `warmupMs` of warm-up then `windowMs` measured, starting shortly. */
function task(kv: FakeKv, overrides: Partial<LoadTask> & { warmupMs?: number; windowMs?: number } = {}): LoadTask {
  const { warmupMs = 200, windowMs = 600, ...rest } = overrides;
  const startAtMs = Date.now() + START_DELAY_MS;
  return {
    type: 'load',
    generatorId: 0,
    generators: 1,
    seed: 12345,
    nodeIds: [1],
    ports: [{ node: 1, port: kv.connect() }],
    verifyPorts: [{ node: 1, port: kv.connect() }],
    client: 'lean',
    clients: 2,
    inflightPerClient: 4,
    ratePerSecond: null,
    readFraction: 0,
    valueBytes: VALUE_BYTES,
    keys: 200,
    maxValueBytes: 1024,
    seqStart: 1,
    startAtMs,
    warmupEndsAtMs: startAtMs + warmupMs,
    measureEndsAtMs: startAtMs + warmupMs + windowMs,
    verifySample: 20,
    requestTimeoutMs: 10_000,
    progress: new SharedArrayBuffer(PROGRESS_SLOTS_PER_GENERATOR * Int32Array.BYTES_PER_ELEMENT),
    pacer: null,
    testOnlyForgetKey: false,
    ...rest,
  };
}

function latencyOf(encoded: string): LatencySummaryMs {
  const histogram = decodeFromCompressedBase64(encoded, 32, false);
  try {
    return summarizeMs(histogram);
  } finally {
    histogram.destroy();
  }
}

function describe(result: LoadResult): string {
  const { writeHistogram: _w, readHistogram: _r, ...rest } = result;
  void _w;
  void _r;
  return JSON.stringify({ ...rest, writeLatencyMs: latencyOf(result.writeHistogram) });
}

test.serial('closed loop: a stall at the window\'s end is in no percentile, and the generator says how long those requests took', async (t) => {
  // Puts that reach the node in the last 150 ms of the window are answered 400 ms late:
  // all answered after it, none inside it.
  const stallMs = 400;
  const base = task(new FakeKv());
  const kv = new FakeKv({ stallFrom: { epochMs: base.measureEndsAtMs - 150, delayMs: stallMs } });
  const result = await runLoad({ ...base, ports: [{ node: 1, port: kv.connect() }], verifyPorts: [{ node: 1, port: kv.connect() }] });
  const latency = latencyOf(result.writeHistogram);
  const context = describe(result);
  t.true(result.writesAcked > 0, context);
  t.true(latency.max! < stallMs - 150, `the stalled requests were answered after the window: ${context}`);
  t.true(result.answeredAfterWindowMaxMs >= stallMs - 50, context);
  t.is(result.writeErrors, 0, context);
});

test.serial('open loop behind its schedule: latency runs from when each request fell due, not from when it was sent', async (t) => {
  const kv = new FakeKv();
  // A pacer that never ticks: the generator wakes only on its 50 ms fallback, so a
  // request waits up to 50 ms after falling due before it is sent; the node answers at once.
  const result = await runLoad(task(kv, { ratePerSecond: 1000, pacer: new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT), keys: 2000 }));
  const latency = latencyOf(result.writeHistogram);
  const context = describe(result);
  t.is(latency.count, result.writesAcked, context);
  t.true(result.writesAcked >= 500 && result.writesAcked <= 601, context);
  // Due evenly over each 50 ms gap and sent at its end: about 25 ms at the median, up to 50.
  t.true(latency.p50! >= 10, `p50 ${latency.p50} ms: the wait before sending was left out; ${context}`);
  t.true(latency.max! >= 35, context);
  // Not held back (nothing outstanding for long), only late: said apart from the backlog.
  t.true(result.sendLateMaxMs >= 35, context);
  t.is(result.writeErrors, 0, context);
});

test.serial('open loop held back at the window\'s end: what fell due inside it is still sent, and timed from its due time', async (t) => {
  // 10 keys, so at most 10 writes outstanding, each answered 20 ms late: about 500
  // writes/s against 700 asked for, so the window ends with a backlog of a couple of
  // hundred requests that have fallen due and were never sent.
  const kv = new FakeKv({ replyDelayMs: 20 });
  const pacer = new Pacer(1);
  // The pacer's thread is unref'd and a wait on its ticks holds nothing open: keep this thread alive meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  let result: LoadResult;
  try {
    await pacer.ready();
    result = await runLoad(task(kv, { ratePerSecond: 700, pacer: pacer.buffer, keys: 10, verifySample: 10, warmupMs: 200, windowMs: 1000 }));
  } finally {
    await pacer.stop();
    clearInterval(keepAlive);
  }
  const latency = latencyOf(result.writeHistogram);
  const context = describe(result);
  t.true(result.backlogMax >= 50, `held back; ${context}`);
  t.is(result.dueNotSent, 0, `the backlog was sent after the window; ${context}`);
  t.is(latency.count, result.writesAcked, context);
  // Every request due in the 1 s window (700, give or take the schedule's rounding), answered.
  t.true(Math.abs(result.writesAcked - 700) <= 2, context);
  t.is(result.writeErrors, 0, context);
  // The last of them waited for the whole backlog: hundreds of ms from its due time.
  t.true(latency.max! >= 150, context);
});

test.serial('a write never answered is a TIMEOUT error, indeterminate, in no latency and never acknowledged; the window counts what its latencies hold', async (t) => {
  // Every 50th put is applied but its reply never comes.
  const kv = new FakeKv({ silent: (_key, n) => n % 50 === 0 });
  const result = await runLoad(task(kv, { requestTimeoutMs: 300, keys: 2000 }));
  const latency = latencyOf(result.writeHistogram);
  const context = describe(result);
  t.true(result.writeErrors > 0, context);
  t.is(result.writesIndeterminate, result.writeErrors, context);
  t.is(result.errorCodes['write TIMEOUT'], result.writeErrors, context);
  t.is(result.writesAckedTotal + result.writeErrors, kv.puts, `every put ended once, acknowledged or an error; ${context}`);
  // The window's count and its latencies are the same requests, the warm-up's excluded.
  t.is(latency.count, result.writesAcked, context);
  t.true(result.writesAckedTotal > result.writesAcked, context);
  // A timed-out write may sit in the store: the read-back accepts it (it is our own, sent later than the last acknowledged).
  t.is(result.verify.missing, 0, context);
});

test.serial('read-back: a value garbled after its "<generator>:<seq>:" prefix is reported missing', async (t) => {
  const garbled = keyName(0);
  // k0 keeps its prefix but loses a byte of its padding; every other key is stored intact.
  const kv = new FakeKv({ store: (key, value) => (key === garbled && typeof value === 'string' ? value.slice(0, -1) : value) });
  const result = await runLoad(task(kv, { keys: 20, verifySample: 20 }));
  const context = describe(result);
  t.true(kv.data.has(garbled), context);
  t.is(result.verify.checked, 20, context);
  t.is(result.verify.missing, 1, context);
  t.is(result.verify.missingListed[0]?.key, garbled, context);
});

test('read-back: an older write of the key, another generator\'s value, or one never sent fails; the last acknowledged or a later one sent passes', (t) => {
  const check = { key: 'k3', expectedSeq: 10, maxSeq: 12 };
  const value = (generatorId: number, seq: number): string => makeValue(generatorId, seq, VALUE_BYTES, 'x'.repeat(VALUE_BYTES));
  t.true(readBackOk(value(0, 10), check, 0, VALUE_BYTES));
  t.true(readBackOk(value(0, 12), check, 0, VALUE_BYTES), 'a later write whose outcome was unknown');
  t.false(readBackOk(value(0, 9), check, 0, VALUE_BYTES), 'an older write: the acknowledged one was lost');
  t.false(readBackOk(value(0, 13), check, 0, VALUE_BYTES), 'a seq never sent to this key');
  t.false(readBackOk(value(1, 10), check, 0, VALUE_BYTES), 'another generator\'s');
  t.false(readBackOk(null, check, 0, VALUE_BYTES), 'absent');
  t.false(readBackOk(value(0, 10).slice(0, -1), check, 0, VALUE_BYTES), 'truncated');
  t.false(readBackOk(`${value(0, 10).slice(0, -1)}y`, check, 0, VALUE_BYTES), 'a padding byte changed');
  t.false(readBackOk(value(0, 10), check, 0, VALUE_BYTES + 1), 'the wrong size');
  t.deepEqual(parseValue(value(0, 10)), { generatorId: 0, seq: 10 });
});

test('read-back sample: the keys of the last acknowledged writes, then seeded random others, each once and only acknowledged ones', (t) => {
  const seed = 777;
  const random = createPrng(seed);
  const lastAcked = new Float64Array(1000);
  for (let slot = 0; slot < 1000; slot += 2) lastAcked[slot] = slot + 1;
  // The last acknowledged writes, oldest first: slot 998 twice, and a slot never acknowledged is skipped.
  const recent = [10, 12, 997, 998, 996, 998];
  const chosen = chooseReadBack(lastAcked, recent, 10, random);
  t.is(chosen.length, 10, `seed ${seed}`);
  t.deepEqual(chosen.slice(0, 4), [998, 996, 12, 10], `newest first, distinct; seed ${seed}`);
  t.is(new Set(chosen).size, 10, `seed ${seed}`);
  t.true(chosen.every((slot) => lastAcked[slot]! > 0), `seed ${seed}`);
  // At most half the sample comes from the recent ones.
  const many = Array.from({ length: 100 }, (_, i) => 2 * i);
  t.deepEqual(chooseReadBack(lastAcked, many, 10, createPrng(seed)).slice(0, 5), [198, 196, 194, 192, 190], `seed ${seed}`);
  t.is(new Set(chooseReadBack(lastAcked, many, 10, createPrng(seed))).size, 10, `seed ${seed}`);
  // Fewer acknowledged keys than the sample: all of them.
  const few = new Float64Array(50);
  few[3] = 1;
  few[7] = 2;
  t.deepEqual(chooseReadBack(few, [7], 10, createPrng(seed)).sort(), [3, 7]);
});

test.serial('read-back covers the writes acknowledged as the run ended', async (t) => {
  // At the first read (the read-back's), the node loses its last 3 puts, every one of them
  // acknowledged. Among 50,000 keys, each put to a fresh one, a sample of 2 picked at random alone
  // would almost never include one of the 3.
  const kv = new FakeKv({ rollBackOnFirstRead: 3 });
  const result = await runLoad(task(kv, { keys: 50_000, verifySample: 2, clients: 1, inflightPerClient: 1, warmupMs: 0, windowMs: 500 }));
  const context = `${kv.puts} puts, rolled back ${JSON.stringify(kv.rolledBack)}; ${describe(result)}`;
  t.true(kv.puts > 20, context);
  t.is(result.verify.checked, 2, context);
  t.true(result.verify.missing >= 1, `the last acknowledged writes, lost, were not read back; ${context}`);
  t.true(result.verify.missingListed.every((missing) => kv.rolledBack.includes(missing.key)), context);
});
