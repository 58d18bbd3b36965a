// Is the measured window steady? A fresh cluster can keep getting faster for seconds
// after it starts: V8 optimises each thread's code only once it has run for a while, and
// on 2 busy cores the compiling competes with the work (in a profile of 7 nodes, 8% of
// the CPU went to compiling 6-11 s after the start, under 1% 24-29 s after). A window that
// begins too early measures a warming cluster, not the one a long-running user has; a
// shared machine changing speed looks the same from inside. The bench samples the
// generators' running count of acknowledged operations; this turns the samples into a
// rate for each second of the window and compares the window's two halves.

import { BENCH_LIMITS } from './types.js';

/** Cumulative counts sampled over time; times and counts never go down. */
export class ThroughputTrace {
  readonly #times: number[] = [];
  readonly #counts: number[] = [];

  /** A sample: `count` operations acknowledged in total by time `atMs`. */
  add(atMs: number, count: number): void {
    const last = this.#times.length - 1;
    if (last >= 0 && (atMs < this.#times[last]! || count < this.#counts[last]!)) {
      throw new RangeError(`ThroughputTrace: sample (${atMs}, ${count}) goes back from (${this.#times[last]}, ${this.#counts[last]})`);
    }
    this.#times.push(atMs);
    this.#counts.push(count);
  }

  /**
   * Operations per second for each whole second of [fromMs, toMs): the cumulative count at
   * each second's boundaries is interpolated linearly between the samples around it. Null
   * when the samples do not cover the window.
   */
  perSecond(fromMs: number, toMs: number): number[] | null {
    const seconds = Math.floor((toMs - fromMs) / 1000);
    const times = this.#times;
    if (seconds < 1 || times.length < 2 || times[0]! > fromMs || times[times.length - 1]! < fromMs + seconds * 1000) return null;
    const rates: number[] = [];
    let previous = this.#countAt(fromMs);
    for (let second = 1; second <= seconds; second++) {
      const next = this.#countAt(fromMs + second * 1000);
      rates.push(next - previous);
      previous = next;
    }
    return rates;
  }

  /** The cumulative count at `atMs`, which lies within the samples. */
  #countAt(atMs: number): number {
    const times = this.#times;
    // The first sample at or after atMs (binary search: a run has a few hundred samples).
    let low = 0;
    let high = times.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (times[middle]! < atMs) low = middle + 1;
      else high = middle;
    }
    if (times[low] === atMs || low === 0) return this.#counts[low]!;
    const t0 = times[low - 1]!;
    const t1 = times[low]!;
    const c0 = this.#counts[low - 1]!;
    const c1 = this.#counts[low]!;
    return c0 + ((c1 - c0) * (atMs - t0)) / (t1 - t0);
  }
}

/**
 * The mean rate of the window's second half over its first half (the middle second left
 * out when the count is odd); null with fewer than two seconds or an idle first half.
 * Above 1 the second half was the faster: a cluster still warming up, or a machine
 * whose speed changed.
 */
export function secondHalfOverFirst(perSecond: readonly number[]): number | null {
  const half = Math.floor(perSecond.length / 2);
  if (half < 1) return null;
  const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const first = mean(perSecond.slice(0, half));
  const second = mean(perSecond.slice(perSecond.length - half));
  return first > 0 ? second / first : null;
}

/**
 * The note for a closed-loop window whose second half differs from its first by more than
 * BENCH_LIMITS.unsteadyChange either way (faster: above x1.10; slower: below x0.90), or
 * null. The ratio is compared as printed, so a note never shows one that looks like the
 * limit itself.
 */
export function unsteadyWindowNote(ratio: number | null): string | null {
  if (ratio === null) return null;
  const printed = ratio.toFixed(2);
  const shown = Number(printed);
  const change = BENCH_LIMITS.unsteadyChange;
  if (shown > 1 + change) {
    return `the window was not steady: its second half did x${printed} the operations/s of its first (a cluster still warming up, or the machine's speed changing); a longer --warmup tells the two apart`;
  }
  if (shown < 1 - change) {
    return `the window was not steady: its second half did x${printed} the operations/s of its first (the machine's speed changing, other processes taking the cores, or the cluster slowing as its log, heaps and files grow); a longer --duration, or a second run, tells them apart`;
  }
  return null;
}
