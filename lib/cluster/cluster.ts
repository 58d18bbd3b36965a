// The supervisor: one worker thread per node, a full mesh of MessageChannels between
// them, fault injection, and the public API (DESIGN.md, "The supervisor and public API").

import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectories } from '../output-file.js';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { changeMembership } from '../raft/membership.js';
import { majoritySize } from '../raft/quorum.js';
import { defaultConfig, MembershipChangeType, RefusalCode, Role } from '../raft/types.js';
import type { LogIndex, NodeId } from '../raft/types.js';
import { syncCreatedDirectories, truncateToSyncedPosition, walFiles } from '../storage/file-storage.js';
import { forgetPendingRenames, loseUnsyncedFiles, POWER_LOSS_STATE_BYTES, PowerLossSlot } from './power-loss.js';
import { StorageErrorCode } from '../storage/errors.js';
import { SNAPSHOT_FILE_NAME } from '../storage/record.js';
import { MIN_SEGMENT_BYTES } from '../storage/types.js';
import { ClientHub } from './client.js';
import { WriteStats } from './write-stats.js';
import type { KvClient } from './client.js';
import { ErrorCode, RaftlabError, asErrorCode, describeGiven } from './errors.js';
import { HEALTHY_LINK, LOG_LEVELS, NodeReplyCode, describeDiskFailure } from './protocol.js';
import type { ControlToNode, LinkFault, LogLevel, MembershipResult, NodeToControl, NodeWorkerData, RecoveryFigures, TestOnlyClusterBugs } from './protocol.js';
import { UNKNOWN_MEMBERSHIP, describeChange, describeMembership, memberKind } from './membership.js';
import type { ClusterMembershipChange } from './membership.js';
import { DataDirLock } from './dir-lock.js';
import { MANIFEST_FILE, checkNodeIdentities, checkNodeIdentity, clusterIdFor, nodeDirectoryIds, resolveLayout, writeManifest } from './manifest.js';
import type { ClusterManifest } from './manifest.js';
import { EventKind, SLOW_FSYNC_THRESHOLDS_MS } from './types.js';
import type { ClusterEvent, ClusterStatus, Membership, NodeStatus } from './types.js';

export interface ClusterOptions {
  /**
   * Number of voting nodes at bootstrap, 1..9. Default 3. A new directory only: one that
   * holds a cluster (its cluster.json, written at its first start, or its node-<id>
   * directories) starts the nodes it holds, and startEvents says so when this differs.
   */
  readonly nodes?: number;
  /** Where node-<id>/ directories live. Default: a fresh directory under the OS temp dir. */
  readonly dataDir?: string;
  /** fdatasync every turn (default). false is UNSAFE: acknowledged writes can be lost on a crash. */
  readonly fsync?: boolean;
  /** Milliseconds per Raft tick. Default 20 (election timeout 200-400 ms). */
  readonly tickMs?: number;
  /** Ticks before a follower with no word from a leader campaigns (randomised up to twice that). Default 10, 2 to 10,000. */
  readonly electionTicks?: number;
  /** Ticks between a leader's heartbeats. Default 1; below electionTicks. */
  readonly heartbeatTicks?: number;
  /** Seeds election timeouts and link faults. Default: random. */
  readonly seed?: number;
  /**
   * Largest value a client may write, in bytes as the log encodes it (msgpack: close to
   * JSON's size for strings and small integers, 9 bytes a float). Default 1 MiB, at most 64 MiB.
   */
  readonly maxValueBytes?: number;
  /** Bytes a WAL segment holds before the next one starts. Default 64 MiB, from 256 to 2^31-1. */
  readonly segmentBytes?: number;
  /**
   * Prepare each node's next WAL segment ahead, zero-filled, so an fdatasync into it
   * writes data only (default: fsync). On a journal-less disk it costs CPU the cluster
   * may not have (lib/bench/README.md, "What each optimisation gained").
   */
  readonly preallocate?: boolean;
  /**
   * Each node compacts its log into a snapshot of its state machine every this many
   * applied entries (§7); a follower too far behind then catches up by InstallSnapshot.
   * Default 100,000 (etcd's default snapshot count): a snapshot serializes the whole
   * state machine, so taking one every 10,000 writes cost about a quarter of the
   * 3-node benchmark's throughput.
   */
  readonly snapshotEntries?: number;
  /**
   * The most snapshot bytes a leader sends in one InstallSnapshot message: a larger
   * snapshot goes in chunks, each sent once the follower acknowledged the previous one
   * (§7, Figure 13's offset and done). An integer from 1 to 64 MiB; default 1 MiB, so
   * that no single message between workers carries a whole large state machine.
   */
  readonly snapshotChunkBytes?: number;
  /**
   * The largest snapshot a follower takes from a leader (InstallSnapshot's announced
   * size): a larger one is refused at its first chunk (SNAPSHOT_TOO_LARGE, counted as a
   * malformed message and logged), before anything is allocated for it. An integer from 1
   * to 4 GiB; default 1 GiB, 16 times the 63 MB state of `raftlab bench --catch-up`. A
   * node never allocates more than 64 MiB on a leader's word (Config.maxSnapshotBytes).
   */
  readonly maxSnapshotBytes?: number;
  /**
   * A follower starts no turn within this many milliseconds of starting its last
   * fdatasync (group commit by delay, with fsync on): AppendEntries that arrive meanwhile
   * share its next write and fdatasync. 0 turns it off. Default: 2 with 5 or more nodes,
   * where a commit waits for only some of the followers and their back-to-back
   * fdatasyncs kept the CPUs (and with them this machine's disk) busy; 0 with fewer, where
   * a follower's acknowledgement is half of every quorum and the delay raised the median
   * (lib/bench/README.md, "The seventeenth session's look at the tail").
   */
  readonly followerSyncSpacingMs?: number;
  /** How long to wait for a worker to open its files. Default 30 s. */
  readonly startTimeoutMs?: number;
  /**
   * Cancels the start: once it aborts, the nodes started so far are stopped cleanly, the
   * data directory's lock is released, and Cluster.start rejects with START_ABORTED
   * (a signal aborted already: before anything is made). No effect once start resolved.
   */
  readonly signal?: AbortSignal;
  /**
   * The lowest level each node writes to its `node-<id>/node.log` (pino's levels). Default
   * 'info' (state changes: elections, compactions, membership, a stop); 'warn' or
   * 'silent' for less. A node whose disk fails writes its fatal line at any level but
   * 'silent' (the crash event says it either way).
   */
  readonly logLevel?: LogLevel;
  /** Deliberately broken behaviours, for proving that `raftlab check` catches them. */
  readonly testOnly?: TestOnlyClusterBugs;
}

export interface MembershipOptions {
  /** Deadline of the whole operation, ms (proposals, retries, catching up). Default 30 s. */
  readonly timeoutMs?: number;
  /**
   * Propose a change of the voters even when too few of its new voters run and reach the
   * leader for its configuration to commit (refused with MEMBERSHIP_CHANGE_UNSAFE
   * otherwise): the cluster then takes no write until enough of them are back.
   */
  readonly force?: boolean;
}

export interface SetVotersOptions extends MembershipOptions {
  /**
   * The learners after the change. Default: the current learners not made voters. A voter
   * listed here is demoted (it keeps its vote in the old majority until the change ends,
   * then stays as a learner); a member in neither list leaves the cluster.
   */
  readonly learners?: readonly NodeId[];
}

export interface AddNodeOptions extends MembershipOptions {
  /** Leave the new node a learner (it receives the log, never votes or counts); promote() it later. */
  readonly learner?: boolean;
}

export interface LinkFaultOptions {
  readonly dropRate?: number;
  readonly delayMs?: number;
  readonly duplicateRate?: number;
}

const MEMBERSHIP_OPTION_NAMES: readonly (keyof MembershipOptions)[] = ['timeoutMs', 'force'];
const ADD_NODE_OPTION_NAMES: readonly (keyof AddNodeOptions)[] = [...MEMBERSHIP_OPTION_NAMES, 'learner'];
const SET_VOTERS_OPTION_NAMES: readonly (keyof SetVotersOptions)[] = [...MEMBERSHIP_OPTION_NAMES, 'learners'];

/**
 * What is wrong with a membership call's options, or null: not an object, a key the call
 * does not take (addNode({ learners: true }) would add a voter; setVoters(v, { learner: [3] })
 * would take voter 3 out instead of demoting it), or a flag that is not a boolean.
 */
function misnamedMembershipOptions(options: unknown, names: readonly string[]): string | null {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return `its options are an object, got ${describeGiven(options)}`;
  const unknown = Object.keys(options).filter((key) => !names.includes(key));
  if (unknown.length > 0) return `unknown option(s) ${unknown.map((key) => JSON.stringify(key)).join(', ')}; it takes ${names.join(', ')}`;
  for (const flag of ['force', 'learner']) {
    const value = (options as Record<string, unknown>)[flag];
    if (value !== undefined && typeof value !== 'boolean') return `${flag} must be true or false, got ${describeGiven(value)}`;
  }
  return null;
}

/** Nodes a cluster may run at once, at start and through addNode (the dashboard is laid out for this many). */
export const MAX_NODES = 9;
const DEFAULT_MEMBERSHIP_TIMEOUT_MS = 30_000;
/** The longest membership deadline: what a Node timer holds (2^31-1 ms, about 24.8 days). */
const MAX_MEMBERSHIP_TIMEOUT_MS = 0x7fffffff;
/** Pause before retrying a membership change that was refused for now (no leader yet, a change still pending). */
const MEMBERSHIP_RETRY_PAUSE_MS = 50;
/**
 * Thesis §4.2.1: a new server catches up in rounds; each round replicates the entries
 * the leader held when it began, and "if the last round lasts less than an election
 * timeout", the server is caught up (as a voter it will not hold commits back long).
 * After this many rounds it is not.
 */
const CATCH_UP_ROUNDS = 10;
const DEFAULT_SNAPSHOT_ENTRIES = 100_000;
const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1 << 20;
/** A chunk is one structured-clone message between workers: past this, split the snapshot. */
const MAX_SNAPSHOT_CHUNK_BYTES = 64 << 20;
/** The largest maxSnapshotBytes: what the wire's InstallSnapshot decoder takes (one Uint8Array, 2^32 bytes in Node 20). */
const MAX_SNAPSHOT_BYTES_LIMIT = 2 ** 32;
/** The largest maxValueBytes: a value rides whole in one log entry and one message. */
const MAX_VALUE_BYTES_LIMIT = 64 << 20;
const DEFAULT_FOLLOWER_SYNC_SPACING_MS = 2;
/** The smallest cluster whose followers space their fdatasyncs by default. */
const FOLLOWER_SYNC_SPACING_MIN_NODES = 5;
/** Above this a follower's acknowledgements would come near a heartbeat's period. */
const MAX_FOLLOWER_SYNC_SPACING_MS = 10;
/** The longest delay setLinkFaults puts on a message: a minute (a timer holds at most 2^31-1 ms). */
const MAX_LINK_DELAY_MS = 60_000;
const STATUS_INTERVAL_MS = 100;
const STOP_TIMEOUT_MS = 5000;
const LATENCY_WINDOW_MS = 10_000;
const YOUNG_GENERATION_MB = 8;
const WORKER_URL = new URL('../../workers/raft-node.js', import.meta.url);

interface NodeSlot {
  readonly id: NodeId;
  readonly dir: string;
  readonly syncedPosition: SharedArrayBuffer;
  worker: Worker | null;
  status: NodeStatus;
  /** Set while stop() or crash() ends the worker on purpose. */
  stopping: boolean;
  /** Its removal committed (or a committed configuration left it out): it is being stopped and forgotten, never started again. */
  retiring: Promise<void> | null;
}

interface PendingMembershipRequest {
  readonly worker: Worker;
  readonly settle: (result: MembershipResult) => void;
}

function initialStatus(id: NodeId): NodeStatus {
  return {
    id,
    alive: false,
    role: Role.Follower,
    term: 0,
    votedFor: 0,
    leaderId: 0,
    commitIndex: 0,
    appliedIndex: 0,
    lastLogIndex: 0,
    lastLogTerm: 0,
    snapshotIndex: 0,
    electionElapsedTicks: 0,
    electionTimeoutTicks: 0,
    lastLeaderContactMs: null,
    walBytes: 0,
    walFiles: [],
    fsyncLatencyMs: null,
    slowFsyncs: SLOW_FSYNC_THRESHOLDS_MS.map(() => 0),
    membership: UNKNOWN_MEMBERSHIP,
    membershipIndex: 0,
    learner: false,
    progress: [],
    recentEntries: [],
    logTerms: [],
    malformedMessages: 0,
    fsyncCount: 0,
    entriesPersisted: 0,
    appendEntriesSent: 0,
    entriesSent: 0,
    entriesReadBack: 0,
    walSparesUsed: 0,
    reportedAt: 0,
  };
}

/** Start failures that belong to one node's files: that node stays down, the cluster starts without it. */
const FILE_FAILURE_CODES: ReadonlySet<string> = new Set([StorageErrorCode.Corrupt, StorageErrorCode.SnapshotCorrupt, StorageErrorCode.Io, StorageErrorCode.Foreign, ErrorCode.NodeFilesMissing]);

function invariantClusterId(cluster: string | undefined): asserts cluster is string {
  if (cluster === undefined) throw new Error('raftlab bug: a cluster started without a cluster id');
}

function describeRecovery(recovery: RecoveryFigures): string {
  const dropped = recovery.truncatedBytes > 0 ? `, dropped a torn tail of ${recovery.truncatedBytes} bytes` : '';
  return `replayed ${recovery.entries} entries from ${recovery.segments} segment(s) in ${recovery.durationMs.toFixed(1)} ms at term ${recovery.term}${dropped}`;
}

/** Whether a node's directory holds a WAL segment or a snapshot: what a node writes at its first start. */
function hasNodeFiles(dir: string): boolean {
  return walFiles(dir).length > 0 || existsSync(join(dir, SNAPSHOT_FILE_NAME));
}

/**
 * A node's failure to start, with its code (WAL_CORRUPT, WAL_IO, ...): one that is not a
 * RaftlabError's (a worker that could not load its module: ERR_MODULE_NOT_FOUND) is
 * NODE_FAILED, the code said in the message.
 */
function startFailure(id: NodeId, code: unknown, message: string): RaftlabError {
  const known = asErrorCode(code);
  const said = known === null && typeof code === 'string' ? ` (${code})` : '';
  return new RaftlabError(known ?? ErrorCode.NodeFailed, `node ${id} failed to start: ${message}${said}`);
}

function checkPositiveInteger(name: string, value: number, max: number): void {
  checkInteger(name, value, 1, max);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `${name} must be an integer from ${min} to ${max}, got ${describeGiven(value)}`);
  }
}

/** Every option Cluster.start takes: a key not listed here (a misspelt `dataDir`, say) is refused, not ignored. */
const OPTION_NAMES: Readonly<Record<keyof ClusterOptions, true>> = {
  nodes: true,
  dataDir: true,
  fsync: true,
  tickMs: true,
  electionTicks: true,
  heartbeatTicks: true,
  seed: true,
  maxValueBytes: true,
  segmentBytes: true,
  preallocate: true,
  snapshotEntries: true,
  snapshotChunkBytes: true,
  maxSnapshotBytes: true,
  followerSyncSpacingMs: true,
  startTimeoutMs: true,
  signal: true,
  logLevel: true,
  testOnly: true,
};

function startAborted(signal: AbortSignal | undefined, when: string): RaftlabError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  return new RaftlabError(ErrorCode.StartAborted, `Cluster.start aborted ${when} (${why})`);
}

/** `work`'s value, or null as soon as `signal` aborts (and at once if it has). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | null> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = (): void => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function checkBoolean(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new RaftlabError(ErrorCode.InvalidConfig, `${name} must be true or false, got ${describeGiven(value)} (${typeof value})`);
  }
}

/**
 * Cluster.start's options, all of them, before anything is made or locked: INVALID_CONFIG
 * naming the option. A JavaScript caller's mistakes too: an unknown key (a misspelt
 * `dataDir` would put the data in a temporary directory), `fsync: 0` (which would have
 * turned fdatasync off), a seed that is not an integer (every node would draw the same
 * election timeouts).
 */
function checkOptions(options: ClusterOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `Cluster.start takes an object of options, got ${describeGiven(options)}`);
  }
  const unknown = Object.keys(options).filter((key) => !Object.hasOwn(OPTION_NAMES, key));
  if (unknown.length > 0) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `unknown option(s) ${unknown.map((key) => JSON.stringify(key)).join(', ')}; the options are ${Object.keys(OPTION_NAMES).join(', ')}`);
  }
  checkPositiveInteger('nodes', options.nodes ?? 3, MAX_NODES);
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir === '')) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `dataDir must be a non-empty path, got ${describeGiven(options.dataDir)}`);
  }
  checkBoolean('fsync', options.fsync);
  checkBoolean('preallocate', options.preallocate);
  if (options.seed !== undefined) checkInteger('seed', options.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  checkPositiveInteger('tickMs', options.tickMs ?? 20, 60_000);
  const electionTicks = options.electionTicks ?? 10;
  checkInteger('electionTicks', electionTicks, 2, 10_000);
  checkInteger('heartbeatTicks', options.heartbeatTicks ?? 1, 1, electionTicks - 1);
  checkPositiveInteger('maxValueBytes', options.maxValueBytes ?? 1 << 20, MAX_VALUE_BYTES_LIMIT);
  checkInteger('segmentBytes', options.segmentBytes ?? 64 << 20, MIN_SEGMENT_BYTES, 0x7fffffff);
  checkPositiveInteger('startTimeoutMs', options.startTimeoutMs ?? 30_000, 0x7fffffff);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `signal must be an AbortSignal, got ${describeGiven(options.signal)}`);
  }
  if (options.snapshotEntries !== undefined) checkPositiveInteger('snapshotEntries', options.snapshotEntries, Number.MAX_SAFE_INTEGER);
  if (options.snapshotChunkBytes !== undefined) checkPositiveInteger('snapshotChunkBytes', options.snapshotChunkBytes, MAX_SNAPSHOT_CHUNK_BYTES);
  if (options.maxSnapshotBytes !== undefined) checkPositiveInteger('maxSnapshotBytes', options.maxSnapshotBytes, MAX_SNAPSHOT_BYTES_LIMIT);
  const spacing = options.followerSyncSpacingMs;
  if (spacing !== undefined && !(typeof spacing === 'number' && Number.isFinite(spacing) && spacing >= 0 && spacing <= MAX_FOLLOWER_SYNC_SPACING_MS)) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `followerSyncSpacingMs must be a number from 0 to ${MAX_FOLLOWER_SYNC_SPACING_MS}, got ${describeGiven(spacing)}`);
  }
  if (options.logLevel !== undefined && !(LOG_LEVELS as readonly unknown[]).includes(options.logLevel)) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${describeGiven(options.logLevel)}`);
  }
  const testOnly = options.testOnly;
  if (testOnly !== undefined && (typeof testOnly !== 'object' || testOnly === null || Array.isArray(testOnly))) {
    throw new RaftlabError(ErrorCode.InvalidConfig, `testOnly must be an object, got ${describeGiven(testOnly)}`);
  }
  for (const [id, bytes] of Object.entries(testOnly?.maxValueBytesOf ?? {})) checkPositiveInteger(`testOnly.maxValueBytesOf[${id}]`, bytes, MAX_VALUE_BYTES_LIMIT);
}

export class Cluster extends EventEmitter {
  private readonly slots = new Map<NodeId, NodeSlot>();
  private readonly hub: ClientHub;
  private readonly startedAt = Date.now();
  /** True until start() has resolved: events meanwhile are kept in startEvents too. */
  private starting = true;
  private readonly startEventList: ClusterEvent[] = [];
  private readonly startFailureMap = new Map<NodeId, RaftlabError>();
  private partitionGroups: NodeId[][] | null = null;
  private readonly cutLinks: [NodeId, NodeId][] = [];
  private globalFault: LinkFaultOptions | null = null;
  private tickMs: number;
  private readonly writeStats = new WriteStats();
  private stopped = false;
  /** What stop() does, from its first call: every call waits for it. */
  private stopping: Promise<void> | null = null;
  /** Each worker gets its own seed, so a restarted node does not replay its old timeouts. */
  private spawnCount = 0;
  /** Called with every status report as it arrives (catch-up rounds are timed on them). */
  private readonly statusListeners = new Set<(status: NodeStatus) => void>();
  /** Called once when the cluster stops: waits that no report will end any more give up. */
  private readonly stopListeners = new Set<() => void>();
  /** Membership requests sent to a worker, by request id, until it answers (or dies). */
  private readonly membershipRequests = new Map<number, PendingMembershipRequest>();
  private nextMembershipRequestId = 1;
  /** Membership operations run one after another (the core allows one change at a time anyway). */
  private membershipQueue: Promise<unknown> = Promise.resolve();
  /** The last configuration a membership change here saw committed, and its entry's index. */
  private committedMembership: { readonly index: LogIndex; readonly membership: Membership } | null = null;
  /** Membership operations started and not ended: while one runs, it retires the nodes its change leaves out itself. */
  private membershipOperationsRunning = 0;
  /** The highest commitIndex any node reported: a leader that has not reached it may be a deposed one. */
  private highestCommitSeen: LogIndex = 0;
  /** The highest node id this cluster ever ran: a removed node's id is never given to a new one. */
  private highestIdUsed: NodeId;
  /**
   * Nodes seen with files of their own (cluster.json's `initialized`): one whose files are
   * gone does not start empty. Null for a directory from before it was recorded, until
   * the start has looked at its nodes.
   */
  private initializedIds: Set<NodeId> | null;
  /** cluster.json could not be written after a change: it lists nodes that are no longer the cluster's. */
  private manifestBehind = false;
  readonly dataDir: string;
  /**
   * The bootstrap configuration (1..nodes): every worker's Config.peers, including one
   * added later. The configuration in force lives in the log (status().membership).
   */
  readonly bootstrapIds: readonly NodeId[];
  /** The cluster's id (cluster.json): every node names it in its WAL's segment headers (FileStorageOptions.owner). */
  private readonly clusterId: string;

  private constructor(
    private readonly options: Required<Omit<ClusterOptions, 'dataDir' | 'testOnly' | 'signal'>> & { testOnly: TestOnlyClusterBugs },
    dataDir: string,
    layout: ClusterManifest,
    private readonly lock: DataDirLock,
  ) {
    super();
    this.dataDir = dataDir;
    this.tickMs = options.tickMs;
    this.bootstrapIds = Object.freeze([...layout.bootstrap]);
    invariantClusterId(layout.cluster);
    this.clusterId = layout.cluster;
    this.highestIdUsed = Math.max(...layout.bootstrap, ...layout.nodes, layout.highestId ?? 0);
    this.initializedIds = layout.initialized === null ? null : new Set(layout.initialized);
    this.hub = new ClientHub(layout.nodes, {
      maxValueBytes: options.maxValueBytes,
      onWriteLatency: (ms) => this.recordLatency(ms),
    });
    for (const id of layout.nodes) this.addSlot(id);
  }

  /** Records which nodes run in `<dataDir>/cluster.json`, so that Cluster.start on this directory starts them again. */
  private saveManifest(): void {
    const nodes = this.nodeIds;
    const initialized = this.initializedIds === null ? null : nodes.filter((id) => this.initializedIds!.has(id));
    writeManifest(this.dataDir, { bootstrap: this.bootstrapIds, nodes, initialized, cluster: this.clusterId, highestId: this.highestIdUsed });
    this.manifestBehind = false;
  }

  /**
   * After a membership change that happened (committed, or a node forgotten): cluster.json
   * must follow, or the next start runs the old set of nodes. A write that fails is said
   * in a warning and tried again at every later change and at stop().
   */
  private saveManifestAfterChange(what: string): void {
    try {
      this.saveManifest();
    } catch (error) {
      this.manifestBehind = true;
      this.emitEvent(EventKind.Info, 0, `WARNING: ${what}, but ${(error as Error).message}; it is tried again at the next change and at stop(), and until it is written a start on this directory would run the nodes it lists`);
    }
  }

  /**
   * Records the nodes in `ids` that now have files of their own as initialized (in
   * cluster.json when that adds one). Best effort: a manifest that cannot be written is
   * reported, and the nodes keep running.
   */
  private noteInitialized(ids: readonly NodeId[]): void {
    const known = (this.initializedIds ??= new Set());
    const added = ids.filter((id) => !known.has(id) && this.slots.has(id) && hasNodeFiles(this.slot(id).dir));
    if (added.length === 0) return;
    for (const id of added) known.add(id);
    try {
      this.saveManifest();
    } catch (error) {
      this.emitEvent(EventKind.Info, 0, `WARNING: cannot record in ${join(this.dataDir, MANIFEST_FILE)} that node(s) ${added.join(', ')} wrote their files: ${(error as Error).message}`);
    }
  }

  /**
   * On a directory that ran before: learners in the configuration the nodes recovered
   * are said once, at the first leader's report whose configuration has committed. An addNode cut short by a crash
   * (after its learner entry committed, before its promotion) leaves one, which nothing
   * else would mention.
   */
  private noteLearnersOnce(): void {
    const onStatus = (status: NodeStatus): void => {
      // A leader's configuration, once committed: a node that was down while a learner
      // was promoted reports its older configuration, and may report first.
      if (status.role !== Role.Leader || status.membership.voters.length === 0 || status.membershipIndex > status.commitIndex) return;
      this.statusListeners.delete(onStatus);
      const learners = status.membership.learners;
      if (learners.length === 0) return;
      const names = learners.map((id) => `n${id}`).join(', ');
      this.emitEvent(EventKind.Info, 0, `${names} ${learners.length === 1 ? 'is a learner' : 'are learners'} (added as such, or an addNode cut short before the promotion): promote(id) makes one a voter, removeNode(id) takes it out`);
    };
    this.statusListeners.add(onStatus);
  }

  /** A node recorded as initialized whose files are gone: refused, since it would start without its term, vote and log. */
  private checkFilesPresent(slot: NodeSlot): void {
    if (this.initializedIds === null || !this.initializedIds.has(slot.id) || hasNodeFiles(slot.dir)) return;
    throw new RaftlabError(
      ErrorCode.NodeFilesMissing,
      `node ${slot.id} has no WAL and no snapshot in ${slot.dir}, but it wrote them before (${join(this.dataDir, MANIFEST_FILE)}): started empty it would have forgotten its term, vote and log, and a committed write could be lost. Remove it (removeNode(${slot.id})) and add a fresh node; or, if you know it never voted nor acknowledged a write, take ${slot.id} out of "initialized" there`,
    );
  }

  private addSlot(id: NodeId): NodeSlot {
    const dir = join(this.dataDir, `node-${id}`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new RaftlabError(ErrorCode.InvalidConfig, `cannot make node ${id}'s directory ${dir}: ${(error as Error).message}`);
    }
    const slot: NodeSlot = { id, dir, syncedPosition: new SharedArrayBuffer(POWER_LOSS_STATE_BYTES), worker: null, status: initialStatus(id), stopping: false, retiring: null };
    this.slots.set(id, slot);
    return slot;
  }

  // 'event' is the one event a cluster emits: typed, so that a listener's parameter is a
  // ClusterEvent (not `any`) in the embedder's code. Other names go to EventEmitter as usual.
  override on(event: 'event', listener: (event: ClusterEvent) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  override once(event: 'event', listener: (event: ClusterEvent) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }

  override off(event: 'event', listener: (event: ClusterEvent) => void): this;
  override off(event: string | symbol, listener: (...args: any[]) => void): this;
  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.off(event, listener);
  }

  /** The nodes this cluster runs (or ran and may restart), ascending: the bootstrap ids plus added, minus removed ones. */
  get nodeIds(): readonly NodeId[] {
    return [...this.slots.keys()].sort((a, b) => a - b);
  }

  /**
   * Starts a cluster in `options.dataDir` (a new temporary directory by default). A
   * directory that holds a cluster (its cluster.json, written at its first start and at
   * every membership change) starts the nodes it lists, whatever `options.nodes` says:
   * the configuration they agreed on is in their logs.
   *
   * A node whose files refuse to load (a corrupt WAL or snapshot, an unreadable file)
   * stays down, as if it had crashed: the others start, `startFailures` holds its error
   * and `startEvents` says why (`restart(id)` tries again once its files are mended). The
   * start fails only when no node starts, or a node fails for any other reason.
   */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    checkOptions(options);
    if (options.signal?.aborted === true) throw startAborted(options.signal, 'before it began: nothing was made');
    if (options.dataDir !== undefined) return Cluster.startIn(options.dataDir, options);
    // A directory of its own: removed again if the start fails, since no one knows of it.
    const dataDir = mkdtempSync(join(tmpdir(), 'raftlab-'));
    try {
      return await Cluster.startIn(dataDir, options);
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  }

  private static async startIn(dataDir: string, options: ClusterOptions): Promise<Cluster> {
    try {
      const created = makeDirectories(dataDir);
      // Else a power loss could take the new directory, and the next start would make a new, empty cluster.
      if (options.fsync !== false) syncCreatedDirectories(dataDir, created);
    } catch (error) {
      throw new RaftlabError(ErrorCode.InvalidConfig, `cannot make the data directory ${dataDir}: ${(error as Error).message}`);
    }
    const lock = DataDirLock.acquire(dataDir);
    try {
      return await Cluster.startLocked(dataDir, options, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  private static async startLocked(dataDir: string, options: ClusterOptions, lock: DataDirLock): Promise<Cluster> {
    const resolved = resolveLayout(dataDir, options.nodes ?? 3, MAX_NODES);
    const source = resolved.source;
    // A directory whose cluster.json has no id yet (written before raftlab recorded one, or
    // none at all) gets one now (the one its WALs name, if any), in cluster.json before any
    // node writes a segment naming it.
    const named = resolved.manifest.cluster === undefined ? { ...resolved.manifest, cluster: clusterIdFor(dataDir, resolved.manifest.nodes) } : resolved.manifest;
    // And the highest id it used, if it does not record one yet: the node directories left
    // tell which ids removed nodes had, until an operator deletes them.
    const layout =
      named.highestId === undefined ? { ...named, highestId: Math.max(...named.bootstrap, ...named.nodes, ...nodeDirectoryIds(dataDir)) } : named;
    const nodes = layout.nodes.length;
    // Every option was checked by checkOptions(), before the directory was made or locked.
    const tickMs = options.tickMs ?? 20;
    const electionTicks = options.electionTicks ?? 10;
    const heartbeatTicks = options.heartbeatTicks ?? 1;
    const maxValueBytes = options.maxValueBytes ?? 1 << 20;
    const segmentBytes = options.segmentBytes ?? 64 << 20;
    const startTimeoutMs = options.startTimeoutMs ?? 30_000;
    const followerSyncSpacingMs = options.followerSyncSpacingMs ?? (nodes >= FOLLOWER_SYNC_SPACING_MIN_NODES ? DEFAULT_FOLLOWER_SYNC_SPACING_MS : 0);
    // Every node's identity before anything is written or made: a cluster.json edited to
    // other bootstrap voters refuses the whole start, and leaves every node as it was.
    const writeMissingIdentities = checkNodeIdentities(dataDir, layout.nodes, layout.bootstrap);
    const cluster = new Cluster(
      {
        nodes,
        fsync: options.fsync ?? true,
        tickMs,
        electionTicks,
        heartbeatTicks,
        seed: options.seed ?? Math.floor(Math.random() * 0x7fffffff),
        maxValueBytes,
        segmentBytes,
        preallocate: options.preallocate ?? options.fsync ?? true,
        snapshotEntries: options.snapshotEntries ?? DEFAULT_SNAPSHOT_ENTRIES,
        snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
        maxSnapshotBytes: options.maxSnapshotBytes ?? defaultConfig.maxSnapshotBytes,
        followerSyncSpacingMs,
        startTimeoutMs,
        logLevel: options.logLevel ?? 'info',
        testOnly: options.testOnly ?? {},
      },
      dataDir,
      layout,
      lock,
    );
    writeMissingIdentities();
    if (source !== 'manifest' || resolved.manifest.cluster === undefined) writeManifest(dataDir, layout);
    else if (resolved.manifest.highestId === undefined) {
      // Best effort: only a deleted node directory needs it, and it is written again at the next change.
      try {
        writeManifest(dataDir, layout);
      } catch {
        // A full disk, say: the start goes on as it did before highestId was recorded.
      }
    }
    if (source !== 'new') cluster.noteExistingLayout(options.nodes, source);
    const spawned = Promise.allSettled(layout.nodes.map((id) => cluster.spawn(id)));
    const results = await untilAborted(spawned, options.signal);
    if (results === null) {
      // Stopped while they start: a worker still opening its files ends with its exit.
      await cluster.stop();
      await spawned;
      throw startAborted(options.signal, 'while its nodes started: they were stopped and the lock released');
    }
    const fatal = await cluster.settleStartFailures(layout.nodes, results);
    if (fatal !== null) {
      await cluster.stop();
      throw fatal;
    }
    if (options.signal?.aborted === true) {
      await cluster.stop();
      throw startAborted(options.signal, 'as its nodes started: they were stopped and the lock released');
    }
    // Every node with files now, started or refused (a corrupt WAL is still its own).
    cluster.noteInitialized(layout.nodes);
    if (source !== 'new') cluster.noteLearnersOnce();
    cluster.starting = false;
    return cluster;
  }

  /**
   * What happened while start() ran, in order: the nodes' recovery (entries replayed, a
   * torn tail dropped), nodes that did not start and why, a node that starts with no
   * files in a cluster that ran before, a `nodes` option that did not apply, and the
   * nodes' own first events. Emitted as 'event' too, before anyone could listen.
   */
  get startEvents(): readonly ClusterEvent[] {
    return this.startEventList;
  }

  /** Nodes whose files refused to load at start (WAL_CORRUPT, SNAPSHOT_CORRUPT, WAL_IO), with the error: they are down. */
  get startFailures(): ReadonlyMap<NodeId, RaftlabError> {
    return this.startFailureMap;
  }

  /** start() on a directory that held a cluster: say so when `nodes` asked for another size, and warn of a node with no files. */
  private noteExistingLayout(requested: number | undefined, source: 'manifest' | 'node-directories'): void {
    const ids = this.nodeIds;
    const where = source === 'manifest' ? join(this.dataDir, MANIFEST_FILE) : `${this.dataDir}'s node directories`;
    if (requested !== undefined && requested !== ids.length) {
      this.emitEvent(EventKind.Info, 0, `nodes: ${requested} does not apply to ${this.dataDir}: it holds a cluster of ${ids.length} node(s) (${ids.map((id) => `n${id}`).join(',')}, from ${where}), and those start`);
    }
    // With the nodes that wrote files recorded, one with none never wrote (added just
    // before a crash): it starts as a new node would. One recorded is refused at its spawn.
    if (this.initializedIds !== null) return;
    for (const slot of this.slots.values()) {
      if (hasNodeFiles(slot.dir)) continue;
      this.emitEvent(
        EventKind.Info,
        slot.id,
        `WARNING: node ${slot.id} has no WAL and no snapshot in ${slot.dir} although its cluster ran before: it starts empty, without the term, vote and entries it may have had; if it had acknowledged any, a committed write can be lost (a node whose files are gone should be removed and a fresh one added)`,
      );
    }
  }

  /**
   * After every spawn at start settled: a node whose files refused to load stays down
   * (reported); the error to throw if the start as a whole failed, else null.
   */
  private async settleStartFailures(ids: readonly NodeId[], results: readonly PromiseSettledResult<RecoveryFigures>[]): Promise<Error | null> {
    let started = 0;
    let fatal: Error | null = null;
    for (let i = 0; i < results.length; i++) {
      const id = ids[i]!;
      const result = results[i]!;
      if (result.status === 'fulfilled') {
        started++;
        const recovery = result.value;
        if (recovery.entries > 0 || recovery.truncatedBytes > 0 || recovery.term > 0) this.emitEvent(EventKind.Restart, id, `node ${id} started: ${describeRecovery(recovery)}`);
        continue;
      }
      const error = result.reason as Error;
      const code = (error as { code?: unknown }).code;
      if (!(error instanceof RaftlabError) || !FILE_FAILURE_CODES.has(code as string)) {
        fatal ??= error;
        continue;
      }
      const worker = this.slot(id).worker;
      if (worker !== null) await new Promise((resolve) => worker.once('exit', resolve));
      this.startFailureMap.set(id, error);
      this.emitEvent(EventKind.Crash, id, `${error.message}; node ${id} stays down (restart it once its files are mended, or remove it)`);
    }
    if (fatal === null && started === 0) fatal = this.startFailureMap.values().next().value ?? new RaftlabError(ErrorCode.NodeFailed, 'no node started');
    return fatal;
  }

  get fsync(): boolean {
    return this.options.fsync;
  }

  get seed(): number {
    return this.options.seed;
  }

  // ---------------------------------------------------------------------------
  // Workers

  private slot(id: NodeId): NodeSlot {
    const slot = this.slots.get(id);
    if (slot === undefined) {
      if (!Number.isSafeInteger(id)) throw new RaftlabError(ErrorCode.InvalidArgument, `a node id is a positive integer, got ${describeGiven(id)} (${typeof id})`);
      throw new RaftlabError(ErrorCode.UnknownNode, `no node ${id}; nodes are ${this.nodeIds.join(', ')}`);
    }
    return slot;
  }

  /** slot(id), refusing a node whose removal committed and that is being stopped for good: it is no longer the cluster's. */
  private liveSlot(id: NodeId): NodeSlot {
    const slot = this.slot(id);
    if (slot.retiring !== null) throw new RaftlabError(ErrorCode.UnknownNode, `node ${id} left the cluster (its removal committed); it is being stopped and forgotten`);
    return slot;
  }

  private spawn(id: NodeId): Promise<RecoveryFigures> {
    const slot = this.slot(id);
    try {
      this.checkFilesPresent(slot);
      checkNodeIdentity(slot.dir, id, this.bootstrapIds);
    } catch (error) {
      return Promise.reject(error);
    }
    const data: NodeWorkerData = {
      id,
      peers: this.bootstrapIds,
      clusterId: this.clusterId,
      dir: slot.dir,
      fsync: this.options.fsync,
      tickMs: this.tickMs,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks,
      seed: (this.options.seed * 31 + id * 7919 + this.spawnCount++ * 104_729) | 0,
      maxValueBytes: this.options.testOnly.maxValueBytesOf?.[id] ?? this.options.maxValueBytes,
      segmentBytes: this.options.segmentBytes,
      preallocate: this.options.preallocate,
      snapshotEntries: this.options.snapshotEntries,
      snapshotChunkBytes: this.options.snapshotChunkBytes,
      maxSnapshotBytes: this.options.maxSnapshotBytes,
      followerSyncSpacingMs: this.options.followerSyncSpacingMs,
      statusIntervalMs: STATUS_INTERVAL_MS,
      syncedPosition: slot.syncedPosition,
      logLevel: this.options.logLevel,
      testOnly: this.options.testOnly,
    };
    // A small young generation: a scavenge copies what survives, and in a node that is
    // every log entry since the last one, so its pause grows with the young generation
    // (up to 36 ms at 64 MB in an open-loop run at 57k writes/s). At 8 MB the pauses are
    // short, p99 at half peak fell from 86 ms to 29 ms, and peak throughput did not drop.
    const worker = new Worker(WORKER_URL, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    slot.worker = worker;
    slot.stopping = false;
    return new Promise<RecoveryFigures>((resolve, reject) => {
      let started = false;
      /** The report of a disk failure the worker ended with (its exit is that, not another crash). */
      let diskFailed: string | null = null;
      const timer = setTimeout(() => {
        if (started) return;
        reject(new RaftlabError(ErrorCode.NodeFailed, `node ${id} did not start within ${this.options.startTimeoutMs} ms`));
        void worker.terminate();
      }, this.options.startTimeoutMs);
      worker.on('message', (message: NodeToControl) => {
        switch (message.type) {
          case 'started':
            started = true;
            clearTimeout(timer);
            if (this.slots.get(id) !== slot || slot.worker !== worker || slot.retiring !== null) {
              // Removed (or crashed) while it started: it joins nothing, and whoever
              // removes it stops it (retire() waits for slot.worker to be null).
              reject(new RaftlabError(ErrorCode.UnknownNode, `node ${id} left the cluster while it started`));
              void worker.terminate();
              return;
            }
            // What the node knew before it died is not what it knows now: until its first
            // status report it is a follower that knows no leader.
            slot.status = { ...initialStatus(id), alive: true, term: message.recovery.term, membership: slot.status.membership, learner: slot.status.learner };
            this.wire(slot);
            resolve(message.recovery);
            return;
          case 'status':
            if (slot.worker !== worker) return;
            slot.status = message.status;
            this.highestCommitSeen = Math.max(this.highestCommitSeen, message.status.commitIndex);
            for (const listener of this.statusListeners) listener(message.status);
            this.retireStrays(message.status);
            return;
          case 'events':
            for (const event of message.events) this.emitEvent(event.kind, event.node, event.text, event.term);
            return;
          case 'membership-result': {
            const request = this.membershipRequests.get(message.requestId);
            if (request === undefined || request.worker !== worker) return;
            this.membershipRequests.delete(message.requestId);
            request.settle(message.result);
            return;
          }
          case 'failed':
            clearTimeout(timer);
            // Its exit, which follows, is this failure, not a crash to report again.
            slot.stopping = true;
            reject(startFailure(id, message.code, message.message));
            return;
          case 'stopped':
            return;
        }
      });
      worker.on('error', (error: Error) => {
        clearTimeout(timer);
        if (!started) {
          // The error the worker threw keeps its code (WAL_CORRUPT, ...): it may arrive before
          // the worker's own 'failed' message, and must say the same.
          slot.stopping = true;
          reject(error instanceof RaftlabError ? error : startFailure(id, (error as { code?: unknown }).code, error.message));
          return;
        }
        // Its own files refused a write (WAL_IO: a full disk, ...): not a bug, and said so.
        diskFailed = describeDiskFailure(id, error);
        if (diskFailed !== null) {
          this.emitEvent(EventKind.Crash, id, diskFailed);
          return;
        }
        // A violated invariant (or any bug) crashed the node loudly: report it.
        this.emitEvent(EventKind.Invariant, id, `node ${id} CRASHED: ${error.message}`);
      });
      worker.on('exit', (code) => {
        if (!started) {
          // Crashed (or stopped) while it started: say so now, not at the start timeout.
          clearTimeout(timer);
          const why = slot.stopping ? 'it was crashed or stopped while starting' : `it exited with code ${code}`;
          reject(new RaftlabError(ErrorCode.NodeFailed, `node ${id} did not start: ${why}`));
        }
        if (slot.worker !== worker) return;
        slot.worker = null;
        slot.status = { ...slot.status, alive: false };
        this.hub.failNode(id, diskFailed ?? undefined);
        this.failMembershipRequests(worker, NodeReplyCode.ConnectionLost, `node ${id} exited before it answered${diskFailed === null ? '' : ` (${diskFailed})`}`);
        if (!slot.stopping && !this.stopped && diskFailed === null) {
          this.emitEvent(EventKind.Crash, id, `node ${id} exited unexpectedly (code ${code})`);
        }
      });
    });
  }

  /** Connects a (re)started node to every running peer and to the client hub. */
  private wire(slot: NodeSlot): void {
    const id = slot.id;
    const worker = slot.worker;
    if (worker === null) return;
    for (const peerSlot of this.slots.values()) {
      if (peerSlot.id === id || peerSlot.worker === null || !peerSlot.status.alive) continue;
      const channel = new MessageChannel();
      this.post(worker, { type: 'peer-port', peer: peerSlot.id, port: channel.port1 }, [channel.port1]);
      this.post(peerSlot.worker, { type: 'peer-port', peer: id, port: channel.port2 }, [channel.port2]);
    }
    const clientChannel = new MessageChannel();
    this.post(worker, { type: 'client-port', port: clientChannel.port1 }, [clientChannel.port1]);
    this.hub.connect(id, clientChannel.port2);
    this.pushFaults();
  }

  private post(worker: Worker, message: ControlToNode, transfer: MessagePort[] = []): void {
    worker.postMessage(message, transfer);
  }

  /** Ports to every running node, for a client living in another thread (the benchmark's). */
  connectClientPorts(): Map<NodeId, MessagePort> {
    this.checkRunning();
    const ports = new Map<NodeId, MessagePort>();
    for (const slot of this.slots.values()) {
      if (slot.worker === null) continue;
      const channel = new MessageChannel();
      this.post(slot.worker, { type: 'client-port', port: channel.port1 }, [channel.port1]);
      ports.set(slot.id, channel.port2);
    }
    return ports;
  }

  /**
   * TEST-ONLY: replaces node `id`'s link to `asPeer` with a port the caller holds, so a
   * test can post arbitrary bytes "from" that peer. The real link stays cut until the
   * node restarts.
   */
  testOnlyAttachPeerPort(id: NodeId, asPeer: NodeId): MessagePort {
    const worker = this.slot(id).worker;
    this.slot(asPeer);
    if (worker === null) throw new RaftlabError(ErrorCode.NodeNotRunning, `node ${id} is not running`);
    const channel = new MessageChannel();
    this.post(worker, { type: 'peer-port', peer: asPeer, port: channel.port1 }, [channel.port1]);
    channel.port2.unref();
    return channel.port2;
  }

  // ---------------------------------------------------------------------------
  // Faults

  /** A hard stop (worker.terminate()). With loseUnsynced, everything not yet durable is
   *  also taken from its files, as a power failure would: the WAL cut back to its last
   *  fdatasync, a snapshot file's rename not yet made durable by a directory fsync undone,
   *  files being written removed (power-loss.ts). Resolves with how many WAL bytes that
   *  cut and what else it took (0 and none without loseUnsynced, or when all was durable). */
  async crash(id: NodeId, options: { loseUnsynced?: boolean } = {}): Promise<{ readonly unsyncedBytesLost: number; readonly unsyncedFilesLost: readonly string[] }> {
    this.checkRunning();
    const slot = this.liveSlot(id);
    const worker = slot.worker;
    // A crash already under way (stopping) is this crash: a second call is told the node is not running.
    if (worker === null || slot.stopping) throw new RaftlabError(ErrorCode.NodeNotRunning, `node ${id} is not running`);
    slot.stopping = true;
    await worker.terminate();
    slot.worker = null;
    slot.status = { ...slot.status, alive: false };
    this.hub.failNode(id);
    this.failMembershipRequests(worker, NodeReplyCode.ConnectionLost, `node ${id} crashed before it answered`);
    let lost = '';
    let unsyncedBytesLost = 0;
    let unsyncedFilesLost: string[] = [];
    if (options.loseUnsynced === true) {
      // The snapshot file first: a rename undone may bring back a snapshot the WAL was cut for.
      unsyncedFilesLost = loseUnsyncedFiles(slot.dir, slot.syncedPosition);
      const position = new Int32Array(slot.syncedPosition);
      unsyncedBytesLost = truncateToSyncedPosition(slot.dir, { segment: Atomics.load(position, PowerLossSlot.Segment), offset: Atomics.load(position, PowerLossSlot.Offset) }).bytesDropped;
      lost = `, losing ${unsyncedBytesLost} unsynced bytes${unsyncedFilesLost.length > 0 ? ` and ${unsyncedFilesLost.join(', ')}` : ''}`;
    } else {
      forgetPendingRenames(slot.dir, slot.syncedPosition);
    }
    this.emitEvent(EventKind.Crash, id, `node ${id} crashed${lost}`);
    return { unsyncedBytesLost, unsyncedFilesLost };
  }

  /** Starts a fresh worker on the node's files; resolves once it has recovered. */
  async restart(id: NodeId): Promise<RecoveryFigures> {
    this.checkRunning();
    const slot = this.liveSlot(id);
    if (slot.worker !== null) throw new RaftlabError(ErrorCode.NodeAlreadyRunning, `node ${id} is already running`);
    const recovery = await this.spawn(id);
    if (this.stopped) {
      // stop() ran while it started and did not know of this worker: it goes too.
      await this.stopWorker(slot);
      throw new RaftlabError(ErrorCode.ClusterStopped, `the cluster was stopped while node ${id} restarted`);
    }
    this.startFailureMap.delete(id);
    this.noteInitialized([id]);
    this.emitEvent(EventKind.Restart, id, `node ${id} restarted: ${describeRecovery(recovery)}`);
    return recovery;
  }

  /**
   * Nodes can talk only if some group holds both. Groups may overlap (a bridge node that
   * sees both sides); a node in no group is isolated.
   */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.checkRunning();
    if (!Array.isArray(groups) || groups.length === 0 || groups.some((group) => !Array.isArray(group) || group.length === 0)) {
      throw new RaftlabError(ErrorCode.InvalidArgument, `a partition is one or more groups of one or more nodes, got ${describeGiven(groups)}`);
    }
    for (const group of groups) for (const id of group) this.slot(id);
    this.partitionGroups = groups.map((group) => [...group]);
    this.pushFaults();
    this.emitEvent(EventKind.Partition, 0, `partition ${groups.map((g) => g.join(',')).join(' | ')}`);
  }

  isolate(id: NodeId): void {
    this.checkRunning();
    this.slot(id);
    const others = this.nodeIds.filter((other) => other !== id);
    // Said as itself: passed on, it was "a partition is one or more groups of one or more nodes, got [[1],[]]".
    if (others.length === 0) throw new RaftlabError(ErrorCode.InvalidArgument, `node ${id} is the only node: there is no other to cut it off from`);
    this.partition([[id], others]);
  }

  /** Cuts one direction only: `from` can no longer reach `to`, but hears from it. */
  cutLink(from: NodeId, to: NodeId): void {
    this.checkRunning();
    this.slot(from);
    this.slot(to);
    if (from === to) throw new RaftlabError(ErrorCode.InvalidArgument, `a link joins two nodes: ${from}→${to} is none`);
    this.cutLinks.push([from, to]);
    this.pushFaults();
    this.emitEvent(EventKind.LinkFault, 0, `link ${from}→${to} cut (one way)`);
  }

  /** Loss, delay and duplication on every link; null restores clean links. */
  setLinkFaults(faults: LinkFaultOptions | null): void {
    this.checkRunning();
    if (faults !== null) {
      const { dropRate = 0, duplicateRate = 0, delayMs = 0 } = faults;
      // typeof first: a string would pass the comparisons below ('0.5' >= 0) and reach the nodes as one.
      if (typeof dropRate !== 'number' || typeof duplicateRate !== 'number' || typeof delayMs !== 'number' || !(dropRate >= 0 && dropRate <= 1) || !(duplicateRate >= 0 && duplicateRate <= 1) || !(delayMs >= 0 && delayMs <= MAX_LINK_DELAY_MS)) {
        throw new RaftlabError(ErrorCode.InvalidArgument, `dropRate and duplicateRate are in [0, 1]; delayMs in [0, ${MAX_LINK_DELAY_MS}]`);
      }
    }
    this.globalFault = faults;
    this.pushFaults();
    this.emitEvent(
      EventKind.LinkFault,
      0,
      faults === null
        ? 'link faults cleared'
        : `links: drop ${faults.dropRate ?? 0}, delay ${faults.delayMs ?? 0} ms, duplicate ${faults.duplicateRate ?? 0}`,
    );
  }

  heal(): void {
    this.checkRunning();
    const wasCut = this.partitionGroups !== null || this.cutLinks.length > 0 || this.globalFault !== null;
    this.partitionGroups = null;
    this.cutLinks.length = 0;
    this.globalFault = null;
    this.pushFaults();
    this.emitEvent(EventKind.Heal, 0, wasCut ? 'network healed' : 'network healed (nothing was cut)');
  }

  private canTalk(from: NodeId, to: NodeId): boolean {
    if (this.cutLinks.some(([a, b]) => a === from && b === to)) return false;
    if (this.partitionGroups === null) return true;
    return this.partitionGroups.some((group) => group.includes(from) && group.includes(to));
  }

  /** Tells every running node what happens to the messages it sends to each peer. */
  private pushFaults(): void {
    for (const slot of this.slots.values()) {
      if (slot.worker === null) continue;
      const faults: Record<string, LinkFault> = {};
      for (const to of this.nodeIds) {
        if (to === slot.id) continue;
        faults[String(to)] = {
          blocked: !this.canTalk(slot.id, to),
          dropRate: this.globalFault?.dropRate ?? HEALTHY_LINK.dropRate,
          duplicateRate: this.globalFault?.duplicateRate ?? HEALTHY_LINK.duplicateRate,
          delayMs: this.globalFault?.delayMs ?? HEALTHY_LINK.delayMs,
        };
      }
      this.post(slot.worker, { type: 'link-faults', faults });
    }
  }

  // ---------------------------------------------------------------------------
  // Commands

  /** Forces node `id` to time out and start an election now. */
  campaign(id: NodeId): void {
    this.checkRunning();
    const worker = this.slot(id).worker;
    if (worker === null) throw new RaftlabError(ErrorCode.NodeNotRunning, `node ${id} is not running`);
    this.post(worker, { type: 'campaign' });
  }

  /** Asks the current leader to hand leadership to `to` (thesis §3.10). */
  transferLeadership(to: NodeId): void {
    this.checkRunning();
    const target = this.slot(to);
    // A transfer to a node that cannot take it holds the leader's proposals back until it gives up (§3.10).
    if (target.worker === null) throw new RaftlabError(ErrorCode.NodeNotRunning, `node ${to} is not running: it cannot take leadership`);
    const leader = this.status().leaderId;
    if (leader === to) throw new RaftlabError(ErrorCode.InvalidArgument, `node ${to} leads already`);
    const worker = leader === 0 ? null : this.slot(leader).worker;
    if (worker === null) throw new RaftlabError(ErrorCode.NodeNotRunning, 'there is no leader to transfer from');
    this.post(worker, { type: 'transfer', to });
    this.emitEvent(EventKind.Info, leader, `leader ${leader} asked to transfer leadership to node ${to}`);
  }

  /** Stretches or shrinks the tick (slow motion for watching an election). */
  setTickMs(tickMs: number): void {
    this.checkRunning();
    checkPositiveInteger('tickMs', tickMs, 60_000);
    this.tickMs = tickMs;
    for (const slot of this.slots.values()) if (slot.worker !== null) this.post(slot.worker, { type: 'tick-ms', tickMs });
    this.emitEvent(EventKind.Info, 0, `tick is now ${tickMs} ms`);
  }

  client(options: { timeoutMs?: number } = {}): KvClient {
    if (this.stopped) throw new RaftlabError(ErrorCode.ClusterStopped, 'the cluster was stopped');
    return this.hub.client(options);
  }

  // ---------------------------------------------------------------------------
  // Observation

  status(): ClusterStatus {
    const nodes = this.nodeIds.map((id) => {
      const slot = this.slot(id);
      return slot.worker === null ? { ...slot.status, alive: false } : slot.status;
    });
    // The leader with the highest term among running nodes that believe they lead.
    let leader: NodeStatus | undefined;
    let term = 0;
    for (const node of nodes) {
      if (!node.alive) continue;
      term = Math.max(term, node.term);
      if (node.role === Role.Leader && (leader === undefined || node.term > leader.term)) leader = node;
    }
    const leaderId = leader?.id ?? 0;
    const now = Date.now();
    const latency = this.writeStats.latencyQuantiles(now, LATENCY_WINDOW_MS);
    return {
      nodes,
      leaderId,
      membership: this.membershipToReport(leader ?? freshestNode(nodes)),
      term,
      fsync: this.options.fsync,
      tickMs: this.tickMs,
      // Copies: a status kept by the caller must not change when heal() or addNode() does.
      partition: this.partitionGroups === null ? null : this.partitionGroups.map((group) => [...group]),
      cutLinks: this.cutLinks.map(([from, to]): [NodeId, NodeId] => [from, to]),
      opsPerSecond: this.writeStats.opsPerSecond(now),
      latencyMsP50: latency.p50,
      latencyMsP99: latency.p99,
    };
  }

  private recordLatency(ms: number): void {
    this.writeStats.record(Date.now(), ms);
  }

  private emitEvent(kind: ClusterEvent['kind'], node: NodeId, text: string, term?: number): void {
    const event: ClusterEvent = term === undefined ? { time: Date.now() - this.startedAt, kind, node, text } : { time: Date.now() - this.startedAt, kind, node, text, term };
    if (this.starting) this.startEventList.push(event);
    this.emit('event', event);
  }

  /**
   * Resolves when `predicate(status())` holds, checking on every status update; rejects
   * after timeoutMs (TIMEOUT; Infinity, or anything past what a timer holds, waits with no
   * deadline), or at once when the cluster stops (CLUSTER_STOPPED).
   */
  waitFor(predicate: (status: ClusterStatus) => boolean, timeoutMs: number, what = 'condition'): Promise<ClusterStatus> {
    const stoppedError = (): RaftlabError => new RaftlabError(ErrorCode.ClusterStopped, `the cluster was stopped: waiting for ${what} is over`);
    if (this.stopped) return Promise.reject(stoppedError());
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      return Promise.reject(new RaftlabError(ErrorCode.InvalidArgument, `timeoutMs must be a number of milliseconds, 0 or more (Infinity: no deadline), got ${describeGiven(timeoutMs)}`));
    }
    // A timer holds at most 2^31-1 ms (Node sets a longer one to 1 ms, with a warning on stderr): past that, no deadline.
    const deadlined = timeoutMs <= 0x7fffffff;
    return new Promise((resolve, reject) => {
      const end = (): void => {
        clearInterval(poll);
        clearTimeout(timer);
        this.stopListeners.delete(onStop);
      };
      const check = (): void => {
        const status = this.status();
        let holds: boolean;
        try {
          holds = predicate(status);
        } catch (error) {
          // The caller's predicate threw: its wait fails with that error (from a timer it
          // would otherwise be an uncaught exception, and the wait would go on).
          end();
          reject(error);
          return;
        }
        if (!holds) return;
        end();
        resolve(status);
      };
      // No report comes after stop(): the wait ends then, and keeps no timer alive.
      const onStop = (): void => {
        end();
        reject(stoppedError());
      };
      const poll = setInterval(check, STATUS_INTERVAL_MS / 2);
      const timer = deadlined
        ? setTimeout(() => {
            end();
            reject(new RaftlabError(ErrorCode.Timeout, `timed out after ${timeoutMs} ms waiting for ${what}`));
          }, timeoutMs)
        : undefined;
      this.stopListeners.add(onStop);
      check();
    });
  }

  /** Resolves with the id of a leader that a majority of running nodes recognise. */
  async waitForLeader(timeoutMs = 10_000): Promise<NodeId> {
    const status = await this.waitFor(
      (s) => {
        const leader = s.nodes.find((n) => n.id === s.leaderId);
        if (leader === undefined) return false;
        // A majority of the voters (learners neither vote nor count).
        const voters = s.membership.voters.length > 0 ? s.membership.voters : s.nodes.map((n) => n.id);
        const recognising = s.nodes.filter((n) => n.alive && voters.includes(n.id) && n.leaderId === leader.id && n.term === leader.term).length;
        return recognising >= Math.floor(voters.length / 2) + 1;
      },
      timeoutMs,
      'a leader',
    );
    return status.leaderId;
  }

  /**
   * Stops every node cleanly and releases the data directory. Every call resolves when
   * that is done: a second call while the first runs waits for it (then a start on the
   * directory finds it free), and one after it resolves at once.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.stopped = true;
    this.hub.close();
    for (const listener of [...this.stopListeners]) listener();
    for (const [requestId, request] of this.membershipRequests) {
      this.membershipRequests.delete(requestId);
      request.settle({ ok: false, code: ErrorCode.ClusterStopped, message: 'the cluster was stopped', leaderId: 0, indeterminate: true });
    }
    await Promise.all([...this.slots.values()].map((slot) => this.stopWorker(slot)));
    if (this.manifestBehind) this.saveManifestAfterChange('the cluster stopped with cluster.json behind its nodes');
    this.lock.release();
  }

  /** A clean stop: the node finishes and syncs what it accepted, then its worker ends. */
  private async stopWorker(slot: NodeSlot): Promise<void> {
    const worker = slot.worker;
    if (worker === null) return;
    slot.stopping = true;
    const stoppedCleanly = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      worker.on('message', (message: NodeToControl) => {
        if (message.type === 'stopped') {
          clearTimeout(timer);
          resolve();
        }
      });
      worker.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.post(worker, { type: 'stop' });
    await stoppedCleanly;
    await worker.terminate();
  }

  /**
   * The member list is the committed configuration: a node that runs here but that the
   * configuration a leader committed leaves out is retired (stopped, forgotten, dropped
   * from cluster.json), as removeNode would once its removal committed. That covers a
   * removal whose answer was lost (stop() or TIMEOUT before the supervisor saw it commit,
   * including at the next start, where the nodes' logs say what happened), a setVoters
   * that timed out and completed later, and an addNode that ended without its learner
   * entry committing. Only a report that cannot be stale counts: a leader of the highest
   * term any running node reports, whose configuration entry has committed, that has
   * committed an entry of its own term (so no entry it lacks at or below its commit
   * index can commit any more, §5.4.2), and whose commit index no node has passed. Not
   * while a membership operation runs: it retires what its change leaves out (and an
   * addNode's newcomer is not in the configuration yet); the next report after it does.
   */
  private retireStrays(report: NodeStatus): void {
    if (this.starting || this.stopped || this.membershipOperationsRunning > 0 || report.role !== Role.Leader) return;
    if (report.membership.voters.length === 0 || report.membershipIndex > report.commitIndex) return;
    const lastRun = report.logTerms[report.logTerms.length - 1];
    const ownTermCommitted =
      report.lastLogTerm === report.term && (lastRun === undefined ? report.snapshotIndex === report.lastLogIndex : lastRun.term === report.term && report.commitIndex >= lastRun.first);
    if (!ownTermCommitted) return;
    if (report.commitIndex < this.highestCommitSeen || report.membershipIndex < (this.committedMembership?.index ?? 0)) return;
    for (const slot of this.slots.values()) if (slot.worker !== null && slot.status.alive && slot.status.term > report.term) return;
    for (const id of this.nodeIds) {
      if (memberKind(report.membership, id) !== 'none') continue;
      this.retire(id, `node ${id} is not in the configuration leader ${report.id} committed at index ${report.membershipIndex} (${describeMembership(report.membership)}): it left the cluster`).catch((error: unknown) => {
        this.emitEvent(EventKind.Info, id, `WARNING: node ${id} is out of the committed configuration, but stopping it failed: ${(error as Error).message}`);
      });
    }
  }

  /** The configuration `source` reported, unless its report predates a configuration entry a change here saw committed. */
  private membershipToReport(source: NodeStatus | undefined): Membership {
    const committed = this.committedMembership;
    if (committed !== null && (source === undefined || source.lastLogIndex < committed.index)) return committed.membership;
    return source?.membership ?? UNKNOWN_MEMBERSHIP;
  }

  // ---------------------------------------------------------------------------
  // Membership (thesis §4; what etcdctl member add / promote / remove do)

  /**
   * Adds a node the safe way (thesis §4.2.1): a new worker with its own data directory and
   * the next free id joins as a learner, catches up with the leader's log, and only then
   * (unless `learner`) is promoted to voter, so that an empty newcomer never holds commits
   * back. Resolves with its id. Rejects with CLUSTER_FULL, NO_LEADER,
   * MEMBERSHIP_CHANGE_IN_PROGRESS, CATCH_UP_TIMEOUT (the node stays, as a learner) or
   * TIMEOUT (indeterminate: the node stays; see status().membership; definite, the node
   * stopped again, when the deadline came while its worker was still starting).
   */
  addNode(options: AddNodeOptions = {}): Promise<NodeId> {
    return this.serializeMembership('add a node', options, ADD_NODE_OPTION_NAMES, (calledAt) => this.addNodeNow(options, calledAt));
  }

  /** Makes learner `id` a voter once it has caught up with the leader's log; NODE_NOT_RUNNING if it is down (unless forced). */
  promote(id: NodeId, options: MembershipOptions = {}): Promise<void> {
    return this.serializeMembership(`promote n${id}`, options, MEMBERSHIP_OPTION_NAMES, async (calledAt) => {
      this.checkRunning();
      this.liveSlot(id);
      const deadline = this.membershipDeadline(options, calledAt);
      const current = this.status().membership;
      if (current.voters.length > 0 && memberKind(current, id) === 'none') {
        throw new RaftlabError(ErrorCode.InvalidMembershipChange, `node ${id} is not a member (${describeMembership(current)}): only a learner is promoted`);
      }
      if (current.voters.includes(id)) throw new RaftlabError(ErrorCode.InvalidMembershipChange, `node ${id} is a voter already: only a learner is promoted`);
      await this.waitForCatchUp(id, deadline);
      if (options.force !== true) this.refuseDownNewVoter(id);
      await this.changeMembership({ type: MembershipChangeType.AddVoter, node: id }, deadline, false, options.force === true);
    });
  }

  /**
   * A learner about to become a voter must be running: catch-up is judged by the leader's
   * record of its log, which a learner that went down caught up keeps on a cluster taking
   * no writes, so it was promoted while down, a voter that cannot vote or store anything.
   * (The unsafe check already refused such a promotion when its voters could not commit;
   * this refuses it when they still could, with less to spare.) { force: true } skips it.
   */
  private refuseDownNewVoter(id: NodeId): void {
    if (this.runningNode(id) !== undefined && this.slots.get(id)?.status.alive === true) return;
    throw new RaftlabError(
      ErrorCode.NodeNotRunning,
      `cannot make n${id} a voter: it is not running; it stays a learner, to be restarted first (with { force: true } it is, and counts against every majority until it is back)`,
    );
  }

  /**
   * Removes node `id` from the configuration; once that is committed, stops its worker and
   * forgets it (its files stay in its data directory; its id is never reused). Removing
   * the leader works: it steps down once the change commits and the others elect a new one.
   */
  removeNode(id: NodeId, options: MembershipOptions = {}): Promise<void> {
    return this.serializeMembership(`remove n${id}`, options, MEMBERSHIP_OPTION_NAMES, async (calledAt) => {
      this.checkRunning();
      const slot = this.slot(id);
      // Already out of the committed configuration and on its way out: done.
      if (slot.retiring !== null) return slot.retiring;
      // Idempotent from the first attempt: a configuration that already leaves `id` out
      // (a removal that committed unseen, an addNode whose learner entry never did) is
      // answered once it has committed, instead of refused as a change to nothing.
      await this.changeMembership({ type: MembershipChangeType.Remove, node: id }, this.membershipDeadline(options, calledAt), true, options.force === true);
      await this.retire(id, `node ${id} left the cluster`);
    });
  }

  /**
   * Makes `voters` the cluster's voters in one change, by joint consensus (thesis §4.3):
   * any number of voters in and out at once, where a chain of single-server changes would
   * pass through configurations nobody asked for. A node that becomes a voter must already
   * run as a learner (addNode({ learner: true })) and is caught up first, as promote()
   * does. `options.learners` names the learners after the change (voters among them are
   * demoted); without it, learners not named stay learners. Resolves once C_new has
   * committed, with the new configuration; the members it leaves out are then stopped and
   * forgotten, as by removeNode() (the leader among them steps down and hands over; a
   * leader demoted to learner steps down and stays). Rejects with INVALID_MEMBERSHIP_CHANGE
   * (no voter, an id that does not run as a member, a node in both lists), NODE_NOT_RUNNING
   * (a learner to become a voter is down; unless forced), NO_LEADER,
   * MEMBERSHIP_CHANGE_IN_PROGRESS, CATCH_UP_TIMEOUT or TIMEOUT (indeterminate: see
   * status().membership).
   */
  setVoters(voters: readonly NodeId[], options: SetVotersOptions = {}): Promise<Membership> {
    return this.serializeMembership('change the voters', options, SET_VOTERS_OPTION_NAMES, async (calledAt) => {
      this.checkRunning();
      const deadline = this.membershipDeadline(options, calledAt);
      // An array of distinct node ids, or refused as written: a repeated id is a typo
      // that would otherwise leave a voter out.
      const ids = (list: unknown, what: string, min: number): NodeId[] => {
        const valid =
          Array.isArray(list) && list.length >= min && list.every((id) => Number.isSafeInteger(id) && (id as number) > 0) && new Set(list).size === list.length;
        if (!valid) throw new RaftlabError(ErrorCode.InvalidMembershipChange, `cannot make ${describeGiven(list)} the ${what}: give an array of ${min > 0 ? 'one or more ' : ''}distinct node ids`);
        return [...(list as NodeId[])].sort((a, b) => a - b);
      };
      const target = ids(voters, 'voters', 1);
      const current = this.status().membership;
      const learners = options.learners === undefined ? current.learners.filter((id) => !target.includes(id)) : ids(options.learners, 'learners', 0);
      const both = learners.filter((id) => target.includes(id));
      if (both.length > 0) throw new RaftlabError(ErrorCode.InvalidMembershipChange, `node ${both.join(',')} cannot be both a voter and a learner`);
      for (const id of [...target, ...learners]) {
        this.slot(id);
        if (memberKind(current, id) === 'none') {
          throw new RaftlabError(ErrorCode.InvalidMembershipChange, `node ${id} is not a member: add it first (addNode({ learner: true }))`);
        }
      }
      const sorted = (list: readonly NodeId[]): NodeId[] => [...list].sort((a, b) => a - b);
      const same = (a: readonly NodeId[], b: readonly NodeId[]): boolean => a.length === b.length && a.every((id, i) => id === b[i]);
      // Already so (and not midway through a joint change): a change to nothing, refused as the core would, but saying why.
      if ((current.outgoing ?? null) === null && same(sorted(current.voters), target) && same(sorted(current.learners), learners)) {
        const names = (list: readonly NodeId[]): string => (list.length === 0 ? 'none' : list.map((id) => `n${id}`).join(','));
        throw new RaftlabError(ErrorCode.InvalidMembershipChange, `the voters are ${names(target)} and the learners ${names(learners)} already: nothing to change`);
      }
      for (const id of target) if (!current.voters.includes(id)) await this.waitForCatchUp(id, deadline);
      if (options.force !== true) for (const id of target) if (!current.voters.includes(id)) this.refuseDownNewVoter(id);
      const membership = await this.changeMembership({ type: 'joint', voters: target, learners }, deadline, false, options.force === true);
      for (const id of [...current.voters, ...current.learners]) {
        if (memberKind(membership, id) === 'none') await this.retire(id, `node ${id} left the cluster (joint change)`);
      }
      return membership;
    });
  }

  private async addNodeNow(options: AddNodeOptions, calledAt: number): Promise<NodeId> {
    this.checkRunning();
    if (this.slots.size >= MAX_NODES) throw new RaftlabError(ErrorCode.ClusterFull, `the cluster already runs ${this.slots.size} nodes, the most it may (${MAX_NODES})`);
    const deadline = this.membershipDeadline(options, calledAt);
    const id = this.nextFreeId();
    this.highestIdUsed = id;
    const slot = this.addSlot(id);
    this.placeInPartition(id);
    // A worker takes a while to start (up to startTimeoutMs): the call still ends at its
    // deadline, which used to pass unnoticed until the worker was up.
    const spawning = this.spawn(id);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()));
    });
    let started: RecoveryFigures | 'late';
    try {
      started = await Promise.race([spawning, late]);
    } catch (error) {
      // It did not start (crashed while starting, say): forgotten, and out of the partition
      // group placeInPartition put it in (status().partition kept naming it).
      this.slots.delete(id);
      this.leaveFaults(id);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (started === 'late') {
      // Never proposed: nothing refers to the node, so it goes again, once its worker has
      // started (or failed to: then spawn's own failure is the end of it).
      spawning.catch(() => undefined);
      this.retire(id, `node ${id} was not added: it had not started by its addNode's deadline`).catch((error: unknown) => {
        this.emitEvent(EventKind.Info, id, `WARNING: node ${id} was not added, but stopping it failed: ${(error as Error).message}`);
      });
      throw new RaftlabError(ErrorCode.Timeout, `node ${id} was not added: its worker had not started when the deadline (timeoutMs ${deadline - calledAt}, from the call) passed; nothing was proposed`);
    }
    this.initializedIds ??= new Set();
    if (hasNodeFiles(slot.dir)) this.initializedIds.add(id);
    try {
      this.saveManifest();
    } catch (error) {
      // Not yet in the configuration: the node goes again, and nothing changed.
      await this.stopWorker(slot);
      this.slots.delete(id);
      this.initializedIds.delete(id);
      throw new RaftlabError(ErrorCode.ManifestIo, `node ${id} was not added: ${(error as Error).message}`);
    }
    this.hub.addNode(id);
    const as = options.learner === true ? 'a learner' : 'a voter (a learner until it catches up)';
    this.emitEvent(EventKind.NodeAdded, id, `node ${id} started with data in ${slot.dir}; it joins as ${as}`);
    try {
      await this.changeMembership({ type: MembershipChangeType.AddLearner, node: id }, deadline);
    } catch (error) {
      // Never in the configuration: nothing refers to the new node, so it goes again.
      if (error instanceof RaftlabError && !error.indeterminate) await this.retire(id, `node ${id} could not join (${error.code})`);
      throw error;
    }
    await this.waitForCatchUp(id, deadline);
    if (options.learner === true) return id;
    if (options.force !== true) this.refuseDownNewVoter(id);
    await this.changeMembership({ type: MembershipChangeType.AddVoter, node: id }, deadline, false, options.force === true);
    return id;
  }

  /**
   * A node added while a partition is in force joins the group(s) that can commit (a
   * majority of the voters, and of the outgoing voters while joint), preferring the
   * leader's; else the leader's group; else the largest. A node joining a real network
   * reaches the side it was introduced to: in no group it would be cut off from everyone
   * and never get the log. The group that can commit comes first because a leader just
   * cut off into a minority still reports itself leader until its election timeout, and a
   * node placed beside it could never catch up.
   */
  private placeInPartition(id: NodeId): void {
    const groups = this.partitionGroups;
    if (groups === null) return;
    const { leaderId: leader, membership } = this.status();
    const holdsMajority = (group: readonly NodeId[], voters: readonly NodeId[]): boolean =>
      voters.length === 0 || voters.filter((voter) => group.includes(voter)).length >= majoritySize(voters.length);
    const canCommit = groups.filter((group) => holdsMajority(group, membership.voters) && holdsMajority(group, membership.outgoing ?? []));
    const withLeader = (candidates: NodeId[][]): NodeId[][] => candidates.filter((group) => leader !== 0 && group.includes(leader));
    let joined = withLeader(canCommit);
    let why = `leader ${leader}, with a majority of the voters`;
    if (joined.length === 0 && canCommit.length > 0) [joined, why] = [canCommit, 'a majority of the voters'];
    if (joined.length === 0) [joined, why] = [withLeader(groups), `leader ${leader} (no group holds a majority of the voters)`];
    if (joined.length === 0) [joined, why] = [[groups.reduce((largest, group) => (group.length > largest.length ? group : largest))], 'the most nodes'];
    for (const group of joined) group.push(id);
    this.emitEvent(EventKind.Partition, id, `node ${id} joins the partition group of ${why}: partition ${groups.map((g) => g.join(',')).join(' | ')}`);
  }

  /** Above every id in use, ever used, or with a data directory here: a new node never reads an old node's files. */
  private nextFreeId(): NodeId {
    return Math.max(this.highestIdUsed, ...this.slots.keys(), ...nodeDirectoryIds(this.dataDir)) + 1;
  }

  /** Stops a node that is no longer (or never became) a member and forgets it; the event is `what` and whether its worker had to be stopped. */
  private retire(id: NodeId, what: string): Promise<void> {
    const slot = this.slots.get(id);
    if (slot === undefined) return Promise.resolve();
    slot.retiring ??= this.retireNow(slot, what);
    return slot.retiring;
  }

  private async retireNow(slot: NodeSlot, what: string): Promise<void> {
    const id = slot.id;
    let text = `${what}; ${slot.worker === null ? 'it was down' : 'its worker was stopped'}`;
    // A restart that raced the removal may have put a worker in since: stop until none is left.
    while (slot.worker !== null) {
      const worker = slot.worker;
      await this.stopWorker(slot);
      if (slot.worker === worker) slot.worker = null;
    }
    this.slots.delete(id);
    text += this.leaveFaults(id);
    this.saveManifestAfterChange(`node ${id} left the cluster`);
    this.hub.removeNode(id);
    this.pushFaults();
    this.emitEvent(EventKind.NodeRemoved, id, text);
  }

  /**
   * Takes node `id`, no longer in the slots, out of the partition groups and cut links:
   * status().partition and cutLinks name the cluster's nodes only. Says when that ended
   * the partition ('' if not).
   */
  private leaveFaults(id: NodeId): string {
    let text = '';
    if (this.partitionGroups !== null) {
      const groups = this.partitionGroups.map((group) => group.filter((other) => other !== id)).filter((group) => group.length > 0);
      // One group left that holds every node still here (the node cut off, or the only
      // other side, left): nobody is cut off any more, and status().partition is null
      // when fully connected, not a "partition" of one group.
      const whole = groups.length === 1 && [...this.slots.keys()].every((other) => groups[0]!.includes(other));
      if (whole) text = '; with it gone every node can reach every other: the partition is over';
      this.partitionGroups = groups.length === 0 || whole ? null : groups;
    }
    for (let i = this.cutLinks.length - 1; i >= 0; i--) if (this.cutLinks[i]!.includes(id)) this.cutLinks.splice(i, 1);
    return text;
  }

  /** The deadline of a call made at `calledAt`: its timeoutMs counts from the call, not from its turn in the queue. */
  private membershipDeadline(options: MembershipOptions, calledAt: number): number {
    const timeoutMs = options.timeoutMs ?? DEFAULT_MEMBERSHIP_TIMEOUT_MS;
    // At most what a timer holds: the catch-up and each request time out on timers, which
    // Node sets to 1 ms past that (with a warning on stderr), so a longer one failed at once.
    if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= MAX_MEMBERSHIP_TIMEOUT_MS)) {
      throw new RaftlabError(ErrorCode.InvalidArgument, `timeoutMs must be a positive number of milliseconds up to ${MAX_MEMBERSHIP_TIMEOUT_MS}, got ${describeGiven(timeoutMs)}`);
    }
    return calledAt + timeoutMs;
  }

  /**
   * Runs membership operations one after another. A call's deadline counts from the call:
   * one still waiting for its turn when it passes ends then, MEMBERSHIP_CHANGE_IN_PROGRESS
   * and definite (it never runs, nothing was proposed). An invalid timeoutMs is refused
   * by the operation itself at its turn, as before.
   */
  private serializeMembership<T>(what: string, options: MembershipOptions, names: readonly string[], operation: (calledAt: number) => Promise<T>): Promise<T> {
    const calledAt = Date.now();
    const misnamed = misnamedMembershipOptions(options, names);
    if (misnamed !== null) return Promise.reject(new RaftlabError(ErrorCode.InvalidArgument, `cannot ${what}: ${misnamed}; nothing was done`));
    const timeoutMs = options.timeoutMs ?? DEFAULT_MEMBERSHIP_TIMEOUT_MS;
    // A timer holds at most 2^31-1 ms: a longer deadline is checked at the call's turn only.
    const waitLimited = Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= 0x7fffffff;
    let expired = false;
    let started = false;
    const tooLate = (): RaftlabError =>
      new RaftlabError(ErrorCode.MembershipChangeInProgress, `could not ${what}: earlier membership calls were still running when its deadline (timeoutMs ${timeoutMs}, from the call) passed; it never ran and nothing was proposed`);
    const counted = async (): Promise<T> => {
      if (expired) throw tooLate();
      started = true;
      if (waitLimited && Date.now() >= calledAt + timeoutMs) throw tooLate();
      this.membershipOperationsRunning++;
      try {
        return await operation(calledAt);
      } finally {
        this.membershipOperationsRunning--;
      }
    };
    const run = this.membershipQueue.then(counted, counted);
    this.membershipQueue = run.catch(() => undefined);
    if (!waitLimited) return run;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (started) return;
        expired = true;
        reject(tooLate());
      }, timeoutMs);
      timer.unref();
      run.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private checkRunning(): void {
    if (this.stopped) throw new RaftlabError(ErrorCode.ClusterStopped, 'the cluster was stopped');
  }

  /**
   * Proposes one change through the leader and resolves once its configuration entry has
   * committed. Refusals that pass (no leader yet, another change pending, a transfer) are
   * retried until the deadline; an attempt whose fate is unknown makes the next attempts
   * idempotent (the worker answers ok if the leader's configuration already holds it).
   */
  private async changeMembership(change: ClusterMembershipChange, deadline: number, idempotent = false, force = false): Promise<Membership> {
    const node = change.type === 'joint' ? 0 : change.node;
    // Checked once, against the first leader known (now, or the first one found), before anything is proposed.
    let safetyChecked = force;
    const checkSafety = (leader: NodeId): void => {
      safetyChecked = true;
      const unsafe = this.unsafeChange(change, leader);
      if (unsafe === null) return;
      throw new RaftlabError(ErrorCode.MembershipChangeUnsafe, `cannot ${describeChange(change)}: ${unsafe}; nothing was proposed (with { force: true } it is, and the cluster takes no write until enough of them are back)`);
    };
    const knownLeader = this.runningNode(this.status().leaderId);
    if (!safetyChecked && knownLeader !== undefined) checkSafety(knownLeader);
    this.emitEvent(EventKind.Info, node, `proposing to ${describeChange(change)}`);
    let target: NodeId = 0;
    let uncertain = false;
    let lastCode: string = ErrorCode.NoLeader;
    let lastMessage = 'no leader was known';
    let attempted = false;
    while (Date.now() < deadline) {
      attempted = true;
      // Stopped between attempts: after an attempt whose fate is unknown (its leader
      // crashed or stepped down holding the request), the change may still commit, at
      // the next start if not before, so the error says so (it used to be definite).
      if (this.stopped) {
        if (!uncertain) throw new RaftlabError(ErrorCode.ClusterStopped, 'the cluster was stopped');
        throw new RaftlabError(ErrorCode.ClusterStopped, `the cluster was stopped before the change to ${describeChange(change)} was seen to commit; it may or may not have (${lastCode}: ${lastMessage})`, true);
      }
      const leader = this.runningNode(target) ?? this.runningNode(this.status().leaderId);
      target = 0;
      if (leader === undefined) {
        lastCode = ErrorCode.NoLeader;
        lastMessage = 'no leader was known';
        await this.pauseBefore(deadline);
        continue;
      }
      if (!safetyChecked) checkSafety(leader);
      const result = await this.requestMembership(leader, change, uncertain || idempotent, deadline);
      if (result.ok) {
        // The answer is newer than the node's last status report (every STATUS_INTERVAL_MS):
        // status() shows the committed configuration from now on, not 100 ms later.
        const slot = this.slots.get(leader);
        if (slot !== undefined) slot.status = { ...slot.status, membership: result.membership, learner: memberKind(result.membership, leader) === 'learner' };
        // And if that node goes (a leader that removed itself), the next leader's reports may
        // predate the entry for up to a status interval: see membershipToReport.
        this.committedMembership = { index: result.index, membership: result.membership };
        this.emitEvent(EventKind.MembershipChanged, node, `committed at index ${result.index}: ${describeChange(change)}; now ${describeMembership(result.membership)}`);
        return result.membership;
      }
      lastCode = result.code;
      lastMessage = result.message;
      if (result.indeterminate) uncertain = true;
      switch (result.code) {
        case RefusalCode.InvalidMembershipChange:
          throw new RaftlabError(ErrorCode.InvalidMembershipChange, `cannot ${describeChange(change)}: ${result.message}`);
        case RefusalCode.NotLeader:
          if (result.leaderId !== leader && result.leaderId !== 0) target = result.leaderId;
          else await this.pauseBefore(deadline);
          continue;
        case RefusalCode.MembershipChangePending:
        case RefusalCode.Transferring:
        case RefusalCode.ProposalQueueFull:
        case NodeReplyCode.LeadershipLost:
        case NodeReplyCode.ConnectionLost:
          await this.pauseBefore(deadline);
          continue;
        case ErrorCode.Timeout:
          continue;
        default:
          throw new RaftlabError(asErrorCode(result.code) ?? ErrorCode.NodeFailed, asErrorCode(result.code) === null ? `${result.code}: ${result.message}` : result.message, result.indeterminate || uncertain);
      }
    }
    if (uncertain) {
      throw new RaftlabError(ErrorCode.Timeout, `could not confirm that the change to ${describeChange(change)} committed before the deadline; it may or may not have (${lastCode}: ${lastMessage})`, true);
    }
    if (!attempted) {
      // The deadline passed in the steps before (an addNode's worker starting): no leader
      // was asked, so NO_LEADER would be a guess.
      throw new RaftlabError(ErrorCode.Timeout, `could not ${describeChange(change)}: the deadline passed before it was proposed; nothing changed`);
    }
    const code = lastCode === RefusalCode.MembershipChangePending ? ErrorCode.MembershipChangeInProgress : ErrorCode.NoLeader;
    throw new RaftlabError(code, `could not ${describeChange(change)} before the deadline; nothing changed (${lastCode}: ${lastMessage})`);
  }

  /**
   * Why `change` could not commit, or null (etcd's strict reconfiguration check): a change
   * of the voters is used by the leader from the moment it is appended, so if fewer than
   * a majority of its new voters (for a joint change, of C_new's) run and are in a
   * partition group with `leader`, nothing commits again until enough of them are back.
   * One-way cut links and lossy links are not counted against a node. Null for a
   * change that keeps the voters, or while a joint configuration is in force (a retry).
   */
  private unsafeChange(change: ClusterMembershipChange, leader: NodeId): string | null {
    const current = this.status().membership;
    if (current.voters.length === 0 || (current.outgoing ?? []).length > 0) return null;
    // The voters after it, as the core computes them; a change the core refuses (no voter
    // left, nothing to change) is left to it, which says why.
    const after = change.type === 'joint' ? { voters: change.voters } : changeMembership(current, change);
    if (typeof after === 'string') return null;
    const voters = after.voters;
    if (voters.length === 0 || (voters.length === current.voters.length && voters.every((id) => current.voters.includes(id)))) return null;
    const healthy = voters.filter((id) => {
      const slot = this.slots.get(id);
      if (slot === undefined || slot.worker === null || slot.stopping || !slot.status.alive) return false;
      return id === leader || this.partitionGroups === null || this.partitionGroups.some((group) => group.includes(leader) && group.includes(id));
    });
    const quorum = majoritySize(voters.length);
    if (healthy.length >= quorum) return null;
    const names = (ids: readonly NodeId[]): string => (ids.length === 0 ? 'none' : ids.map((id) => `n${id}`).join(','));
    return `its voters ${names([...voters].sort((a, b) => a - b))} need ${quorum} to commit, and only ${healthy.length} (${names(healthy)}) run and reach leader n${leader}`;
  }

  /** `id` if it names a running node, else undefined. */
  private runningNode(id: NodeId): NodeId | undefined {
    if (id === 0) return undefined;
    return this.slots.get(id)?.worker == null ? undefined : id;
  }

  private pauseBefore(deadline: number): Promise<void> {
    const ms = Math.max(0, Math.min(MEMBERSHIP_RETRY_PAUSE_MS, deadline - Date.now()));
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** One attempt at one node; never rejects. */
  private requestMembership(node: NodeId, change: ClusterMembershipChange, idempotent: boolean, deadline: number): Promise<MembershipResult> {
    const worker = this.slots.get(node)?.worker ?? null;
    if (worker === null) {
      return Promise.resolve({ ok: false, code: NodeReplyCode.ConnectionLost, message: `node ${node} is not running`, leaderId: 0, indeterminate: false });
    }
    const requestId = this.nextMembershipRequestId++;
    return new Promise<MembershipResult>((resolve) => {
      const timer = setTimeout(() => {
        if (!this.membershipRequests.delete(requestId)) return;
        resolve({ ok: false, code: ErrorCode.Timeout, message: `node ${node} did not answer before the deadline`, leaderId: 0, indeterminate: true });
      }, Math.max(1, deadline - Date.now()));
      this.membershipRequests.set(requestId, {
        worker,
        settle: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      });
      this.post(worker, { type: 'propose-membership', requestId, change, idempotent });
    });
  }

  /** The worker went away: what it was asked will never be answered, and may or may not have happened. */
  private failMembershipRequests(worker: Worker, code: string, message: string): void {
    for (const [requestId, request] of this.membershipRequests) {
      if (request.worker !== worker) continue;
      this.membershipRequests.delete(requestId);
      request.settle({ ok: false, code, message, leaderId: 0, indeterminate: true });
    }
  }

  /**
   * Catch-up in rounds (thesis §4.2.1): each round waits until `id` holds the leader's
   * log as it was when the round began; once a round takes less than an election timeout
   * (plus one status interval: rounds are timed on the leader's status reports, by its own
   * clock, so a busy supervisor thread does not stretch them), `id` is caught up. Under a
   * load it cannot keep up with, no round is short enough: CATCH_UP_TIMEOUT after
   * CATCH_UP_ROUNDS rounds or at the deadline.
   */
  private waitForCatchUp(id: NodeId, deadline: number): Promise<void> {
    const electionTimeoutMs = this.tickMs * this.options.electionTicks;
    const shortRoundMs = electionTimeoutMs + STATUS_INTERVAL_MS;
    return new Promise<void>((resolve, reject) => {
      let round = 0;
      let roundLeader: NodeId = 0;
      let target = 0;
      let startedAt = 0;
      let lastRoundMs: number | null = null;
      const finish = (error: RaftlabError | null, text = ''): void => {
        clearTimeout(timer);
        this.statusListeners.delete(onStatus);
        this.stopListeners.delete(onStop);
        if (error !== null) {
          reject(error);
          return;
        }
        this.emitEvent(EventKind.Info, id, text);
        resolve();
      };
      const fail = (why: string): RaftlabError =>
        new RaftlabError(ErrorCode.CatchUpTimeout, `node ${id} did not catch up with the leader's log (${why}); it stays a learner (promote it later, or remove it)`);
      const beginRound = (leader: NodeStatus): void => {
        round++;
        roundLeader = leader.id;
        target = leader.lastLogIndex;
        startedAt = leader.reportedAt;
      };
      const onStatus = (report: NodeStatus): void => {
        if (report.role !== Role.Leader) return;
        if (report.id === id) {
          finish(null, `node ${id} leads: it holds the whole log`);
          return;
        }
        const match = report.progress.find((progress) => progress.id === id)?.matchIndex;
        if (match === undefined) return;
        // A new leader (or the first report) begins a round of its own, timed by its clock.
        if (report.id !== roundLeader) {
          beginRound(report);
          return;
        }
        if (match < target) return;
        lastRoundMs = report.reportedAt - startedAt;
        if (lastRoundMs <= shortRoundMs) {
          finish(null, `node ${id} caught up in round ${round}: it reached index ${target} of leader ${report.id} within ${lastRoundMs} ms (an election timeout is ${electionTimeoutMs} ms)`);
          return;
        }
        if (round >= CATCH_UP_ROUNDS) {
          finish(fail(`round ${round}, its last, took ${lastRoundMs} ms, more than an election timeout`));
          return;
        }
        beginRound(report);
      };
      const onStop = (): void => finish(new RaftlabError(ErrorCode.ClusterStopped, 'the cluster was stopped'));
      const timer = setTimeout(() => {
        finish(fail(lastRoundMs === null ? `no round completed before the deadline` : `its last round took ${lastRoundMs} ms; the deadline came in round ${round}`));
      }, Math.max(1, deadline - Date.now()));
      this.statusListeners.add(onStatus);
      this.stopListeners.add(onStop);
    });
  }

}

/** With no leader: the node with the most recent log (running nodes first), whose configuration status() reports. */
function freshestNode(nodes: readonly NodeStatus[]): NodeStatus | undefined {
  let best: NodeStatus | undefined;
  for (const node of nodes) {
    if (node.membership.voters.length === 0) continue;
    if (best === undefined || (node.alive && !best.alive)) {
      best = node;
      continue;
    }
    if (node.alive !== best.alive) continue;
    if (node.lastLogTerm > best.lastLogTerm || (node.lastLogTerm === best.lastLogTerm && node.lastLogIndex > best.lastLogIndex)) best = node;
  }
  return best;
}

