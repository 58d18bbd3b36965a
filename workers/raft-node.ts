// Worker entry point: one Raft node per worker thread. Everything interesting lives in
// lib/cluster/node-host.ts; this file only connects it to the thread's ports.

import { parentPort, workerData } from 'node:worker_threads';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { NodeHost } from '../lib/cluster/node-host.js';
import type { ControlToNode, NodeToControl, NodeWorkerData } from '../lib/cluster/protocol.js';
import { PortMeshTransport } from '../lib/transport/transport.js';
import { createPrng } from '../lib/raft/prng.js';
import { StorageError, StorageErrorCode } from '../lib/storage/errors.js';

if (parentPort === null) throw new Error('workers/raft-node.js must run in a worker thread');
const control = parentPort;
const data = workerData as NodeWorkerData;

const post = (message: NodeToControl): void => control.postMessage(message);
const logPath = join(data.dir, 'node.log');
let log: Logger;
try {
  mkdirSync(data.dir, { recursive: true });
  // Synchronous destination: a crash (worker.terminate) must not lose the lines before it.
  // Only state changes are logged, never per entry, so this stays off the hot path.
  const destination = pino.destination({ dest: logPath, sync: true, mkdir: true });
  // A line that cannot be written (a full disk) is a failure of the node's own files, as
  // one of its WAL would be: the node stops with WAL_IO, which the supervisor reports (its
  // log cannot say so).
  destination.on('error', (error: Error) => {
    throw new StorageError(StorageErrorCode.Io, `cannot write its log ${logPath}: ${error.message}`, { cause: error });
  });
  log = pino({ level: data.logLevel, base: { node: data.id }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
} catch (error) {
  // A node.log that cannot be opened (a directory, a file it may not write) is one of the
  // node's files refusing to load: WAL_IO, so the node stays down and the others start.
  const failure = new StorageError(StorageErrorCode.Io, `cannot open its log ${logPath}: ${(error as Error).message}`, { cause: error });
  post({ type: 'failed', code: failure.code, message: failure.message });
  throw failure;
}

let host: NodeHost;
try {
  host = new NodeHost(data, new PortMeshTransport(createPrng(data.seed ^ 0x5eed)), { post }, log);
} catch (error) {
  const code = (error as { code?: unknown }).code;
  try {
    log.error({ err: error }, 'node failed to start');
  } catch {
    // The log's disk failed too: the supervisor still reports the error.
  }
  post({ type: 'failed', code: typeof code === 'string' ? code : 'NODE_FAILED', message: (error as Error).message });
  throw error;
}
control.on('message', (message: ControlToNode) => host.onControl(message));
