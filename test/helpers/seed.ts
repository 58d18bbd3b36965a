// Seeds for randomized tests: fresh each run, or fixed through an environment variable
// to replay a failure (every such test prints its seed).

export { createPrng } from '../../lib/raft/prng.js';

export function testSeed(environmentVariable: string): number {
  const fromEnvironment = process.env[environmentVariable];
  return fromEnvironment === undefined ? Date.now() % 1_000_000 : Number(fromEnvironment);
}
