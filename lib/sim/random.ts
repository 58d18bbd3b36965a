// The simulator's randomness: one seed, split into independent streams so that a
// change in how often one subsystem draws (say, the network) does not reshuffle every
// other decision of the run. Built on the core's splitmix32 PRNG.

import { createPrng } from '../raft/prng.js';

const UINT32_RANGE = 0x1_0000_0000;

export class SimRandom {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = createPrng(seed);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.#next();
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    if (!(Number.isInteger(min) && Number.isInteger(max) && min <= max)) {
      throw new Error(`SimRandom.int: need integers min <= max, got ${min}..${max}`);
    }
    return min + Math.floor(this.#next() * (max - min + 1));
  }

  /** True with probability `probability`. */
  chance(probability: number): boolean {
    return this.#next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.#next() * items.length)];
    if (item === undefined) {
      throw new Error('SimRandom.pick: cannot pick from an empty list');
    }
    return item;
  }

  /** Exponentially distributed with the given mean: the gap between Poisson arrivals. */
  exponential(mean: number): number {
    return -Math.log(1 - this.#next()) * mean;
  }

  /** A fresh 32-bit seed for a child stream. */
  seed(): number {
    return Math.floor(this.#next() * UINT32_RANGE);
  }

  fork(): SimRandom {
    return new SimRandom(this.seed());
  }

  /** A plain `() => number` for the core's Config.random. */
  generator(): () => number {
    return createPrng(this.seed());
  }
}
