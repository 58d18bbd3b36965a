// The open loop's clock: a worker thread that wakes every `periodMs` and wakes the load
// generators waiting on a shared tick counter (workers/bench-pacer.ts).
//
// Why not a timer in each generator: a generator's event loop is busy with replies, and
// libuv's timers count whole milliseconds, so `setTimeout(1)` woke a generator 1.4 ms
// apart at the median and 2.1 ms apart at p99 (at 100,000 writes/s on 1 node here). A
// request waits for the tick that sends it, and its latency counts from the instant it
// was due, so the generator's own lateness was a third of p99 before the request left.
// A futex wait (Atomics.wait) honours a sub-millisecond timeout to within about 0.1 ms,
// and a generator waiting in Atomics.waitAsync is woken through its event loop at once.

import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const PACER_URL = new URL('../../workers/bench-pacer.js', import.meta.url);

/** Int32 slots of the pacer's shared buffer. */
export const PacerSlot = {
  /** Set to 1 to stop the pacer. */
  Stop: 0,
  /** Incremented, and notified, at every tick. */
  Tick: 1,
} as const;
const PACER_SLOTS = 2;

/** A generator falls back to waking this often if the pacer is gone (it is stopped only
 *  after the generators are done; this bounds a wait on a pacer that died). */
const FALLBACK_WAKE_MS = 50;
/** How long ready() waits for the pacer's first tick. */
const READY_TIMEOUT_MS = 10_000;

export interface PacerData {
  readonly buffer: SharedArrayBuffer;
  readonly periodMs: number;
}

// Atomics.waitAsync is ES2024; Node 20 has it.
type WaitAsync = (array: Int32Array, index: number, value: number, timeoutMs?: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class Pacer {
  readonly buffer = new SharedArrayBuffer(PACER_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  private readonly worker: Worker;
  private readonly online: Promise<void>;
  private readonly exited: Promise<void>;
  private failure: Error | null = null;

  constructor(periodMs: number) {
    if (!(periodMs > 0 && periodMs <= 1000)) throw new RangeError(`pacer period ${periodMs} ms is not in (0, 1000]`);
    const data: PacerData = { buffer: this.buffer, periodMs };
    this.worker = new Worker(PACER_URL, { workerData: data });
    // A pacer left running on some error path must not keep the process alive.
    this.worker.unref();
    this.online = once(this.worker, 'online').then(() => undefined);
    // Awaited by ready(), if at all; stop() reports a failure either way.
    this.online.catch(() => undefined);
    // Listened for from the start: the thread may end (fail) before stop() is called.
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('error', (error) => {
      this.failure = error;
    });
  }

  /** Resolves once the pacer has ticked once: its thread is up and its module loaded (on a
   *  busy machine that can take longer than a generator's fallback wake). */
  async ready(): Promise<void> {
    await this.online;
    const slots = new Int32Array(this.buffer);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Atomics.load(slots, PacerSlot.Tick) === 0) {
      if (this.failure !== null) throw new Error(`bench: the open loop's pacer thread failed: ${this.failure.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`bench: the open loop's pacer did not tick within ${READY_TIMEOUT_MS} ms`);
      await nextPacerTick(slots, Math.min(left, FALLBACK_WAKE_MS));
    }
  }

  /** Stops the pacer and waits for its thread to end; throws if it failed meanwhile. */
  async stop(): Promise<void> {
    const slots = new Int32Array(this.buffer);
    Atomics.store(slots, PacerSlot.Stop, 1);
    Atomics.notify(slots, PacerSlot.Stop);
    await this.exited;
    if (this.failure !== null) throw new Error(`bench: the open loop's pacer thread failed: ${this.failure.message}`);
  }
}

/** In a load generator: resolves at the pacer's next tick (or after `timeoutMs`), with
 *  Atomics.waitAsync's result: 'ok', 'not-equal' (it ticked before the wait began) or 'timed-out'. */
export function nextPacerTick(slots: Int32Array, timeoutMs = FALLBACK_WAKE_MS): Promise<unknown> {
  const result = waitAsync(slots, PacerSlot.Tick, Atomics.load(slots, PacerSlot.Tick), timeoutMs);
  return result.async ? result.value : Promise.resolve(result.value);
}
