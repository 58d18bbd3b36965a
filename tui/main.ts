// `raftlab tui` (what `npm start` runs): start a cluster, open the dashboard, and on
// quit stop the cluster cleanly.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStarter, DashboardCluster } from './cluster-port.js';
import { Dashboard } from './dashboard.js';
import { MANIFEST_FILE, resolveLayout } from '../lib/cluster/manifest.js';
import { BenchUsageError, integer, rejectRepeatedOptions } from '../lib/bench/options.js';

export const MIN_NODES = 1;
export const MAX_NODES = 9;
export const DEFAULT_NODES = 5;

const usage = `usage: raftlab [tui] [--nodes N] [--data DIR] [--no-fsync] [--fake]
  --nodes N     cluster size, ${MIN_NODES}-${MAX_NODES} (default ${DEFAULT_NODES})
  --data DIR    where the nodes keep their WAL and logs, kept after quitting
                (default: a fresh directory under ${tmpdir()}, removed on quitting)
  --no-fsync    skip fdatasync (UNSAFE: acknowledged writes can be lost on a crash)
  --fake        a toy in-process cluster instead of worker threads (dashboard development)
exit 0 quit cleanly (the cluster stopped), 1 the cluster did not start, 2 bad arguments or
  no terminal (stdout is not a TTY)`;

export interface TuiArguments {
  readonly nodes: number;
  readonly dataDir: string | null;
  readonly fsync: boolean;
  readonly fake: boolean;
}

export type ParsedArguments = { readonly ok: true; readonly arguments: TuiArguments } | { readonly ok: false; readonly help: boolean; readonly error: string };

/**
 * Checked as every other command checks its own (README: a number in plain decimal within
 * its range, an option given once), with the bench's helpers: `--nodes 0x3`, `3e0` or `+3`
 * and `--nodes 3 --nodes 5` (where the last would silently win) are refused.
 */
export function parseTuiArguments(argv: readonly string[]): ParsedArguments {
  if (argv.includes('--help') || argv.includes('-h')) return { ok: false, help: true, error: '' };
  try {
    return { ok: true, arguments: readTuiArguments(argv) };
  } catch (error: unknown) {
    if (error instanceof BenchUsageError) return { ok: false, help: false, error: error.message };
    throw error;
  }
}

function readTuiArguments(argv: readonly string[]): TuiArguments {
  rejectRepeatedOptions(argv);
  let nodes = DEFAULT_NODES;
  let dataDir: string | null = null;
  let fsync = true;
  let fake = false;
  for (let position = 0; position < argv.length; position++) {
    const flag = argv[position]!;
    // An option's value is the next argument, never another option (`--data --fake`).
    const takeValue = (): string => {
      const text = argv[++position];
      if (text === undefined || text.startsWith('--') || text === '') throw new BenchUsageError(`${flag} needs a value`);
      return text;
    };
    switch (flag) {
      case '--nodes':
        nodes = integer(flag, takeValue(), MIN_NODES, MAX_NODES);
        break;
      case '--data':
        dataDir = takeValue();
        break;
      case '--no-fsync':
        fsync = false;
        break;
      case '--fake':
        fake = true;
        break;
      default:
        throw new BenchUsageError(`unknown option '${flag}'`);
    }
  }
  return { nodes, dataDir, fsync, fake };
}

export interface TuiDependencies {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WritableStream;
  /** Where the dashboard reads keys; defaults to process.stdin. */
  readonly stdin?: NodeJS.ReadableStream;
  /** Defaults to the real Cluster.start (or the fake with --fake). */
  readonly startCluster?: ClusterStarter;
}

export async function runTuiCli(argv: readonly string[], dependencies: TuiDependencies = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { stdout, stderr } = dependencies;
  const parsed = parseTuiArguments(argv);
  if (!parsed.ok) {
    if (parsed.help) {
      stdout.write(usage + '\n');
      return 0;
    }
    stderr.write(`raftlab tui: ${parsed.error}\n${usage}\n`);
    return 2;
  }
  if (stdout.isTTY !== true) {
    stderr.write('raftlab tui needs a terminal (stdout is not a TTY); try raftlab sim / check / bench\n');
    return 2;
  }
  const options = parsed.arguments;
  let dataDir: string;
  try {
    dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'raftlab-tui-'));
  } catch (error: unknown) {
    // TMPDIR names a directory that is not there (or cannot be written): said as the start failing, not a stack trace.
    stderr.write(`raftlab tui: the cluster did not start: cannot make a scratch directory in ${tmpdir()}: ${error instanceof Error ? error.message : String(error)}; --data DIR puts its files elsewhere\n`);
    return 1;
  }
  const startCluster = dependencies.startCluster ?? (options.fake ? startFakeCluster : startRealCluster);
  // Handlers, not one-shot ones, until the cluster is stopped: a repeated signal (a SIGTERM
  // sent to the whole process group reaches the raftlab command too, which passes it on,
  // lib/cli.ts) only asks again, since quitting is idempotent, where a second signal with
  // no handler would kill the process mid-stop. Taken from before the cluster starts: a
  // start takes seconds on a loaded machine, the terminal is not raw yet, and a Ctrl-C (a
  // SIGINT) or SIGTERM then killed the process with its nodes mid-start, leaving the scratch
  // directory behind (exit 130). Now the start runs to its end and the cluster is stopped.
  let dashboard: Dashboard | null = null;
  let quitDuringStart = false;
  const onSignal = (): void => {
    if (dashboard !== null) {
      dashboard.handleKey(undefined, { name: 'c', ctrl: true });
      return;
    }
    if (!quitDuringStart) stdout.write('raftlab: quitting: stopping the cluster once it has started ...\n');
    quitDuringStart = true;
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, onSignal);
  const removeSignalHandlers = (): void => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  // A directory that holds a cluster (its cluster.json) starts that cluster's nodes.
  let cluster: DashboardCluster;
  try {
    stdout.write(`raftlab: starting ${describeStart(dataDir, options.nodes)}, data in ${dataDir} ...\n`);
    cluster = await startCluster({ nodes: options.nodes, dataDir, fsync: options.fsync });
  } catch (error: unknown) {
    removeSignalHandlers();
    stderr.write(`raftlab tui: the cluster did not start: ${error instanceof Error ? error.message : String(error)}\n`);
    // A scratch directory of our own making holds nothing anyone will come back to.
    if (options.dataDir === null) rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
    return 1;
  }
  if (quitDuringStart) {
    try {
      await cluster.stop();
    } finally {
      removeSignalHandlers();
    }
    return goodbye(stdout, options.dataDir, dataDir);
  }
  dashboard = new Dashboard({ cluster, output: stdout, ...(dependencies.stdin === undefined ? {} : { input: dependencies.stdin }) });
  // When the terminal goes away writes fail with EIO: that too means quit, and the cluster
  // is stopped cleanly, so a dead terminal is not a crash. A hangup signal alone does not
  // say so: the kernel sends it to the session leader only, and when the raftlab command
  // is that leader (`tmux new-session raftlab`, `ssh host raftlab`, setsid) it only ignores
  // it (lib/cli.ts), so this child never got one and ran on with its cluster.
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (!isTerminalGone(error)) throw error;
    onSignal();
  });
  // A screen that does not change writes nothing, so no write fails: the terminal's end
  // shows on the input side too (end of file, or EIO on a closed pseudo-terminal).
  const input = dependencies.stdin ?? process.stdin;
  const onInputError = (error: NodeJS.ErrnoException): void => {
    if (!isTerminalGone(error)) throw error;
    onSignal();
  };
  input.on('end', onSignal);
  input.on('error', onInputError);
  try {
    dashboard.start();
    await dashboard.done;
    dashboard.refresh();
    await cluster.stop();
  } finally {
    removeSignalHandlers();
    input.off('end', onSignal);
    input.off('error', onInputError);
    dashboard.destroy();
  }
  return goodbye(stdout, options.dataDir, dataDir);
}

/** After the cluster stopped: says where its files are, or removes the scratch directory it had and says so; exit 0. */
function goodbye(stdout: NodeJS.WritableStream, keptDir: string | null, dataDir: string): number {
  if (keptDir !== null) {
    stdout.write(`raftlab: cluster stopped; its files are in ${dataDir}\n`);
    return 0;
  }
  // A directory of our own making, under a random name nobody will come back to (a new
  // dashboard starts a fresh one): removed, as bench and check remove theirs. --data keeps
  // the files (WAL and node logs) for a later look, or for the next start on them.
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
  stdout.write(`raftlab: cluster stopped; removed its scratch directory ${dataDir} (--data DIR keeps the files)\n`);
  return 0;
}

function isTerminalGone(error: NodeJS.ErrnoException): boolean {
  return error.code === 'EIO' || error.code === 'EPIPE';
}

const startRealCluster: ClusterStarter = async (options) => {
  const { Cluster } = await import('../lib/cluster/cluster.js');
  return Cluster.start({ nodes: options.nodes, dataDir: options.dataDir, fsync: options.fsync });
};

const startFakeCluster: ClusterStarter = async (options) => {
  const { FakeCluster } = await import('./fake-cluster.js');
  return new FakeCluster({ nodes: options.nodes, seed: Date.now() & 0x7fffffff, tickMs: 20, autoTick: true, fsync: options.fsync });
};

/** What starts on `dataDir`: `nodes` fresh nodes, or the nodes of the cluster it holds, saying when those are not `nodes`. */
function describeStart(dataDir: string, nodes: number): string {
  const { manifest, source } = resolveLayout(dataDir, nodes, MAX_NODES);
  if (source === 'new') return `${nodes} node(s)`;
  const ids = manifest.nodes.map((id) => `n${id}`).join(',');
  const differs = manifest.nodes.length === nodes ? '' : ` (--nodes ${nodes} applies to a new directory only)`;
  const where = source === 'manifest' ? `${join(dataDir, MANIFEST_FILE)} lists` : `${dataDir} holds`;
  return `the ${manifest.nodes.length} node(s) ${where}, ${ids}${differs}`;
}
