// `raftlab check`: a Jepsen-style test of the real cluster. Concurrent clients drive a
// workload and record every invoke and completion; a nemesis injects faults on a
// schedule drawn from the seed; at the end the network is healed, every node is brought
// back, and a final read of every key is recorded. The history is then checked by the
// same code as `raftlab verify`.

import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeScratchDir, releaseScratchDir, removeScratchDir } from '../cluster/scratch-dir.js';
import { makeDirectories } from '../output-file.js';
import { Cluster, MAX_NODES } from '../cluster/cluster.js';
import { CLIENT_DEFAULTS, ClientHub, type KvClient } from '../cluster/client.js';
import type { TestOnlyClusterBugs } from '../cluster/protocol.js';
import { EventKind, type ClusterEvent, type JsonValue } from '../cluster/types.js';
import { assertNever } from '../raft/assert.js';
import { createPrng } from '../raft/prng.js';
import type { NodeId } from '../raft/types.js';
import { EventType, HEADER_PROCESS, NEMESIS_PROCESS, OpFunction, pairOperations, type HistoryEntry, type HistoryLimits } from './history.js';
import { Verdict } from './linearizability.js';
import { formatReport, verifyHistory, type VerifyReport } from './verify.js';

export const Workload = {
  /** get, put (unique values) and cas on a handful of keys. */
  Register: 'register',
  /** append (unique elements) and get on a handful of keys. */
  Append: 'append',
} as const;
export type Workload = (typeof Workload)[keyof typeof Workload];

export const NemesisKind = {
  /** Crash one node (often the leader) and restart it on its files. */
  Crash: 'crash',
  /** Crash a majority or all nodes at once, cutting every file back to its last fdatasync. */
  Lose: 'lose',
  /** Random halves, or a bridge node that sees both sides. */
  Partition: 'partition',
  /** The leader cut off from everyone: a new leader rises while the old one may still
   *  believe, for up to an election timeout, that it leads. */
  Isolate: 'isolate',
  /** One-way link cuts around the leader. */
  Cut: 'cut',
  /** A burst of message drops, delays and duplicates on every link. */
  Faults: 'faults',
  /** Leadership handed from node to node several times in a row (thesis §3.10). */
  Transfer: 'transfer',
  /** A voter (the leader half the time) removed from the configuration and stopped, then a
   *  fresh node added in its place: learner, catch-up, promotion (thesis §4). */
  Membership: 'membership',
} as const;
export type NemesisKind = (typeof NemesisKind)[keyof typeof NemesisKind];
export const allNemesisKinds: readonly NemesisKind[] = Object.values(NemesisKind);

/**
 * What the nemesis records in the history, as `{"process": "nemesis", "type": "info", "f":
 * action, "value": ..., "time": ms}` once the action has taken effect (lib/check/README.md,
 * "Nemesis events"). A fault kind is one or more actions: a partition, then a heal.
 */
export const NemesisAction = {
  /** { node, leader }: one node stopped hard. */
  Crash: 'crash',
  /** { nodes: [{ node, unsyncedBytesLost, ... what else the power loss cut }] }: nodes stopped at once, losing what was not durable. */
  Lose: 'lose',
  /** { nodes }: stopped nodes started again on their files. */
  Restart: 'restart',
  /** { groups, bridge? }: nodes in different groups cannot talk (the bridge is in both). */
  Partition: 'partition',
  /** { node, leader }: one node cut off from everyone. */
  Isolate: 'isolate',
  /** { around, leader, links: [[from, to]] }: one-way link cuts. */
  Cut: 'cut',
  /** { dropRate, delayMs, duplicateRate }: every link disturbed. */
  LinkFaults: 'link-faults',
  /** null: every link whole and undisturbed again. */
  Heal: 'heal',
  /** { from, to }: a leadership transfer asked of the leader. */
  Transfer: 'transfer',
  /** { node, leader }: a node removed from the configuration and stopped. */
  RemoveNode: 'remove-node',
  /** { node, learner }: a fresh node added (a learner, or caught up and promoted to voter). */
  AddNode: 'add-node',
  /** { voters, learners, replaced, by }: a joint change of the voters. */
  SetVoters: 'set-voters',
} as const;
export type NemesisAction = (typeof NemesisAction)[keyof typeof NemesisAction];

/**
 * The fewest nodes each nemesis can act on. On one node there is no link to partition,
 * isolate, cut or disturb, nobody to hand leadership to, and no configuration without the
 * only voter: those faults would do nothing or be refused by the cluster.
 */
export const nemesisMinNodes: Readonly<Record<NemesisKind, number>> = {
  crash: 1,
  lose: 1,
  partition: 2,
  isolate: 2,
  cut: 2,
  faults: 2,
  transfer: 2,
  membership: 2,
};

/** `kinds` split into those that can act on a cluster of `nodes` and those that cannot. */
export function applicableNemesisKinds(kinds: readonly NemesisKind[], nodes: number): { applicable: NemesisKind[]; notApplicable: NemesisKind[] } {
  return {
    applicable: kinds.filter((kind) => nemesisMinNodes[kind] <= nodes),
    notApplicable: kinds.filter((kind) => nemesisMinNodes[kind] > nodes),
  };
}

export const CheckErrorCode = {
  /** A nemesis was asked for that cannot act on the cluster's size (nemesisMinNodes). */
  NemesisNotApplicable: 'CHECK_NEMESIS_NOT_APPLICABLE',
  /** The data directory asked for (`dataDir`, `--data`) holds files already, or is no directory. */
  DataDirNotUsable: 'CHECK_DATA_DIR_NOT_USABLE',
} as const;
export type CheckErrorCode = (typeof CheckErrorCode)[keyof typeof CheckErrorCode];

/** A check run refused before it starts. */
export class CheckError extends Error {
  readonly code: CheckErrorCode;
  constructor(code: CheckErrorCode, message: string) {
    super(message);
    this.name = 'CheckError';
    this.code = code;
  }
}

/** Why `kinds` cannot all act on `nodes` nodes, or null. */
export function whyNemesisNotApplicable(kinds: readonly NemesisKind[], nodes: number): string | null {
  const { notApplicable } = applicableNemesisKinds(kinds, nodes);
  if (notApplicable.length === 0) return null;
  const needs = notApplicable.map((kind) => `${kind} needs at least ${nemesisMinNodes[kind]} nodes`).join(', ');
  return `${needs}; on ${nodes} node${nodes === 1 ? '' : 's'} only ${applicableNemesisKinds(allNemesisKinds, nodes).applicable.join(', ')} can act`;
}

/**
 * Why `dir` cannot hold a check's cluster, or null: it must be a directory that is empty
 * or not there yet. A cluster already there would be started again (its cluster.json),
 * with keys the fresh history knows nothing of.
 */
export function whyDataDirNotUsable(dir: string): string | null {
  try {
    if (!existsSync(dir)) return null;
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    const entries = readdirSync(dir);
    return entries.length === 0 ? null : `${dir} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}: a check starts a fresh cluster)`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The file a kept data directory holds the history in, when no other was asked for. */
export const KEPT_HISTORY_FILE = 'history.json';

export interface CheckRunOptions {
  readonly nodes: number;
  readonly durationMs: number;
  readonly clients: number;
  readonly workload: Workload;
  readonly nemesis: readonly NemesisKind[];
  /** Kinds of `all` left out because they cannot act on this many nodes (for the summary). */
  readonly nemesisLeftOut?: readonly NemesisKind[];
  readonly seed: number;
  /** Where to write the recorded history (JSON), or null: then a kept data directory gets it (KEPT_HISTORY_FILE). */
  readonly historyFile: string | null;
  /** Where the nodes keep their files (made if missing, must be empty; kept after the run).
   *  Absent or null: a scratch directory in the temporary directory, removed after a passing run. */
  readonly dataDir?: string | null;
  /** Keep the scratch directory after a passing run too. A run that fails (not linearizable,
   *  unknown, a problem) or ends in an error keeps it always. */
  readonly keepData?: boolean;
  /** Test-only: the first final read is recorded as having read a value nobody wrote, so the
   *  run fails for certain (for testing what a failing run leaves behind). */
  readonly testOnlyFalseFinalRead?: boolean;
  /** Deliberately broken cluster builds, for proving the check catches them. */
  readonly testOnly?: TestOnlyClusterBugs;
  /** Milliseconds per Raft tick (the cluster's default when absent). Slower timers widen
   *  the windows in which two nodes both believe they lead. */
  readonly tickMs?: number;
  /** Deadline of one client call (default checkDefaults.operationTimeoutMs). */
  readonly operationTimeoutMs?: number;
  /** Log compaction interval of every node (the cluster's default when absent). */
  readonly snapshotEntries?: number;
  /** WAL segment size of every node (the cluster's default when absent): small segments
   *  roll often, into segments prepared ahead, under the crashes and power losses. */
  readonly segmentBytes?: number;
  /** InstallSnapshot chunk size of every node (the cluster's default when absent). */
  readonly snapshotChunkBytes?: number;
  /** Progress lines (nemesis actions, phases). */
  readonly log?: (line: string) => void;
}

export const checkDefaults = {
  nodes: 5,
  durationS: 30,
  clients: 10,
  workload: Workload.Register,
  /** Deadline of one client call: long enough to ride out an election, short enough that
   *  a client stuck behind a partition gives up and a fresh process takes over. */
  operationTimeoutMs: 2_000,
  /** Keys in use at any time. */
  keySlots: 5,
  /** Operations on one key before its slot moves to a fresh key. Jepsen's "independent"
   *  keys: they keep each key's history small enough for the linearizability search. */
  operationsPerKey: 300,
  /** Nemesis rhythm: quiet gap before a fault, and how long a fault is held. */
  nemesisGapMs: [800, 2_000] as const,
  nemesisHoldMs: [1_000, 3_000] as const,
  /** Every other client only reads. Readers never wait on a write stuck at a deposed
   *  leader, so some of them are always there to ask it. */
  readerEvery: 2,
  /** During a transfer burst, the pause between two hand-offs. */
  transferIntervalMs: 250,
  /** Deadline of one membership change (removal, or addition with catch-up and promotion). */
  membershipTimeoutMs: 15_000,
  /** After the run: the wait for a leader, and final-read attempts per key. */
  leaderWaitMs: 30_000,
  finalReadAttempts: 5,
} as const;

export interface NemesisRecord {
  readonly kind: NemesisKind;
  /** From the cluster's start, as the history's times and CheckRunResult.durationMs. */
  readonly startMs: number;
  endMs: number | null;
  /** What was done; completed once the fault is undone (a transfer's targets, the node added in a removed one's place). */
  text: string;
  /** A power loss (lose): the WAL bytes not yet fdatasynced that it cut, over all its nodes (often 0: everything written was synced). */
  readonly unsyncedBytesLost?: number;
  /** A power loss (lose): what else it took that was not durable, "<what> on node N" each (Cluster.crash's unsyncedFilesLost). */
  readonly unsyncedFilesLost?: readonly string[];
}

export interface CheckRunResult {
  readonly options: CheckRunOptions;
  /** The history: the clients' events and the nemesis's, in order. */
  readonly events: readonly HistoryEntry[];
  readonly report: VerifyReport;
  /** The faults that did something (one that found nothing to act on is left out). */
  readonly timeline: readonly NemesisRecord[];
  /** Things that went wrong outside the history: a node that would not restart, a node
   *  that crashed on an invariant, a cluster that never elected a leader again. */
  readonly problems: readonly string[];
  /** From the cluster's start (the zero of the history's times and of the timeline) to its stop. */
  readonly durationMs: number;
  readonly okPerSecond: number;
  /** Snapshots nodes installed from their leaders during the run (InstallSnapshot, in chunks). */
  readonly snapshotsInstalled: number;
  /** The verdict for the exit code: not-linearizable if there is any problem. */
  readonly verdict: Verdict;
  /** Where the history was written (options.historyFile, else KEPT_HISTORY_FILE in a kept
   *  data directory), or null: none asked for and the directory removed. */
  readonly historyFile: string | null;
  /** Why historyFile could not be written (null: written, or none). */
  readonly historyError: string | null;
  /** The nodes' files (WAL, snapshot, node.log per node-<id>/), kept; null: removed (a passing run without keepData). */
  readonly dataDir: string | null;
}

interface PlannedOperation {
  readonly f: OpFunction;
  readonly key: string;
  readonly input: JsonValue;
}

/** Chooses operations; values and elements are unique across the run, so a read names
 *  the write it saw. */
class WorkloadGenerator {
  private nextValue = 1;
  private readonly generation: number[];
  private readonly operationsOnSlot: number[];
  private readonly lastSeen = new Map<string, JsonValue>();
  readonly keysUsed = new Set<string>();

  constructor(
    private readonly workload: Workload,
    private readonly random: () => number,
  ) {
    this.generation = Array.from({ length: checkDefaults.keySlots }, () => 0);
    this.operationsOnSlot = Array.from({ length: checkDefaults.keySlots }, () => 0);
  }

  /** A reader only reads; a writer mixes reads and writes. */
  next(process: number, reader: boolean): PlannedOperation {
    const slot = Math.floor(this.random() * checkDefaults.keySlots);
    if (this.operationsOnSlot[slot]! >= checkDefaults.operationsPerKey) {
      this.generation[slot]!++;
      this.operationsOnSlot[slot] = 0;
    }
    this.operationsOnSlot[slot]!++;
    const prefix = this.workload === Workload.Register ? 'r' : 'a';
    const key = `${prefix}${slot}.${this.generation[slot]}`;
    this.keysUsed.add(key);
    const roll = reader ? 0 : this.random();
    switch (this.workload) {
      case Workload.Register: {
        if (roll < 0.4) return { f: OpFunction.Get, key, input: null };
        const value = this.nextValue++;
        if (roll < 0.7) return { f: OpFunction.Put, key, input: value };
        // Mostly the value last seen, so that some cas succeed.
        const expected = this.random() < 0.8 ? (this.lastSeen.get(key) ?? null) : null;
        return { f: OpFunction.Cas, key, input: [expected, value] };
      }
      case Workload.Append:
        if (roll < 0.4) return { f: OpFunction.Get, key, input: null };
        return { f: OpFunction.Append, key, input: `${process}:${this.nextValue++}` };
      default:
        return assertNever(this.workload, 'workload');
    }
  }

  observe(operation: PlannedOperation, output: JsonValue): void {
    if (operation.f === OpFunction.Get) this.lastSeen.set(operation.key, output);
    else if (operation.f === OpFunction.Put) this.lastSeen.set(operation.key, operation.input);
    else if (operation.f === OpFunction.Cas && output === true && Array.isArray(operation.input)) this.lastSeen.set(operation.key, operation.input[1] ?? null);
  }
}

/** Records events with a monotonic clock, so times never go backwards along the history.
 *  Its zero is when it is made: the run makes it once the cluster has started. */
class HistoryRecorder {
  readonly events: HistoryEntry[] = [];
  private readonly startedAt = performance.now();

  nowMs(): number {
    return Math.round((performance.now() - this.startedAt) * 1000) / 1000;
  }

  record(process: number, type: EventType, f: OpFunction, key: string, value: JsonValue): void {
    this.events.push({ process, type, f, key, value, time: this.nowMs() });
  }

  /** What the nemesis just did (it has taken effect). */
  nemesis(action: NemesisAction, value: JsonValue): void {
    this.events.push({ process: NEMESIS_PROCESS, type: EventType.Info, f: action, value, time: this.nowMs() });
  }
}

async function perform(kv: KvClient, operation: PlannedOperation): Promise<JsonValue> {
  switch (operation.f) {
    case OpFunction.Get:
      return kv.get(operation.key);
    case OpFunction.Put:
      await kv.put(operation.key, operation.input);
      return null;
    case OpFunction.Delete:
      await kv.delete(operation.key);
      return null;
    case OpFunction.Append:
      await kv.append(operation.key, operation.input);
      return null;
    case OpFunction.Cas: {
      const [expected, value] = operation.input as [JsonValue, JsonValue];
      return kv.cas(operation.key, expected, value);
    }
    default:
      return assertNever(operation.f, 'operation function');
  }
}

/** A client error's outcome: only an explicit `indeterminate: false` means it did not happen. */
function isDefiniteFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { indeterminate?: unknown }).indeterminate === false;
}

function errorCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

/** Client errors that mean the run is shutting down rather than anything about the op. */
const shutdownCodes: ReadonlySet<string> = new Set(['CLUSTER_STOPPED', 'CLIENT_CLOSED']);

/**
 * Every client process gets its own hub: its own connections and its own idea of who
 * leads, as separate client machines would. With one shared hub, every client would move
 * to a new leader the moment one of them did, and a deposed leader still answering reads
 * would never be asked.
 */
/**
 * The limits every client of the run works under, recorded in the history's header so
 * that `verify` can hold the run to them: an append carries its client's maxValueBytes
 * (a leader only lowers it), so no list the clients grew may encode to more.
 */
const checkClientMaxValueBytes: number = CLIENT_DEFAULTS.maxValueBytes;
export const CHECK_HISTORY_LIMITS: HistoryLimits = { maxValueBytes: checkClientMaxValueBytes };

class ClientFleet {
  private readonly hubs = new Set<ClientHub>();

  constructor(
    private readonly cluster: Cluster,
    private readonly timeoutMs: number,
  ) {}

  open(timeoutMs = this.timeoutMs): { hub: ClientHub; kv: KvClient } {
    const hub = new ClientHub(this.cluster.nodeIds, { maxValueBytes: checkClientMaxValueBytes });
    for (const [id, port] of this.cluster.connectClientPorts()) hub.connect(id, port);
    this.hubs.add(hub);
    return { hub, kv: hub.client({ timeoutMs }) };
  }

  close(hub: ClientHub): void {
    this.hubs.delete(hub);
    hub.close();
  }

  /** A restarted node is a new worker: give every open hub a connection to it. */
  reconnect(id: NodeId): void {
    for (const hub of this.hubs) {
      for (const [node, port] of this.cluster.connectClientPorts()) {
        if (node === id) hub.connect(id, port);
        else port.close();
      }
    }
  }

  async restart(id: NodeId): Promise<void> {
    await this.cluster.restart(id);
    this.reconnect(id);
  }

  /** Nodes the nemesis is crashing now: their crash events are its doing. */
  readonly crashing = new Set<NodeId>();

  /** The nemesis's crash of a node (any other crash is a problem of the run). */
  async crash(id: NodeId, options: { loseUnsynced?: boolean } = {}): Promise<{ readonly unsyncedBytesLost: number; readonly unsyncedFilesLost: readonly string[] }> {
    this.crashing.add(id);
    try {
      return await this.cluster.crash(id, options);
    } finally {
      this.crashing.delete(id);
    }
  }

  /** A node joined the cluster: every open hub may send to it too. */
  added(id: NodeId): void {
    for (const hub of this.hubs) hub.addNode(id);
    this.reconnect(id);
  }

  /** A node left the cluster: no hub tries it again. */
  removed(id: NodeId): void {
    for (const hub of this.hubs) hub.removeNode(id);
  }

  closeAll(): void {
    for (const hub of [...this.hubs]) this.close(hub);
  }
}

/** One fault of the schedule: the quiet gap before it, its kind, how long it is held, and
 *  the generator its targets and parameters are drawn from. */
export interface ScheduledFault {
  readonly gapMs: number;
  readonly kind: NemesisKind;
  readonly holdMs: number;
  readonly random: () => number;
}

/**
 * The nemesis's schedule, drawn from the seed alone: the same seed gives the same gaps,
 * kinds and hold times, however each fault went. Each fault draws its targets from a
 * generator of its own, since how many draws it makes depends on the cluster (a transfer
 * burst draws once per hand-off while there is a leader, a fault with no leader in sight
 * draws a node instead): from one shared generator, the first fault that drew once more
 * than in an earlier run changed every fault after it.
 */
export class NemesisSchedule {
  private readonly random: () => number;

  constructor(
    seed: number,
    private readonly kinds: readonly NemesisKind[],
  ) {
    this.random = createPrng(seed);
  }

  next(): ScheduledFault {
    const between = ([low, high]: readonly [number, number]): number => low + Math.floor(this.random() * (high - low));
    const gapMs = between(checkDefaults.nemesisGapMs);
    const kind = this.kinds[Math.floor(this.random() * this.kinds.length)]!;
    const holdMs = between(checkDefaults.nemesisHoldMs);
    const random = createPrng(Math.floor(this.random() * 0x1_0000_0000));
    return { gapMs, kind, holdMs, random };
  }
}

/** A pause the run can cut short when it is stopping. */
class Pauses {
  private readonly wakers = new Set<() => void>();
  stopped = false;

  pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const wake of [...this.wakers]) wake();
  }
}

export async function runCheck(options: CheckRunOptions): Promise<CheckRunResult> {
  const log = options.log ?? ((): void => undefined);
  const schedule = new NemesisSchedule(options.seed, options.nemesis);
  const whyNot = whyNemesisNotApplicable(options.nemesis, options.nodes);
  if (whyNot !== null) throw new CheckError(CheckErrorCode.NemesisNotApplicable, `nemesis not applicable: ${whyNot}`);
  const dataDir = makeDataDir(options);
  const problems: string[] = [];
  const timeline: NemesisRecord[] = [];
  const workload = new WorkloadGenerator(options.workload, createPrng(options.seed ^ 0x5bd1e995));
  const pauses = new Pauses();

  log(`starting ${options.nodes} nodes in ${dataDir}`);
  const cluster = await startCluster(options, dataDir);
  /** Set once the run got through to its final reads and the cluster stopped: otherwise its files are kept. */
  let ranToEnd = false;
  // One zero point for everything the run reports: the history's times, the nemesis
  // timeline, and the run's duration all count from here, the cluster's start.
  const recorder = new HistoryRecorder();
  let snapshotsInstalled = 0;
  const fleet = new ClientFleet(cluster, options.operationTimeoutMs ?? checkDefaults.operationTimeoutMs);
  // A node down from the start, or one that goes down on its own (its disk failed, its
  // worker exited) and not by the nemesis's hand, is a problem: the run would otherwise go
  // on with a node fewer than it says, and bring it back at the end as if nothing happened.
  for (const [id, error] of cluster.startFailures) problems.push(`node ${id} did not start: ${error.message}`);
  cluster.on('event', (event: ClusterEvent) => {
    if (event.kind === EventKind.Invariant) problems.push(`at ${recorder.nowMs().toFixed(0)} ms: ${event.text}`);
    if (event.kind === EventKind.Crash && !fleet.crashing.has(event.node)) problems.push(`at ${recorder.nowMs().toFixed(0)} ms: node ${event.node} went down on its own: ${event.text}`);
    if (event.kind === EventKind.SnapshotInstalled) snapshotsInstalled++;
  });
  try {
    await cluster.waitForLeader(checkDefaults.leaderWaitMs);
    let nextProcess = options.clients;

    const clientLoop = async (index: number): Promise<void> => {
      let process = index;
      let { hub, kv } = fleet.open();
      const reader = index % checkDefaults.readerEvery === 0;
      while (!pauses.stopped) {
        // Each operation starts at the process's home node, as a client attached to one
        // node would, and follows redirects from there. So clients disagree about the
        // leader for a while after a fault, which is what exposes a deposed leader that
        // still answers; with one shared view they would all move at once.
        hub.leaderHint = cluster.nodeIds[Math.floor(process / checkDefaults.readerEvery) % cluster.nodeIds.length]!;
        const operation = workload.next(process, reader);
        recorder.record(process, EventType.Invoke, operation.f, operation.key, operation.input);
        try {
          const output = await perform(kv, operation);
          recorder.record(process, EventType.Ok, operation.f, operation.key, output);
          workload.observe(operation, output);
        } catch (error) {
          if (isDefiniteFailure(error)) {
            recorder.record(process, EventType.Fail, operation.f, operation.key, null);
            if (shutdownCodes.has(errorCode(error))) return;
            continue;
          }
          // Unknown outcome: this process may never issue anything again; a new one
          // (with a new session) takes its place.
          recorder.record(process, EventType.Info, operation.f, operation.key, null);
          fleet.close(hub);
          process = nextProcess++;
          ({ hub, kv } = fleet.open());
        }
      }
      fleet.close(hub);
    };

    const nemesisLoop = async (): Promise<void> => {
      if (options.nemesis.length === 0) return;
      while (!pauses.stopped) {
        const { gapMs, kind, holdMs, random } = schedule.next();
        await pauses.pause(gapMs);
        if (pauses.stopped) return;
        const startMs = recorder.nowMs();
        let fault: Fault | null;
        try {
          fault = await injectFault(cluster, fleet, kind, random, recorder);
        } catch (error) {
          problems.push(`nemesis ${kind} failed at ${startMs.toFixed(0)} ms: ${String(error)}`);
          continue;
        }
        if (fault === null) {
          log(`${(startMs / 1000).toFixed(1)} s  nemesis: ${kind} found nothing to act on (not counted)`);
          continue;
        }
        const record: NemesisRecord = {
          kind,
          startMs,
          endMs: null,
          text: fault.text,
          ...(fault.unsyncedBytesLost === undefined ? {} : { unsyncedBytesLost: fault.unsyncedBytesLost }),
          ...(fault.unsyncedFilesLost === undefined ? {} : { unsyncedFilesLost: fault.unsyncedFilesLost }),
        };
        timeline.push(record);
        log(`${(startMs / 1000).toFixed(1)} s  nemesis: ${record.text}`);
        // Held to its end even when the run is stopping, so the fault is always undone.
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        try {
          await fault.undo();
        } catch (error) {
          problems.push(`undoing "${record.text}" failed: ${String(error)}`);
        }
        record.endMs = recorder.nowMs();
        record.text = fault.text;
        if (fault.didNothing?.() === true) {
          // A fault that never acted (a transfer burst that never found a leader) is no fault.
          timeline.splice(timeline.indexOf(record), 1);
          log(`${(record.endMs / 1000).toFixed(1)} s  nemesis: ended ${record.text}, which did nothing (not counted)`);
          continue;
        }
        log(`${(record.endMs / 1000).toFixed(1)} s  nemesis: ended ${record.text}`);
      }
    };

    const clients = Array.from({ length: options.clients }, (_, index) => clientLoop(index));
    const nemesis = nemesisLoop();
    await new Promise((resolve) => setTimeout(resolve, options.durationMs));
    pauses.stop();
    await Promise.all([...clients, nemesis]);

    // Quiesce: heal, bring every node back, wait for a leader, read every key.
    log('healing, restarting every stopped node, waiting for a leader');
    cluster.heal();
    recorder.nemesis(NemesisAction.Heal, null);
    for (const node of cluster.status().nodes) {
      if (node.alive) continue;
      try {
        await fleet.restart(node.id);
        recorder.nemesis(NemesisAction.Restart, { nodes: [node.id] });
      } catch (error) {
        problems.push(`node ${node.id} would not restart at the end: ${String(error)}`);
      }
    }
    try {
      await cluster.waitForLeader(checkDefaults.leaderWaitMs);
    } catch (error) {
      problems.push(`no leader after healing: ${String(error)}`);
    }
    await finalReads(cluster, fleet, recorder, [...workload.keysUsed].sort(), nextProcess, problems, options.testOnlyFalseFinalRead === true);
    fleet.closeAll();
    await cluster.stop();
    ranToEnd = true;
  } finally {
    if (!ranToEnd) {
      // An error (thrown by the run, or by the cluster's stop): the files are the evidence.
      try {
        fleet.closeAll();
        await cluster.stop();
      } catch {
        // The error under way is the one to report.
      }
      keepAfterError(options, dataDir, recorder.events, log);
    }
  }
  const durationMs = recorder.nowMs();
  const report = verifyHistory(pairOperations(recorder.events, CHECK_HISTORY_LIMITS));
  const verdict = problems.length > 0 ? Verdict.NotLinearizable : report.verdict;
  // A run that did not pass keeps everything needed to look into it: each node's WAL and
  // node.log, and the history next to them.
  const keep = verdict !== Verdict.Linearizable || options.keepData === true || options.dataDir != null;
  const historyFile = options.historyFile ?? (keep ? join(dataDir, KEPT_HISTORY_FILE) : null);
  const historyError = historyFile === null ? null : writeHistory(historyFile, recorder.events, undefined, CHECK_HISTORY_LIMITS);
  if (keep) releaseScratchDir(dataDir);
  else removeScratchDir(dataDir);
  const okCount = report.history.counts.ok;
  return {
    options,
    events: recorder.events,
    report,
    timeline,
    problems,
    durationMs,
    okPerSecond: okCount / Math.max(durationMs / 1000, 1e-3),
    snapshotsInstalled,
    verdict,
    historyFile,
    historyError,
    dataDir: keep ? dataDir : null,
  };
}

/** The run's data directory: the one asked for (made if missing, refused unless empty), else a fresh scratch directory. */
function makeDataDir(options: CheckRunOptions): string {
  // Kept whatever happens (--keep-data): not removed on an interrupt either.
  if (options.dataDir == null) return options.keepData === true ? mkdtempSync(join(tmpdir(), 'raftlab-check-')) : makeScratchDir(tmpdir(), 'raftlab-check-');
  const whyNot = whyDataDirNotUsable(options.dataDir);
  if (whyNot !== null) throw new CheckError(CheckErrorCode.DataDirNotUsable, `cannot put the cluster in ${options.dataDir}: ${whyNot}`);
  makeDirectories(options.dataDir);
  return options.dataDir;
}

/** A run that ended in an error keeps its data directory and the history so far, and says where. */
function keepAfterError(options: CheckRunOptions, dataDir: string, events: readonly HistoryEntry[], log: (line: string) => void): void {
  releaseScratchDir(dataDir);
  const historyFile = options.historyFile ?? join(dataDir, KEPT_HISTORY_FILE);
  const historyError = writeHistory(historyFile, events, undefined, CHECK_HISTORY_LIMITS);
  log(
    `the run ended in an error: its data directory is kept in ${dataDir}; ` +
      (historyError === null ? `the history so far (${events.length} events) written to ${historyFile}` : `the history could not be written to ${historyFile}: ${historyError}`),
  );
}

/** The run's cluster in its scratch directory; should it not start, the directory goes too. */
async function startCluster(options: CheckRunOptions, dataDir: string): Promise<Cluster> {
  try {
    return await Cluster.start({
      nodes: options.nodes,
      dataDir,
      fsync: true,
      seed: options.seed,
      ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
      ...(options.snapshotEntries === undefined ? {} : { snapshotEntries: options.snapshotEntries }),
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
      ...(options.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: options.snapshotChunkBytes }),
      ...(options.testOnly === undefined ? {} : { testOnly: options.testOnly }),
    });
  } catch (error) {
    // Nothing ran: a directory asked for is left (empty) as it is, a scratch one goes.
    if (options.dataDir == null) removeScratchDir(dataDir);
    throw error;
  }
}

async function finalReads(
  cluster: Cluster,
  fleet: ClientFleet,
  recorder: HistoryRecorder,
  keys: readonly string[],
  firstProcess: number,
  problems: string[],
  falseRead: boolean,
): Promise<void> {
  let misrecord = falseRead;
  const process = firstProcess;
  const { hub, kv } = fleet.open(checkDefaults.operationTimeoutMs);
  try {
    for (const key of keys) {
      let read = false;
      let lastError = '';
      for (let attempt = 0; attempt < checkDefaults.finalReadAttempts && !read; attempt++) {
        recorder.record(process, EventType.Invoke, OpFunction.Get, key, null);
        try {
          const value = await kv.get(key);
          // Test-only (testOnlyFalseFinalRead): a value no operation wrote.
          recorder.record(process, EventType.Ok, OpFunction.Get, key, misrecord ? 'testOnly: never written' : value);
          misrecord = false;
          read = true;
        } catch (error) {
          if (!isDefiniteFailure(error)) throw error;
          lastError = String(error);
          recorder.record(process, EventType.Fail, OpFunction.Get, key, null);
        }
      }
      if (!read) {
        // The cluster is not serving: the remaining keys would only wait out the same.
        const unread = keys.length - keys.indexOf(key);
        const nodes = cluster
          .status()
          .nodes.map((node) => `${node.id}:${node.alive ? `${node.role}@${node.term} leader ${node.leaderId} commit ${node.commitIndex} applied ${node.appliedIndex}` : 'down'}`)
          .join('; ');
        problems.push(
          `the final read of ${JSON.stringify(key)} failed ${checkDefaults.finalReadAttempts} times: the cluster did not recover ` +
            `(${unread} keys left unread; last error: ${lastError}; nodes: ${nodes})`,
        );
        return;
      }
    }
  } finally {
    fleet.close(hub);
  }
}

/** Characters of history text gathered before a write: memory stays bounded by this,
 *  however long the history (one string of it all would also hit V8's ~512 MiB limit). */
const historyWriteChunkChars = 1 << 20;

/**
 * Writes a history as `raftlab verify` reads it, one event per line (diffable, and still
 * one JSON array), in chunks of about `chunkChars` characters, after a header with the
 * run's `limits` when given. Returns why it could not be written, or null.
 */
export function writeHistory(file: string, events: readonly HistoryEntry[], chunkChars = historyWriteChunkChars, limits: HistoryLimits | null = null): string | null {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'w');
    const descriptor = fd;
    const write = (text: string): void => {
      const bytes = Buffer.from(text, 'utf8');
      for (let done = 0; done < bytes.length; ) done += writeSync(descriptor, bytes, done);
    };
    let chunk = '[\n';
    if (limits !== null) chunk += JSON.stringify({ process: HEADER_PROCESS, limits }) + (events.length > 0 ? ',\n' : '\n');
    events.forEach((event, index) => {
      chunk += JSON.stringify(event) + (index + 1 < events.length ? ',\n' : '\n');
      if (chunk.length >= chunkChars) {
        write(chunk);
        chunk = '';
      }
    });
    write(`${chunk}]\n`);
    const closing = fd;
    fd = null;
    closeSync(closing);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** The leader if there is one, else a random node. */
function leaderOr(cluster: Cluster, random: () => number): { id: NodeId; isLeader: boolean } {
  const leader = cluster.status().leaderId;
  if (leader !== 0) return { id: leader, isLeader: true };
  return { id: cluster.nodeIds[Math.floor(random() * cluster.nodeIds.length)]!, isLeader: false };
}

interface Fault {
  readonly undo: () => Promise<void>;
  readonly text: string;
  /** Asked after the undo: true if the fault turned out to do nothing at all. */
  readonly didNothing?: () => boolean;
  /** A power loss (lose): the WAL bytes it cut, over all its nodes. */
  readonly unsyncedBytesLost?: number;
  readonly unsyncedFilesLost?: readonly string[];
}

/** Injects one fault of `kind`; null when it finds nothing to act on at this moment. */
async function injectFault(cluster: Cluster, fleet: ClientFleet, kind: NemesisKind, random: () => number, recorder: HistoryRecorder): Promise<Fault | null> {
  const nodes = cluster.nodeIds;
  const heal = async (): Promise<void> => {
    cluster.heal();
    recorder.nemesis(NemesisAction.Heal, null);
  };
  const restart = async (ids: readonly NodeId[]): Promise<void> => {
    await Promise.all(ids.map((id) => fleet.restart(id)));
    recorder.nemesis(NemesisAction.Restart, { nodes: [...ids] });
  };
  switch (kind) {
    case NemesisKind.Crash: {
      const target = random() < 0.6 ? leaderOr(cluster, random) : { id: nodes[Math.floor(random() * nodes.length)]!, isLeader: false };
      await fleet.crash(target.id);
      recorder.nemesis(NemesisAction.Crash, { node: target.id, leader: target.isLeader });
      return { undo: async () => restart([target.id]), text: `crash node ${target.id}${target.isLeader ? ' (leader)' : ''}, then restart it` };
    }
    case NemesisKind.Lose: {
      // A power failure: a majority or the whole cluster at once, losing unsynced writes.
      const majority = Math.floor(nodes.length / 2) + 1;
      const count = random() < 0.5 ? nodes.length : majority;
      const { id: leader } = leaderOr(cluster, random);
      const targets = [leader, ...shuffled(nodes.filter((id) => id !== leader), random)].slice(0, count);
      const crashed = await Promise.all(targets.map((id) => fleet.crash(id, { loseUnsynced: true })));
      // What the power loss took: a node whose every write was synced when it went lost nothing.
      const lost = targets.map((id, index) => ({ id, bytes: crashed[index]!.unsyncedBytesLost }));
      recorder.nemesis(NemesisAction.Lose, {
        nodes: targets.map((id, index) => ({ node: id, unsyncedBytesLost: crashed[index]!.unsyncedBytesLost, unsyncedFilesLost: [...crashed[index]!.unsyncedFilesLost] })),
      });
      const losing = lost.filter(({ bytes }) => bytes > 0);
      // Besides WAL bytes: a snapshot file's rename undone, files being written gone.
      const files = targets.flatMap((id, index) => crashed[index]!.unsyncedFilesLost.map((what) => `${what} on node ${id}`));
      const what =
        (losing.length === 0
          ? 'no unsynced write to lose'
          : `losing unsynced writes: ${losing.map(({ id, bytes }) => `${bytes} bytes on node ${id}`).join(', ')}${losing.length < targets.length ? ', none on the others' : ''}`) +
        (files.length > 0 ? `; and ${files.join('; ')}` : '');
      return {
        undo: async () => restart(targets),
        text: targets.length === 1 ? `crash node ${targets[0]} (${what}), then restart it` : `crash nodes ${targets.join(',')} at once (${what}), then restart them`,
        unsyncedBytesLost: lost.reduce((sum, { bytes }) => sum + bytes, 0),
        unsyncedFilesLost: files,
      };
    }
    case NemesisKind.Isolate: {
      if (nodes.length < 2) return null;
      const { id, isLeader } = leaderOr(cluster, random);
      cluster.isolate(id);
      recorder.nemesis(NemesisAction.Isolate, { node: id, leader: isLeader });
      return { undo: heal, text: `isolate node ${id}${isLeader ? ' (leader)' : ''}` };
    }
    case NemesisKind.Partition: {
      if (nodes.length < 2) return null;
      const order = shuffled(nodes, random);
      // A bridge needs a node on each side besides it: with two nodes it would see both
      // and cut nothing.
      if (random() < 0.5 || nodes.length < 3) {
        const minority = order.slice(0, Math.floor(nodes.length / 2));
        const majority = order.slice(minority.length);
        cluster.partition([minority, majority]);
        recorder.nemesis(NemesisAction.Partition, { groups: [minority, majority] });
        return { undo: heal, text: `partition ${minority.join(',')} | ${majority.join(',')}` };
      }
      // A bridge: the middle node sees both sides; neither side sees the other.
      const middle = Math.floor(nodes.length / 2);
      const left = order.slice(0, middle + 1);
      const right = order.slice(middle);
      cluster.partition([left, right]);
      recorder.nemesis(NemesisAction.Partition, { groups: [left, right], bridge: order[middle]! });
      return { undo: heal, text: `partition ${left.join(',')} | ${right.join(',')} with node ${order[middle]} as the bridge` };
    }
    case NemesisKind.Cut: {
      const { id: leader, isLeader } = leaderOr(cluster, random);
      const followers = shuffled(
        nodes.filter((id) => id !== leader),
        random,
      ).slice(0, 1 + Math.floor(random() * 2));
      const outbound = random() < 0.5;
      if (followers.length === 0) return null;
      for (const follower of followers) {
        if (outbound) cluster.cutLink(leader, follower);
        else cluster.cutLink(follower, leader);
      }
      recorder.nemesis(NemesisAction.Cut, { around: leader, leader: isLeader, links: followers.map((follower) => (outbound ? [leader, follower] : [follower, leader])) });
      const arrows = followers.map((follower) => (outbound ? `${leader}→${follower}` : `${follower}→${leader}`)).join(', ');
      return { undo: heal, text: `cut links one way around ${isLeader ? `the leader, node ${leader}` : `node ${leader} (no leader seen)`}: ${arrows}` };
    }
    case NemesisKind.Faults: {
      const faults = {
        dropRate: Math.round(random() * 30) / 100,
        delayMs: Math.floor(random() * 40),
        duplicateRate: Math.round(random() * 30) / 100,
      };
      // No link to disturb, or nothing drawn to disturb it with.
      if (nodes.length < 2 || (faults.dropRate === 0 && faults.delayMs === 0 && faults.duplicateRate === 0)) return null;
      cluster.setLinkFaults(faults);
      recorder.nemesis(NemesisAction.LinkFaults, faults);
      return { undo: heal, text: `link faults: drop ${faults.dropRate}, delay ${faults.delayMs} ms, duplicate ${faults.duplicateRate}` };
    }
    case NemesisKind.Transfer: {
      // Each hand-off makes a fresh leader that does not yet know what its predecessor
      // committed until it commits an entry of its own term: reads must wait for that.
      if (nodes.length < 2) return null;
      const targets: NodeId[] = [];
      // The leaders seen at each beat: what the hand-offs asked for is not always what
      // happened (a transfer the target cannot take in time is given up).
      const leaders: NodeId[] = [];
      const see = (leader: NodeId): void => {
        if (leader !== 0 && leaders[leaders.length - 1] !== leader) leaders.push(leader);
      };
      const handOff = (): void => {
        const leader = cluster.status().leaderId;
        see(leader);
        if (leader === 0) return;
        const others = nodes.filter((id) => id !== leader);
        const to = others[Math.floor(random() * others.length)]!;
        try {
          cluster.transferLeadership(to);
          targets.push(to);
          recorder.nemesis(NemesisAction.Transfer, { from: leader, to });
        } catch {
          // No leader at this instant (an election is under way): try at the next beat.
        }
      };
      handOff();
      const timer = setInterval(handOff, checkDefaults.transferIntervalMs);
      // The text is read as the fault starts too: only its end may say leadership never moved.
      let ended = false;
      return {
        undo: async () => {
          clearInterval(timer);
          see(cluster.status().leaderId);
          ended = true;
        },
        didNothing: () => targets.length === 0,
        get text(): string {
          const never = ended ? `leadership never moved from ${leaders[0] ?? 'nobody'}` : `leader ${leaders[0] ?? 'nobody'}`;
          const moved = leaders.length > 1 ? `leaders ${leaders.join('→')}` : never;
          return `leadership transfers every ${checkDefaults.transferIntervalMs} ms${targets.length > 0 ? ` (asked for ${targets.join(',')}; ${moved})` : ''}`;
        },
      };
    }
    case NemesisKind.Membership: {
      const voters = cluster.status().membership.voters;
      // The only voter cannot be removed (nor replaced in one change by this nemesis).
      if (voters.length < 2) return null;
      // The joint replacement adds its two nodes first: not on a cluster with no room for
      // them (MAX_NODES), which takes the removal and addition below instead (--nodes 9, seed
      // 3037: addNode refused, the run failed on the nemesis's own error).
      if (random() < 0.5 && voters.length >= 2 && cluster.nodeIds.length + 2 <= MAX_NODES) {
        // Joint consensus (thesis §4.3): two voters (often the leader among them) replaced
        // by two new nodes in one change; the new ones join as learners and catch up first.
        const first = random() < 0.5 ? leaderOr(cluster, random).id : voters[Math.floor(random() * voters.length)]!;
        const rest = voters.filter((id) => id !== first);
        const leaving = [first, rest[Math.floor(random() * rest.length)]!].sort((a, b) => a - b);
        const joining: NodeId[] = [];
        for (let i = 0; i < 2; i++) {
          const id = await cluster.addNode({ learner: true, timeoutMs: checkDefaults.membershipTimeoutMs });
          joining.push(id);
          fleet.added(id);
          recorder.nemesis(NemesisAction.AddNode, { node: id, learner: true });
        }
        // Half the time the two stay on as learners (demoted: voters of the old majority
        // until C_new, replicated to after), and leave the cluster when the fault ends.
        const demote = random() < 0.5;
        const asLearners = demote ? { learners: [...cluster.status().membership.learners.filter((id) => !joining.includes(id)), ...leaving] } : {};
        await cluster.setVoters([...voters.filter((id) => !leaving.includes(id)), ...joining], { timeoutMs: checkDefaults.membershipTimeoutMs, ...asLearners });
        const membership = cluster.status().membership;
        recorder.nemesis(NemesisAction.SetVoters, { voters: [...membership.voters], learners: [...membership.learners], replaced: leaving, by: joining });
        if (!demote) {
          for (const id of leaving) fleet.removed(id);
          return {
            undo: async () => undefined,
            text: `replace voters ${leaving.join(',')} by new nodes ${joining.join(',')} in one joint change (learners first, caught up)`,
          };
        }
        return {
          undo: async () => {
            for (const id of leaving) {
              await cluster.removeNode(id, { timeoutMs: checkDefaults.membershipTimeoutMs });
              fleet.removed(id);
              recorder.nemesis(NemesisAction.RemoveNode, { node: id, leader: false });
            }
          },
          text: `replace voters ${leaving.join(',')} by new nodes ${joining.join(',')} in one joint change, keeping ${leaving.join(',')} as learners (then removed)`,
        };
      }
      const target = random() < 0.5 ? leaderOr(cluster, random) : { id: nodes[Math.floor(random() * nodes.length)]!, isLeader: false };
      await cluster.removeNode(target.id, { timeoutMs: checkDefaults.membershipTimeoutMs });
      fleet.removed(target.id);
      recorder.nemesis(NemesisAction.RemoveNode, { node: target.id, leader: target.isLeader });
      let added: NodeId | null = null;
      return {
        undo: async () => {
          const id = await cluster.addNode({ timeoutMs: checkDefaults.membershipTimeoutMs });
          added = id;
          fleet.added(id);
          recorder.nemesis(NemesisAction.AddNode, { node: id, learner: false });
        },
        get text(): string {
          return `remove node ${target.id}${target.isLeader ? ' (leader)' : ''} from the cluster, then add ${added === null ? 'a new node' : `node ${added} (learner, caught up, voter)`}`;
        },
      };
    }
    default:
      return assertNever(kind, 'nemesis kind');
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function formatCheckSummary(result: CheckRunResult): string {
  const { options, report } = result;
  const out: string[] = [];
  const leftOut = options.nemesisLeftOut ?? [];
  out.push(
    `raftlab check: workload ${options.workload}, ${options.nodes} nodes, ${options.clients} clients, ` +
      `${seconds(options.durationMs)}, nemesis ${options.nemesis.length > 0 ? options.nemesis.join(',') : 'none'}, seed ${options.seed}`,
  );
  if (leftOut.length > 0) out.push(`nemesis left out of all (cannot act on ${options.nodes} node${options.nodes === 1 ? '' : 's'}): ${leftOut.join(',')}`);
  out.push(
    `ran ${seconds(result.durationMs)} from the cluster's start to its stop: ${report.history.counts.ok} ok operations, ` +
      `${result.okPerSecond.toFixed(0)} ok/s, ${result.snapshotsInstalled} snapshot(s) installed from a leader`,
  );
  out.push(`nemesis timeline (${result.timeline.length}; times from the cluster's start, as the history's):`);
  for (const record of result.timeline) {
    out.push(`  ${seconds(record.startMs).padStart(7)} – ${(record.endMs === null ? '?' : seconds(record.endMs)).padStart(7)}  ${record.text}`);
  }
  const powerLosses = result.timeline.filter((record) => record.unsyncedBytesLost !== undefined);
  if (powerLosses.length > 0) {
    const losing = powerLosses.filter((record) => record.unsyncedBytesLost! > 0);
    const bytes = losing.reduce((sum, record) => sum + record.unsyncedBytesLost!, 0);
    const rest = powerLosses.length - losing.length;
    const tookFiles = powerLosses.filter((record) => (record.unsyncedFilesLost?.length ?? 0) > 0).length;
    out.push(
      `power losses: ${powerLosses.length}; ${losing.length} cut unsynced WAL bytes (${bytes} in all)` +
        (rest > 0 ? `; ${rest} found every write synced` : '') +
        (tookFiles > 0 ? `; ${tookFiles} took other files not yet durable (a snapshot file's rename, files being written: see the timeline)` : ''),
    );
  }
  out.push(formatReport(report));
  if (result.problems.length > 0) {
    out.push(`problems (${result.problems.length}):`, ...result.problems.map((problem) => `  ${problem}`));
  }
  out.push(`check: ${result.verdict === Verdict.Linearizable ? 'PASS' : result.verdict === Verdict.Unknown ? 'UNKNOWN' : 'FAIL'} (replay: --seed ${options.seed})`);
  return out.join('\n');
}
