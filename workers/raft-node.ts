// Worker entry point: one Raft node per worker thread. Everything interesting lives in
// lib/cluster/node-host.ts; this file only connects it to the thread's ports.

import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { NodeHost } from '../lib/cluster/node-host.js';
import type { ControlToNode, NodeToControl, NodeWorkerData } from '../lib/cluster/protocol.js';
import { PortMeshTransport } from '../lib/transport/transport.js';
import { createPrng } from '../lib/raft/prng.js';

if (parentPort === null) throw new Error('workers/raft-node.js must run in a worker thread');
const control = parentPort;
const data = workerData as NodeWorkerData;

mkdirSync(data.dir, { recursive: true });
// Synchronous destination: a crash (worker.terminate) must not lose the lines before it.
// Only state changes are logged, never per entry, so this stays off the hot path.
const log = pino(
  { base: { node: data.id }, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination({ dest: join(data.dir, 'node.log'), sync: true, mkdir: true }),
);

const post = (message: NodeToControl): void => control.postMessage(message);
let host: NodeHost;
try {
  host = new NodeHost(data, new PortMeshTransport(createPrng(data.seed ^ 0x5eed)), { post }, log);
} catch (error) {
  const code = (error as { code?: unknown }).code;
  log.error({ err: error }, 'node failed to start');
  post({ type: 'failed', code: typeof code === 'string' ? code : 'NODE_FAILED', message: (error as Error).message });
  throw error;
}
control.on('message', (message: ControlToNode) => host.onControl(message));
