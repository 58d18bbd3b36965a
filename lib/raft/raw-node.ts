// RawNode: the pure Raft state machine (etcd raft's RawNode shape). The host feeds it
// ticks, messages and proposals, takes a Ready (what to persist, send and apply), does
// that work and calls advance(). No I/O, no clock, no ambient randomness: every
// decision is a function of the inputs and config.random, so the simulator can replay it.
//
// Layout: the generic step() applies the term rules every role shares (Figure 2, "Rules
// for Servers / All Servers"), then dispatches to stepFollower / stepCandidate /
// stepLeader. tick() dispatches to tickElection / tickHeartbeat. becomeX() switch roles.

import { assert, assertNever } from './assert.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { ReadIndexQueue } from './read-only.js';
import { changeMembership, describeMembership, isJoint, jointMembership, leaveJoint, membershipOfVoters, membershipProblem, outgoingOf, votingMembers } from './membership.js';
import { majorityMatchIndex, majoritySize, tallyVotes, VoteResult } from './quorum.js';
import { defaultConfig, MessageRefusalCode, MessageType, NONE, ProgressState, RefusalCode, Role, SNAPSHOT_BYTES_ALLOCATED_UP_FRONT } from './types.js';
import type {
  AppendEntries,
  AppendEntriesResponse,
  Config,
  HardState,
  Heartbeat,
  HeartbeatResponse,
  InstallSnapshot,
  InstallSnapshotResponse,
  LogIndex,
  Membership,
  MembershipChange,
  Message,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  ReadState,
  Ready,
  Refusal,
  RequestVote,
  RequestVoteResponse,
  RestoredState,
  Snapshot,
  SnapshotMetadata,
  SoftState,
  Status,
  Term,
} from './types.js';

export function createConfig(partial: Pick<Config, 'id' | 'peers' | 'random'> & Partial<Config>): Config {
  return { ...defaultConfig, ...partial };
}

/** Names a Ready that advance({ durable: false }) left to be made durable: see persisted(). */
export type PersistToken = number;

/** What ready() handed out, so that advance() records exactly that as done. */
interface HandedOut {
  readonly snapshot: Snapshot | null;
  readonly membershipVersion: number;
  readonly lastEntryIndex: LogIndex | null;
  readonly appliedIndex: LogIndex;
  readonly hardState: HardState;
  readonly softState: SoftState;
}

/**
 * Heartbeat intervals answered without progress (the first answer of each counted), while
 * entries are outstanding, after which a follower in replicate state is assumed to have
 * lost appends and is probed again. More than one, because an acknowledgement waits for
 * the follower's fsync while its heartbeat response does not.
 */
export const STALLED_HEARTBEATS_BEFORE_PROBE = 3;

/**
 * Heartbeat responses from a follower with an InstallSnapshot outstanding after which
 * the snapshot is assumed lost and sent again. Generous: installing a large snapshot
 * (write, fsync, restore) takes a while, and a duplicate costs a whole snapshot.
 */
export const STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY = 10;

/**
 * Heartbeat responses without a chunk acknowledged, every so many of which the leader
 * sends the unacknowledged chunks again from what the follower holds: a chunk lost (the
 * last one included, which the follower acknowledges as it arrives, before installing),
 * and the one sent again for the gap lost too, costs a few heartbeats, not the whole
 * snapshot. The start over above stays for a follower that lost what it held (a
 * restart, also during the install).
 */
export const STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND = 3;

/**
 * Heartbeat intervals a follower may stay silent and still hold a leader's compaction
 * back (followersNeeding): 150, three seconds at the cluster's 20 ms tick. A follower
 * catching up after a large snapshot, on appends of a megabyte each, written and
 * fdatasynced, answers late: an election timeout (CheckQuorum's measure), or one second,
 * left it out between answers, and it was sent snapshot after snapshot.
 */
export const FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING = 150;

/** Bound on ReadIndex requests queued on a leader (pending plus waiting for heartbeat acks). */
export const MAX_PENDING_READS = 65_536;

/**
 * One Raft node's protocol state. A host's loop:
 *
 *   tick() every tick interval; step(m) for each inbound message; propose(data),
 *   readIndex(context), transferLeadership(to), campaign() as its clients ask; then
 *   while (node.hasReady()) { const ready = node.ready(); ...persist, sync, send,
 *   apply, serve reads (see Ready in types.ts)...; node.advance(); }
 *
 * Notes for hosts:
 *  - Nothing may be called between ready() and advance() (it throws).
 *  - ReadIndex contexts are positive integers, unique among the reads in flight. A read
 *    whose leader loses its role is never answered: the host fails or retries it when
 *    Ready.softState shows the role change.
 *  - transferLeadership() and campaign() are ignored where they make no sense (not the
 *    leader; already the leader).
 *  - readIndex() past MAX_PENDING_READS is refused with PROPOSAL_QUEUE_FULL.
 */
export class RawNode {
  readonly #config: Config;
  readonly #id: NodeId;
  /** The voters of the configuration in use (the newest in the log: thesis §4.1), this node included when it is one. */
  #voters: readonly NodeId[] = [];
  /** While a joint configuration is in force (thesis §4.3), the voters of the configuration being left; else empty. */
  #outgoing: readonly NodeId[] = [];
  /** Every node with a vote: #voters, and #outgoing while joint. */
  #votingMembers: readonly NodeId[] = [];
  /** Whether this node is among #votingMembers: only a voter campaigns and counts itself. */
  #isVoter = false;
  /** The log's membershipVersion() that #voters and the leader's #progress reflect. */
  #membershipVersion = -1;
  readonly #log: RaftLog;

  // Figure 2, persistent state (with the log).
  #currentTerm: Term = 0;
  #votedFor: NodeId = NONE;

  #role: Role = Role.Follower;
  #leaderId: NodeId = NONE;

  /** Ticks since the last election timeout reset (heard from leader, granted vote, started campaign). */
  #electionElapsedTicks = 0;
  #heartbeatElapsedTicks = 0;
  /**
   * Leader: heartbeat intervals elapsed (tick-driven broadcasts). A follower that stalled
   * (a long install, a busy thread) answers every heartbeat it missed at once; counting
   * each answer as a stalled interval of a snapshot transfer sent 148-180 chunks of
   * 1 MiB (of a 63 MB snapshot) in one turn: 1.7-2.2 s of the leader's thread, and its
   * leadership. Only the first answer in each interval counts.
   */
  #heartbeatRounds = 0;
  /** Drawn from [electionTicks, 2 * electionTicks) on every role change (§5.2 randomized timeouts). */
  #randomizedElectionTimeoutTicks = 0;

  /** Candidate and precandidate: the answers received this round. */
  readonly #votes = new Map<NodeId, boolean>();
  /** Leader: one Progress per other member (voters and learners). */
  readonly #progress = new Map<NodeId, Progress>();
  /** Leader: the target of a leadership transfer in progress (thesis §3.10), NONE otherwise. */
  #leadTransferee: NodeId = NONE;
  /**
   * Leader: ticks since the transfer to #leadTransferee began; it is aborted at an election
   * timeout. Its own count: restarting the election timer for each transfer put CheckQuorum
   * off, and a leader cut off from the rest, asked to transfer again every few ticks,
   * never stepped down.
   */
  #transferElapsedTicks = 0;

  /** Follower: a leader's snapshot being received (Figure 13), null when none is arriving. */
  #incomingSnapshot: {
    readonly leader: NodeId;
    readonly leaderTerm: Term;
    readonly index: LogIndex;
    readonly term: Term;
    /** InstallSnapshot.totalBytes: the whole snapshot's size, as its leader announced it. */
    readonly totalBytes: number;
    /**
     * The bytes held, in the first `received` bytes: allocated at the first chunk up to
     * SNAPSHOT_BYTES_ALLOCATED_UP_FRONT of totalBytes, and grown (doubling, up to
     * totalBytes) as chunks arrive past it, so a leader's word alone never makes this node
     * allocate more than that: at most twice the bytes actually received beyond it.
     */
    data: Uint8Array;
    received: number;
  } | null = null;
  /** Follower: the transfer whose snapshot Config.snapshotCheck refused; its chunks but a first are dropped unanswered. */
  #refusedSnapshot: { readonly leader: NodeId; readonly leaderTerm: Term; readonly index: LogIndex; readonly term: Term; readonly totalBytes: number } | null = null;

  /** Leader: ReadIndex requests in progress (thesis §6.4); replaced on every role change. */
  #reads: ReadIndexQueue;

  // Output accumulated for the next Ready.
  #messages: Message[] = [];
  #messagesAfterPersist: Message[] = [];
  #readStates: ReadState[] = [];
  /** Leader: new entries were proposed; broadcast them once, when the Ready is built (batching). */
  #broadcastPending = false;

  #lastReadySoftState: SoftState;
  #lastReadyHardState: HardState;
  /** The membership version the last Ready reported. */
  #lastReadyMembershipVersion = -1;
  /** Non-null between ready() and advance(). */
  #handedOut: HandedOut | null = null;
  /** The token advance() last returned. */
  #lastToken: PersistToken = 0;
  /** Asynchronous persistence: Readys advanced but not yet durable, oldest first. */
  #unpersisted: { readonly token: PersistToken; readonly lastEntry: { readonly index: LogIndex; readonly term: Term } | null; readonly hardState: HardState; readonly snapshot: boolean }[] = [];
  /** The newest hard state known to be on disk. */
  #durableHardState: HardState;

  constructor(config: Config, restored: RestoredState | null) {
    validateConfig(config);
    this.#config = config;
    this.#id = config.id;
    const hardState = restored?.hardState ?? { currentTerm: 0, votedFor: NONE, commitIndex: 0 };
    this.#log = new RaftLog(
      restored?.entries ?? [],
      hardState.commitIndex,
      config.applied,
      restored?.snapshot ?? null,
      config.entryLoader,
      membershipOfVoters(config.peers),
    );
    this.#currentTerm = hardState.currentTerm;
    this.#votedFor = hardState.votedFor;
    this.#lastReadyHardState = this.#hardState();
    this.#durableHardState = this.#lastReadyHardState;
    this.#lastReadySoftState = this.#softState();
    this.#reads = this.#newReadQueue();
    this.#syncMembership();
    // The host knows the configuration it started with (status()); Readys report changes.
    this.#lastReadyMembershipVersion = this.#membershipVersion;
    this.#resetTimers();
    this.#trace(`${this.#id} started at term ${this.#currentTerm} (last index ${this.#log.lastIndex()}, commit ${this.#log.commitIndex})`);
  }

  // ---------------------------------------------------------------------------------
  // Public API

  tick(): void {
    this.#assertNotInReady('tick');
    switch (this.#role) {
      case Role.Follower:
      case Role.PreCandidate:
      case Role.Candidate:
        this.#tickElection();
        return;
      case Role.Leader:
        this.#tickHeartbeat();
        return;
      default:
        assertNever(this.#role, 'role');
    }
  }

  /**
   * One inbound message. Returns null once it is taken: acted on, or ignored as a message
   * of no consequence (an old term's, a late answer to a role this node no longer holds,
   * one from a non-member). Returns why when it is refused as one no correct peer sends,
   * which the transport's decoder cannot tell because it depends on this node's state: a
   * leader's follower acknowledging entries past the leader's log, say, or a leader's
   * snapshot that Config.snapshotCheck refuses. A refused message changes nothing but
   * what the term rule (§5.1), which comes first for every message, changed; the host
   * counts it with the messages its decoder refuses.
   */
  step(message: Message): string | null {
    this.#assertNotInReady('step');
    // From any node, not only members: a node added to the cluster hears from a leader its
    // log does not know of yet. Answers from non-members are ignored where they count.
    if (message.to !== this.#id || message.from === this.#id || message.from === NONE) return null;

    if (message.term > this.#currentTerm) {
      if (!this.#acceptHigherTerm(message)) return null;
    } else if (message.term < this.#currentTerm) {
      this.#answerStaleTerm(message);
      return null;
    }

    switch (message.type) {
      case MessageType.RequestVote:
        this.#handleRequestVote(message);
        return null;
      case MessageType.RequestVoteResponse:
      case MessageType.AppendEntries:
      case MessageType.AppendEntriesResponse:
      case MessageType.Heartbeat:
      case MessageType.HeartbeatResponse:
      case MessageType.TimeoutNow:
      case MessageType.InstallSnapshot:
      case MessageType.InstallSnapshotResponse:
        return this.#stepByRole(message);
      default:
        return assertNever(message, 'message');
    }
  }

  propose(data: Uint8Array): ProposeResult {
    this.#assertNotInReady('propose');
    if (this.#role !== Role.Leader) return this.#refuse(RefusalCode.NotLeader);
    if (this.#leadTransferee !== NONE) return this.#refuse(RefusalCode.Transferring);
    if (this.#log.lastIndex() - this.#log.commitIndex >= this.#config.maxUncommittedEntries) {
      return this.#refuse(RefusalCode.ProposalQueueFull);
    }
    const index = this.#log.lastIndex() + 1;
    this.#log.appendOne({ index, term: this.#currentTerm, data });
    this.#broadcastPending = true;
    return { ok: true, index, term: this.#currentTerm };
  }

  /**
   * Proposes a single-server membership change (thesis §4.1): appends a configuration
   * entry holding the whole new configuration, in use here and on each follower as soon
   * as it is appended. One change at a time: refused while the newest configuration
   * entry is not committed, and until this leader has committed an entry of its own
   * term (without that, a change could be lost to a leader of an older configuration:
   * Ongaro, raft-dev, 2015, "bug in single-server membership changes"). The change is
   * done when its entry appears in Ready.committedEntries.
   */
  proposeMembership(change: MembershipChange): ProposeResult {
    this.#assertNotInReady('proposeMembership');
    const refusal = this.#membershipChangeRefusal();
    if (refusal !== null) return refusal;
    const membership = changeMembership(this.#log.membership(), change);
    if (typeof membership === 'string') {
      this.#trace(`${this.#id} refused membership change ${change.type} ${change.node}: ${membership}`);
      return this.#refuse(RefusalCode.InvalidMembershipChange, membership);
    }
    return this.#appendMembership(membership, `${change.type} ${change.node}`);
  }

  /**
   * Proposes a change to the configuration `target` by joint consensus (thesis §4.3, the
   * Raft paper's §6): appends C_old,new, which takes effect at once, and, as soon as it is
   * committed, C_new by itself (so the result's index is C_old,new's; the change is done
   * once the configuration reported has no outgoing voters). Any set of voters can be
   * replaced at once this way; a change that keeps the voters and only adds or removes
   * learners needs no joint step; a voter `target` lists as a learner keeps its vote in the
   * old majority until C_new (a leader demoted so steps down once C_new commits). Refused
   * like proposeMembership: one change at a time, and INVALID_MEMBERSHIP_CHANGE for a target
   * with no voter, a malformed list, or the current configuration.
   */
  proposeJointMembership(target: Membership): ProposeResult {
    this.#assertNotInReady('proposeJointMembership');
    const refusal = this.#membershipChangeRefusal();
    if (refusal !== null) return refusal;
    const membership = jointMembership(this.#log.membership(), target);
    if (typeof membership === 'string') {
      this.#trace(`${this.#id} refused joint change to ${describeMembership(target)}: ${membership}`);
      return this.#refuse(RefusalCode.InvalidMembershipChange, membership);
    }
    return this.#appendMembership(membership, 'joint change');
  }

  /** Why no configuration change may be proposed now, whichever kind (null: one may). */
  #membershipChangeRefusal(): Refusal | null {
    if (this.#role !== Role.Leader) return this.#refuse(RefusalCode.NotLeader);
    if (this.#leadTransferee !== NONE) return this.#refuse(RefusalCode.Transferring);
    // One at a time (thesis §4.1): the newest configuration committed, by a leader that
    // committed an entry of its own term, and not a joint one waiting for its C_new.
    const oneAtATime = this.#config.testOnlyBugs.concurrentMembershipChanges !== true;
    const firstCommitDone = this.#committedInCurrentTerm() || this.#config.testOnlyBugs.membershipChangeBeforeFirstCommit === true;
    const pending = this.#log.membershipIndex() > this.#log.commitIndex || !firstCommitDone || isJoint(this.#log.membership());
    if (oneAtATime && pending) return this.#refuse(RefusalCode.MembershipChangePending);
    if (this.#log.lastIndex() - this.#log.commitIndex >= this.#config.maxUncommittedEntries) {
      return this.#refuse(RefusalCode.ProposalQueueFull);
    }
    return null;
  }

  #appendMembership(membership: Membership, why: string): ProposeResult {
    const index = this.#log.lastIndex() + 1;
    this.#log.appendOne({ index, term: this.#currentTerm, data: null, membership });
    this.#trace(`${this.#id} proposed configuration ${describeMembership(membership)} at ${index} (${why})`);
    this.#syncMembership();
    this.#broadcastPending = true;
    return { ok: true, index, term: this.#currentTerm };
  }

  readIndex(context: number): ReadIndexResult {
    this.#assertNotInReady('readIndex');
    assert(Number.isSafeInteger(context) && context > 0, () => `readIndex context must be a positive integer, got ${context}`);
    if (this.#role !== Role.Leader) return this.#refuse(RefusalCode.NotLeader);
    if (this.#reads.size >= MAX_PENDING_READS) {
      return this.#refuse(RefusalCode.ProposalQueueFull);
    }
    // Thesis §6.4 step 1: "If the leader has not yet marked an entry from its current term
    // committed, it waits until it has done so."
    if (!this.#committedInCurrentTerm()) {
      this.#reads.deferUntilCommit(context);
      return { ok: true };
    }
    this.#startRead(context);
    return { ok: true };
  }

  transferLeadership(to: NodeId): void {
    this.#assertNotInReady('transferLeadership');
    if (this.#role !== Role.Leader || to === this.#id || !this.#voters.includes(to) || !this.#progress.has(to)) return;
    if (this.#leadTransferee === to) return;
    this.#leadTransferee = to;
    // The transfer is aborted if it has not completed within an election timeout.
    this.#transferElapsedTicks = 0;
    this.#trace(`${this.#id} transferring leadership to ${to} at term ${this.#currentTerm}`);
    const progress = this.#progressOf(to);
    // Thesis §3.10: "the prior leader sends its log entries to the target server", then TimeoutNow.
    if (progress.matchIndex === this.#log.lastIndex()) this.#sendTimeoutNow(to);
    else this.#sendAppendWhilePossible(to);
  }

  campaign(): void {
    this.#assertNotInReady('campaign');
    if (this.#role === Role.Leader || !this.#mayCampaign()) return;
    this.#startElection(false);
  }

  /**
   * A voter campaigns. So does a node its newest configuration leaves out while that
   * configuration is not committed (as far as it knows) and the one before made it a voter
   * (thesis §4.2.2: "a server that is not part of its own latest configuration should
   * still start new elections, as it might still be needed until the Cnew entry is
   * committed"); it does not count its own vote. Without this, a leader removed by a joint
   * change that stepped down before committing C_new, holding the longest log, would
   * refuse every other candidate its vote while the outgoing voters still need it.
   */
  #mayCampaign(): boolean {
    if (this.#isVoter) return true;
    if (this.#log.membershipIndex() <= this.#log.commitIndex) return false;
    const previous = this.#log.previousMembership();
    return previous !== null && votingMembers(previous).includes(this.#id);
  }

  /**
   * Leader: how many followers heard from lately still need an entry at or below `index`
   * (their matchIndex is below it: one catching up, or being sent a snapshot); 0 on any
   * other node. Compacting to `index` now would leave each of them only a whole snapshot,
   * and a follower whose snapshot transfer and install outlast a compaction period would
   * then never catch up (it installs one, and the entries after it are gone again). A
   * host may defer its compaction while this is above 0 (within a bound on its log): the
   * leader keeps no entries before its snapshot, so this is its only way to keep the
   * entries a follower is about to ask for (etcd keeps a fixed tail of catch-up entries).
   * A follower silent for FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING heartbeat intervals
   * does not count (a follower catching up on large appends answers late), unless it is
   * being sent the current snapshot (installing a large one keeps it silent a while).
   */
  followersNeeding(index: LogIndex): number {
    if (this.#role !== Role.Leader) return 0;
    const snapshotIndex = this.#log.snapshotIndex();
    let count = 0;
    for (const progress of this.#progress.values()) {
      const receiving = progress.state === ProgressState.Snapshot && progress.pendingSnapshotIndex === snapshotIndex;
      const heard = this.#heartbeatRounds - progress.heardAtRound <= FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING;
      if ((heard || receiving) && progress.matchIndex < index) count++;
    }
    return count;
  }

  /**
   * Of the followers followersNeeding(index) counts, those heard from lately that are
   * being sent this leader's current snapshot or, having stored it, are catching up from
   * it. Compacting past them would start their transfer over with the newer snapshot
   * (#handleSnapshotChunkResponse): a host holds its compaction for them longer than for
   * a follower merely behind (etcd's server skips compaction while a snapshot is in flight).
   */
  followersRecoveringFromSnapshot(index: LogIndex): number {
    if (this.#role !== Role.Leader) return 0;
    const snapshotIndex = this.#log.snapshotIndex();
    if (snapshotIndex === 0) return 0;
    let count = 0;
    for (const progress of this.#progress.values()) {
      if (progress.matchIndex >= index) continue;
      if (this.#heartbeatRounds - progress.heardAtRound > FOLLOWER_SILENT_ROUNDS_BEFORE_COMPACTING) continue;
      const receiving = progress.state === ProgressState.Snapshot && progress.pendingSnapshotIndex === snapshotIndex;
      if (receiving || progress.installedSnapshotIndex === snapshotIndex) count++;
    }
    return count;
  }

  /** Any answer from a follower: it is active (CheckQuorum), and heard from in this heartbeat round (followersNeeding). */
  #heardFrom(progress: Progress): void {
    progress.recentActive = true;
    progress.heardAtRound = this.#heartbeatRounds;
  }

  /**
   * Log compaction (§7): the host's state machine, having applied every entry up to
   * `index`, is serialized as `data`; the core drops those entries and keeps the snapshot
   * to send to followers that need them. `index` must not exceed what was applied
   * (asserted: compacting unapplied entries would lose them). Returns the snapshot's
   * position for the host to persist with the data, or null when `index` is not past the
   * current snapshot (nothing to do).
   */
  compact(index: LogIndex, data: Uint8Array): SnapshotMetadata | null {
    this.#assertNotInReady('compact');
    assert(Number.isSafeInteger(index) && index >= 0, () => `compact index must be a non-negative integer, got ${index}`);
    assert(
      index <= this.#log.appliedIndex,
      () => `compaction to ${index} refused: only entries up to the applied index ${this.#log.appliedIndex} may be compacted`,
    );
    if (index <= this.#log.snapshotIndex()) return null;
    const snapshot = this.#log.compact(index, data);
    this.#trace(`${this.#id} compacted its log up to ${snapshot.index}@t${snapshot.term}`);
    return { index: snapshot.index, term: snapshot.term, membership: snapshot.membership! };
  }

  hasReady(): boolean {
    if (this.#handedOut !== null) return false;
    if (this.#broadcastPending) return true;
    if (this.#log.pendingSnapshot !== null) return true;
    if (this.#messages.length > 0 || this.#messagesAfterPersist.length > 0 || this.#readStates.length > 0) return true;
    if (this.#log.lastIndex() > this.#log.handedOutIndex) return true;
    if (this.#log.applicableLimit() > this.#log.appliedIndex) return true;
    if (this.#membershipVersion !== this.#lastReadyMembershipVersion) return true;
    const hard = this.#lastReadyHardState;
    if (hard.currentTerm !== this.#currentTerm || hard.votedFor !== this.#votedFor || hard.commitIndex !== this.#log.commitIndex) return true;
    const soft = this.#lastReadySoftState;
    return soft.role !== this.#role || soft.leaderId !== this.#leaderId;
  }

  ready(): Ready {
    assert(this.#handedOut === null, () => 'ready() called twice without advance()');
    this.#flushBroadcast();
    const hardState = this.#hardState();
    const softState = this.#softState();
    const lastIndex = this.#log.lastIndex();
    const entries = this.#log.range(this.#log.handedOutIndex + 1, lastIndex);
    const applyLimit = this.#log.applicableLimit();
    const snapshot = this.#log.pendingSnapshot;
    // Entries covered by the snapshot are applied by restoring it.
    const appliedBefore = Math.max(this.#log.appliedIndex, snapshot?.index ?? 0);
    const committedEntries = this.#log.range(appliedBefore + 1, applyLimit);
    const ready: Ready = {
      softState: sameSoftState(softState, this.#lastReadySoftState) ? null : softState,
      snapshot,
      hardState: sameHardState(hardState, this.#lastReadyHardState) ? null : hardState,
      entries,
      messages: this.#messages,
      messagesAfterPersist: this.#messagesAfterPersist,
      committedEntries,
      readStates: this.#readStates,
      membership: this.#membershipVersion === this.#lastReadyMembershipVersion ? null : this.#log.membership(),
    };
    this.#messages = [];
    this.#messagesAfterPersist = [];
    this.#readStates = [];
    if (entries.length > 0) this.#log.handedOutIndex = lastIndex;
    this.#handedOut = {
      snapshot,
      membershipVersion: this.#membershipVersion,
      lastEntryIndex: entries.length > 0 ? lastIndex : null,
      appliedIndex: Math.max(applyLimit, appliedBefore),
      hardState,
      softState,
    };
    return ready;
  }

  /**
   * The host is done with the last Ready. By default everything it handed out is durable
   * now. With `{ durable: false }` the host has written the entries and hard state but
   * their fdatasync is still running: the node goes on (new proposals, messages, Readys)
   * while its own entries do not count as persisted (not toward the leader's commit
   * quorum, not applied here) until persisted() says so. The host then also holds each
   * Ready's messagesAfterPersist until an fdatasync that started after the Ready's
   * writes has completed.
   */
  advance(options: { readonly durable?: boolean } = {}): PersistToken {
    const handedOut = this.#handedOut;
    assert(handedOut !== null, () => 'advance() called without a preceding ready()');
    this.#handedOut = null;
    this.#lastReadyHardState = handedOut.hardState;
    this.#lastReadySoftState = handedOut.softState;
    this.#lastReadyMembershipVersion = handedOut.membershipVersion;
    if (handedOut.snapshot !== null) {
      assert(this.#log.pendingSnapshot === handedOut.snapshot, () => 'the pending snapshot changed between ready() and advance()');
      this.#log.pendingSnapshot = null;
    }
    this.#log.appliedIndex = handedOut.appliedIndex;
    const token = ++this.#lastToken;
    if (options.durable === false) {
      assert(this.#config.asyncPersistence, () => 'advance({ durable: false }) needs config.asyncPersistence');
      const index = handedOut.lastEntryIndex;
      const lastEntry = index === null ? null : { index, term: this.#log.term(index)! };
      this.#unpersisted.push({ token, lastEntry, hardState: handedOut.hardState, snapshot: handedOut.snapshot !== null });
    } else {
      // Everything handed out so far is durable, this Ready's writes and any before them.
      if (this.#unpersisted.length > 0) this.#unpersisted = [];
      this.#markPersistedTo(this.#log.handedOutIndex);
      this.#markHardStateDurable(handedOut.hardState);
    }
    this.#forgetWhatNoOneNeeds();
    this.#checkInvariants();
    return token;
  }

  /**
   * With Config.entryLoader: drops from memory the entries that are applied, durable and,
   * on a leader, held by every follower; a follower that needs one later gets it read
   * back (RaftLog.slice).
   */
  #forgetWhatNoOneNeeds(): void {
    if (this.#config.entryLoader === null) return;
    let floor = Math.min(this.#log.appliedIndex, this.#log.persistedIndex);
    if (this.#role === Role.Leader) for (const progress of this.#progress.values()) floor = Math.min(floor, progress.matchIndex);
    if (floor > this.#log.forgottenIndex()) this.#log.forgetThrough(floor);
  }

  /**
   * Asynchronous persistence (see advance): the writes of every Ready up to the one
   * advance() returned `token` for are durable (an fdatasync that started after them
   * completed). Entries replaced meanwhile (truncated by a newer leader while being
   * written) are not marked: the newer ones need their own fdatasync.
   */
  persisted(token: PersistToken): void {
    this.#assertNotInReady('persisted');
    let covered = 0;
    while (covered < this.#unpersisted.length && this.#unpersisted[covered]!.token <= token) covered++;
    if (covered === 0) return;
    const done = this.#unpersisted.slice(0, covered);
    this.#unpersisted = this.#unpersisted.slice(covered);
    // The newest last entry still in the log (same index and term: the same entry, §5.3)
    // covers everything before it.
    for (let i = done.length - 1; i >= 0; i--) {
      const lastEntry = done[i]!.lastEntry;
      if (lastEntry === null || lastEntry.index > this.#log.handedOutIndex || this.#log.term(lastEntry.index) !== lastEntry.term) continue;
      this.#markPersistedTo(lastEntry.index);
      break;
    }
    this.#markHardStateDurable(done[done.length - 1]!.hardState);
    this.#checkInvariants();
  }

  #markPersistedTo(index: LogIndex): void {
    if (index <= this.#log.persistedIndex) return;
    this.#log.persistedIndex = index;
    // Thesis §10.2.1: the leader writes its own disk in parallel with replication and
    // counts itself toward the commit quorum only once its entries are durable.
    if (this.#role === Role.Leader) this.#maybeCommit();
  }

  /** `hardState` is on disk: a candidate's own vote in it now counts (asynchronous persistence). */
  #markHardStateDurable(hardState: HardState): void {
    this.#durableHardState = hardState;
    if (this.#role !== Role.Candidate || !this.#ownVoteDurable()) return;
    this.#votes.set(this.#id, true);
    this.#afterTally();
  }

  /**
   * With asynchronous persistence, a candidate that won leads only once its term and
   * vote are durable, even when the other nodes' votes alone are a majority. Otherwise a
   * crash could bring it back in the previous term; it could then win the same term
   * again (its voters already voted for it in that term) and, having forgotten what it
   * appended the first time, append different entries at the same index and term,
   * breaking Log Matching (the simulator found this: seed 6518).
   */
  #termDurableToLead(): boolean {
    return !this.#config.asyncPersistence || this.#ownVoteDurable() || this.#config.testOnlyBugs.countOwnVoteBeforeDurable === true;
  }

  /** Whether this node's vote for itself in the current term is on disk. */
  #ownVoteDurable(): boolean {
    return this.#durableHardState.currentTerm === this.#currentTerm && this.#durableHardState.votedFor === this.#id;
  }

  /** Cheap invariants re-checked at every advance(): a violation means the state can no longer be trusted. */
  #checkInvariants(): void {
    const log = this.#log;
    assert(log.persistedIndex <= log.handedOutIndex, () => `invariant violated: persistedIndex ${log.persistedIndex} <= handedOutIndex ${log.handedOutIndex}`);
    assert(log.handedOutIndex <= log.lastIndex(), () => `invariant violated: handedOutIndex ${log.handedOutIndex} <= lastIndex ${log.lastIndex()}`);
    assert(log.commitIndex <= log.lastIndex(), () => `invariant violated: commitIndex ${log.commitIndex} <= lastIndex ${log.lastIndex()}`);
    assert(log.appliedIndex <= log.commitIndex, () => `invariant violated: appliedIndex ${log.appliedIndex} <= commitIndex ${log.commitIndex}`);
    // Only durable entries are handed out to apply (applicableLimit); a snapshot is applied by restoring it.
    assert(log.appliedIndex <= log.persistedIndex, () => `invariant violated: appliedIndex ${log.appliedIndex} <= persistedIndex ${log.persistedIndex}`);
    assert(log.snapshotIndex() <= log.commitIndex, () => `invariant violated: snapshotIndex ${log.snapshotIndex()} <= commitIndex ${log.commitIndex}`);
    assert(
      this.#role !== Role.Leader || (this.#leaderId === this.#id && this.#votedFor === this.#id),
      () => `invariant violated: leader ${this.#id} must lead itself and have voted for itself in term ${this.#currentTerm}`,
    );
    assert(
      this.#role !== Role.Candidate || this.#votedFor === this.#id,
      () => `invariant violated: candidate ${this.#id} must have voted for itself in term ${this.#currentTerm}`,
    );
    assert(this.#role === Role.Leader || this.#leaderId !== this.#id, () => `invariant violated: ${this.#id} is ${this.#role} but names itself the leader`);
    if (this.#role !== Role.Leader) return;
    // A leader's log ends in its own term (its no-op at least), and each follower's
    // match point is below its next index, which is at most one past the log (Progress).
    assert(log.lastTerm() === this.#currentTerm, () => `invariant violated: leader ${this.#id} of term ${this.#currentTerm} has a log ending in term ${log.lastTerm()}`);
    for (const progress of this.#progress.values()) {
      assert(
        progress.matchIndex < progress.nextIndex && progress.nextIndex <= log.lastIndex() + 1,
        () => `invariant violated: follower ${progress.id} has matchIndex ${progress.matchIndex} < nextIndex ${progress.nextIndex} <= lastIndex + 1 ${log.lastIndex() + 1}`,
      );
    }
  }

  status(): Status {
    return {
      id: this.#id,
      role: this.#role,
      currentTerm: this.#currentTerm,
      votedFor: this.#votedFor,
      leaderId: this.#leaderId,
      commitIndex: this.#log.commitIndex,
      lastLogIndex: this.#log.lastIndex(),
      lastLogTerm: this.#log.lastTerm(),
      snapshotIndex: this.#log.snapshotIndex(),
      electionElapsedTicks: this.#electionElapsedTicks,
      electionTimeoutTicks: this.#role === Role.Leader ? this.#config.electionTicks : this.#randomizedElectionTimeoutTicks,
      progress: this.#role === Role.Leader ? [...this.#progress.values()].map((progress) => progress.snapshot(this.#snapshotBytesFor(progress))) : [],
      leadTransferee: this.#leadTransferee,
      membership: this.#log.membership(),
      membershipIndex: this.#log.membershipIndex(),
    };
  }

  /** The size of the snapshot `progress` is sending, or null (not sending one, or not this log's any more). */
  #snapshotBytesFor(progress: Progress): number | null {
    if (progress.state !== ProgressState.Snapshot) return null;
    const snapshot = this.#log.snapshot();
    return snapshot !== null && snapshot.index === progress.pendingSnapshotIndex ? snapshot.data.byteLength : null;
  }

  // ---------------------------------------------------------------------------------
  // Term rules shared by all roles

  /**
   * A message from a higher term. Figure 2: "If RPC request or response contains term T >
   * currentTerm: set currentTerm = T, convert to follower" — with the PreVote and
   * CheckQuorum exceptions. Returns false when the message must be dropped.
   */
  #acceptHigherTerm(message: Message): boolean {
    if (message.type === MessageType.RequestVote) {
      // Thesis §4.2.3 / §9.6: a server that heard from a current leader within the
      // minimum election timeout does not update its term or grant its vote, so a
      // disconnected server cannot depose a healthy leader. A leadership transfer
      // (thesis §3.10) deliberately bypasses this.
      const leaseApplies = message.preVote || this.#config.checkQuorum;
      if (leaseApplies && !message.transfer && this.#inLeaderLease()) {
        this.#trace(`${this.#id} ignored ${message.preVote ? 'pre-vote' : 'vote'} request from ${message.from} at term ${message.term}: heard from leader ${this.#leaderId} recently`);
        return false;
      }
      // Thesis §9.6: a pre-vote request carries the term the candidate would use; it does not change ours.
      if (message.preVote) return true;
      this.#becomeFollower(message.term, NONE);
      return true;
    }
    if (message.type === MessageType.RequestVoteResponse && message.preVote && message.voteGranted) {
      // A granted pre-vote carries the precandidate's future term; the term changes
      // only when the precandidate wins and campaigns for real.
      return true;
    }
    const fromLeader =
      message.type === MessageType.AppendEntries ||
      message.type === MessageType.Heartbeat ||
      message.type === MessageType.TimeoutNow ||
      message.type === MessageType.InstallSnapshot;
    const leader = fromLeader ? message.from : NONE;
    this.#becomeFollower(message.term, leader);
    return true;
  }

  /** A message from an older term: Figure 2 "Reply false if term < currentTerm", so the sender learns our term and steps down. */
  #answerStaleTerm(message: Message): void {
    switch (message.type) {
      case MessageType.AppendEntries:
      case MessageType.Heartbeat:
        this.#send(
          {
            type: MessageType.AppendEntriesResponse,
            term: this.#currentTerm,
            from: this.#id,
            to: message.from,
            success: false,
            index: 0,
            conflictTerm: 0,
            conflictIndex: 0,
          },
          false,
        );
        return;
      case MessageType.RequestVote:
        this.#send(
          { type: MessageType.RequestVoteResponse, term: this.#currentTerm, from: this.#id, to: message.from, preVote: message.preVote, voteGranted: false },
          false,
        );
        return;
      case MessageType.InstallSnapshot:
        // Figure 13: "Reply immediately if term < currentTerm".
        this.#send(
          { type: MessageType.InstallSnapshotResponse, term: this.#currentTerm, from: this.#id, to: message.from, index: 0, snapshotIndex: 0, received: 0 },
          false,
        );
        return;
      case MessageType.RequestVoteResponse:
      case MessageType.AppendEntriesResponse:
      case MessageType.HeartbeatResponse:
      case MessageType.TimeoutNow:
      case MessageType.InstallSnapshotResponse:
        return; // answers to an old term: nothing to do.
      default:
        assertNever(message, 'message');
    }
  }

  #handleRequestVote(message: RequestVote): void {
    // For a pre-vote, message.term may exceed currentTerm (we did not adopt it).
    const alreadyVotedForThem = this.#votedFor === message.from;
    // §5.2: "each server will vote for at most one candidate in a given term".
    const canVote =
      alreadyVotedForThem ||
      (this.#votedFor === NONE && this.#leaderId === NONE) ||
      (message.preVote && message.term > this.#currentTerm);
    // §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the candidate".
    const upToDate = this.#config.testOnlyBugs.voteWithoutUpToDateCheck === true || this.#log.isUpToDate(message.lastLogIndex, message.lastLogTerm);
    const granted = canVote && upToDate;
    if (granted && !message.preVote) {
      this.#votedFor = message.from;
      // Figure 2 (Followers): the election timer restarts when "granting vote to candidate".
      this.#electionElapsedTicks = 0;
      this.#trace(`${this.#id} voted for ${message.from} at term ${this.#currentTerm}`);
    }
    const response: RequestVoteResponse = {
      type: MessageType.RequestVoteResponse,
      // A granted pre-vote answers in the candidate's future term so it is not dropped as stale.
      term: granted && message.preVote ? message.term : this.#currentTerm,
      from: this.#id,
      to: message.from,
      preVote: message.preVote,
      voteGranted: granted,
    };
    // Thesis §3.8: a vote must be durable before it is granted; a pre-vote changes no state.
    const needsPersist = !message.preVote && !(granted && this.#config.testOnlyBugs.grantVoteBeforePersist === true);
    this.#send(response, needsPersist);
  }

  /** Returns why the message was refused (see step), or null. */
  #stepByRole(message: Exclude<Message, RequestVote>): string | null {
    switch (this.#role) {
      case Role.Follower:
        return this.#stepFollower(message);
      case Role.PreCandidate:
      case Role.Candidate:
        return this.#stepCandidate(message);
      case Role.Leader:
        return this.#stepLeader(message);
      default:
        return assertNever(this.#role, 'role');
    }
  }

  // ---------------------------------------------------------------------------------
  // Follower

  /** Returns why the message was refused (see step), or null. */
  #stepFollower(message: Exclude<Message, RequestVote>): string | null {
    switch (message.type) {
      case MessageType.AppendEntries:
        this.#heardFromLeader(message.from);
        this.#handleAppendEntries(message);
        return null;
      case MessageType.Heartbeat:
        this.#heardFromLeader(message.from);
        this.#handleHeartbeat(message);
        return null;
      case MessageType.TimeoutNow:
        if (!this.#mayCampaign()) return null;
        // Thesis §3.10: "the target server ... starts a new election" at once, skipping PreVote.
        this.#trace(`${this.#id} received TimeoutNow from ${message.from} at term ${this.#currentTerm}`);
        this.#startElection(true);
        return null;
      case MessageType.InstallSnapshot:
        this.#heardFromLeader(message.from);
        return this.#handleInstallSnapshot(message);
      case MessageType.RequestVoteResponse:
      case MessageType.AppendEntriesResponse:
      case MessageType.HeartbeatResponse:
      case MessageType.InstallSnapshotResponse:
        return null; // late answers to a role we no longer hold.
      default:
        return assertNever(message, 'message');
    }
  }

  #heardFromLeader(leaderId: NodeId): void {
    this.#electionElapsedTicks = 0;
    if (this.#leaderId !== leaderId) {
      this.#leaderId = leaderId;
      this.#trace(`${this.#id} follows leader ${leaderId} at term ${this.#currentTerm}`);
    }
  }

  #handleAppendEntries(request: AppendEntries): void {
    const commitIndex = this.#log.commitIndex;
    let message = request;
    if (message.prevLogIndex < commitIndex) {
      // The request starts below what we know is committed: entries up to commitIndex
      // match the leader's (Leader Completeness), so skip them. If that leaves nothing
      // (a delayed or duplicated request), report our commit point; otherwise go on with
      // the rest, anchored at commitIndex, instead of making the leader send it again.
      const skipped = commitIndex - message.prevLogIndex;
      const anchor = message.entries[skipped - 1];
      if (anchor === undefined) {
        this.#sendAppendResponse(message.from, true, commitIndex, 0, 0);
        return;
      }
      message = { ...message, prevLogIndex: commitIndex, prevLogTerm: anchor.term, entries: message.entries.slice(skipped) };
    }
    const skipTermCheck = this.#config.testOnlyBugs.skipPrevLogTermCheck === true;
    // §5.3: "Reply false if log doesn't contain an entry at prevLogIndex whose term matches prevLogTerm".
    const prevMatches = skipTermCheck ? message.prevLogIndex <= this.#log.lastIndex() : this.#log.matchTerm(message.prevLogIndex, message.prevLogTerm);
    if (!prevMatches) {
      const hint = this.#log.conflictHint(message.prevLogIndex);
      this.#sendAppendResponse(message.from, false, message.prevLogIndex, hint.conflictTerm, hint.conflictIndex);
      return;
    }
    const outcome = this.#log.merge(message.entries, skipTermCheck);
    if (outcome.firstChangedIndex !== 0) this.#syncMembership();
    if (outcome.firstChangedIndex !== 0 && this.#config.trace !== null) {
      this.#trace(`${this.#id} appended entries ${outcome.firstChangedIndex}..${this.#log.lastIndex()} from ${message.from} at term ${this.#currentTerm}`);
    }
    const lastNewIndex = message.prevLogIndex + message.entries.length;
    // Figure 2: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index
    // of last new entry)" — never past what this request proved matches the leader.
    this.#commitTo(Math.min(message.leaderCommit, lastNewIndex));
    this.#sendAppendResponse(message.from, true, lastNewIndex, 0, 0);
  }

  #sendAppendResponse(to: NodeId, success: boolean, index: LogIndex, conflictTerm: Term, conflictIndex: LogIndex): void {
    const response: AppendEntriesResponse = {
      type: MessageType.AppendEntriesResponse,
      term: this.#currentTerm,
      from: this.#id,
      to,
      success,
      index,
      conflictTerm,
      conflictIndex,
    };
    // An acknowledgement promises the entries are stored: only after they are durable.
    this.#send(response, true);
  }

  /**
   * InstallSnapshot receiver (§7, Figure 13). The term rule ran in step(). Then:
   *  - a snapshot at or below our commitIndex adds nothing: we already hold (or applied)
   *    a log that matches the leader's up to commitIndex; say so;
   *  - "If existing log entry has same index and term as snapshot's last included entry,
   *    retain log entries following it and reply": the entry is committed, so is
   *    everything before it, and we still hold it all, to apply as usual;
   *  - otherwise "Discard the entire log" and "Reset state machine using snapshot
   *    contents", through the next Ready.
   * The answer promises the snapshot is stored, so it waits for the host's sync.
   */
  #handleInstallSnapshot(message: InstallSnapshot): string | null {
    const index = message.lastIncludedIndex;
    const term = message.lastIncludedTerm;
    if (index <= this.#log.commitIndex) {
      this.#trace(`${this.#id} ignored a stale snapshot at ${index}@t${term} from ${message.from}: commit is ${this.#log.commitIndex}`);
      this.#incomingSnapshot = null;
      this.#sendSnapshotResponse(message.from, this.#log.commitIndex);
      return null;
    }
    const holdsLastIncluded =
      this.#config.testOnlyBugs.skipSnapshotTermCheck === true ? index <= this.#log.lastIndex() : this.#log.matchTerm(index, term);
    if (holdsLastIncluded) {
      this.#trace(`${this.#id} already holds the snapshot's last entry ${index}@t${term}: keeps its log and commits to ${index}`);
      this.#incomingSnapshot = null;
      this.#commitTo(index);
      this.#sendSnapshotResponse(message.from, index);
      return null;
    }
    const refused = this.#refusedSnapshot;
    if (refused !== null && isTransfer(refused, refused.totalBytes, message)) {
      // A later chunk of a refused snapshot would only start the transfer over at once:
      // the leader, hearing nothing, sends it all again after a while (snapshotCheck).
      if (message.offset > 0) return null;
      this.#refusedSnapshot = null;
    }
    if (message.totalBytes > this.#config.maxSnapshotBytes) {
      // Refused before anything is allocated for it. Unanswered, the leader sends it again
      // after a while and is refused again: maxSnapshotBytes must be raised on every node.
      this.#incomingSnapshot = null;
      return this.#refuseMessage(
        message,
        `${MessageRefusalCode.SnapshotTooLarge}: its snapshot at ${index}@t${term} is ${message.totalBytes} bytes, above maxSnapshotBytes ${this.#config.maxSnapshotBytes}`,
      );
    }
    const data = this.#receiveSnapshotChunk(message);
    if (data === null) return null;
    const check = this.#config.snapshotCheck;
    const reason = check === null ? null : check({ index, term, data });
    if (reason !== null) {
      const { from: leader, term: leaderTerm, totalBytes } = message;
      this.#refusedSnapshot = { leader, leaderTerm, index, term, totalBytes };
      return this.#refuseMessage(message, `its snapshot at ${index}@t${term} (${data.byteLength} bytes) was refused: ${reason}`);
    }
    // The last chunk arrived: say so at once, so that the leader, which otherwise hears
    // nothing until the install is stored, tells a slow install from a lost last chunk.
    this.#answerSnapshotChunk(message, data.byteLength);
    this.#log.restoreSnapshot({ index, term, data, membership: message.membership });
    this.#syncMembership();
    this.#trace(`${this.#id} installed a snapshot at ${index}@t${term} from ${message.from} (${data.byteLength} bytes)`);
    this.#sendSnapshotResponse(message.from, index);
    return null;
  }

  /**
   * Figure 13, receiver steps 2-5: "Create new snapshot file if first chunk (offset is
   * 0)", "Write data into snapshot file at given offset", "Reply and wait for more data
   * chunks if done is false". The chunks are copied into one array of the snapshot's
   * size, allocated at the first (the host persists the whole snapshot once it is
   * complete). A chunk that does not continue the bytes held (lost, duplicated,
   * reordered, or of another leader's snapshot) is not taken: the answer says how many
   * bytes are held, and the leader goes on from there or, after a while, starts over.
   * Returns the whole snapshot once its last chunk arrived, else null.
   */
  #receiveSnapshotChunk(message: InstallSnapshot): Uint8Array | null {
    let incoming = this.#incomingSnapshot;
    const same = incoming !== null && isTransfer(incoming, incoming.totalBytes, message);
    if (message.offset === 0) {
      // A whole snapshot in one chunk is taken as it came.
      if (message.done && message.data.byteLength === message.totalBytes) {
        this.#incomingSnapshot = null;
        return message.data;
      }
      if (same && incoming!.received > 0) {
        // The first chunk of the transfer under way again (a duplicate, a late one, or the
        // leader starting over): the bytes held are the same, keep them and say how many.
        // Starting over here, while the leader had an acknowledgement of more, left it
        // sending from there and taking the lower answers as stale (the simulator's quiet
        // windows, seed 76: a follower stalled for over 60 ticks).
        this.#answerSnapshotChunk(message, incoming!.received);
        return null;
      }
      // Not the whole announced size: a leader's word alone allocates at most this much.
      const data = new Uint8Array(Math.min(message.totalBytes, Math.max(SNAPSHOT_BYTES_ALLOCATED_UP_FRONT, message.data.byteLength)));
      incoming = { leader: message.from, leaderTerm: message.term, index: message.lastIncludedIndex, term: message.lastIncludedTerm, totalBytes: message.totalBytes, data, received: 0 };
      this.#incomingSnapshot = incoming;
    } else if (!same || (message.offset !== incoming!.received && this.#config.testOnlyBugs.acceptSnapshotChunkAnywhere !== true)) {
      this.#answerSnapshotChunk(message, same ? incoming!.received : 0);
      return null;
    }
    incoming = incoming!;
    // The chunk goes where the bytes held end (its offset, but for the test-only bug above).
    // One that would run past the snapshot's size, or a last one that leaves it short, is
    // not taken (the transport's decoder refuses such messages; only the bug lets one by).
    const end = incoming.received + message.data.byteLength;
    if (end > incoming.totalBytes || message.done !== (end === incoming.totalBytes)) {
      this.#answerSnapshotChunk(message, incoming.received);
      return null;
    }
    if (end > incoming.data.byteLength) {
      // Past what is allocated: grow by doubling (bytes received, not announced, pay for it).
      const grown = new Uint8Array(Math.min(incoming.totalBytes, Math.max(end, 2 * incoming.data.byteLength)));
      grown.set(incoming.data.subarray(0, incoming.received));
      incoming.data = grown;
    }
    incoming.data.set(message.data, incoming.received);
    incoming.received = end;
    if (!message.done) {
      this.#answerSnapshotChunk(message, incoming.received);
      return null;
    }
    this.#incomingSnapshot = null;
    assert(incoming.data.byteLength === incoming.totalBytes, () => `a snapshot of ${incoming.totalBytes} bytes was received into ${incoming.data.byteLength}`);
    return incoming.data;
  }

  /** A chunk taken (or not): nothing is persisted yet, so the answer goes at once. */
  #answerSnapshotChunk(message: InstallSnapshot, received: number): void {
    const response: InstallSnapshotResponse = {
      type: MessageType.InstallSnapshotResponse,
      term: this.#currentTerm,
      from: this.#id,
      to: message.from,
      index: 0,
      snapshotIndex: message.lastIncludedIndex,
      received,
    };
    this.#send(response, false);
  }

  #sendSnapshotResponse(to: NodeId, index: LogIndex): void {
    const response: InstallSnapshotResponse = { type: MessageType.InstallSnapshotResponse, term: this.#currentTerm, from: this.#id, to, index, snapshotIndex: 0, received: 0 };
    this.#send(response, true);
  }

  #handleHeartbeat(message: Heartbeat): void {
    // The leader sends min(commitIndex, our matchIndex), which we are known to store.
    this.#commitTo(Math.min(message.leaderCommit, this.#log.lastIndex()));
    const response: HeartbeatResponse = {
      type: MessageType.HeartbeatResponse,
      term: this.#currentTerm,
      from: this.#id,
      to: message.from,
      context: message.context,
    };
    this.#send(response, false);
  }

  #commitTo(index: LogIndex): void {
    if (this.#log.commitTo(index) && this.#config.trace !== null) this.#trace(`${this.#id} committed up to ${index}`);
  }

  // ---------------------------------------------------------------------------------
  // Candidate and PreCandidate

  /** Returns why the message was refused (see step), or null. */
  #stepCandidate(message: Exclude<Message, RequestVote>): string | null {
    switch (message.type) {
      case MessageType.AppendEntries:
        // §5.2: "If the leader's term ... is at least as large as the candidate's current
        // term, then the candidate recognizes the leader as legitimate and returns to follower state."
        this.#becomeFollower(this.#currentTerm, message.from);
        return this.#stepFollower(message);
      case MessageType.Heartbeat:
      case MessageType.InstallSnapshot:
        this.#becomeFollower(this.#currentTerm, message.from);
        return this.#stepFollower(message);
      case MessageType.RequestVoteResponse:
        this.#handleVoteResponse(message);
        return null;
      case MessageType.AppendEntriesResponse:
      case MessageType.HeartbeatResponse:
      case MessageType.TimeoutNow:
      case MessageType.InstallSnapshotResponse:
        return null;
      default:
        return assertNever(message, 'message');
    }
  }

  #handleVoteResponse(message: RequestVoteResponse): void {
    const isPreCandidate = this.#role === Role.PreCandidate;
    if (message.preVote !== isPreCandidate) return; // an answer to the other kind of round.
    this.#votes.set(message.from, message.voteGranted);
    this.#afterTally();
  }

  #afterTally(): void {
    const isPreCandidate = this.#role === Role.PreCandidate;
    const result = this.#tally();
    switch (result) {
      case VoteResult.Won:
        if (isPreCandidate) this.#campaignForReal(false);
        else if (this.#termDurableToLead()) this.#becomeLeader();
        // Otherwise won, but with its term and vote not yet durable: #markHardStateDurable tallies again.
        return;
      case VoteResult.Lost:
        this.#trace(`${this.#id} lost the ${isPreCandidate ? 'pre-vote' : 'election'} at term ${this.#currentTerm}`);
        this.#becomeFollower(this.#currentTerm, NONE);
        return;
      case VoteResult.Pending:
        return;
      default:
        assertNever(result, 'vote result');
    }
  }

  // ---------------------------------------------------------------------------------
  // Leader

  /** Returns why the message was refused (see step), or null. */
  #stepLeader(message: Exclude<Message, RequestVote>): string | null {
    switch (message.type) {
      case MessageType.AppendEntriesResponse:
        return this.#handleAppendResponse(message);
      case MessageType.HeartbeatResponse:
        this.#handleHeartbeatResponse(message);
        return null;
      case MessageType.InstallSnapshotResponse:
        return this.#handleSnapshotResponse(message);
      case MessageType.AppendEntries:
      case MessageType.Heartbeat:
      case MessageType.InstallSnapshot:
        // Election Safety makes a second leader in our term impossible; a message like
        // this can only come from a broken variant. Ignore it rather than guess.
        this.#trace(`${this.#id} ignored ${message.type} from ${message.from}: both leaders at term ${this.#currentTerm}`);
        return null;
      case MessageType.RequestVoteResponse:
      case MessageType.TimeoutNow:
        return null;
      default:
        return assertNever(message, 'message');
    }
  }

  /**
   * A leader's log only grows during its term, and every answer it takes at its term
   * answers a message it sent in that term: no correct follower reports an index past the
   * leader's last one (an acknowledged or rejected prevLogIndex + entries is one the leader
   * sent; a follower's commitIndex is in the leader's log by Leader Completeness; a
   * snapshot's is one the leader took). Taken, such an index would move matchIndex or
   * nextIndex past the log, and the next AppendEntries would find no term for its
   * prevLogIndex. Returns why `message` is refused, or null; the refusal is traced.
   */
  #indexPastLog(message: AppendEntriesResponse | InstallSnapshotResponse, field: 'index' | 'snapshotIndex', index: LogIndex): string | null {
    const lastIndex = this.#log.lastIndex();
    if (index <= lastIndex) return null;
    return this.#refuseMessage(message, `${field} ${index} is past the leader's last index ${lastIndex}`);
  }

  /** Traces a refused message and returns the reason (step's result). */
  #refuseMessage(message: Message, reason: string): string {
    this.#trace(`${this.#id} refused ${message.type} from ${message.from} at term ${message.term}: ${reason}`);
    return reason;
  }

  #handleAppendResponse(message: AppendEntriesResponse): string | null {
    const progress = this.#progress.get(message.from);
    if (progress === undefined) return null; // not a member (any more)
    // Success or rejection, the index is a position in a message this leader sent. (The
    // conflict hint needs no bound: the next index drawn from it is at most the rejected one.)
    const refusal = this.#indexPastLog(message, 'index', message.index);
    if (refusal !== null) return refusal;
    this.#heardFrom(progress);
    if (!message.success) {
      if (this.#config.testOnlyBugs.ignoreAppendRejections === true) return null;
      const hintNextIndex = this.#nextIndexFromHint(message);
      if (progress.maybeDecreaseTo(message.index, hintNextIndex)) {
        if (progress.state === ProgressState.Replicate) progress.becomeProbe();
        this.#sendAppendWhilePossible(message.from);
      }
      return null;
    }
    const updated = progress.maybeUpdate(message.index);
    if (progress.state === ProgressState.Replicate) progress.inflights.freeUpTo(message.index);
    // In snapshot state, an append acknowledged up to the snapshot makes the snapshot moot.
    const snapshotMoot = progress.state === ProgressState.Snapshot && progress.matchIndex >= progress.pendingSnapshotIndex;
    if (updated && (progress.state === ProgressState.Probe || snapshotMoot)) progress.becomeReplicate();
    // A commit broadcasts to every follower, this one included; otherwise keep its
    // pipeline full, and tell it about a commit point it has not heard of yet.
    if (!(updated && this.#maybeCommit())) this.#sendAppendOrCommit(message.from);
    if (message.from === this.#leadTransferee && progress.matchIndex === this.#log.lastIndex()) {
      this.#sendTimeoutNow(message.from);
    }
    return null;
  }

  /**
   * Turn a follower's conflict hint into the next index to probe (fast backtracking).
   * Let L be our last index at or before the rejected one whose term is <= conflictTerm.
   *  - If log[L].term == conflictTerm, both logs hold that entry, so by Log Matching they
   *    agree up to L: resume at L + 1.
   *  - Otherwise every entry of ours after L has a term > conflictTerm, while the
   *    follower's entries up to the rejected index have terms <= conflictTerm: nothing
   *    after L can match, and nothing from conflictIndex on either (our terms there
   *    differ from conflictTerm). Resume at min(L + 1, conflictIndex): this skips every
   *    divergent term at once, not one entry or one term per round trip.
   */
  #nextIndexFromHint(message: AppendEntriesResponse): LogIndex {
    if (message.conflictTerm === 0) return message.conflictIndex > 0 ? message.conflictIndex : message.index;
    const lastAtMost = this.#log.lastIndexWithTermAtMost(message.conflictTerm, message.index);
    if (this.#log.term(lastAtMost) === message.conflictTerm) return lastAtMost + 1;
    return Math.min(lastAtMost + 1, message.conflictIndex);
  }

  /** The follower stored our snapshot (or already had what it covers): resume replication after what it reports. */
  #handleSnapshotResponse(message: InstallSnapshotResponse): string | null {
    const progress = this.#progress.get(message.from);
    if (progress === undefined) return null;
    // The index the follower matches up to, and the snapshot whose chunks it is receiving:
    // at most the leader's last index (#indexPastLog), and the bytes it holds of that
    // snapshot at most its size, when the leader still holds it.
    const refusal = this.#indexPastLog(message, 'index', message.index) ?? this.#indexPastLog(message, 'snapshotIndex', message.snapshotIndex);
    if (refusal !== null) return refusal;
    const snapshot = this.#log.snapshot();
    if (snapshot !== null && message.snapshotIndex === snapshot.index && message.received > snapshot.data.byteLength) {
      return this.#refuseMessage(message, `received ${message.received} is past the ${snapshot.data.byteLength} bytes of snapshot ${snapshot.index}`);
    }
    this.#heardFrom(progress);
    if (message.index === 0 && message.snapshotIndex !== 0) {
      this.#handleSnapshotChunkResponse(progress, message);
      return null;
    }
    const updated = progress.maybeUpdate(message.index);
    const held = this.#log.snapshot();
    const goesOn = this.#config.testOnlyBugs.restartSnapshotOnStaleAnswer !== true;
    if (goesOn && progress.state === ProgressState.Snapshot && progress.matchIndex < progress.pendingSnapshotIndex && held !== null && progress.matchIndex < held.index) {
      // An answer about an older snapshot (one installed earlier, or a stale chunk the
      // follower ignored) while ours is under way, and the entries after it compacted:
      // the transfer goes on (stalled ones are resumed by the heartbeats). Starting it over
      // here sent a whole window of chunks per such answer, each stale chunk drew another
      // answer, and the messages grew without bound (sim seed 2913625: millions of
      // InstallSnapshot chunks in 130 ticks, the run never ending).
      if (updated) this.#maybeCommit();
      return null;
    }
    if (progress.state === ProgressState.Snapshot) {
      this.#trace(`${this.#id} learned that ${message.from} stored snapshot ${progress.pendingSnapshotIndex}: it matches up to ${message.index}`);
      progress.installedSnapshotIndex = progress.pendingSnapshotIndex;
      if (progress.matchIndex >= progress.pendingSnapshotIndex) {
        progress.becomeReplicate();
      } else {
        progress.becomeProbe();
        progress.nextIndex = progress.matchIndex + 1;
      }
    }
    if (!(updated && this.#maybeCommit())) this.#sendAppendOrCommit(message.from);
    return null;
  }

  /**
   * A chunk's answer (Figure 13), pipelined: up to maxSnapshotChunksInFlight chunks are
   * unacknowledged at once. An answer that the follower holds more bytes than it said
   * before slides the window on. One that it holds no more than it said, while chunks are
   * in flight, reports a gap (a chunk lost or reordered; or a duplicate answer): the
   * leader sends again from there, once per gap, and ignores the other answers reporting
   * it. An answer below what was acknowledged is stale. If a chunk sent again is lost
   * too, heartbeats without progress send the window again (#resumeSnapshot).
   */
  #handleSnapshotChunkResponse(progress: Progress, message: InstallSnapshotResponse): void {
    if (progress.state !== ProgressState.Snapshot || message.snapshotIndex !== progress.pendingSnapshotIndex) return;
    const received = message.received;
    if (received < progress.snapshotAcked) return;
    const gap = received === progress.snapshotAcked;
    if (gap && (received >= progress.snapshotSentTo || received === progress.snapshotResentFrom)) return;
    const snapshot = this.#log.snapshot();
    if (snapshot === null || snapshot.index !== progress.pendingSnapshotIndex) {
      // Compacted again meanwhile: send the newer snapshot from its start.
      progress.becomeProbe();
      progress.nextIndex = progress.matchIndex + 1;
      this.#sendAppendWhilePossible(progress.id);
      return;
    }
    // (received is at most the snapshot's size: #handleSnapshotResponse refused the others.)
    if (gap) {
      this.#sendSnapshotAgainFrom(progress, snapshot, received);
      return;
    }
    if (received > progress.snapshotAcked) {
      progress.snapshotAcked = received;
      // Bytes the follower holds were sent before a rewind: nothing to send again below them.
      progress.snapshotSentTo = Math.max(progress.snapshotSentTo, received);
      progress.stalledHeartbeatResponses = 0;
    }
    this.#fillSnapshotWindow(progress, snapshot);
  }

  /**
   * Sends the chunks the follower has not acknowledged again, from the bytes it said it
   * holds. Once it has acknowledged them all (the last one as it arrived), it is
   * installing the snapshot, which may take a while: nothing to send.
   */
  #resumeSnapshot(progress: Progress): void {
    const snapshot = this.#log.snapshot();
    if (snapshot === null || snapshot.index !== progress.pendingSnapshotIndex || progress.snapshotSentTo <= progress.snapshotAcked) return;
    this.#trace(`${this.#id} sends its snapshot to ${progress.id} again from byte ${progress.snapshotAcked}: no chunk acknowledged for ${progress.stalledHeartbeatResponses} heartbeats`);
    this.#sendSnapshotAgainFrom(progress, snapshot, progress.snapshotAcked);
  }

  /** Goes back to `offset` (what the follower holds) and sends the window from there; answers reporting the same gap send nothing more. */
  #sendSnapshotAgainFrom(progress: Progress, snapshot: Snapshot, offset: number): void {
    progress.snapshotSentTo = offset;
    progress.snapshotResentFrom = offset;
    this.#fillSnapshotWindow(progress, snapshot);
  }

  #handleHeartbeatResponse(message: HeartbeatResponse): void {
    const progress = this.#progress.get(message.from);
    if (progress === undefined) return;
    if (this.#config.testOnlyBugs.checkQuorumIgnoresHeartbeats !== true) this.#heardFrom(progress);
    // A burst of answers to heartbeats the follower missed while it stalled (installing a
    // large snapshot, say) is one interval: one probe sent again (a lost probe is retried
    // once an interval; each answer used to send one, up to maxBytesPerAppend each), one
    // stalled interval of the snapshot it is being sent.
    const newRound = progress.heartbeatRoundCounted !== this.#heartbeatRounds;
    progress.heartbeatRoundCounted = this.#heartbeatRounds;
    if (newRound) progress.probeSent = false;
    if (progress.state === ProgressState.Snapshot && newRound) {
      // Alive, but silent about the snapshot: resend what it has not acknowledged, and
      // after a longer while assume it lost what it held and start over.
      progress.stalledHeartbeatResponses++;
      if (progress.stalledHeartbeatResponses >= STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RETRY) {
        this.#trace(`${this.#id} resends its snapshot to ${message.from}: no answer for ${progress.stalledHeartbeatResponses} heartbeats`);
        progress.becomeProbe();
        progress.nextIndex = progress.matchIndex + 1;
      } else if (progress.stalledHeartbeatResponses % STALLED_HEARTBEATS_BEFORE_SNAPSHOT_RESEND === 0) {
        this.#resumeSnapshot(progress);
      }
    }
    if (progress.matchIndex < this.#log.lastIndex()) {
      // The follower is alive but behind. In replicate state, appends we believe are in
      // flight may have been lost (nothing else would ever re-send them): after a few
      // heartbeat intervals without progress, fall back to probing from matchIndex. One
      // count an interval, as for a snapshot: a burst of answers (missed heartbeats
      // answered at once, duplicated or delayed ones) is not several stalled intervals,
      // and did force a probe while the appends were still on their way.
      if (progress.state === ProgressState.Replicate && newRound) {
        progress.stalledHeartbeatResponses++;
        if (progress.stalledHeartbeatResponses >= STALLED_HEARTBEATS_BEFORE_PROBE) {
          this.#trace(`${this.#id} re-probes ${message.from}: no progress past ${progress.matchIndex} for ${progress.stalledHeartbeatResponses} heartbeats`);
          progress.becomeProbe();
          progress.nextIndex = progress.matchIndex + 1;
        }
      }
      this.#sendAppendWhilePossible(message.from);
    }
    if (message.context !== 0) this.#readStates.push(...this.#reads.acknowledge(message.from, message.context));
    // A lost TimeoutNow would stall the transfer until it is aborted: repeat it while the
    // target is alive, up to date and still following us.
    if (message.from === this.#leadTransferee && progress.matchIndex === this.#log.lastIndex()) this.#sendTimeoutNow(message.from);
  }

  /**
   * §5.3/§5.4.2: "If there exists an N such that N > commitIndex, a majority of
   * matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N." The leader
   * counts its own log only up to what it has persisted. Returns whether commit advanced.
   */
  #maybeCommit(): boolean {
    // Only voters count (thesis §4.2.1: learners do not; §4.2.2: a leader that is not in
    // its configuration manages it without counting itself).
    // While joint (thesis §4.3), an entry is committed once a majority of each voter set stores it.
    let majorityIndex = this.#majorityMatchIndexOf(this.#voters);
    if (this.#outgoing.length > 0 && this.#config.testOnlyBugs.ignoreOutgoingVoters !== true) {
      majorityIndex = Math.min(majorityIndex, this.#majorityMatchIndexOf(this.#outgoing));
    }
    if (majorityIndex <= this.#log.commitIndex) return false;
    // Figure 8: an entry from an earlier term is never committed by counting replicas.
    const fromCurrentTerm = this.#log.term(majorityIndex) === this.#currentTerm;
    if (!fromCurrentTerm && this.#config.testOnlyBugs.commitPreviousTermByCounting !== true) return false;
    this.#commitTo(majorityIndex);
    // Thesis §4.3: once C_old,new is committed, the leader appends C_new (etcd's automatic
    // leave). It goes out with the commit point below.
    const membership = this.#log.membership();
    if (isJoint(membership) && this.#log.membershipIndex() <= this.#log.commitIndex) {
      this.#appendMembership(leaveJoint(membership), 'leaving the joint configuration');
    }
    // Tell followers about the new commit point and release reads waiting for it.
    this.#broadcastAppend(true);
    if (this.#committedInCurrentTerm()) {
      for (const context of this.#reads.takeDeferred()) this.#startRead(context);
    }
    // Thesis §4.2.2: a leader removed from the configuration "steps down (returns to
    // follower state) once the Cnew entry is committed".
    if (!this.#isVoter && this.#log.membershipIndex() <= this.#log.commitIndex) {
      this.#trace(`${this.#id} steps down: the configuration committed at ${this.#log.membershipIndex()} does not make it a voter`);
      // Hand over at once (thesis §3.10) to a voter that holds the whole log, rather than
      // leave the cluster without a leader for an election timeout.
      const successor = this.#caughtUpVoter();
      if (successor !== NONE) this.#sendTimeoutNow(successor);
      this.#becomeFollower(this.#currentTerm, NONE);
    }
    return true;
  }

  /**
   * Leader: the largest index a majority of `voters` stores. Only voters count (thesis
   * §4.2.1: learners do not); the leader counts its own log up to what it persisted, and
   * only if it is one of `voters` (§4.2.2: a leader outside its configuration manages it
   * without counting itself).
   */
  #majorityMatchIndexOf(voters: readonly NodeId[]): LogIndex {
    const matchIndexes: LogIndex[] = [];
    for (const id of voters) {
      if (id === this.#id) matchIndexes.push(this.#log.persistedIndex);
      else matchIndexes.push(this.#progress.get(id)?.matchIndex ?? 0);
    }
    if (this.#config.testOnlyBugs.countLearnersInQuorum === true) {
      for (const progress of this.#progress.values()) if (progress.learner) matchIndexes.push(progress.matchIndex);
    }
    return majorityMatchIndex(matchIndexes);
  }

  /** The election's result: while joint, won only with a majority of each voter set, lost if either is lost. */
  #tally(): VoteResult {
    const incoming = tallyVotes(this.#voters, this.#votes);
    if (this.#outgoing.length === 0 || this.#config.testOnlyBugs.ignoreOutgoingVoters === true) return incoming;
    const outgoing = tallyVotes(this.#outgoing, this.#votes);
    if (incoming === VoteResult.Lost || outgoing === VoteResult.Lost) return VoteResult.Lost;
    if (incoming === VoteResult.Won && outgoing === VoteResult.Won) return VoteResult.Won;
    return VoteResult.Pending;
  }

  /** Whether `ids` hold a majority of the voters (of each voter set while joint). */
  #isQuorum(ids: ReadonlySet<NodeId>): boolean {
    const majorityOf = (voters: readonly NodeId[]): boolean => {
      let count = 0;
      for (const id of voters) if (ids.has(id)) count++;
      return count >= majoritySize(voters.length);
    };
    return majorityOf(this.#voters) && (this.#outgoing.length === 0 || majorityOf(this.#outgoing));
  }

  /** Leader: a voter other than itself whose log matches its whole log (NONE if none does), the lowest id first. */
  #caughtUpVoter(): NodeId {
    for (const id of this.#voters) {
      if (id !== this.#id && this.#progress.get(id)?.matchIndex === this.#log.lastIndex()) return id;
    }
    return NONE;
  }

  #committedInCurrentTerm(): boolean {
    return this.#log.term(this.#log.commitIndex) === this.#currentTerm;
  }

  #flushBroadcast(): void {
    if (!this.#broadcastPending) return;
    this.#broadcastPending = false;
    if (this.#role === Role.Leader) this.#broadcastAppend(false);
  }

  #broadcastAppend(notifyCommit: boolean): void {
    this.#broadcastPending = false;
    for (const peer of this.#progress.keys()) {
      if (notifyCommit) this.#sendAppendOrCommit(peer);
      else this.#sendAppendWhilePossible(peer);
    }
  }

  /** Send new entries if any; otherwise an empty AppendEntries if the follower can learn a higher commit index from it. */
  #sendAppendOrCommit(to: NodeId): void {
    if (this.#sendAppendWhilePossible(to)) return;
    const progress = this.#progressOf(to);
    if (progress.sentCommitIndex < Math.min(this.#log.commitIndex, progress.matchIndex)) this.#sendAppend(to, true);
  }

  /** Sends as many AppendEntries as flow control allows; returns whether any was sent. */
  #sendAppendWhilePossible(to: NodeId): boolean {
    let sentAny = false;
    while (this.#sendAppend(to, false)) sentAny = true;
    return sentAny;
  }

  #sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.#progressOf(to);
    if (progress.isPaused()) return false;
    const prevLogIndex = progress.nextIndex - 1;
    // §7: "the leader must occasionally send snapshots to followers that lag behind" —
    // when the entries this follower needs next were compacted away.
    if (prevLogIndex < this.#log.snapshotIndex()) {
      this.#sendSnapshot(progress);
      return false;
    }
    const prevLogTerm = this.#log.term(prevLogIndex);
    assert(prevLogTerm !== undefined, () => `leader ${this.#id} has no term for prevLogIndex ${prevLogIndex} (follower ${to})`);
    const entries = this.#log.slice(progress.nextIndex, this.#config.maxEntriesPerAppend, this.#config.maxBytesPerAppend);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const message: AppendEntries = {
      type: MessageType.AppendEntries,
      term: this.#currentTerm,
      from: this.#id,
      to,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommit: this.#log.commitIndex,
    };
    progress.sentAppend(prevLogIndex + entries.length, entries.length);
    progress.sentCommitIndex = Math.max(progress.sentCommitIndex, Math.min(this.#log.commitIndex, prevLogIndex + entries.length));
    // The leader sends before its own write is durable (thesis §10.2.1).
    this.#send(message, false);
    return entries.length > 0;
  }

  #sendSnapshot(progress: Progress): void {
    const snapshot = this.#log.snapshot();
    assert(snapshot !== null, () => `leader ${this.#id} compacted to ${this.#log.snapshotIndex()} but holds no snapshot`);
    progress.becomeSnapshot(snapshot.index);
    this.#trace(`${this.#id} sends snapshot ${snapshot.index}@t${snapshot.term} to ${progress.id} (its next index ${progress.nextIndex} was compacted)`);
    // The first chunk even of an empty snapshot (offset 0, done), then the rest of the window.
    this.#sendSnapshotChunk(progress, snapshot, 0);
    this.#fillSnapshotWindow(progress, snapshot);
  }

  /** Sends the chunks after snapshotSentTo while fewer than maxSnapshotChunksInFlight chunks' bytes are unacknowledged. */
  #fillSnapshotWindow(progress: Progress, snapshot: Snapshot): void {
    const windowBytes = this.#config.maxSnapshotChunksInFlight * this.#config.maxSnapshotChunkBytes;
    while (progress.snapshotSentTo < snapshot.data.byteLength && progress.snapshotSentTo - progress.snapshotAcked < windowBytes) {
      this.#sendSnapshotChunk(progress, snapshot, progress.snapshotSentTo);
    }
  }

  /** Figure 13: the chunk of `snapshot` from `offset`, at most maxSnapshotChunkBytes; `done` on the last. */
  #sendSnapshotChunk(progress: Progress, snapshot: Snapshot, offset: number): void {
    const end = Math.min(snapshot.data.byteLength, offset + this.#config.maxSnapshotChunkBytes);
    const message: InstallSnapshot = {
      type: MessageType.InstallSnapshot,
      term: this.#currentTerm,
      from: this.#id,
      to: progress.id,
      lastIncludedIndex: snapshot.index,
      lastIncludedTerm: snapshot.term,
      offset,
      totalBytes: snapshot.data.byteLength,
      data: snapshot.data.subarray(offset, end),
      done: end === snapshot.data.byteLength,
      membership: snapshot.membership!,
    };
    progress.snapshotSentTo = end;
    this.#send(message, false);
  }

  #broadcastHeartbeat(context: number): void {
    for (const progress of this.#progress.values()) {
      const heartbeat: Heartbeat = {
        type: MessageType.Heartbeat,
        term: this.#currentTerm,
        from: this.#id,
        to: progress.id,
        // Never ahead of what the follower is known to store.
        leaderCommit: this.#config.testOnlyBugs.heartbeatsWithoutCommit === true ? 0 : Math.min(this.#log.commitIndex, progress.matchIndex),
        context,
      };
      this.#send(heartbeat, false);
    }
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#send({ type: MessageType.TimeoutNow, term: this.#currentTerm, from: this.#id, to }, false);
  }

  /** Thesis §6.4 steps 2-3: record commitIndex as the read index, then confirm leadership with a heartbeat round. */
  #startRead(context: number): void {
    const immediate = this.#reads.start(context, this.#log.commitIndex);
    if (immediate !== null) this.#readStates.push(immediate);
    else this.#broadcastHeartbeat(context);
  }

  // ---------------------------------------------------------------------------------
  // Ticks

  #tickElection(): void {
    this.#electionElapsedTicks++;
    // A learner, or a node its configuration does not hold, never campaigns (but see #mayCampaign).
    if (this.#electionElapsedTicks >= this.#randomizedElectionTimeoutTicks && this.#mayCampaign()) {
      // Figure 2 (Followers): "If election timeout elapses without receiving AppendEntries
      // RPC from current leader or granting vote to candidate: convert to candidate".
      this.#startElection(false);
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsedTicks++;
    this.#electionElapsedTicks++;
    if (this.#electionElapsedTicks >= this.#config.electionTicks) {
      this.#electionElapsedTicks = 0;
      if (this.#config.checkQuorum && !this.#quorumActive()) {
        // CheckQuorum (thesis §6.2): "a leader steps down if an election timeout elapses
        // without a successful round of heartbeats to a majority of its cluster".
        this.#trace(`${this.#id} lost contact with a quorum at term ${this.#currentTerm}`);
        this.#becomeFollower(this.#currentTerm, NONE);
        return;
      }
      for (const progress of this.#progress.values()) progress.recentActive = false;
    }
    const transferTimesOut = this.#config.testOnlyBugs.transferNeverTimesOut !== true;
    if (this.#leadTransferee !== NONE && ++this.#transferElapsedTicks >= this.#config.electionTicks && transferTimesOut) {
      this.#trace(`${this.#id} aborted leadership transfer to ${this.#leadTransferee}: timed out`);
      this.#leadTransferee = NONE;
    }
    if (this.#heartbeatElapsedTicks >= this.#config.heartbeatTicks) {
      this.#heartbeatElapsedTicks = 0;
      this.#heartbeatRounds++;
      // Re-sending the newest read's context lets a lost heartbeat round be retried for free.
      this.#broadcastHeartbeat(this.#reads.newestContext());
    }
  }

  #quorumActive(): boolean {
    const active = new Set<NodeId>([this.#id]);
    for (const progress of this.#progress.values()) if (progress.recentActive) active.add(progress.id);
    return this.#isQuorum(active);
  }

  #inLeaderLease(): boolean {
    return this.#leaderId !== NONE && this.#electionElapsedTicks < this.#config.electionTicks;
  }

  // ---------------------------------------------------------------------------------
  // Role changes

  /** Election timeout or campaign(): PreVote first if enabled (thesis §9.6); `transfer` skips it (thesis §3.10). */
  #startElection(transfer: boolean): void {
    if (this.#config.preVote && !transfer) this.#becomePreCandidate();
    else this.#campaignForReal(transfer);
  }

  #campaignForReal(transfer: boolean): void {
    this.#becomeCandidate();
    this.#requestVotes(false, transfer);
  }

  #becomeFollower(term: Term, leaderId: NodeId): void {
    this.#reset(term);
    this.#role = Role.Follower;
    this.#leaderId = leaderId;
    this.#trace(`${this.#id} became follower at term ${term}${leaderId === NONE ? '' : ` of leader ${leaderId}`}`);
  }

  #becomePreCandidate(): void {
    assert(this.#role !== Role.Leader, () => `leader ${this.#id} cannot become precandidate`);
    // Thesis §9.6: a pre-candidate does not increase its term or change its vote.
    this.#reset(this.#currentTerm);
    this.#role = Role.PreCandidate;
    this.#leaderId = NONE;
    this.#trace(`${this.#id} became precandidate at term ${this.#currentTerm}`);
    this.#requestVotes(true, false);
  }

  #becomeCandidate(): void {
    assert(this.#role !== Role.Leader, () => `leader ${this.#id} cannot become candidate`);
    // §5.2: "a follower increments its current term and transitions to candidate state.
    // It then votes for itself".
    this.#reset(this.#currentTerm + 1);
    this.#role = Role.Candidate;
    this.#leaderId = NONE;
    this.#votedFor = this.#id;
    this.#trace(`${this.#id} became candidate at term ${this.#currentTerm}`);
  }

  #requestVotes(preVote: boolean, transfer: boolean): void {
    const term = preVote ? this.#currentTerm + 1 : this.#currentTerm;
    // A pre-vote binds nothing. A real vote for ourselves counts at once when the host
    // persists synchronously (nothing can reach us before it is durable); with
    // asynchronous persistence only once it is durable (#markHardStateDurable).
    const countNow = preVote || !this.#config.asyncPersistence || this.#ownVoteDurable() || this.#config.testOnlyBugs.countOwnVoteBeforeDurable === true;
    if (countNow) this.#votes.set(this.#id, true);
    if (this.#tally() === VoteResult.Won) {
      // Single-voter cluster: our own vote is a majority.
      if (preVote) this.#campaignForReal(transfer);
      else this.#becomeLeader();
      return;
    }
    const logDurable = preVote || this.#logDurable() || this.#config.testOnlyBugs.voteRequestBeforeDurable === true;
    for (const peer of this.#votingMembers) {
      if (peer === this.#id) continue;
      const request: RequestVote = {
        type: MessageType.RequestVote,
        term,
        from: this.#id,
        to: peer,
        preVote,
        lastLogIndex: this.#log.lastIndex(),
        lastLogTerm: this.#log.lastTerm(),
        transfer: transfer && this.#config.testOnlyBugs.transferCampaignWithoutFlag !== true,
      };
      // A real vote request advertising a log that is not all durable waits until it is
      // (with this term and vote). Sent at once, a crash could bring this node back in the
      // previous term without the entries it advertised; campaigning for the same term
      // again, it would count the grants given to the longer log and could lead without a
      // committed entry. When the log is durable a crash loses at most the new term and
      // vote, and the grants were given to the log it comes back with. A pre-vote binds nothing.
      this.#send(request, !logDurable);
    }
  }

  /** Whether every entry of the log (and the snapshot it starts from) is on disk. */
  #logDurable(): boolean {
    const log = this.#log;
    return log.persistedIndex === log.lastIndex() && log.pendingSnapshot === null && !this.#unpersisted.some((ready) => ready.snapshot);
  }

  #becomeLeader(): void {
    assert(this.#role === Role.Candidate, () => `${this.#id} became leader from ${this.#role}, not candidate`);
    this.#reset(this.#currentTerm);
    this.#role = Role.Leader;
    this.#leaderId = this.#id;
    // Figure 2: "nextIndex[] initialized to leader last log index + 1, matchIndex[] to 0".
    const nextIndex = this.#log.lastIndex() + 1;
    this.#reconcileProgress(nextIndex);
    this.#trace(`${this.#id} became leader at term ${this.#currentTerm}`);
    // §8: "each leader commit a blank no-op entry into the log at the start of its term".
    this.#log.appendOne({ index: nextIndex, term: this.#currentTerm, data: null });
    this.#broadcastAppend(false);
  }

  /** Common to every role change: adopt `term` (clearing the vote if it is new) and restart timers. */
  #reset(term: Term): void {
    if (term !== this.#currentTerm) {
      assert(term > this.#currentTerm, () => `currentTerm must not decrease: ${this.#currentTerm} -> ${term}`);
      this.#currentTerm = term;
      this.#votedFor = NONE;
    }
    this.#leaderId = NONE;
    this.#resetTimers();
    this.#votes.clear();
    this.#progress.clear();
    this.#incomingSnapshot = null;
    this.#broadcastPending = false;
    if (this.#leadTransferee !== NONE) this.#trace(`${this.#id} dropped leadership transfer to ${this.#leadTransferee}`);
    this.#leadTransferee = NONE;
    // Pending reads are not answered: the host times them out and retries on the new leader.
    this.#reads = this.#newReadQueue();
  }

  #newReadQueue(): ReadIndexQueue {
    // Acknowledgements count against the configuration in use when they arrive.
    return new ReadIndexQueue(this.#id, (acknowledgedBy) => this.#isQuorum(acknowledgedBy));
  }

  /**
   * The log's configuration may have changed (appended, truncated, restored from a
   * snapshot): adopt it. A leader starts replicating to new members at once and stops
   * for removed ones (thesis §4.1), and abandons a transfer to a node no longer a voter.
   */
  #syncMembership(): void {
    const version = this.#log.membershipVersion();
    if (version === this.#membershipVersion) return;
    this.#membershipVersion = version;
    const membership = this.#log.membership();
    this.#voters = membership.voters;
    this.#outgoing = outgoingOf(membership);
    this.#votingMembers = votingMembers(membership);
    this.#isVoter = this.#votingMembers.includes(this.#id);
    this.#trace(`${this.#id} uses configuration ${describeMembership(membership)}`);
    if (this.#role !== Role.Leader) return;
    // A new member starts probing at the configuration entry itself (the last one), so it
    // hears of the leader with this turn's broadcast; its answer tells how far back to go.
    this.#reconcileProgress(this.#log.lastIndex());
    if (this.#leadTransferee !== NONE && !this.#voters.includes(this.#leadTransferee)) {
      this.#trace(`${this.#id} dropped leadership transfer to ${this.#leadTransferee}: no longer a voter`);
      this.#leadTransferee = NONE;
    }
  }

  /** Leader: one Progress per other member of the configuration in use; new ones start probing at `nextIndex`. */
  #reconcileProgress(nextIndex: LogIndex): void {
    const membership = this.#log.membership();
    const voting = votingMembers(membership);
    for (const id of [...this.#progress.keys()]) {
      if (!voting.includes(id) && !membership.learners.includes(id)) this.#progress.delete(id);
    }
    for (const ids of [voting, membership.learners]) {
      for (const id of ids) {
        if (id === this.#id) continue;
        let progress = this.#progress.get(id);
        if (progress === undefined) {
          progress = new Progress(id, nextIndex, this.#config.maxInflightAppends);
          this.#progress.set(id, progress);
        }
        // A voter being demoted by a joint change is an outgoing voter and a learner: it votes until C_new.
        progress.learner = !voting.includes(id);
      }
    }
  }

  #resetTimers(): void {
    this.#electionElapsedTicks = 0;
    this.#heartbeatElapsedTicks = 0;
    const electionTicks = this.#config.electionTicks;
    const draw = this.#config.random();
    assert(draw >= 0 && draw < 1, () => `config.random() must return a number in [0, 1), got ${draw}`);
    this.#randomizedElectionTimeoutTicks = electionTicks + Math.floor(draw * electionTicks);
  }

  // ---------------------------------------------------------------------------------
  // Helpers

  #send(message: Message, afterPersist: boolean): void {
    // Every message carries this node's term, but a pre-vote's (the term it would
    // campaign in) and a granted pre-vote's answer (that candidate's term).
    assert(
      message.term === this.#currentTerm || (message.term > this.#currentTerm && (message.type === MessageType.RequestVote || message.type === MessageType.RequestVoteResponse) && message.preVote),
      () => `invariant violated: ${this.#id} at term ${this.#currentTerm} sends ${message.type} of term ${message.term}`,
    );
    if (afterPersist) this.#messagesAfterPersist.push(message);
    else this.#messages.push(message);
  }

  #progressOf(peer: NodeId): Progress {
    const progress = this.#progress.get(peer);
    assert(progress !== undefined, () => `leader ${this.#id} has no progress for peer ${peer}`);
    return progress;
  }

  #refuse(code: RefusalCode, reason: string | null = null): Refusal {
    return { ok: false, code, leaderId: this.#leaderId, reason };
  }

  #hardState(): HardState {
    return { currentTerm: this.#currentTerm, votedFor: this.#votedFor, commitIndex: this.#log.commitIndex };
  }

  #softState(): SoftState {
    return { role: this.#role, leaderId: this.#leaderId };
  }

  #assertNotInReady(operation: string): void {
    assert(this.#handedOut === null, () => `${operation}() called between ready() and advance()`);
  }

  #trace(line: string): void {
    this.#config.trace?.(line);
  }
}

/** Whether `message` is a chunk of the snapshot transfer `transfer` (of `totalBytes` bytes). */
function isTransfer(
  transfer: { readonly leader: NodeId; readonly leaderTerm: Term; readonly index: LogIndex; readonly term: Term },
  totalBytes: number,
  message: InstallSnapshot,
): boolean {
  return (
    transfer.leader === message.from &&
    transfer.leaderTerm === message.term &&
    transfer.index === message.lastIncludedIndex &&
    transfer.term === message.lastIncludedTerm &&
    totalBytes === message.totalBytes
  );
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor && a.commitIndex === b.commitIndex;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leaderId === b.leaderId;
}

function validateConfig(config: Config): void {
  assert(Number.isSafeInteger(config.id) && config.id > 0, () => `config.id must be a positive integer, got ${config.id}`);
  assert(config.peers.length > 0, () => 'config.peers (the bootstrap voters) must not be empty');
  const problem = membershipProblem(membershipOfVoters(config.peers));
  assert(problem === null, () => `config.peers: ${problem}`);
  assert(config.electionTicks > config.heartbeatTicks, () => `electionTicks (${config.electionTicks}) must exceed heartbeatTicks (${config.heartbeatTicks})`);
  assert(config.heartbeatTicks >= 1, () => `heartbeatTicks must be >= 1, got ${config.heartbeatTicks}`);
  assert(config.maxEntriesPerAppend >= 1, () => 'maxEntriesPerAppend must be >= 1');
  assert(config.maxBytesPerAppend >= 1, () => 'maxBytesPerAppend must be >= 1');
  assert(Number.isSafeInteger(config.maxSnapshotChunkBytes) && config.maxSnapshotChunkBytes >= 1, () => `maxSnapshotChunkBytes must be a positive integer, got ${config.maxSnapshotChunkBytes}`);
  assert(config.maxInflightAppends >= 1, () => 'maxInflightAppends must be >= 1');
  assert(Number.isSafeInteger(config.maxSnapshotChunksInFlight) && config.maxSnapshotChunksInFlight >= 1, () => `maxSnapshotChunksInFlight must be a positive integer, got ${config.maxSnapshotChunksInFlight}`);
  assert(config.maxUncommittedEntries >= 1, () => 'maxUncommittedEntries must be >= 1');
  assert(Number.isSafeInteger(config.maxSnapshotBytes) && config.maxSnapshotBytes >= 1, () => `maxSnapshotBytes must be a positive integer, got ${config.maxSnapshotBytes}`);
}

