// The deterministic simulator's public surface.

export { runSeed, drawProfile, TIME_UNITS_PER_TICK, LIVENESS_BOUND_TICKS, CLUSTER_SIZE_MIN, CLUSTER_SIZE_MAX } from './simulator.js';
export type { SimOptions, SimResult, SimStats, SimViolation, FaultProfile } from './simulator.js';
export { Property, InvariantViolation, InvariantChecker, INVARIANT_VIOLATED_CODE } from './checker.js';
export { SimDisk } from './disk.js';
export { SimRandom } from './random.js';
export { EventQueue } from './event-queue.js';
export { runSimCli } from './cli.js';
