// The protocol core's public surface, for hosts (the worker node, the simulator).

export { RawNode, createConfig, MAX_PENDING_READS } from './raw-node.js';
export { createPrng } from './prng.js';
export { describeMessage, describeReady } from './describe.js';
export { InvariantViolation } from './assert.js';
export * from './types.js';
