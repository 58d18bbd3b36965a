// A small seeded PRNG (splitmix32) so that every source of randomness in the core, the
// simulator and the hosts can be replayed from one integer seed. Not cryptographic.

const UINT32_RANGE = 0x1_0000_0000;
/** splitmix32's increment: the 32-bit golden ratio, which visits every state once. */
const GOLDEN_GAMMA = 0x9e3779b9;

/** Returns a generator of floats in [0, 1), fully determined by `seed`. */
export function createPrng(seed: number): () => number {
  if (!Number.isFinite(seed)) {
    throw new Error(`createPrng: seed must be a finite number, got ${String(seed)}`);
  }
  let state = Math.trunc(seed) >>> 0;
  return function next(): number {
    state = (state + GOLDEN_GAMMA) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / UINT32_RANGE;
  };
}
