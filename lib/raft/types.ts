// The data that flows in and out of the protocol core. Everything here is plain,
// readonly data: it crosses worker ports (msgpack) and the simulator's network, so
// it carries no methods and no class instances.
//
// Names follow Figure 2 of the Raft paper (Ongaro & Ousterhout, 2014) so that a
// reviewer can hold the code against the figure.

/** A node's identity: 1..N. 0 means "nobody" (no vote, no known leader). */
export type NodeId = number;
/** A Raft term (§5.1). Starts at 0; the first election makes it 1. */
export type Term = number;
/** A position in the log. The first real entry has index 1; 0 means "before the log". */
export type LogIndex = number;

/** Log entries from `first` on (up to the next run's first, or the log's end) have `term`. */
export interface TermRun {
  readonly first: LogIndex;
  readonly term: Term;
}

export const NONE: NodeId = 0;

/**
 * A cluster configuration (thesis §4): the voters, whose majorities elect leaders and
 * commit entries, and the learners, which receive the log but neither vote nor count
 * (thesis §4.2.1: a new server catches up as a non-voting member first). Both lists are
 * sorted ascending and disjoint.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /**
   * Joint consensus (thesis §4.3, the Raft paper's §6): the voters of the configuration
   * being left, while the joint configuration C_old,new is in force. Absent or empty: not
   * joint. While joint, elections and commitment need a majority of `voters` and a
   * majority of `outgoing` separately; the leader leaves the joint configuration (appends
   * C_new, this configuration without `outgoing`) as soon as C_old,new is committed.
   * Sorted ascending. An outgoing voter may also be in `learners`: a voter the change
   * demotes, which votes in the old majority until C_new and is a learner after.
   */
  readonly outgoing?: readonly NodeId[];
}

/**
 * One log entry. `data === null` marks an entry the host's state machine does not
 * interpret: the no-op a leader appends at the start of its term (§8: "each leader
 * commit a blank no-op entry into the log at the start of its term"), or, with
 * `membership` set, a configuration entry (thesis §4.1: the new configuration, in full).
 * Everything else is an opaque command the host's state machine interprets.
 */
export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly data: Uint8Array | null;
  /** Set only on a configuration entry (then `data` is null): every node uses the newest one in its log, committed or not (thesis §4.1). */
  readonly membership?: Membership;
}

/** One single-server membership change (thesis §4.1): at most one voter added or removed at a time. */
export const MembershipChangeType = {
  /** Add a voter, or promote a learner to voter. */
  AddVoter: 'addVoter',
  /** Add a learner (a server that receives the log without voting), or demote a voter. */
  AddLearner: 'addLearner',
  /** Remove a voter or learner. A leader that removes itself steps down once the change commits (thesis §4.2.2). */
  Remove: 'remove',
} as const;
export type MembershipChangeType = (typeof MembershipChangeType)[keyof typeof MembershipChangeType];

export interface MembershipChange {
  readonly type: MembershipChangeType;
  readonly node: NodeId;
}

/** What must be on stable storage before the node answers RPCs (Figure 2, "Persistent state"). */
export interface HardState {
  readonly currentTerm: Term;
  readonly votedFor: NodeId;
  /** Not required by Figure 2, but persisting it lets a restarted node re-apply quickly. */
  readonly commitIndex: LogIndex;
}

export const Role = {
  Follower: 'follower',
  PreCandidate: 'precandidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export const MessageType = {
  RequestVote: 'RequestVote',
  RequestVoteResponse: 'RequestVoteResponse',
  AppendEntries: 'AppendEntries',
  AppendEntriesResponse: 'AppendEntriesResponse',
  Heartbeat: 'Heartbeat',
  HeartbeatResponse: 'HeartbeatResponse',
  TimeoutNow: 'TimeoutNow',
  InstallSnapshot: 'InstallSnapshot',
  InstallSnapshotResponse: 'InstallSnapshotResponse',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

interface MessageHeader {
  /** The sender's currentTerm (for a pre-vote request: the term it would campaign in). */
  readonly term: Term;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** RequestVote RPC (§5.2, Figure 2); with preVote set, the PreVote round of thesis §9.6. */
export interface RequestVote extends MessageHeader {
  readonly type: typeof MessageType.RequestVote;
  readonly preVote: boolean;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** Set when campaigning because of a leadership transfer (thesis §3.10): bypasses the
   *  "I heard from a leader recently" rule that otherwise protects a healthy leader. */
  readonly transfer: boolean;
}

export interface RequestVoteResponse extends MessageHeader {
  readonly type: typeof MessageType.RequestVoteResponse;
  readonly preVote: boolean;
  readonly voteGranted: boolean;
}

/** AppendEntries RPC (§5.3, Figure 2). */
export interface AppendEntries extends MessageHeader {
  readonly type: typeof MessageType.AppendEntries;
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly leaderCommit: LogIndex;
}

export interface AppendEntriesResponse extends MessageHeader {
  readonly type: typeof MessageType.AppendEntriesResponse;
  readonly success: boolean;
  /** On success: the index of the last entry the follower now stores that matched this
   *  request (prevLogIndex + entries.length). On rejection: the rejected prevLogIndex. */
  readonly index: LogIndex;
  /** On rejection, the fast-backtracking hint (thesis §5.3 optimisation): the term of the
   *  follower's entry at prevLogIndex (0 if it has none) and the first index it holds
   *  for that term (or its lastIndex + 1 when its log is too short). */
  readonly conflictTerm: Term;
  readonly conflictIndex: LogIndex;
}

/** Heartbeat: an empty AppendEntries that carries commit and an optional ReadIndex round. */
export interface Heartbeat extends MessageHeader {
  readonly type: typeof MessageType.Heartbeat;
  /** min(leader's commitIndex, the follower's matchIndex): never ahead of what it stores. */
  readonly leaderCommit: LogIndex;
  /** ReadIndex round this heartbeat confirms leadership for (0 = none). */
  readonly context: number;
}

export interface HeartbeatResponse extends MessageHeader {
  readonly type: typeof MessageType.HeartbeatResponse;
  readonly context: number;
}

/** Leadership transfer (thesis §3.10): "start an election now". */
export interface TimeoutNow extends MessageHeader {
  readonly type: typeof MessageType.TimeoutNow;
}

/**
 * A snapshot (§7): the state machine's state after applying every entry up to and
 * including `index` (whose term was `term`), serialized by the host as `data`. The core
 * treats `data` as opaque bytes; it keeps the newest snapshot to send to followers that
 * are behind its compacted log.
 */
export interface Snapshot {
  readonly index: LogIndex;
  readonly term: Term;
  readonly data: Uint8Array;
  /** The configuration in force at `index` (thesis §5.4.1: a snapshot carries "the latest configuration as of the last included index"). Absent: the bootstrap configuration (Config.peers). */
  readonly membership?: Membership;
}

/** A snapshot's position in the log, without its data. */
export interface SnapshotMetadata {
  readonly index: LogIndex;
  readonly term: Term;
  /** The configuration at `index` (set by RawNode.compact: the host stores it with the snapshot). */
  readonly membership?: Membership;
}

/**
 * InstallSnapshot RPC (§7, Figure 13), one chunk of the snapshot's data per message:
 * the leader sends the next chunk once the follower acknowledged the previous one.
 * `from` is the figure's leaderId.
 */
export interface InstallSnapshot extends MessageHeader {
  readonly type: typeof MessageType.InstallSnapshot;
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  /** Figure 13: "byte offset where chunk is positioned in the snapshot file". */
  readonly offset: number;
  /**
   * The whole snapshot's size in bytes (not in Figure 13): the follower allocates the
   * snapshot at its first chunk and copies each chunk into place as it arrives, instead
   * of joining them all at the last one (for a 63 MB snapshot that join stopped the
   * follower's thread for 0.2-0.4 s under load, touching fresh memory).
   */
  readonly totalBytes: number;
  /** Figure 13: "raw bytes of the snapshot chunk, starting at offset". */
  readonly data: Uint8Array;
  /** Figure 13: "true if this is the last chunk". */
  readonly done: boolean;
  /** Figure 13's "latest configuration as of lastIncludedIndex" (thesis §5.4.1). */
  readonly membership: Membership;
}

export interface InstallSnapshotResponse extends MessageHeader {
  readonly type: typeof MessageType.InstallSnapshotResponse;
  /**
   * The highest index at which the follower's log is now known to match the leader's:
   * lastIncludedIndex once installed (or retained, when its log already held that
   * entry), its commitIndex when the snapshot was stale, 0 in a refusal of a stale term,
   * and 0 while the snapshot's chunks are still arriving.
   */
  readonly index: LogIndex;
  /** While chunks arrive (index 0): the snapshot they belong to (its lastIncludedIndex)... */
  readonly snapshotIndex: LogIndex;
  /** ...and how many of its bytes the follower holds in order: the offset of the chunk it wants next. */
  readonly received: number;
}

export type Message =
  | RequestVote
  | RequestVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | Heartbeat
  | HeartbeatResponse
  | TimeoutNow
  | InstallSnapshot
  | InstallSnapshotResponse;

/** A ReadIndex answer (thesis §6.4): once applied >= index, reads tagged `context` may be served. */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: number;
}

export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId;
}

/**
 * The work a host must do, handed out by RawNode.ready(). The host:
 *   1. if `snapshot` is non-null, saves it to stable storage first (the log now starts
 *      right after snapshot.index: §7, "discard the entire log" unless it held the
 *      snapshot's last entry); then appends `entries` to stable storage (truncating any
 *      suffix from entries[0].index), records `hardState` if non-null, and sends
 *      `messages` right away;
 *   2. makes all of that durable (one fdatasync for the whole turn);
 *   3. sends `messagesAfterPersist` (vote grants, append acknowledgements: thesis §3.8;
 *      a candidate's vote requests when the log they advertise is not all durable yet);
 *   4. resets its state machine from `snapshot` (if non-null), then applies
 *      `committedEntries` in order (they follow the snapshot) and serves `readStates`
 *      once applied;
 *   5. calls advance().
 * No tick/step/propose may happen between ready() and advance().
 */
export interface Ready {
  readonly softState: SoftState | null;
  /** A snapshot received from the leader (InstallSnapshot) to persist and restore from. */
  readonly snapshot: Snapshot | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** The node's configuration (the newest in its log or snapshot), when it changed since the last Ready: the host updates whom it talks to. */
  readonly membership: Membership | null;
}

/** Refusal codes of propose()/readIndex(): stable strings, safe across worker boundaries. */
export const RefusalCode = {
  NotLeader: 'NOT_LEADER',
  ProposalQueueFull: 'PROPOSAL_QUEUE_FULL',
  Transferring: 'LEADERSHIP_TRANSFER_IN_PROGRESS',
  /** A membership change is already in the log but not committed, or the leader has not committed an entry of its term yet (thesis §4.1). */
  MembershipChangePending: 'MEMBERSHIP_CHANGE_IN_PROGRESS',
  /** The change makes no sense against the current configuration (adding a voter that is one, removing a stranger or the last voter, a joint change to no voters). */
  InvalidMembershipChange: 'INVALID_MEMBERSHIP_CHANGE',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

/**
 * The stable codes that start the reason step() returns for a refused message, where a
 * host may want to tell one refusal from the others (the rest are words only).
 */
export const MessageRefusalCode = {
  /** An InstallSnapshot announcing more than Config.maxSnapshotBytes. */
  SnapshotTooLarge: 'SNAPSHOT_TOO_LARGE',
} as const;
export type MessageRefusalCode = (typeof MessageRefusalCode)[keyof typeof MessageRefusalCode];

/**
 * The most bytes a follower allocates for a leader's snapshot on the leader's word alone
 * (InstallSnapshot.totalBytes, at the first chunk): 64 MiB, so the 63 MB state of
 * `raftlab bench --catch-up` is still allocated once. A larger snapshot's array grows as
 * its chunks arrive.
 */
export const SNAPSHOT_BYTES_ALLOCATED_UP_FRONT = 64 * 1024 * 1024;

export type Refusal = {
  readonly ok: false;
  readonly code: RefusalCode;
  /** Best known leader (NONE if unknown): the client redirects there. */
  readonly leaderId: NodeId;
  /** Why, in words, where the code alone does not say (INVALID_MEMBERSHIP_CHANGE: "n3 is the only voter"); else null. */
  readonly reason: string | null;
};

export type ProposeResult = { readonly ok: true; readonly index: LogIndex; readonly term: Term } | Refusal;
export type ReadIndexResult = { readonly ok: true } | Refusal;

/**
 * Deliberately broken behaviours, for proving that the simulator and tests catch them.
 * Never set outside tests. Each flag disables exactly one rule.
 */
export interface TestOnlyBugs {
  /** Grant votes without the §5.4.1 "at least as up-to-date" check. */
  readonly voteWithoutUpToDateCheck?: boolean;
  /** Commit an entry of an earlier term by counting replicas (violates §5.4.2 / Figure 8). */
  readonly commitPreviousTermByCounting?: boolean;
  /** Send vote grants before the vote is durable (messages instead of messagesAfterPersist). */
  readonly grantVoteBeforePersist?: boolean;
  /** Accept AppendEntries without checking prevLogTerm (only prevLogIndex). */
  readonly skipPrevLogTermCheck?: boolean;
  /** On InstallSnapshot, keep the log after lastIncludedIndex without checking that its entry there has lastIncludedTerm (§7). */
  readonly skipSnapshotTermCheck?: boolean;
  /** With asyncPersistence, count a candidate's own vote before it is durable. */
  readonly countOwnVoteBeforeDurable?: boolean;
  /**
   * A candidate sends its vote requests at once (messages), even when the log they
   * advertise is not all durable yet: a crash before that sync brings it back in the
   * previous term without those entries, free to count a late grant given to the longer
   * log (fixed in the twenty-ninth session).
   */
  readonly voteRequestBeforeDurable?: boolean;
  /** Accept a membership change while the previous one is not committed (breaks thesis §4.1's one-at-a-time rule). */
  readonly concurrentMembershipChanges?: boolean;
  /**
   * Accept a membership change before this leader has committed an entry of its own term
   * (thesis §4.1 as corrected by Ongaro, raft-dev 2015: a change of the previous leader's,
   * still uncommitted, and this one can then have disjoint majorities).
   */
  readonly membershipChangeBeforeFirstCommit?: boolean;
  /** Count learners' acknowledgements toward the commit quorum (thesis §4.2.1: they must not count). */
  readonly countLearnersInQuorum?: boolean;
  /** Take a snapshot chunk at whatever offset it claims, without checking it continues the bytes held (Figure 13's offset). */
  readonly acceptSnapshotChunkAnywhere?: boolean;
  /** While joint, count only the new voters' majority for elections and commitment (thesis §4.3 needs both). */
  readonly ignoreOutgoingVoters?: boolean;
  /** Leader: ignore a follower's rejection of an AppendEntries (no step back, no new probe): a diverged follower stays behind (an availability bug). */
  readonly ignoreAppendRejections?: boolean;
  /** Leader: heartbeats carry no commit index, so a follower that missed the last commit-carrying append never learns it (an availability bug). */
  readonly heartbeatsWithoutCommit?: boolean;
  /** Leader: a heartbeat's answer does not count as hearing from the follower, so with CheckQuorum an idle leader steps down though a quorum answers (an availability bug). */
  readonly checkQuorumIgnoresHeartbeats?: boolean;
  /**
   * A TimeoutNow's candidate does not mark its vote requests as a leadership transfer's
   * (thesis §3.10), so with CheckQuorum voters that heard from the leader within the
   * minimum election timeout ignore them (§4.2.3): the transfer fails and the cluster is
   * leaderless until an election timeout passes (an availability bug).
   */
  readonly transferCampaignWithoutFlag?: boolean;
  /** Leader: a leadership transfer is never given up (thesis §3.10 aborts it after an election timeout), so a leader whose target cannot win refuses proposals as long as it leads (an availability bug). */
  readonly transferNeverTimesOut?: boolean;
  /**
   * Leader: an answer about an older snapshot while a newer one is under way, the entries
   * after it compacted, starts the transfer over (the message storm of sim seed 2913625,
   * fixed in the twenty-eighth session): kept to prove the simulator's Runaway bound fires.
   */
  readonly restartSnapshotOnStaleAnswer?: boolean;
}

/** A leader's snapshot, whole, to be checked before the core takes it: see Config.snapshotCheck. */
export type SnapshotCheck = (snapshot: { readonly index: LogIndex; readonly term: Term; readonly data: Uint8Array }) => string | null;

/** Reads the durable entries [from, to] (inclusive) back from stable storage: see Config.entryLoader. */
export type EntryLoader = (from: LogIndex, to: LogIndex) => readonly Entry[];

export interface Config {
  readonly id: NodeId;
  /**
   * The bootstrap configuration's voters: in force until the log or a snapshot holds a
   * configuration entry. Every node of a cluster gets the same list, including a node
   * added later (it is not among them, so it neither campaigns nor votes until a
   * configuration entry makes it a voter).
   */
  readonly peers: readonly NodeId[];
  /** Election timeout is drawn uniformly from [electionTicks, 2*electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Seeded PRNG returning a float in [0, 1). The core's only source of randomness. */
  readonly random: () => number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Upper bound on entries in one AppendEntries. */
  readonly maxEntriesPerAppend: number;
  /** Upper bound on payload bytes in one AppendEntries (at least one entry is always sent). */
  readonly maxBytesPerAppend: number;
  /** Upper bound on snapshot bytes in one InstallSnapshot (Figure 13's chunks; at least 1). */
  readonly maxSnapshotChunkBytes: number;
  /**
   * InstallSnapshot chunks a leader may have unacknowledged per follower (at least 1): the
   * next ones go out while the first is on its way, and a follower that finds a gap (a
   * chunk lost) says how many bytes it holds, from which the leader sends again.
   */
  readonly maxSnapshotChunksInFlight: number;
  /**
   * The largest snapshot a follower takes (InstallSnapshot.totalBytes): a transfer that
   * announces more is refused at its first chunk (SNAPSHOT_TOO_LARGE), before anything is
   * allocated for it. Whatever the announced size, the follower allocates at most
   * SNAPSHOT_BYTES_ALLOCATED_UP_FRONT (64 MiB) on a leader's word; past that its array
   * grows as chunks arrive (doubling), so it never holds more than twice the bytes it was
   * actually sent. The default, 1 GiB, is 16 times the 63 MB state of 300,000 keys that
   * `raftlab bench --catch-up` sends; a node whose own snapshot is larger cannot catch a
   * follower up with it (the follower refuses it), so it must be raised on every node.
   */
  readonly maxSnapshotBytes: number;
  /** AppendEntries messages a leader may have unacknowledged per follower in replicate state. */
  readonly maxInflightAppends: number;
  /** Entries the leader may hold beyond its commit index before refusing proposals. */
  readonly maxUncommittedEntries: number;
  /**
   * Where the host's state machine already is on restart (entries up to here are not
   * re-delivered). A restored snapshot raises it to the snapshot's index: the host
   * restores its state machine from the snapshot it loaded.
   */
  readonly applied: LogIndex;
  /**
   * The host persists asynchronously (thesis §10.2.1): it calls advance({ durable: false })
   * as soon as a Ready's writes are issued and persisted(token) once an fdatasync covering
   * them completes. A candidate then counts its own vote only once that vote is durable:
   * a leader must never owe its election to a vote it could forget in a crash.
   */
  readonly asyncPersistence: boolean;
  /**
   * Reads the entries [from, to] back from the host's stable storage, exactly those (etcd's
   * Storage.Entries). When set, the log keeps in memory only the entries it may still have
   * to hand out soon: an entry that is applied, durable and (on a leader) held by every
   * follower is dropped from memory, its term kept, and read back through this if a
   * follower that falls behind later needs it. So the entries of a busy node die young
   * instead of living in the heap until the next compaction. Null: every entry stays in
   * memory until compaction.
   */
  readonly entryLoader: EntryLoader | null;
  /**
   * Checks a leader's snapshot, whole, once its last chunk arrived and before the core
   * takes it (Figure 13's "Discard the entire log" and the Ready that hands it out to be
   * persisted): returns why it is refused, or null to take it. The wire checks only a
   * chunk's framing; whether the bytes are a state machine snapshot at that index only
   * the host can tell, and a snapshot taken cannot be given back. A refused snapshot
   * changes nothing (step returns the reason); its transfer's later chunks are dropped
   * unanswered, so the leader, hearing nothing, sends the whole snapshot again after
   * STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY heartbeats, to be checked again. Null: every
   * snapshot is taken.
   */
  readonly snapshotCheck: SnapshotCheck | null;
  readonly testOnlyBugs: TestOnlyBugs;
  /** Receives one line per state change (role, term, vote, commit). Optional trace hook. */
  readonly trace: ((line: string) => void) | null;
}

export const defaultConfig = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxEntriesPerAppend: 4096,
  maxBytesPerAppend: 1 << 20,
  maxSnapshotChunkBytes: 1 << 20,
  maxSnapshotChunksInFlight: 4,
  maxSnapshotBytes: 1 << 30,
  maxInflightAppends: 64,
  maxUncommittedEntries: 65_536,
  applied: 0,
  asyncPersistence: false,
  entryLoader: null,
  snapshotCheck: null,
  testOnlyBugs: {},
  trace: null,
} as const satisfies Partial<Config>;

/** What a restarted node reads back from its storage. */
export interface RestoredState {
  readonly hardState: HardState;
  /** The newest durable snapshot, if any: the log starts right after it. */
  readonly snapshot?: Snapshot | null;
  /** The log after the snapshot (from index 1 without one), in order. */
  readonly entries: readonly Entry[];
}

export const ProgressState = {
  Probe: 'probe',
  Replicate: 'replicate',
  /** An InstallSnapshot is outstanding: send nothing else until the follower answers. */
  Snapshot: 'snapshot',
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** The leader's view of one follower (Figure 2: nextIndex[], matchIndex[]). */
export interface PeerProgress {
  readonly id: NodeId;
  /** A learner: replicated to, never counted. */
  readonly learner: boolean;
  readonly matchIndex: LogIndex;
  readonly nextIndex: LogIndex;
  readonly state: ProgressState;
  readonly inflight: number;
  readonly recentActive: boolean;
  /** While a snapshot is being sent (state snapshot): its size, the bytes sent and the bytes the follower said it holds. */
  readonly snapshotBytes?: SnapshotTransfer;
}

export interface SnapshotTransfer {
  readonly total: number;
  readonly sent: number;
  readonly acknowledged: number;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly currentTerm: Term;
  readonly votedFor: NodeId;
  readonly leaderId: NodeId;
  readonly commitIndex: LogIndex;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** Index of the last entry covered by the newest snapshot (0: none); the log holds only later entries. */
  readonly snapshotIndex: LogIndex;
  readonly electionElapsedTicks: number;
  readonly electionTimeoutTicks: number;
  /** Leader only: one row per other peer. Empty otherwise. */
  readonly progress: readonly PeerProgress[];
  readonly leadTransferee: NodeId;
  /** The configuration this node uses: the newest in its log, committed or not (thesis §4.1). */
  readonly membership: Membership;
  /** Index of the entry (or snapshot) that holds `membership`: committed once commitIndex reaches it (0: the bootstrap one). */
  readonly membershipIndex: LogIndex;
}
