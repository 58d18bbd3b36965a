// Piscina worker entry for `raftlab bench`: a load generator (lib/bench/load.ts) or one
// end of the --baseline MessagePort measurement. Tasks are checked on arrival: a task
// is `unknown` until its `type` says what it is.

import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { runLoad } from '../lib/bench/load.js';
import type { BenchTask, BenchTaskResult, PortRateResult, PortSinkResult, PortSinkTask, PortSourceTask } from '../lib/bench/types.js';
import { assertNever } from '../lib/raft/assert.js';


/** Counts messages and acknowledges every `ackEvery`-th, until the source says "done". */
function portSink(task: PortSinkTask): Promise<PortSinkResult> {
  return new Promise((resolve) => {
    let received = 0;
    task.port.on('message', (message: unknown) => {
      if (message === 'done') {
        task.port.close();
        resolve({ type: 'port-sink', received });
        return;
      }
      received++;
      if (received % task.ackEvery === 0) task.port.postMessage(received);
    });
  });
}

/** Sends transferred buffers as fast as the sink keeps up, within a bounded window. */
function portSource(task: PortSourceTask): Promise<PortRateResult> {
  return new Promise((resolve) => {
    const port: MessagePort = task.port;
    let sent = 0;
    let acknowledged = 0;
    const startedAt = performance.now();
    let finished = false;
    const pump = (): void => {
      while (!finished && sent - acknowledged < task.window) {
        if (performance.now() - startedAt >= task.durationMs) {
          finished = true;
          const elapsedMs = performance.now() - startedAt;
          port.postMessage('done');
          port.close();
          resolve({ type: 'port-rate', messages: acknowledged, elapsedMs });
          return;
        }
        const bytes = new Uint8Array(task.messageBytes);
        port.postMessage(bytes, [bytes.buffer]);
        sent++;
      }
    };
    port.on('message', (count: unknown) => {
      if (typeof count === 'number') acknowledged = count;
      pump();
    });
    pump();
  });
}

export default async function benchClient(task: BenchTask): Promise<BenchTaskResult> {
  switch (task.type) {
    case 'load':
      return runLoad(task);
    case 'port-sink':
      return portSink(task);
    case 'port-source':
      return portSource(task);
    default:
      return assertNever(task, 'bench task');
  }
}
