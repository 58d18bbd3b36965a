// `raftlab bench --catch-up`: how long a follower restarted under load takes to catch up
// when the state is large. A real cluster is filled with `keys` keys, one follower is
// crashed, the load goes on for `downSeconds`, the follower is restarted under the same
// load, and the cluster's status is read every POLL_MS until the follower has applied
// to within caughtUpEntries() of the leader's commit (or `timeoutSeconds` pass). With a
// state whose snapshot takes longer to send and install than a compaction period, a
// leader that compacts regardless leaves the follower one snapshot behind after every
// install (lib/bench/README.md, "A large state and a follower catching up").

import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { makeScratchDir, removeScratchDir } from '../cluster/scratch-dir.js';
import { Cluster } from '../cluster/cluster.js';
import { EventKind } from '../cluster/types.js';
import type { ClusterEvent } from '../cluster/types.js';
import type { NodeId } from '../raft/types.js';
import { BenchUsageError, integer, positiveNumber } from './options.js';

const POLL_MS = 250;
/** The follower counts as caught up once it has applied to within this many entries of the leader's commit (at most a compaction period). */
export const CAUGHT_UP_ENTRIES = 5_000;

export function caughtUpEntries(options: Pick<CatchUpOptions, 'snapshotEntries'>): number {
  return Math.min(CAUGHT_UP_ENTRIES, options.snapshotEntries);
}

export interface CatchUpOptions {
  readonly nodes: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly snapshotEntries: number;
  /** Puts in flight at once, during the fill and after it. */
  readonly concurrency: number;
  readonly downSeconds: number;
  readonly timeoutSeconds: number;
  readonly dataParent: string | null;
}

export const CATCH_UP_USAGE = `usage: raftlab bench --catch-up [options]
  --nodes N             cluster size, 3-9 (default 3)
  --keys N              keys written before the follower is crashed (default 300000)
  --value-size B        bytes per value (default 200)
  --snapshot-entries N  each node compacts its log every N applied entries (default 20000)
  --concurrency N       puts in flight (default 256)
  --down S              seconds the follower stays down under load (default 3), and
                        until the leader has compacted past its log
  --timeout S           seconds it may take to catch up (default 60)
  --data-dir DIR        where the cluster's directory is made
  a follower restarted under load must catch up with a large state: prints how long it
  took, the snapshots it installed and the elections meanwhile; exit 1 if it did not`;

export function defaultCatchUpOptions(): CatchUpOptions {
  return { nodes: 3, keys: 300_000, valueBytes: 200, snapshotEntries: 20_000, concurrency: 256, downSeconds: 3, timeoutSeconds: 60, dataParent: null };
}

/** The options --catch-up takes, each with a value (each has its case in parseCatchUpArgs). */
const CATCH_UP_OPTIONS: ReadonlySet<string> = new Set(['--nodes', '--keys', '--value-size', '--snapshot-entries', '--concurrency', '--down', '--timeout', '--data-dir']);

export function parseCatchUpArgs(argv: readonly string[]): CatchUpOptions {
  const options: { -readonly [K in keyof CatchUpOptions]: CatchUpOptions[K] } = defaultCatchUpOptions();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--catch-up') continue;
    if (!CATCH_UP_OPTIONS.has(flag)) throw new BenchUsageError(`unknown option for --catch-up '${flag}'`);
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) throw new BenchUsageError(`${flag} needs a value`);
    switch (flag) {
      case '--nodes':
        options.nodes = integer(flag, value, 3, 9);
        break;
      case '--keys':
        options.keys = integer(flag, value, 1, 10_000_000);
        break;
      case '--value-size':
        options.valueBytes = integer(flag, value, 1, 64 * 1024);
        break;
      case '--snapshot-entries':
        options.snapshotEntries = integer(flag, value, 1, Number.MAX_SAFE_INTEGER);
        break;
      case '--concurrency':
        options.concurrency = integer(flag, value, 1, 4096);
        break;
      case '--down':
        options.downSeconds = value === '0' ? 0 : positiveNumber(flag, value, 3600);
        break;
      case '--timeout':
        options.timeoutSeconds = positiveNumber(flag, value, 3600);
        break;
      case '--data-dir':
        options.dataParent = value;
        break;
      default:
        throw new BenchUsageError(`unknown option for --catch-up '${flag}'`);
    }
  }
  return options;
}

export interface CatchUpSample {
  /** Seconds since the follower was restarted. */
  readonly seconds: number;
  readonly followerApplied: number;
  readonly leaderCommit: number;
}

export interface CatchUpReport {
  readonly options: CatchUpOptions;
  readonly fillSeconds: number;
  readonly follower: NodeId;
  readonly caughtUp: boolean;
  /** From the restart until caught up (or the timeout). */
  readonly seconds: number;
  /** Snapshots the follower installed from a leader after its restart. */
  readonly snapshotsInstalled: number;
  /** The largest of them, in bytes (0: none). */
  readonly snapshotBytes: number;
  /** The follower's thread waiting out the largest one: writing and syncing its file, restoring the state machine (ms; null: not told). */
  readonly installMs: { readonly written: number; readonly restored: number } | null;
  /** Leaders elected after the fill. */
  readonly elections: number;
  /** Acknowledged puts per second from the restart on. */
  readonly writesPerSecond: number;
  readonly samples: readonly CatchUpSample[];
}

/** Runs the scenario on a fresh cluster and removes it. Throws only on a broken harness. */
export async function runCatchUp(options: CatchUpOptions, note: (line: string) => void = () => undefined): Promise<CatchUpReport> {
  const dataDir = makeScratchDir(options.dataParent ?? tmpdir(), 'raftlab-catch-up-');
  const cluster = await Cluster.start({ nodes: options.nodes, dataDir, snapshotEntries: options.snapshotEntries });
  let stop = false;
  try {
    await cluster.waitForLeader(15_000);
    const kv = cluster.client({ timeoutMs: 30_000 });
    const value = 'v'.repeat(options.valueBytes);
    let acked = 0;
    const fillStarted = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrency }, async (_, worker) => {
        for (let key = worker; key < options.keys; key += options.concurrency) {
          await kv.put(`k${key}`, value);
          acked++;
        }
      }),
    );
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    note(`catch-up: ${options.keys.toLocaleString('en-US')} keys written in ${fillSeconds.toFixed(1)} s`);
    let elections = 0;
    let snapshotsInstalled = 0;
    let snapshotBytes = 0;
    let installMs: CatchUpReport['installMs'] = null;
    let restarted = false;
    const leader = await cluster.waitForLeader(15_000);
    const follower = cluster.status().nodes.map((node) => node.id).find((id) => id !== leader)!;
    cluster.on('event', (event: ClusterEvent) => {
      if (event.kind === EventKind.LeaderElected) elections++;
      if (restarted && event.kind === EventKind.SnapshotInstalled && event.node === follower) {
        snapshotsInstalled++;
        const bytes = Number(/\((?:[^,]*), (\d+) bytes/.exec(event.text)?.[1] ?? 0);
        if (bytes >= snapshotBytes) {
          snapshotBytes = bytes;
          const times = /written in ([\d.]+) ms and restored in ([\d.]+) ms/.exec(event.text);
          installMs = times === null ? null : { written: Number(times[1]), restored: Number(times[2]) };
        }
      }
    });
    await cluster.crash(follower);
    note(`catch-up: node ${follower} crashed; load goes on for ${options.downSeconds} s, and until the leader has compacted past its log`);
    let key = 0;
    const load = Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (!stop) {
          // Errors (a leader change) are retried by the next put; only acknowledged ones count.
          await kv.put(`k${(key++ * 7919) % options.keys}`, value).then(
            () => acked++,
            () => undefined,
          );
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, options.downSeconds * 1000));
    // A slow machine may not write a compaction period's worth in downSeconds: the
    // follower stays down until the leader keeps no entry it lacks, so that what is
    // measured is a catch-up by snapshot (given up at the timeout: then there is none).
    // The leader's log as its last status tells, a status period at most after the
    // crash, holds the follower's whole log.
    const followerLast = cluster.status().nodes.find((node) => node.id === cluster.status().leaderId)?.lastLogIndex ?? 0;
    await cluster
      .waitFor(
        (status) => (status.nodes.find((node) => node.id === status.leaderId)?.snapshotIndex ?? 0) > followerLast,
        options.timeoutSeconds * 1000,
        `a compaction past index ${followerLast}`,
      )
      .catch(() => note(`catch-up: the leader did not compact past index ${followerLast} within ${options.timeoutSeconds} s`));
    const ackedAtRestart = acked;
    restarted = true;
    const restartedAt = performance.now();
    await cluster.restart(follower);
    note(`catch-up: node ${follower} restarted under load`);
    const samples: CatchUpSample[] = [];
    let caughtUp = false;
    const seconds = (): number => (performance.now() - restartedAt) / 1000;
    while (!caughtUp && seconds() < options.timeoutSeconds) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const status = cluster.status();
      const leaderStatus = status.nodes.find((node) => node.id === status.leaderId);
      const followerStatus = status.nodes.find((node) => node.id === follower);
      if (leaderStatus === undefined || followerStatus === undefined) continue;
      samples.push({ seconds: seconds(), followerApplied: followerStatus.appliedIndex, leaderCommit: leaderStatus.commitIndex });
      caughtUp = leaderStatus.commitIndex - followerStatus.appliedIndex < caughtUpEntries(options);
    }
    const elapsed = seconds();
    stop = true;
    await load;
    return {
      options,
      fillSeconds,
      follower,
      caughtUp,
      seconds: elapsed,
      snapshotsInstalled,
      snapshotBytes,
      installMs,
      elections,
      writesPerSecond: (acked - ackedAtRestart) / Math.max(elapsed, 1e-3),
      samples,
    };
  } finally {
    stop = true;
    await cluster.stop();
    removeScratchDir(dataDir);
  }
}

export function formatCatchUp(report: CatchUpReport): string {
  const { options } = report;
  const verdict = report.caughtUp ? `caught up in ${report.seconds.toFixed(1)} s` : `NOT caught up within ${options.timeoutSeconds} s`;
  const install = report.installMs === null ? '' : `, written in ${report.installMs.written} ms and restored in ${report.installMs.restored} ms`;
  const size = report.snapshotBytes > 0 ? ` (the largest ${(report.snapshotBytes / 1e6).toFixed(1)} MB${install})` : '';
  return [
    `raftlab bench --catch-up: ${options.nodes} nodes, ${options.keys.toLocaleString('en-US')} keys of ${options.valueBytes}-byte values (written in ${report.fillSeconds.toFixed(1)} s), compaction every ${options.snapshotEntries.toLocaleString('en-US')} entries, ${options.concurrency} puts in flight, node ${report.follower} down ${options.downSeconds} s`,
    `node ${report.follower} ${verdict} (applied within ${caughtUpEntries(options).toLocaleString('en-US')} entries of the leader's commit), ${report.snapshotsInstalled} snapshot(s) installed${size}, ${report.elections} election(s), ${Math.round(report.writesPerSecond).toLocaleString('en-US')} writes/s meanwhile`,
  ].join('\n');
}
