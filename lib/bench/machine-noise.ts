// How much of a latency tail the machine itself put there. Two measures, taken over each
// measured window:
// - hiccups (after Gil Tene's jHiccup): a timer on the bench's main thread, which has
//   almost nothing else to do, asks to wake every 10 ms and records how late it woke. A
//   thread of raftlab that is ready to run waits as long; no request in flight can come
//   back faster than the pause it sat through. (Every millisecond, as jHiccup does, cost
//   the cluster 10% of its writes/s on 2 saturated cores: each wake-up preempts a node.)
//   A wake later than the interval also counts the wakes it displaced, as jHiccup's do
//   (recordSampledDelayMs): until the thirty-first session a 500 ms stall was one sample
//   among a window's thousand, below its p99.
// - steal: time the hypervisor ran something else while this virtual machine's CPUs had
//   work (Linux /proc/stat), in cores. On a shared VM it comes in bursts that pause
//   every thread at once.

import { readFileSync } from 'node:fs';
import type { Histogram } from 'hdr-histogram-js';
import { newLatencyHistogram, recordSampledDelayMs, summarizeMs } from './histogram.js';
import type { LatencySummaryMs } from './histogram.js';

const HICCUP_INTERVAL_MS = 10;
/** /proc/stat counts in USER_HZ ticks, 100 a second on every Linux architecture Node supports. */
const PROC_STAT_TICKS_PER_SECOND = 100;

export interface MachineNoise {
  /** How late a 10 ms timer on an otherwise idle thread woke, over the window. */
  readonly hiccupMs: LatencySummaryMs;
  /** Cores' worth of time the hypervisor took while there was work (null: not Linux, or unreadable). */
  readonly stolenCores: number | null;
}

/** Total steal ticks since boot, from the "cpu" line of /proc/stat; null where there is none. */
function stealTicks(): number | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return null;
  }
  const line = text.slice(0, text.indexOf('\n'));
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu' || fields.length < 9) return null;
  const steal = Number(fields[8]);
  return Number.isFinite(steal) ? steal : null;
}

export class MachineNoiseMeter {
  readonly #histogram: Histogram = newLatencyHistogram();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #startedAt = 0;
  #stealAtStart: number | null = null;

  start(): void {
    if (this.#timer !== null) throw new Error('MachineNoiseMeter: already started');
    this.#startedAt = performance.now();
    this.#stealAtStart = stealTicks();
    const arm = (): void => {
      const due = performance.now() + HICCUP_INTERVAL_MS;
      this.#timer = setTimeout(() => {
        recordSampledDelayMs(this.#histogram, Math.max(0, performance.now() - due), HICCUP_INTERVAL_MS);
        arm();
      }, HICCUP_INTERVAL_MS);
    };
    arm();
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  /** Stops measuring and returns what the window saw. */
  stop(): MachineNoise {
    if (this.#timer === null) throw new Error('MachineNoiseMeter: not started');
    clearTimeout(this.#timer);
    this.#timer = null;
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const stealNow = stealTicks();
    const stolenCores =
      this.#stealAtStart === null || stealNow === null || seconds <= 0 ? null : (stealNow - this.#stealAtStart) / PROC_STAT_TICKS_PER_SECOND / seconds;
    const hiccupMs = summarizeMs(this.#histogram);
    this.#histogram.destroy();
    return { hiccupMs, stolenCores };
  }
}
