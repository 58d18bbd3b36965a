// Client-observed write statistics for the dashboard: ops/s over the last second and
// commit latency quantiles over the last few seconds. O(1) per recorded write.

const BUCKET_MS = 100;
const BUCKETS_PER_SECOND = 1000 / BUCKET_MS;
const BUCKETS_KEPT = BUCKETS_PER_SECOND + 2;
const LATENCY_SAMPLES_KEPT = 8192;

export class WriteStats {
  /** Writes per 100 ms bucket; bucketIds says which bucket each slot currently holds. */
  private readonly bucketCounts = new Float64Array(BUCKETS_KEPT);
  private readonly bucketIds = new Float64Array(BUCKETS_KEPT).fill(-1);
  /** The most recent latency samples, a ring. */
  private readonly sampleAtMs = new Float64Array(LATENCY_SAMPLES_KEPT);
  private readonly sampleLatencyMs = new Float64Array(LATENCY_SAMPLES_KEPT);
  private sampleNext = 0;
  private sampleCount = 0;

  record(nowMs: number, latencyMs: number): void {
    const bucket = Math.floor(nowMs / BUCKET_MS);
    const slot = bucket % BUCKETS_KEPT;
    if (this.bucketIds[slot] !== bucket) {
      this.bucketIds[slot] = bucket;
      this.bucketCounts[slot] = 0;
    }
    this.bucketCounts[slot]! += 1;
    this.sampleAtMs[this.sampleNext] = nowMs;
    this.sampleLatencyMs[this.sampleNext] = latencyMs;
    this.sampleNext = (this.sampleNext + 1) % LATENCY_SAMPLES_KEPT;
    this.sampleCount = Math.min(this.sampleCount + 1, LATENCY_SAMPLES_KEPT);
  }

  /**
   * Writes completed in the last second: the current, partial bucket, the nine before it,
   * and of the bucket before those the share still inside the second (its writes taken as
   * spread evenly). Without that share the window was 0.9-1.0 s long, and a steady 200
   * writes/s showed as 180-200, 190 on average.
   */
  opsPerSecond(nowMs: number): number {
    const current = Math.floor(nowMs / BUCKET_MS);
    const oldest = current - BUCKETS_PER_SECOND;
    const oldestShare = 1 - (nowMs - current * BUCKET_MS) / BUCKET_MS;
    let count = 0;
    for (let slot = 0; slot < BUCKETS_KEPT; slot++) {
      const id = this.bucketIds[slot]!;
      if (id > oldest && id <= current) count += this.bucketCounts[slot]!;
      else if (id === oldest) count += this.bucketCounts[slot]! * oldestShare;
    }
    return count;
  }

  /** Latency quantiles over the samples recorded within windowMs; null when there are none. */
  latencyQuantiles(nowMs: number, windowMs: number): { p50: number | null; p99: number | null } {
    const recent: number[] = [];
    for (let i = 0; i < this.sampleCount; i++) {
      const ageMs = nowMs - this.sampleAtMs[i]!;
      if (ageMs >= 0 && ageMs <= windowMs) recent.push(this.sampleLatencyMs[i]!);
    }
    if (recent.length === 0) return { p50: null, p99: null };
    recent.sort((a, b) => a - b);
    const at = (q: number): number => recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!;
    return { p50: at(0.5), p99: at(0.99) };
  }
}
