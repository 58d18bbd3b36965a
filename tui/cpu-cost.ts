// Measures what the dashboard costs: process CPU over a window with the dashboard
// drawing (to a 160x48 off-screen terminal) minus the same run without it.
//   node dist/tui/cpu-cost.js [--seconds 10] [--real]
// --real watches a real 5-node worker cluster (idle); the default is the fake cluster
// under a 100 puts/s load, so that the screen changes on every refresh.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { DashboardCluster } from './cluster-port.js';
import { DEFAULT_REFRESH_MS, Dashboard } from './dashboard.js';
import { FakeCluster } from './fake-cluster.js';

const WARMUP_MS = 1000;
const LOAD_PER_SECOND = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function measure(seconds: number, real: boolean, withDashboard: boolean): Promise<number> {
  const cluster: DashboardCluster = real
    ? await (await import('../lib/cluster/cluster.js')).Cluster.start({ nodes: 5, dataDir: mkdtempSync(join(tmpdir(), 'raftlab-cpu-')) })
    : new FakeCluster({ nodes: 5, seed: 1, tickMs: 20, autoTick: true, fsync: true });
  let dashboard: Dashboard | null = null;
  let loadTimer: NodeJS.Timeout | null = null;
  if (withDashboard) {
    const output = Object.assign(new PassThrough(), { columns: 160, rows: 48, isTTY: true });
    output.resume();
    dashboard = new Dashboard({ cluster, input: new PassThrough(), output, seed: 1 });
    dashboard.start();
    if (!real) await dashboard.runCommand(`load ${LOAD_PER_SECOND}`);
  } else if (!real) {
    const kv = cluster.client({ timeoutMs: 5000 });
    let key = 0;
    loadTimer = setInterval(() => void kv.put(`k${key++ % 100}`, key).catch(() => undefined), 1000 / LOAD_PER_SECOND);
  }
  await sleep(WARMUP_MS);
  const before = process.cpuUsage();
  const startedMs = performance.now();
  await sleep(seconds * 1000);
  const used = process.cpuUsage(before);
  const elapsedMs = performance.now() - startedMs;
  if (loadTimer !== null) clearInterval(loadTimer);
  dashboard?.destroy();
  await cluster.stop();
  // CPU milliseconds per wall second = percent of one core × 10.
  return ((used.user + used.system) / 1000 / elapsedMs) * 100;
}

async function main(argv: readonly string[]): Promise<void> {
  const secondsIndex = argv.indexOf('--seconds');
  const seconds = secondsIndex < 0 ? 10 : Number(argv[secondsIndex + 1]);
  const real = argv.includes('--real');
  const without = await measure(seconds, real, false);
  const withDashboard = await measure(seconds, real, true);
  process.stdout.write(
    `${real ? 'real 5-node cluster, idle' : `fake 5-node cluster, ${LOAD_PER_SECOND} puts/s`}; refresh every ${DEFAULT_REFRESH_MS} ms; ${seconds} s windows\n` +
      `  without dashboard: ${without.toFixed(1)}% of one core\n` +
      `  with dashboard:    ${withDashboard.toFixed(1)}% of one core\n` +
      `  dashboard cost:    ${(withDashboard - without).toFixed(1)}% of one core\n`,
  );
}

await main(process.argv.slice(2));
