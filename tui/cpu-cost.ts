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
import type { Dashboard } from './dashboard.js';

const WARMUP_MS = 1000;
const LOAD_PER_SECOND = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function measure(seconds: number, real: boolean, withDashboard: boolean): Promise<number> {
  // Loaded here, not at the top: the arguments are checked first, at once (blessed takes seconds to load on a busy machine).
  const { Dashboard: DashboardClass } = await import('./dashboard.js');
  const { FakeCluster } = await import('./fake-cluster.js');
  const cluster: DashboardCluster = real
    ? await (await import('../lib/cluster/cluster.js')).Cluster.start({ nodes: 5, dataDir: mkdtempSync(join(tmpdir(), 'raftlab-cpu-')) })
    : new FakeCluster({ nodes: 5, seed: 1, tickMs: 20, autoTick: true, fsync: true });
  let dashboard: Dashboard | null = null;
  let loadTimer: NodeJS.Timeout | null = null;
  if (withDashboard) {
    const output = Object.assign(new PassThrough(), { columns: 160, rows: 48, isTTY: true });
    output.resume();
    dashboard = new DashboardClass({ cluster, input: new PassThrough(), output, seed: 1 });
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

const USAGE = `usage: node dist/tui/cpu-cost.js [--seconds S] [--real]
  --seconds S   length of each measured window, 1-600 (default 10)
  --real        watch a real idle 5-node worker cluster (default: the fake cluster at ${LOAD_PER_SECOND} puts/s)
  prints the process's CPU, as a share of one core, without and with the dashboard drawing`;

interface CostOptions {
  readonly seconds: number;
  readonly real: boolean;
}

/** The options, or why they are wrong. Anything it does not know is refused: an ignored
 *  `--help` or a misspelt option used to start a 22-second measurement anyway. */
function parseCostArgs(argv: readonly string[]): CostOptions | { readonly help: true } | { readonly error: string } {
  let seconds: number | undefined;
  let real = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { help: true };
    if (arg === '--real') {
      if (real) return { error: '--real given twice' };
      real = true;
    } else if (arg === '--seconds') {
      const value = argv[++i];
      if (seconds !== undefined) return { error: '--seconds given twice' };
      if (value === undefined || !/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 600) {
        return { error: `--seconds needs an integer from 1 to 600, got ${value === undefined ? 'nothing' : `'${value}'`}` };
      }
      seconds = Number(value);
    } else {
      return { error: `unknown argument '${arg}'` };
    }
  }
  return { seconds: seconds ?? 10, real };
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCostArgs(argv);
  if ('help' in parsed) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if ('error' in parsed) {
    process.stderr.write(`cpu-cost: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  const { seconds, real } = parsed;
  const without = await measure(seconds, real, false);
  const withDashboard = await measure(seconds, real, true);
  const { DEFAULT_REFRESH_MS } = await import('./dashboard.js');
  process.stdout.write(
    `${real ? 'real 5-node cluster, idle' : `fake 5-node cluster, ${LOAD_PER_SECOND} puts/s`}; refresh every ${DEFAULT_REFRESH_MS} ms; ${seconds} s windows\n` +
      `  without dashboard: ${without.toFixed(1)}% of one core\n` +
      `  with dashboard:    ${withDashboard.toFixed(1)}% of one core\n` +
      `  dashboard cost:    ${(withDashboard - without).toFixed(1)}% of one core\n`,
  );
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
