// What the supervisor tells the outside world: the status of every node and a stream
// of events. The dashboard, `raftlab check` and `raftlab bench` consume only these.

import type { LogIndex, Membership, NodeId, ProgressState, Role, SnapshotTransfer, Term, TermRun } from '../raft/types.js';

export type { Membership, TermRun } from '../raft/types.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One recent log entry, for the dashboard's detail view. */
export interface EntrySummary {
  readonly index: LogIndex;
  readonly term: Term;
  readonly committed: boolean;
  /** A short human description: "put x=1", "append log+a", "no-op", "register c7f2". */
  readonly text: string;
}

export interface FollowerProgress {
  readonly id: NodeId;
  /** A learner (thesis §4.2.1): the leader replicates to it, but it neither votes nor counts toward commit. */
  readonly learner: boolean;
  readonly matchIndex: LogIndex;
  readonly nextIndex: LogIndex;
  readonly state: ProgressState;
  readonly inflight: number;
  /** While the leader sends it a snapshot: its size, the bytes sent and the bytes it said it holds (Figure 13). */
  readonly snapshotBytes?: SnapshotTransfer;
}

export interface NodeStatus {
  readonly id: NodeId;
  readonly alive: boolean;
  /** Meaningless when !alive (last known values are kept for display). */
  readonly role: Role;
  readonly term: Term;
  readonly votedFor: NodeId;
  readonly leaderId: NodeId;
  readonly commitIndex: LogIndex;
  readonly appliedIndex: LogIndex;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly snapshotIndex: LogIndex;
  readonly electionElapsedTicks: number;
  readonly electionTimeoutTicks: number;
  /** Milliseconds since this node last heard from a leader (null: never / is leader). */
  readonly lastLeaderContactMs: number | null;
  readonly walBytes: number;
  readonly walFiles: readonly string[];
  /** Mean fdatasync latency over the last status interval, in ms (null: none happened). */
  readonly fsyncLatencyMs: number | null;
  /**
   * Cumulative since this worker started: the fdatasyncs slower than each of
   * SLOW_FSYNC_THRESHOLDS_MS, in that order. Timed from the call to the node seeing it
   * done, so the wait for a core to run on counts too: a write waits for all of it.
   */
  readonly slowFsyncs: readonly number[];
  /** The configuration this node uses: the newest in its log, committed or not (thesis §4.1). */
  readonly membership: Membership;
  /** Index of the entry (or snapshot) that holds `membership` (0: the bootstrap configuration): committed once commitIndex reaches it. */
  readonly membershipIndex: LogIndex;
  /** This node is a learner in its own configuration: it receives the log but does not vote or count. */
  readonly learner: boolean;
  /** Leader only: one row per other node. */
  readonly progress: readonly FollowerProgress[];
  /** The newest entries, with a short description of each (RECENT_ENTRIES_KEPT of them). */
  readonly recentEntries: readonly EntrySummary[];
  /**
   * The terms of the whole log this node holds (after its snapshot), as runs of equal
   * terms, oldest first; at most STATUS_TERM_RUNS of them, the newest, so after many
   * elections without a compaction the oldest indexes may be left out. The dashboard's
   * log strip reads every cell from these: each node's status is taken at its own moment,
   * so under load its newest entries are not another node's newest.
   */
  readonly logTerms: readonly TermRun[];
  /** Inbound messages the decoder refused since start, and leaders' snapshots refused whole (not a state machine snapshot of their index). */
  readonly malformedMessages: number;
  /** Cumulative since this worker started: fdatasyncs, entries written to the WAL,
   *  AppendEntries messages sent and entries carried by them. */
  readonly fsyncCount: number;
  readonly entriesPersisted: number;
  readonly appendEntriesSent: number;
  readonly entriesSent: number;
  /** Entries read back from the WAL's in-memory copy for a follower that fell behind (Config.entryLoader). */
  readonly entriesReadBack: number;
  /** WAL segment rolls that took a segment prepared ahead (FileStorageOptions.preallocate). */
  readonly walSparesUsed: number;
  /** When the node built this report, by its own clock (ms since the epoch; 0: no report yet). */
  readonly reportedAt: number;
}

/** The fdatasync latencies, in ms, that NodeStatus.slowFsyncs counts fdatasyncs over. */
export const SLOW_FSYNC_THRESHOLDS_MS: readonly number[] = Object.freeze([1, 5, 20]);

export interface ClusterStatus {
  readonly nodes: readonly NodeStatus[];
  readonly leaderId: NodeId;
  /**
   * The cluster's configuration as the leader sees it (the newest in its log), or, with no
   * leader, as the running node with the longest log sees it. Empty lists: not known yet.
   * A majority of `voters` elects leaders and commits entries; `learners` only follow.
   */
  readonly membership: Membership;
  readonly term: Term;
  readonly fsync: boolean;
  readonly tickMs: number;
  /** Partition groups currently in force, or null when fully connected. */
  readonly partition: readonly (readonly NodeId[])[] | null;
  /** Links cut one way, as [from, to]. */
  readonly cutLinks: readonly (readonly [NodeId, NodeId])[];
  /** Committed client writes per second, over the last second (measured at the supervisor). */
  readonly opsPerSecond: number;
  /** Client-observed commit latency, ms, over the last ~10 s; null when no samples. */
  readonly latencyMsP50: number | null;
  readonly latencyMsP99: number | null;
}

export const EventKind = {
  ElectionStarted: 'election-started',
  VoteGranted: 'vote-granted',
  LeaderElected: 'leader-elected',
  /** A node became a follower (becoming a (pre)candidate is 'election-started', a leader 'leader-elected'). */
  RoleChanged: 'role-changed',
  TermChanged: 'term-changed',
  /** A leader's commit index moved (at most one such event per leader a second, not one per entry). */
  Commit: 'commit',
  Crash: 'crash',
  Restart: 'restart',
  Partition: 'partition',
  Heal: 'heal',
  LinkFault: 'link-fault',
  /** Never emitted by a Cluster: the dashboard's own feed uses it for the result of a client call it made. */
  ClientResult: 'client-result',
  Invariant: 'invariant',
  Info: 'info',
  /** A node compacted its log into a snapshot of its state machine (§7). */
  LogCompacted: 'log-compacted',
  /** A node reset its state machine from a leader's snapshot (InstallSnapshot, §7). */
  SnapshotInstalled: 'snapshot-installed',
  /** A configuration entry committed (thesis §4.1): the text names the change and the new configuration. */
  MembershipChanged: 'membership-changed',
  /** The supervisor started a worker for a new node (Cluster.addNode). */
  NodeAdded: 'node-added',
  /** A node left the configuration and the supervisor stopped and forgot its worker (Cluster.removeNode). */
  NodeRemoved: 'node-removed',
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

export interface ClusterEvent {
  /** Milliseconds since the cluster started. */
  readonly time: number;
  readonly kind: EventKind;
  /** The node the event is about, or 0 for cluster-wide events. */
  readonly node: NodeId;
  /** One human-readable line, complete on its own. */
  readonly text: string;
  readonly term?: Term;
}

/** Every error a client call throws: `code` and `indeterminate` survive worker boundaries. */
export interface RaftlabErrorShape {
  readonly code: string;
  readonly indeterminate: boolean;
  readonly message: string;
}
