// The open loop's pacer thread (lib/bench/pacer.ts): every periodMs, one increment of
// the shared tick counter and one notify, until told to stop. It never runs JavaScript
// between ticks, so nothing delays it but the kernel.

import { workerData } from 'node:worker_threads';
import { PacerSlot } from '../lib/bench/pacer.js';
import type { PacerData } from '../lib/bench/pacer.js';

const { buffer, periodMs } = workerData as PacerData;
const slots = new Int32Array(buffer);
while (Atomics.wait(slots, PacerSlot.Stop, 0, periodMs) === 'timed-out') {
  Atomics.add(slots, PacerSlot.Tick, 1);
  Atomics.notify(slots, PacerSlot.Tick);
}
// Stopped: a last tick, so that no generator waits out its fallback.
Atomics.add(slots, PacerSlot.Tick, 1);
Atomics.notify(slots, PacerSlot.Tick);
