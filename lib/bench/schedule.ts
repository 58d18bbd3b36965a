// When the open loop's requests fall due. The rate climbs linearly from zero over the
// first `rampMs` (half the warm-up) and then holds: a cold cluster loaded at the full
// rate from its first millisecond fell behind while its code was still unoptimised and
// its heaps were growing, and the backlog that built up (every request kept, each one's
// latency counted from its own due time) made its scavenges slow and its batches long,
// which made it fall further behind. At 150,000 writes/s on 3 nodes that spiral reached
// into the measured window in half the runs (p90 200-500 ms). Nothing measured changes:
// the window starts after the warm-up, at the full rate, and latency still counts from
// each request's intended send time.

export class OpenLoopSchedule {
  readonly #perMs: number;
  readonly #rampMs: number;
  /** Requests due by the end of the ramp. */
  readonly #rampCount: number;

  constructor(ratePerSecond: number, rampMs: number) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new RangeError(`open loop: rate ${ratePerSecond} must be a positive number`);
    if (!(rampMs >= 0) || !Number.isFinite(rampMs)) throw new RangeError(`open loop: ramp ${rampMs} ms must be a number >= 0`);
    this.#perMs = ratePerSecond / 1000;
    this.#rampMs = rampMs;
    this.#rampCount = (this.#perMs * rampMs) / 2;
  }

  /** How many requests have fallen due `elapsedMs` after the start (request 0 is due at 0). */
  dueBy(elapsedMs: number): number {
    if (elapsedMs < 0) return 0;
    if (elapsedMs < this.#rampMs) return Math.floor((this.#perMs * elapsedMs * elapsedMs) / (2 * this.#rampMs)) + 1;
    return Math.floor(this.#rampCount + this.#perMs * (elapsedMs - this.#rampMs)) + 1;
  }

  /** When request `k` (0-based) falls due, in ms after the start: the inverse of dueBy. */
  dueAt(k: number): number {
    if (k < this.#rampCount) return Math.sqrt((2 * this.#rampMs * k) / this.#perMs);
    return this.#rampMs + (k - this.#rampCount) / this.#perMs;
  }
}
