// Latency histograms (hdr-histogram-js), recorded in microseconds so that sub-millisecond
// commits stay distinguishable, and shipped between threads as compressed base64.

import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { BENCH_LIMITS } from './types.js';

/** Three significant digits: p99.9 of 1,234 µs is reported as 1,234, not 1,200. */
const SIGNIFICANT_DIGITS = 3;

export function newLatencyHistogram(): Histogram {
  return build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, numberOfSignificantValueDigits: SIGNIFICANT_DIGITS, useWebAssembly: false });
}

/** A latency as the histograms hold it: whole microseconds, at least 1, at most histogramMaxMicros. */
function latencyMicros(latencyMs: number): number {
  return Math.min(BENCH_LIMITS.histogramMaxMicros, Math.max(1, Math.round(latencyMs * 1000)));
}

export function recordLatencyMs(histogram: Histogram, latencyMs: number): void {
  histogram.recordValue(latencyMicros(latencyMs));
}

/**
 * Records a delay measured by a sampler meant to run every `intervalMs`: a delay past the
 * interval also records the samples it kept from being taken (delay - interval, - 2 ×
 * interval, ... down to the interval), as jHiccup does. A stall of 500 ms seen by a 10 ms
 * sampler is 50 samples' worth of waiting, not one: recorded once, it would hardly move
 * a p99 (coordinated omission, the error the open loop's latency avoids too).
 */
export function recordSampledDelayMs(histogram: Histogram, delayMs: number, intervalMs: number): void {
  histogram.recordValueWithExpectedInterval(latencyMicros(delayMs), latencyMicros(intervalMs));
}

/** Latencies up to this many microseconds are counted in a plain array (LatencyRecorder). */
const COUNTED_MICROS = 100_000;

/**
 * Records latencies into an hdr histogram the cheap way: a count per microsecond up to
 * 100 ms in a typed array, added to the histogram in one pass (flush), and only the
 * rarer longer ones recorded one by one. The histogram ends up exactly as if every value
 * had been recorded on its own: recordValue of a generator's every write was a tenth of
 * its CPU (a Math.pow per value), CPU the generators take from the cluster on 2 cores.
 */
export class LatencyRecorder {
  readonly #counts = new Uint32Array(COUNTED_MICROS + 1);

  constructor(private readonly histogram: Histogram) {}

  recordMs(latencyMs: number): void {
    const micros = latencyMicros(latencyMs);
    if (micros <= COUNTED_MICROS) {
      this.#counts[micros]!++;
    } else {
      this.histogram.recordValue(micros);
    }
  }

  /** Moves the counted values into the histogram. */
  flush(): void {
    const counts = this.#counts;
    for (let micros = 1; micros <= COUNTED_MICROS; micros++) {
      const count = counts[micros]!;
      if (count === 0) continue;
      this.histogram.recordValueWithCount(micros, count);
      counts[micros] = 0;
    }
  }
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

/** Sums histograms shipped from several generators into one. */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const total = newLatencyHistogram();
  for (const text of encoded) {
    const part = decodeFromCompressedBase64(text, 32, false);
    total.add(part);
    part.destroy();
  }
  return total;
}

export interface LatencySummaryMs {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

/**
 * A percentile is reported as the highest value its bucket stands for, which can be above
 * the largest value recorded when that one shares the bucket (writes caught by one stall
 * within a bucket's width of each other: 64 µs at 123 ms with three significant digits):
 * no percentile is reported above the max.
 */
export function summarizeMs(histogram: Histogram): LatencySummaryMs {
  const count = histogram.totalCount;
  if (count === 0) return { count, p50: null, p90: null, p99: null, p999: null, max: null, mean: null };
  const ms = (micros: number): number => Math.round(micros) / 1000;
  const max = histogram.maxValue;
  const at = (percentile: number): number => ms(Math.min(histogram.getValueAtPercentile(percentile), max));
  return {
    count,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: ms(max),
    mean: ms(histogram.mean),
  };
}
