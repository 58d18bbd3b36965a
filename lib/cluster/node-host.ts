// One Raft node at run time: its core, its WAL, its key-value state machine, its
// clients, and the loop that ties them together. workers/raft-node.ts is the thin
// worker entry that builds one of these.
//
// One turn of the loop (DESIGN.md, "A node at run time"):
//   drain inbound messages into step() (done as they arrive), then handle ready():
//   append to the WAL and send what may go now, fdatasync once, send what had to wait,
//   apply committed entries, answer clients, advance().
// Group commit falls out of this: every message and proposal that arrived since the
// last turn is covered by the turn's single fdatasync.

import type { MessagePort } from 'node:worker_threads';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { RawNode, createConfig } from '../raft/raw-node.js';
import type { PersistToken } from '../raft/raw-node.js';
import { createPrng } from '../raft/prng.js';
import { MessageRefusalCode, MessageType, Role } from '../raft/types.js';
import type { Entry, HardState, LogIndex, Membership, Message, NodeId, Ready, Snapshot, SoftState, Term } from '../raft/types.js';
import { MAX_ASYNC_SYNCS, openFileStorage } from '../storage/file-storage.js';
import type { LogStorage, SyncedPosition } from '../storage/types.js';
import { SnapshotCorruptionError, StorageError, StorageErrorCode } from '../storage/errors.js';
import { SNAPSHOT_FILE_NAME, segmentFileName } from '../storage/record.js';
import { decodeRaftBatch, encodeRaftBatch, encodeRaftBatches } from '../transport/codec.js';
import type { PortMeshTransport } from '../transport/transport.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { KvError, KvErrorCode, decodeCommand, describeCommand, encodeCommand, invalidKeyReason, isCertainlyValidPut, isClientCommand, validateOperation } from '../kv/command.js';
import { NodeReplyCode, ReplyBatchWriter, decodeClientBatch, diskFailure } from './protocol.js';
import type { ControlToNode, MembershipResult, NodeToControl, NodeWorkerData } from './protocol.js';
import { describeChange, describeMembership, memberKind, membershipHolds } from './membership.js';
import type { ClusterMembershipChange } from './membership.js';
import { isJoint, leaveJoint, sameMembership } from '../raft/membership.js';
import { EventKind, SLOW_FSYNC_THRESHOLDS_MS } from './types.js';
import type { ClusterEvent, EntrySummary, NodeStatus } from './types.js';
import { assert, assertNever } from '../raft/assert.js';
import { renamesDurableAfterLoad, segmentDeletionHooks, snapshotRenameHooks } from './power-loss.js';

/** Recent entries kept, each described in every status, for the dashboard's detail view (which shows 20; the log strip reads logTerms). */
const RECENT_ENTRIES_KEPT = 24;
/** Node k reports its status (k - 1) % this many ms after each multiple of the status interval. */
const STATUS_PHASE_SPREAD_MS = 10;
/** Runs of terms a status reports (NodeStatus.logTerms): a run per term the log was written in. */
const STATUS_TERM_RUNS = 64;
/** With the test-only ackBeforeFsync bug, how often the WAL is actually synced. */
const BUGGY_SYNC_INTERVAL_MS = 250;
/** Commit events are throttled: a person cannot read more than a few per second. */
const COMMIT_EVENT_INTERVAL_MS = 1000;
/** Malformed-message log lines are throttled too; the counter is exact. */
const MALFORMED_LOG_INTERVAL_MS = 1000;
/**
 * Writes proposed per turn. What arrived beyond this waits for the next turn, so one
 * large wave of requests is replicated as a few pipelined batches: followers start on the
 * first while the leader proposes the next. It was 256 until the ninth session; once
 * the node's collector had less to do (WAL payloads no longer kept in memory, the log's
 * arrays reused), 1,024 did more writes per CPU-second at every node count, and a turn
 * no longer split one message of a load generator's requests (about 490 at half the
 * peak) in two (lib/bench/README.md, "What each optimisation gained").
 */
const MAX_PROPOSALS_PER_TURN = 1024;
/**
 * While a snapshot is taken, each turn serialises the state machine in slices of this
 * many keys until SNAPSHOT_MS_PER_TURN has passed. (A fixed 2,000 keys a turn took 1-7 ms
 * here, and more with large values.)
 */
const SNAPSHOT_KEYS_PER_SLICE = 64;
const SNAPSHOT_MS_PER_TURN = 0.5;
/**
 * A leader holds a compaction's snapshot, serialised, while a recently active follower
 * still needs entries it would drop (RawNode.followersNeeding: one catching up, or being
 * sent a snapshot), until its log since the last snapshot holds this many compaction
 * periods: then it compacts anyway. A 63 MB state sent to a restarted follower at
 * 12,000-26,000 writes/s, compacting every 20,000 entries, took 14-19 whole snapshots
 * and 46-60 s or more to catch up without it: each transfer and install (about 3 s)
 * outlasted a period, and so did the catching up after it (lib/bench/README.md).
 */
const MAX_DEFERRED_COMPACTION_PERIODS = 10;
/**
 * For a follower being sent the leader's snapshot, or catching up from it
 * (RawNode.followersRecoveringFromSnapshot), the hold lasts past that bound, up to this
 * many entries since the last snapshot (what ten periods of the default 100,000 entries
 * hold anyway): compacting would start its transfer over with the newer snapshot. With
 * snapshots every 3 to 30 entries sent in chunks of 6 to 50 bytes, a transfer outlasted
 * ten periods over and over, and new nodes never caught up (`raftlab check`, seeds 3222,
 * 3227, 3228 and 3231 of the thirty-first session: CATCH_UP_TIMEOUT).
 */
const MAX_ENTRIES_HELD_FOR_A_SNAPSHOT_TRANSFER = 1_000_000;
/** A compaction held this long is told (a log line and a cluster event); shorter holds are routine. */
const COMPACTION_DEFERRAL_TOLD_AFTER_MS = 1000;

/**
 * How many times more bytes a value of a write frame (not a KvClient's: one from
 * elsewhere) can encode to, stored and answered, than it took in the frame: msgpack
 * decoders read each byte of invalid UTF-8 as U+FFFD, three bytes (a float32 becomes a
 * float64: 9 bytes for 5). The leader measured only commands longer than the limit, and
 * stored a value of 900 bytes of 0xff, 2,703 bytes encoded, past a 1,000-byte limit.
 */
const DECODED_VALUE_GROWTH = 3;

interface ClientConnection {
  readonly port: MessagePort;
  /** This turn's replies, encoded as they are made; posted at the end of the turn. */
  readonly replies: ReplyBatchWriter;
}

interface Waiter {
  readonly client: ClientConnection;
  readonly rid: number;
}

/**
 * A validated write: queued, then (once proposed, with the term it was proposed in) a
 * proposal. Only its bytes are kept: it is decoded when applied, so no decoded command
 * lives (and survives scavenges) from arrival to apply.
 */
interface QueuedWrite extends Waiter {
  readonly bytes: Uint8Array;
  /** isCertainlyValidPut said true of `bytes` on arrival: applying them need not scan them again. */
  readonly vetted: boolean;
  /** The term of its log entry, set by propose(). */
  term: number;
}

/**
 * The leader's proposals awaiting apply, in index order (propose hands out increasing
 * indexes, and entries are applied in index order, so a proposal is always taken from the
 * front). Parallel arrays with a moving head: a Map keyed by index cost a set and a
 * delete per write, and its table was rebuilt as deletes piled up.
 */
class ProposalQueue {
  private indexes: number[] = [];
  private writes: (QueuedWrite | undefined)[] = [];
  private head = 0;

  add(index: number, write: QueuedWrite): void {
    const last = this.indexes.length > this.head ? this.indexes[this.indexes.length - 1]! : 0;
    assert(index > last, () => `proposal at index ${index} after one at ${last}`);
    this.indexes.push(index);
    this.writes.push(write);
  }

  /** The proposal at `index`, the entry being applied, or undefined (not proposed here). */
  take(index: number): QueuedWrite | undefined {
    if (this.head === this.indexes.length) return undefined;
    const front = this.indexes[this.head]!;
    assert(front >= index, () => `the proposal at index ${front} was never applied (now applying ${index})`);
    if (front !== index) return undefined;
    const write = this.writes[this.head]!;
    this.writes[this.head] = undefined;
    this.head++;
    if (this.head === this.indexes.length) this.clear();
    else if (this.head >= 1024 && this.head * 2 >= this.indexes.length) {
      this.indexes = this.indexes.slice(this.head);
      this.writes = this.writes.slice(this.head);
      this.head = 0;
    }
    return write;
  }

  /** Removes and returns every proposal, oldest first. */
  takeAll(): QueuedWrite[] {
    const all = this.writes.slice(this.head) as QueuedWrite[];
    this.clear();
    return all;
  }

  private clear(): void {
    this.indexes = [];
    this.writes = [];
    this.head = 0;
  }
}

/** Writes handed to the WAL and not yet covered by a completed fdatasync. */
interface SyncBatch {
  /** The core's token for the newest Ready whose writes this batch holds (see RawNode.persisted). */
  token: PersistToken | null;
  /** messagesAfterPersist of the Readys whose writes this batch holds. */
  messages: Message[];
}

interface ReadWaiter extends Waiter {
  readonly key: string;
}

/**
 * A membership request answered when the entry at `index` is applied: ok if that entry
 * has `term` (§5.3 Log Matching: then it is the entry this leader had there, and so is
 * every entry before it). Either the configuration entry this node proposed
 * (`heldMembership` null), or, for a retry whose change this leader's configuration
 * already held, the last entry of its log at the time (`heldMembership` that configuration).
 */
interface MembershipWaiter {
  readonly requestId: number;
  readonly change: ClusterMembershipChange;
  readonly index: LogIndex;
  readonly term: Term;
  readonly heldMembership: Membership | null;
  /** A joint change (thesis §4.3): its entry at `index` is C_old,new; once that commits, wait for C_new (a LeaveWaiter). */
  readonly leaveAfter: boolean;
}

/**
 * A joint change whose C_old,new has committed: answered when the first configuration
 * entry after `after` that is not joint is applied. That is C_new, whichever leader
 * appended it: no other change can be proposed while a joint configuration is in force.
 */
interface LeaveWaiter {
  readonly requestId: number;
  readonly change: ClusterMembershipChange;
  readonly after: LogIndex;
}

/**
 * TEST-ONLY (TestOnlyClusterBugs.walFault): `storage` whose writes all fail, and write
 * nothing, once it has been handed `afterEntries` entries: as a full disk fails them
 * (WAL_IO, ENOSPC, shaped as FileStorage reports it) or as a violated invariant would.
 */
function withWalFault(storage: LogStorage, dir: string, afterEntries: number, fault: 'enospc' | 'invariant'): LogStorage {
  let appended = 0;
  const failure = (): StorageError | null => {
    if (appended < afterEntries) return null;
    if (fault === 'invariant') return new StorageError(StorageErrorCode.Invariant, `storage invariant violated: walFault after ${afterEntries} entries (test-only)`);
    const path = join(dir, segmentFileName(Math.max(1, storage.syncedPosition().segment)));
    const cause = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    return new StorageError(StorageErrorCode.Io, `cannot write WAL segment ${path}: ${cause.message}`, { cause });
  };
  const check = (): void => {
    const error = failure();
    if (error !== null) throw error;
  };
  return {
    load: () => storage.load(),
    append: (entries) => {
      appended += entries.length;
      storage.append(entries);
    },
    saveSnapshot: (snapshot) => {
      check();
      storage.saveSnapshot(snapshot);
    },
    saveSnapshotAsync: (snapshot, done) => {
      const error = failure();
      if (error === null) storage.saveSnapshotAsync(snapshot, done);
      else queueMicrotask(() => done(error, false));
    },
    setHardState: (hardState) => storage.setHardState(hardState),
    sync: () => {
      check();
      return storage.sync();
    },
    syncAsync: (done) => {
      const error = failure();
      if (error === null) storage.syncAsync(done);
      else queueMicrotask(() => done(error, 0));
    },
    entries: (from, to) => storage.entries(from, to),
    syncedPosition: () => storage.syncedPosition(),
    termRuns: (maxRuns) => storage.termRuns(maxRuns),
    stats: () => storage.stats(),
    close: () => storage.close(),
  };
}

export interface ControlChannel {
  post(message: NodeToControl): void;
}

export class NodeHost {
  private readonly id: NodeId;
  private readonly node: RawNode;
  private readonly storage: LogStorage;
  private readonly kv: KvStateMachine;
  private readonly clients = new Set<ClientConnection>();
  /** Reads that arrived this turn and still need a ReadIndex round. */
  private readsAwaitingRound: ReadWaiter[] = [];
  /** Reads whose ReadIndex round is in flight, by context. */
  private readonly readsInRound = new Map<number, ReadWaiter[]>();
  /** Reads confirmed by a quorum, waiting for applied >= index. Ordered by index. */
  private readsAwaitingApply: { index: number; reads: ReadWaiter[] }[] = [];
  private nextReadContext = 1;
  private readonly syncedPosition: Int32Array;
  /** Writes this leader proposed, by log index: who to answer. An entry at that index
   *  with another term is not this proposal (§5.3: same index and term, same entry). */
  private readonly proposals = new ProposalQueue();

  private softState: SoftState;
  private hardState: HardState;
  private turnScheduled = false;
  /** The fdatasyncs running on the thread pool (at most MAX_ASYNC_SYNCS), oldest first, and what waits for each (see processReadies). */
  private readonly syncsInFlight: SyncBatch[] = [];
  /** Appended since the newest of syncsInFlight started (dirty), or held messages that wait for them. */
  private unsynced: SyncBatch & { dirty: boolean } = { token: null, messages: [], dirty: false };
  private stopAfterSync = false;
  /** Validated writes waiting to be proposed (MAX_PROPOSALS_PER_TURN per turn), from `queueHead` on. */
  private proposalQueue: QueuedWrite[] = [];
  private queueHead = 0;
  private stopped = false;
  /** die() ran: the worker is ending with an error. */
  private dead = false;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private statusTimer: ReturnType<typeof setTimeout> | null = null;
  private lastLeaderContactAt: number | null = null;
  /** When this node's last fdatasync on its own thread began (performance.now()); see followerTurnDelayMs. */
  private lastInlineSyncStartedAt = Number.NEGATIVE_INFINITY;
  private lastCommitEventAt = 0;
  /** Date.now() of the last malformed message logged; -Infinity (never), not 0: see compactionStartedAt. */
  private lastMalformedLogAt = Number.NEGATIVE_INFINITY;
  /** The last leader snapshot transfer refused as SNAPSHOT_TOO_LARGE that was logged (leader, term, index). */
  private tooLargeSnapshotLogged = '';
  private malformedMessages = 0;
  private entriesPersisted = 0;
  private appendEntriesSent = 0;
  private entriesSent = 0;
  private entriesReadBack = 0;
  /** InstallSnapshot messages (chunks, Figure 13) stepped since the last snapshot installed: told in its event. */
  private snapshotChunksReceived = 0;
  private lastSyncAt = 0;
  private fsyncLatencyTotalMs = 0;
  private fsyncCountSinceStatus = 0;
  /** NodeStatus.slowFsyncs. */
  private readonly slowFsyncs = SLOW_FSYNC_THRESHOLDS_MS.map(() => 0);
  private recentEntries: Entry[] = [];
  /** The index of the newest snapshot, on disk and in the core (0: none). */
  private snapshotIndex = 0;
  /** How long the last leader's snapshot took to write and sync (this thread waits it out). */
  private snapshotSaveMs = 0;
  /** A leader's snapshot the core took after checkSnapshot restored it into a new state machine: its Ready installs that machine. */
  private checkedSnapshot: { readonly data: Uint8Array; readonly machine: KvStateMachine; readonly restoreMs: number } | null = null;
  /** From Ready step 1 to step 4 of a leader's snapshot: the state machine it restored to. */
  private snapshotToInstall: { readonly machine: KvStateMachine; readonly restoreMs: number } | null = null;
  /** True while a compaction's snapshot file is being written (maybeCompact). */
  private compactionInFlight = false;
  /**
   * When the compaction in progress began serialising the state machine. It starts as a
   * time, not 0: V8 lays out a field that has only held small integers as one, and the
   * first fraction stored in it gives every NodeHost a new layout, which deoptimised every
   * compiled NodeHost method at each node's first compaction (236 deoptimisations in a
   * 3-node run at 30,000 writes/s against 111-114 with this; p99 lower in 11 of 11 pairs of
   * fresh clusters, lib/bench/README.md, "The fourteenth session's look at the tail").
   */
  private compactionStartedAt = performance.now();
  /** The bytes of this node's last compaction, which the core holds (null: none yet). */
  private ownSnapshotBytes: Uint8Array | null = null;
  /** A compaction's snapshot, serialised, held while a follower still needs the entries it covers (deferCompaction). */
  private heldSnapshot: { readonly index: number; readonly data: Uint8Array; readonly serializedMs: number } | null = null;
  /** Since when this leader has held a compaction back (null: it does not), and whether that was told. */
  private compactionDeferredSince: number | null = null;
  private compactionDeferralTold = false;
  /** Where in each snapshotEntries period this node compacts (see compactionDue). */
  private readonly compactionPhase: number;
  private pendingEvents: Omit<ClusterEvent, 'time'>[] = [];
  /** The configuration in use (the newest in the log: Ready.membership), for status and whom to hear from. */
  private membership: Membership;
  /**
   * The ids decodeRaftBatch accepts messages from: every peer this node has a port to and
   * every member of its configuration. The core takes messages from any id (a node added
   * after this one started is not among the bootstrap peers).
   */
  private acceptedPeers: readonly NodeId[] = [];
  /** Membership requests waiting for the apply of their entry, in index order. */
  private membershipWaiters: MembershipWaiter[] = [];
  private leaveWaiters: LeaveWaiter[] = [];

  constructor(
    private readonly data: NodeWorkerData,
    private readonly transport: PortMeshTransport,
    private readonly control: ControlChannel,
    private readonly log: Logger,
  ) {
    this.id = data.id;
    const members = [...new Set([...data.peers, data.id])].sort((a, b) => a - b);
    this.compactionPhase = Math.floor((data.snapshotEntries * members.indexOf(data.id)) / members.length);
    this.syncedPosition = new Int32Array(data.syncedPosition);
    // The supervisor cuts a crashed node's WAL back to this position (crash with
    // loseUnsynced): published as the storage moves it, before a compaction deletes the
    // segments its synced snapshot record makes redundant, not after the next sync.
    const syncedPosition = this.syncedPosition;
    const onSynced = (position: SyncedPosition): void => {
      Atomics.store(syncedPosition, 0, position.segment);
      Atomics.store(syncedPosition, 1, position.offset);
    };
    const faults = data.testOnly.storageFaults;
    const testOnly = faults !== undefined && faults.node === data.id ? faults.faults : undefined;
    // With fsync off nothing is durable, and a power loss is not simulated.
    const onSnapshotRename = data.fsync ? snapshotRenameHooks(data.dir, data.syncedPosition) : undefined;
    const onSegmentDeletion = data.fsync ? segmentDeletionHooks(data.syncedPosition) : undefined;
    const storage = openFileStorage(data.dir, {
      fsync: data.fsync,
      segmentBytes: data.segmentBytes,
      preallocate: data.preallocate,
      onSynced,
      onSnapshotRename,
      onSegmentDeletion,
      owner: { cluster: data.clusterId, node: data.id },
      testOnly,
    });
    const fault = data.testOnly.walFault;
    this.storage = fault !== undefined && fault.node === data.id ? withWalFault(storage, data.dir, fault.afterEntries, fault.fault) : storage;
    const { state, recovery } = this.storage.load();
    if (data.fsync) renamesDurableAfterLoad(data.dir, data.syncedPosition);
    this.hardState = state.hardState;
    this.node = new RawNode(
      createConfig({
        id: data.id,
        peers: data.peers,
        random: createPrng(data.seed),
        electionTicks: data.electionTicks,
        heartbeatTicks: data.heartbeatTicks,
        maxSnapshotChunkBytes: data.snapshotChunkBytes,
        maxSnapshotBytes: data.maxSnapshotBytes,
        // With fsync on, a leader's Readys are advanced before their fdatasync completes
        // (processReadies); other nodes sync first and advance them durable.
        asyncPersistence: data.fsync && data.testOnly.ackBeforeFsync !== true,
        // Applied entries leave the core's log at once and are read back from the WAL's
        // in-memory copy if a follower needs them: the heap no longer carries every entry
        // until the next compaction (lib/bench/README.md, "What each optimisation gained").
        entryLoader: (from, to) => {
          const entries = this.storage.entries(from, to);
          this.entriesReadBack += entries.length;
          return entries;
        },
        snapshotCheck: (snapshot) => this.checkSnapshot(snapshot.data, snapshot.index),
      }),
      state.entries.length > 0 || state.hardState.currentTerm > 0 || state.snapshot != null ? state : null,
    );
    this.membership = this.node.status().membership;
    this.updateAcceptedPeers();
    this.kv = new KvStateMachine({ disableSessions: data.testOnly.disableSessions === true });
    if (state.snapshot != null) this.restoreSnapshotOnStart(state.snapshot);
    this.softState = { role: Role.Follower, leaderId: 0 };
    this.log.info({ recovery, term: state.hardState.currentTerm }, 'node recovered');
    this.control.post({
      type: 'started',
      recovery: {
        entries: recovery.entries,
        segments: recovery.segments,
        truncatedBytes: recovery.truncatedBytes,
        durationMs: recovery.durationMs,
        term: state.hardState.currentTerm,
      },
    });
    transport.onReceive((from, bytes) => {
      try {
        this.onPeerBatch(from, bytes);
      } catch (error) {
        this.die(error);
      }
    });
    transport.onPeersChanged(() => this.updateAcceptedPeers());
    this.startTicking(data.tickMs);
    this.scheduleStatus();
    this.scheduleTurn();
  }

  // ---------------------------------------------------------------------------
  // Inputs

  onControl(message: ControlToNode): void {
    try {
      this.handleControl(message);
    } catch (error) {
      this.die(error);
    }
  }

  private handleControl(message: ControlToNode): void {
    if (this.stopped) return;
    switch (message.type) {
      case 'peer-port':
        this.transport.attach(message.peer, message.port);
        return;
      case 'propose-membership':
        this.onMembershipRequest(message.requestId, message.change, message.idempotent);
        this.scheduleTurn();
        return;
      case 'client-port':
        this.attachClient(message.port);
        return;
      case 'link-faults':
        this.transport.setFaults(message.faults);
        return;
      case 'campaign':
        this.node.campaign();
        this.scheduleTurn();
        return;
      case 'transfer':
        this.node.transferLeadership(message.to);
        this.scheduleTurn();
        return;
      case 'tick-ms':
        this.startTicking(message.tickMs);
        return;
      case 'stop':
        this.stop();
        return;
      default:
        assertNever(message);
    }
  }

  private updateAcceptedPeers(): void {
    const ids = new Set<NodeId>([this.id, ...this.transport.peers(), ...this.membership.voters, ...(this.membership.outgoing ?? []), ...this.membership.learners]);
    this.acceptedPeers = [...ids].sort((a, b) => a - b);
  }

  private attachClient(port: MessagePort): void {
    const client: ClientConnection = { port, replies: new ReplyBatchWriter() };
    this.clients.add(client);
    port.on('message', (bytes: unknown) => {
      try {
        this.onClientBatch(client, bytes);
      } catch (error) {
        this.die(error);
      }
    });
    port.on('close', () => this.clients.delete(client));
  }

  private onPeerBatch(from: NodeId, bytes: unknown): void {
    if (this.stopped) return;
    const { messages, malformed, reasons } = decodeRaftBatch(bytes, this.id, this.acceptedPeers);
    if (malformed > 0) this.countMalformed(malformed, `from node ${from}: ${reasons[0] ?? 'unknown reason'}`);
    for (const message of messages) {
      if (message.from !== from) {
        this.countMalformed(1, `node ${from} sent a message claiming to be from ${message.from}`);
        continue;
      }
      if (
        (message.type === MessageType.AppendEntries || message.type === MessageType.Heartbeat) &&
        message.term >= this.hardState.currentTerm
      ) {
        this.lastLeaderContactAt = Date.now();
      } else if (message.type === MessageType.InstallSnapshot) {
        this.snapshotChunksReceived++;
      }
      this.stepPeerMessage(from, message);
    }
    this.scheduleTurn();
  }

  /** Steps a peer's message into the core; one the core refuses (an answer about entries it never sent) is counted as malformed. */
  private stepPeerMessage(from: NodeId, message: Message): void {
    const refused = this.node.step(message);
    if (refused === null) return;
    this.countMalformed(1, `node ${from}: ${refused}`);
    if (message.type === MessageType.InstallSnapshot && refused.startsWith(MessageRefusalCode.SnapshotTooLarge)) {
      // Logged once per transfer, whatever else the rate-limited malformed line says: the
      // leader sends it again every while, and only a larger maxSnapshotBytes ends it.
      const transfer = `${from}@t${message.term}:${message.lastIncludedIndex}`;
      if (transfer !== this.tooLargeSnapshotLogged) {
        this.tooLargeSnapshotLogged = transfer;
        this.log.warn({ code: MessageRefusalCode.SnapshotTooLarge, leader: from, index: message.lastIncludedIndex, totalBytes: message.totalBytes, maxSnapshotBytes: this.data.maxSnapshotBytes }, `refused leader ${from}'s snapshot at index ${message.lastIncludedIndex}: ${message.totalBytes} bytes, above maxSnapshotBytes ${this.data.maxSnapshotBytes}`);
      }
    }
  }

  private onClientBatch(client: ClientConnection, bytes: unknown): void {
    if (this.stopped) return;
    const { frames, malformed, reasons, refused } = decodeClientBatch(bytes);
    if (malformed > 0) this.countMalformed(malformed, `from a client: ${reasons[0] ?? 'unknown reason'}`);
    for (const frame of refused) this.reply(client, frame.rid, { code: NodeReplyCode.MalformedRequest, message: `malformed request: ${frame.reason}` });
    for (const frame of frames) {
      if (frame.t === 'r') this.onRead(client, frame.rid, frame.key);
      else this.onWrite(client, frame.rid, frame.command);
    }
    this.scheduleTurn();
  }

  private onWrite(client: ClientConnection, rid: number, bytes: Uint8Array): void {
    // A plain ASCII put's value takes as many bytes stored as in the command, so it is
    // within the limit when the command is. Any other value may encode to more than it
    // took in the command, up to DECODED_VALUE_GROWTH times: the exact size check is
    // needed only for commands that could hold such a value past the limit.
    const vetted = bytes.length <= this.data.maxValueBytes && isCertainlyValidPut(bytes);
    if (!vetted) {
      try {
        // decodeCommand checks the shape, the key and the value.
        const command = decodeCommand(bytes);
        // A command from before session secrets names a session (by its guessable id, or
        // by a client id that `kv.id` shows) without its secret: it would let any program
        // push another client's floor. A WAL may hold such entries; a client may not send one.
        if (!isClientCommand(command)) {
          throw new KvError(KvErrorCode.MalformedCommand, `malformed command: a ${command.type} must carry its session's secret (a raftlab client from before session secrets?)`);
        }
        // A get through the log stores a copy of the value it read in its session, which
        // keeps 4,096 replies: 10-byte frames made every replica keep a MiB each, and write
        // it into every snapshot. A read is a read frame (ReadIndex); no raftlab client
        // proposes one. (A committed one, in a WAL, still applies as it did.)
        if (command.type === 'request' && command.operation.op === 'get') {
          throw new KvError(KvErrorCode.InvalidArgument, 'invalid argument: a get is not proposed through the log: send a read frame (ReadIndex)');
        }
        if (command.type === 'request' && bytes.length * DECODED_VALUE_GROWTH > this.data.maxValueBytes) validateOperation(command.operation, this.data.maxValueBytes);
        // An append is bounded by the limit in its entry (the state machine decides by
        // it, on every node alike): never more than this node takes, and never none (a
        // client from before the bound, or any other writer), so the leader puts its own.
        if (command.type === 'request' && command.operation.op === 'append') {
          const limit = command.maxValueBytes;
          if (limit === undefined || limit > this.data.maxValueBytes) bytes = encodeCommand({ ...command, maxValueBytes: this.data.maxValueBytes });
        }
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        this.reply(client, rid, {
          code: typeof code === 'string' ? code : NodeReplyCode.MalformedRequest,
          message: (error as Error).message,
        });
        return;
      }
    }
    this.proposalQueue.push({ client, rid, bytes, vetted, term: 0 });
  }

  /** Proposes up to `limit` queued writes; if some are left, another turn is scheduled. */
  private proposeQueued(limit = MAX_PROPOSALS_PER_TURN): void {
    const queue = this.proposalQueue;
    const end = Math.min(queue.length, this.queueHead + limit);
    for (let i = this.queueHead; i < end; i++) this.propose(queue[i]!);
    if (end === queue.length) {
      if (queue.length > 0) this.proposalQueue = [];
      this.queueHead = 0;
      return;
    }
    this.queueHead = end;
    this.scheduleTurn();
  }

  private propose(write: QueuedWrite): void {
    const result = this.node.propose(write.bytes);
    if (!result.ok) {
      this.reply(write.client, write.rid, { code: result.code, message: `node ${this.id}: ${result.code}`, leaderId: result.leaderId });
      return;
    }
    write.term = result.term;
    this.proposals.add(result.index, write);
  }

  private onRead(client: ClientConnection, rid: number, key: string): void {
    // A client checks its keys; a frame from elsewhere may not have been.
    const invalid = invalidKeyReason(key);
    if (invalid !== null) {
      this.reply(client, rid, { code: KvErrorCode.InvalidKey, message: invalid });
      return;
    }
    if (this.softState.role !== Role.Leader) {
      this.reply(client, rid, {
        code: NodeReplyCode.NotLeader,
        message: `node ${this.id} is not the leader`,
        leaderId: this.softState.leaderId,
      });
      return;
    }
    if (this.data.testOnly.staleReads === true) {
      // TEST-ONLY broken variant: answer from local state without confirming leadership.
      client.replies.ok(rid, this.kv.read(key));
      return;
    }
    this.readsAwaitingRound.push({ client, rid, key });
  }

  // ---------------------------------------------------------------------------
  // Membership changes (thesis §4)

  private onMembershipRequest(requestId: number, change: ClusterMembershipChange, idempotent: boolean): void {
    const status = this.node.status();
    if (idempotent && status.role === Role.Leader && membershipHolds(status.membership, change)) {
      // An earlier attempt's entry is in this leader's log already: once the log's last
      // entry now commits, that configuration entry has committed with it.
      if (status.lastLogIndex <= this.kv.appliedIndex) {
        this.answerMembership(requestId, { ok: true, index: status.lastLogIndex, membership: status.membership });
        return;
      }
      this.addMembershipWaiter({ requestId, change, index: status.lastLogIndex, term: status.lastLogTerm, heldMembership: status.membership, leaveAfter: false });
      return;
    }
    if (idempotent && change.type === 'joint' && status.role === Role.Leader && isJoint(status.membership) && sameMembership(leaveJoint(status.membership), change)) {
      // An earlier attempt's C_old,new is in this leader's log and C_new not yet: C_new comes after the last entry.
      this.leaveWaiters.push({ requestId, change, after: status.lastLogIndex });
      return;
    }
    const result = change.type === 'joint' ? this.node.proposeJointMembership({ voters: change.voters, learners: change.learners }) : this.node.proposeMembership(change);
    if (!result.ok) {
      this.answerMembership(requestId, {
        ok: false,
        code: result.code,
        message: `node ${this.id} refused to ${describeChange(change)}: ${result.code}${result.reason === null ? '' : ` (${result.reason}; the configuration is ${describeMembership(this.node.status().membership)})`}`,
        leaderId: result.leaderId,
        indeterminate: false,
      });
      return;
    }
    this.addMembershipWaiter({ requestId, change, index: result.index, term: result.term, heldMembership: null, leaveAfter: isJoint(this.node.status().membership) });
    this.log.info({ change, index: result.index, term: result.term }, 'membership change proposed');
  }


  private addMembershipWaiter(waiter: MembershipWaiter): void {
    let at = this.membershipWaiters.length;
    while (at > 0 && this.membershipWaiters[at - 1]!.index > waiter.index) at--;
    this.membershipWaiters.splice(at, 0, waiter);
  }

  /** Called for each applied entry while requests wait: the entry at their index tells their fate. */
  private settleMembershipWaiters(entry: Entry): void {
    if (this.leaveWaiters.length > 0 && entry.membership !== undefined && !isJoint(entry.membership)) {
      const membership = entry.membership;
      for (const waiter of this.leaveWaiters.splice(0)) {
        if (waiter.after < entry.index) this.answerMembership(waiter.requestId, { ok: true, index: entry.index, membership });
        else this.leaveWaiters.push(waiter);
      }
    }
    while (this.membershipWaiters.length > 0 && this.membershipWaiters[0]!.index <= entry.index) {
      const waiter = this.membershipWaiters.shift()!;
      if (waiter.index !== entry.index) {
        // Not seen applied (a snapshot carried this node past it): its fate is unknown here.
        this.answerMembership(waiter.requestId, this.unknownMembershipOutcome(waiter));
        continue;
      }
      const membership = waiter.heldMembership ?? entry.membership;
      if (waiter.term === entry.term && membership !== undefined && waiter.leaveAfter) {
        // C_old,new committed: the leader appends C_new at once (thesis §4.3).
        this.leaveWaiters.push({ requestId: waiter.requestId, change: waiter.change, after: entry.index });
        continue;
      }
      if (waiter.term === entry.term && membership !== undefined) {
        this.answerMembership(waiter.requestId, { ok: true, index: entry.index, membership });
        continue;
      }
      // §5.3 Log Matching: the committed entry at that index has another term, so the
      // entry this leader had there was overwritten and never commits. A definite failure:
      // the caller may try again.
      this.answerMembership(waiter.requestId, {
        ok: false,
        code: NodeReplyCode.LeadershipLost,
        message: `node ${this.id}: the entry to ${describeChange(waiter.change)} at index ${waiter.index} was replaced by another leader's entry`,
        leaderId: this.softState.leaderId,
        indeterminate: false,
      });
    }
  }

  /** A leader's snapshot jumped past requests not yet applied: whether their entries committed is unknown here. */
  /**
   * Membership requests still waiting once this node no longer leads (checked after each
   * Ready's entries are applied, so a change that commits as its leader steps down, a
   * leader removing itself, is answered ok first). The next leader finishes the change,
   * and a node the change leaves out is sent nothing after it (thesis §4.1, §4.3), so it
   * might never see the entry commit. The supervisor asks the next leader instead
   * (idempotently: it answers once the configuration it holds has committed).
   */
  private handOffMembershipWaiters(): void {
    for (const waiter of [...this.membershipWaiters.splice(0), ...this.leaveWaiters.splice(0)]) {
      this.answerMembership(waiter.requestId, {
        ok: false,
        code: NodeReplyCode.LeadershipLost,
        message: `node ${this.id} lost leadership before the change to ${describeChange(waiter.change)} was seen committed: ask the next leader`,
        leaderId: this.softState.leaderId,
        indeterminate: true,
      });
    }
  }

  private abandonMembershipWaitersUpTo(index: LogIndex): void {
    // A snapshot may hold C_new: whether it committed is unknown here.
    for (const waiter of this.leaveWaiters.splice(0)) {
      this.answerMembership(waiter.requestId, {
        ok: false,
        code: NodeReplyCode.LeadershipLost,
        message: `node ${this.id} installed a snapshot while waiting for the end of the joint change to ${describeChange(waiter.change)}: its outcome is unknown`,
        leaderId: this.softState.leaderId,
        indeterminate: true,
      });
    }
    while (this.membershipWaiters.length > 0 && this.membershipWaiters[0]!.index <= index) {
      const waiter = this.membershipWaiters.shift()!;
      this.answerMembership(waiter.requestId, this.unknownMembershipOutcome(waiter));
    }
  }

  private unknownMembershipOutcome(waiter: MembershipWaiter): MembershipResult {
    return {
      ok: false,
      code: NodeReplyCode.LeadershipLost,
      message: `node ${this.id} installed a snapshot past the entry to ${describeChange(waiter.change)}: its outcome is unknown`,
      leaderId: this.softState.leaderId,
      indeterminate: true,
    };
  }

  private answerMembership(requestId: number, result: MembershipResult): void {
    this.control.post({ type: 'membership-result', requestId, result });
  }

  /** Ready.membership: the configuration this node uses changed (a new entry, a truncation or a snapshot). */
  private onMembership(membership: Membership): void {
    this.membership = membership;
    this.updateAcceptedPeers();
    this.log.info({ voters: membership.voters, learners: membership.learners, outgoing: membership.outgoing }, 'configuration changed');
  }

  // ---------------------------------------------------------------------------
  // The turn

  private scheduleTurn(): void {
    if (this.turnScheduled || this.stopped) return;
    this.turnScheduled = true;
    const delayMs = this.followerTurnDelayMs();
    if (delayMs > 0) setTimeout(this.runTurn, delayMs);
    else setImmediate(this.runTurn);
  }

  /**
   * Group commit by delay: a follower's turn waits until followerSyncSpacingMs after its
   * last fdatasync began, so that the AppendEntries that arrive meanwhile (each stepped
   * into the core as it comes) share one write, one fdatasync and one acknowledgement.
   * A follower otherwise writes and fdatasyncs back to back whenever entries wait, and on
   * a virtual machine whose disk slows while its CPUs are busy that kept a 5- or 7-node
   * cluster's CPUs busy at half its peak (lib/bench/README.md, "The seventeenth session's look at the
   * tail"; ClusterOptions.followerSyncSpacingMs). Nothing is acknowledged sooner than
   * before: the turn only comes later.
   */
  private followerTurnDelayMs(): number {
    const spacingMs = this.data.followerSyncSpacingMs;
    if (spacingMs <= 0 || !this.data.fsync || this.softState.role !== Role.Follower) return 0;
    return this.lastInlineSyncStartedAt + spacingMs - performance.now();
  }

  private readonly runTurn = (): void => {
    try {
      this.turn();
    } catch (error) {
      this.die(error);
    }
  };

  private turn(): void {
    this.turnScheduled = false;
    if (this.stopped) return;
    this.proposeQueued();
    this.startReadRound();
    this.processReadies();
    this.continueSnapshot();
  }

  /**
   * Handles Readys until there are none. With fsync on, a leader persists asynchronously
   * (thesis §10.2.1): a Ready's entries and hard state go to the WAL, its messages go out,
   * its fdatasync starts on libuv's thread pool, its committed entries are applied and
   * the core advances at once, with advance({ durable: false }); the fdatasync runs
   * meanwhile, and only when it completes does the core learn (persisted()) that the
   * entries are durable and do the Ready's messagesAfterPersist (acknowledgements, vote
   * grants) go out. So the leader keeps proposing, replicating and applying while its
   * disk works, and one fdatasync covers everything appended since the previous one began
   * (group commit); a second may start while one runs (startSync). Started before the
   * apply rather than after the turn's last Ready, it made a 1-node write's p99 lower in
   * 8 of 10 open-loop pairs (lib/bench/README.md, "What each optimisation gained").
   *
   * Every other node syncs on its own thread before it sends what depends on the write,
   * as etcd's followers do (persistsInline). A follower has nothing to overlap its disk
   * with but the next AppendEntries, which queue on its port meanwhile and make the next
   * group commit larger; handing each fdatasync to the pool and back cost more than the
   * fdatasync itself here (lib/bench/README.md, "What each optimisation gained").
   */
  private processReadies(synchronous = false): void {
    const asynchronous = this.data.fsync && !synchronous && !this.persistsInline() && this.data.testOnly.ackBeforeFsync !== true;
    while (this.node.hasReady()) {
      const ready = this.node.ready();
      const mustSync = this.persistAndSend(ready);
      if (this.data.testOnly.ackBeforeFsync === true) {
        // TEST-ONLY broken variant: acknowledge before the records are durable.
        this.send(ready.messagesAfterPersist);
        this.applyAndAdvance(ready, true);
        continue;
      }
      if (!asynchronous) {
        // Earlier asynchronous writes (before a stop) are covered by this sync too.
        const dirty = this.unsynced.dirty;
        const held = this.takeUnsynced();
        if (mustSync || dirty) this.syncStorage();
        this.send(held.messages);
        this.send(ready.messagesAfterPersist);
        // A durable advance covers every Ready before it too.
        this.applyAndAdvance(ready, true);
        continue;
      }
      if (mustSync) this.unsynced.dirty = true;
      // Nothing written and not yet durable: this Ready need not wait for anything.
      const durable = this.syncsInFlight.length === 0 && !this.unsynced.dirty;
      if (durable) this.send(ready.messagesAfterPersist);
      else this.unsynced.messages.push(...ready.messagesAfterPersist);
      // The fdatasync of these writes starts now, before the committed entries are applied
      // (a few hundred at a time on a busy leader): its disk works meanwhile. The batch gets
      // its token from advance() below, before its callback can run (a later turn).
      const started = durable ? null : this.startSync();
      const token = this.applyAndAdvance(ready, durable);
      if (!durable) (started ?? this.unsynced).token = token;
    }
    // Writes held back while two fdatasyncs ran (onSynced comes here with no new Ready).
    if (asynchronous) this.startSync();
    if (this.data.testOnly.ackBeforeFsync === true && Date.now() - this.lastSyncAt >= BUGGY_SYNC_INTERVAL_MS) {
      this.syncStorage();
    }
    this.serveReads();
    this.flushClients();
    this.flushEvents();
  }

  /**
   * True when this node's next writes are synced on its own thread: it is not the leader,
   * and nothing it wrote as leader waits for the pool (an fdatasync running there, or
   * writes made meanwhile, which the next one takes): those finish the asynchronous way
   * first, so the two ways never mix.
   */
  private persistsInline(): boolean {
    return this.softState.role !== Role.Leader && this.syncsInFlight.length === 0 && !this.unsynced.dirty;
  }

  /**
   * Starts an fdatasync of everything appended since the last one began, unless
   * MAX_ASYNC_SYNCS are running: a second one starts while a slow one runs, so what was
   * written meanwhile need not wait for it to end before its own fdatasync begins. The
   * storage reports them in order, each covering those before it.
   */
  private startSync(): SyncBatch | null {
    if (this.syncsInFlight.length >= MAX_ASYNC_SYNCS || !this.unsynced.dirty) return null;
    const batch = this.takeUnsynced();
    this.syncsInFlight.push(batch);
    this.storage.syncAsync((error, latencyMs) => {
      try {
        this.onSynced(batch, error, latencyMs);
      } catch (thrown) {
        this.die(thrown);
      }
    });
    return batch;
  }

  private onSynced(batch: SyncBatch, error: Error | null, latencyMs: number): void {
    // A WAL that cannot be synced cannot promise anything: stop (die() tells why).
    if (error !== null) throw error;
    assert(this.syncsInFlight[0] === batch, () => `node ${this.id}: an fdatasync was reported out of order`);
    this.syncsInFlight.shift();
    this.recordSync(latencyMs);
    if (batch.token !== null) this.node.persisted(batch.token);
    this.send(batch.messages);
    // Held messages with no write after them depended only on what just became durable.
    if (this.syncsInFlight.length === 0 && !this.unsynced.dirty) this.releaseUnsynced();
    if (this.stopAfterSync) {
      if (this.syncsInFlight.length === 0) this.stop();
      return;
    }
    this.processReadies();
  }

  private takeUnsynced(): SyncBatch {
    const { token, messages } = this.unsynced;
    this.unsynced = { token: null, messages: [], dirty: false };
    return { token, messages };
  }

  /** Once a sync covers every append so far (never between ready() and advance()): what waited may go. */
  private releaseUnsynced(): void {
    const { token, messages } = this.takeUnsynced();
    if (token !== null) this.node.persisted(token);
    this.send(messages);
  }

  /** All reads that arrived since the last turn share one ReadIndex round (one heartbeat broadcast). */
  private startReadRound(): void {
    if (this.readsAwaitingRound.length === 0) return;
    const reads = this.readsAwaitingRound;
    this.readsAwaitingRound = [];
    const context = this.nextReadContext++;
    const result = this.node.readIndex(context);
    if (result.ok) {
      this.readsInRound.set(context, reads);
      return;
    }
    for (const read of reads) {
      this.reply(read.client, read.rid, { code: result.code, message: `node ${this.id}: ${result.code}`, leaderId: result.leaderId });
    }
  }

  /** Step 1 of a Ready: buffer entries and hard state, send what may go now. Returns
   *  whether an fdatasync must happen before the rest. */
  private persistAndSend(ready: Ready): boolean {
    // Term and vote are announced before the role they bring: a 1-node cluster's Ready
    // holds its new term, its own vote and its leadership at once, and an embedder reads
    // 'leader-elected' for a term only after that term's 'term-changed'.
    if (ready.hardState !== null) this.announceHardState(ready.hardState);
    if (ready.softState !== null) this.onSoftState(ready.softState);
    if (ready.membership !== null) this.onMembership(ready.membership);
    if (ready.snapshot !== null) this.persistSnapshot(ready.snapshot);
    // A snapshot checked and stepped is in the first Ready after it, or the core did not take it.
    this.checkedSnapshot = null;
    if (ready.entries.length > 0) {
      this.storage.append(ready.entries);
      this.entriesPersisted += ready.entries.length;
      this.rememberEntries(ready.entries);
    }
    // Term and vote must be durable before any message that depends on them; entries
    // before they are acknowledged. commitIndex alone need not be (Figure 2 keeps it
    // volatile): a commit-only change rides along with the next sync instead of paying
    // an fdatasync of its own.
    let mustSync = ready.entries.length > 0;
    if (ready.hardState !== null) {
      this.storage.setHardState(ready.hardState);
      mustSync ||= ready.hardState.currentTerm !== this.hardState.currentTerm || ready.hardState.votedFor !== this.hardState.votedFor;
      this.onHardState(ready.hardState);
    }
    this.send(ready.messages);
    return mustSync;
  }

  /** The rest of a Ready: install a leader's snapshot, apply, note read states, advance
   *  (durable: its writes are synced), compact if it is time. */
  private applyAndAdvance(ready: Ready, durable: boolean): PersistToken {
    if (ready.snapshot !== null) {
      this.installSnapshot(ready.snapshot);
      this.abandonMembershipWaitersUpTo(ready.snapshot.index);
    }
    this.apply(ready.committedEntries);
    if ((this.leaveWaiters.length > 0 || this.membershipWaiters.length > 0) && this.softState.role !== Role.Leader) this.handOffMembershipWaiters();
    for (const readState of ready.readStates) {
      const reads = this.readsInRound.get(readState.context);
      if (reads === undefined) continue;
      this.readsInRound.delete(readState.context);
      this.readsAwaitingApply.push({ index: readState.index, reads });
    }
    const token = this.node.advance({ durable });
    this.maybeCompact();
    return token;
  }

  private syncStorage(): void {
    this.lastInlineSyncStartedAt = performance.now();
    this.recordSync(this.storage.sync());
  }

  private recordSync(latencyMs: number): void {
    this.lastSyncAt = Date.now();
    if (latencyMs > 0) {
      this.fsyncLatencyTotalMs += latencyMs;
      this.fsyncCountSinceStatus++;
      for (let i = 0; i < SLOW_FSYNC_THRESHOLDS_MS.length && latencyMs > SLOW_FSYNC_THRESHOLDS_MS[i]!; i++) this.slowFsyncs[i]!++;
    }
  }

  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    for (const message of messages) {
      if (message.type !== MessageType.AppendEntries) continue;
      this.appendEntriesSent++;
      this.entriesSent += message.entries.length;
    }
    if (messages.length === 1) {
      const only = messages[0]!;
      this.transport.send(only.to, encodeRaftBatch(messages));
      return;
    }
    const byPeer = new Map<NodeId, Message[]>();
    for (const message of messages) {
      const batch = byPeer.get(message.to);
      if (batch === undefined) byPeer.set(message.to, [message]);
      else batch.push(message);
    }
    // One encode for a broadcast that every follower gets alike, a copy for each.
    for (const [peer, bytes] of encodeRaftBatches(byPeer)) this.transport.send(peer, bytes);
  }

  private apply(entries: readonly Entry[]): void {
    for (const entry of entries) {
      // A configuration entry has no data: the state machine takes it as a no-op. Its
      // commit is the moment the change is done (thesis §4.1).
      if (this.membershipWaiters.length > 0 || this.leaveWaiters.length > 0) this.settleMembershipWaiters(entry);
      const proposal = this.proposals.take(entry.index);
      if (proposal === undefined) {
        this.kv.apply(entry.index, entry.data);
        if (entry.membership !== undefined) this.log.info({ index: entry.index, voters: entry.membership.voters, learners: entry.membership.learners }, 'configuration committed');
        continue;
      }
      if (proposal.term !== entry.term) {
        this.kv.apply(entry.index, entry.data);
        this.reply(proposal.client, proposal.rid, {
          code: NodeReplyCode.LeadershipLost,
          message: `node ${this.id}: the write at index ${entry.index} was replaced by another leader's entry`,
        });
        continue;
      }
      // Our own entry (its term is the proposal's): the bytes checked on arrival.
      const reply = this.kv.apply(entry.index, entry.data, proposal.vetted);
      assert(reply !== null, () => `the proposal at index ${entry.index} has no command bytes`);
      const { client, rid } = proposal;
      if (reply.ok) client.replies.ok(rid, reply.value);
      else this.reply(client, rid, { code: reply.code, message: reply.message });
    }
  }

  // ---------------------------------------------------------------------------
  // Snapshots and log compaction (§7)

  /**
   * At start: the state machine resumes from the durable snapshot; the core already starts
   * after it. A snapshot file whose frame checks out but whose data is not a snapshot of
   * this index is a damaged file too (SNAPSHOT_CORRUPT): this node stays down, the others start.
   */
  private restoreSnapshotOnStart(snapshot: Snapshot): void {
    try {
      this.kv.adoptState(this.restoreChecked(snapshot.data, snapshot.index));
    } catch (error) {
      if (!(error instanceof KvError)) throw error;
      throw new SnapshotCorruptionError(join(this.data.dir, SNAPSHOT_FILE_NAME), 0, `a state machine snapshot at index ${snapshot.index}`, error.message);
    }
    this.snapshotIndex = snapshot.index;
    this.log.info({ snapshotIndex: snapshot.index, snapshotTerm: snapshot.term, bytes: snapshot.data.byteLength }, 'state machine restored from snapshot');
  }

  /**
   * A new state machine restored from a snapshot's bytes, which are checked in full: a
   * KvError MALFORMED_SNAPSHOT if they are not a state machine snapshot at `index`.
   */
  private restoreChecked(data: Uint8Array, index: LogIndex): KvStateMachine {
    const machine = this.kv.restoredFrom(data);
    if (machine.appliedIndex !== index) {
      throw new KvError(KvErrorCode.MalformedSnapshot, `malformed snapshot: it holds a state machine applied up to ${machine.appliedIndex}, not to its index ${index}`);
    }
    return machine;
  }

  /**
   * Config.snapshotCheck: a leader's snapshot, whole, before the core takes it. Its last
   * chunk would replace the core's log (Figure 13), and the Ready that follows makes the
   * snapshot durable and cuts the WAL before the state machine is reset from it, so bytes
   * that are not a state machine snapshot (the wire checks only a chunk's framing) would
   * cost this node its log and state, and then crash it. So the snapshot is restored into
   * a new state machine here, which its Ready installs (persistSnapshot), or refused: the
   * core then changes nothing and the host counts the message as malformed.
   */
  private checkSnapshot(data: Uint8Array, index: LogIndex): string | null {
    const started = performance.now();
    try {
      const machine = this.restoreChecked(data, index);
      this.checkedSnapshot = { data, machine, restoreMs: Math.round((performance.now() - started) * 10) / 10 };
      return null;
    } catch (error) {
      if (!(error instanceof KvError)) throw error;
      return `not a state machine snapshot: ${error.message}`;
    }
  }

  /**
   * Ready step 1 for a leader's snapshot: durable before the entries that follow it and
   * before its acknowledgement, and restored before that (checkSnapshot).
   */
  private persistSnapshot(snapshot: Snapshot): void {
    const checked = this.checkedSnapshot;
    assert(checked !== null && checked.data === snapshot.data, () => `node ${this.id}: the leader's snapshot at index ${snapshot.index} reached the core's Ready unchecked`);
    this.snapshotToInstall = { machine: checked.machine, restoreMs: checked.restoreMs };
    const started = performance.now();
    this.storage.saveSnapshot(snapshot);
    this.snapshotSaveMs = Math.round((performance.now() - started) * 10) / 10;
    this.snapshotIndex = snapshot.index;
    this.recentEntries = [];
  }

  /** Ready step 4 for a leader's snapshot: "Reset state machine using snapshot contents" (restored in step 1, before it was made durable). */
  private installSnapshot(snapshot: Snapshot): void {
    const restored = this.snapshotToInstall;
    this.snapshotToInstall = null;
    assert(restored !== null && restored.machine.appliedIndex === snapshot.index, () => `node ${this.id}: the leader's snapshot at index ${snapshot.index} was not restored before it was made durable`);
    const appliedBefore = this.kv.appliedIndex;
    this.kv.adoptState(restored.machine);
    const restoreMs = restored.restoreMs;
    // Chunks of an abandoned transfer (a leader change midway) count too: these are the messages it took.
    const chunks = this.snapshotChunksReceived;
    this.snapshotChunksReceived = 0;
    const text = `node ${this.id} installed a snapshot from leader ${this.softState.leaderId} at index ${snapshot.index} (was at ${appliedBefore}, ${snapshot.data.byteLength} bytes in ${chunks} chunks), written in ${this.snapshotSaveMs} ms and restored in ${restoreMs} ms`;
    this.event(EventKind.SnapshotInstalled, text, this.hardState.currentTerm);
    this.log.info({ snapshotIndex: snapshot.index, snapshotTerm: snapshot.term, appliedBefore, bytes: snapshot.data.byteLength, chunks, saveMs: this.snapshotSaveMs, restoreMs }, 'snapshot installed');
  }

  /**
   * Once per snapshotEntries applied entries: snapshot the state machine, drop the log it
   * covers, and (once the snapshot file is durable, written off this thread) the WAL
   * segments with it. A crash before then restarts from the previous snapshot and a WAL
   * that still holds everything after it. The state machine is serialised a slice per
   * turn (KvStateMachine.beginSnapshot): all of it at once took 13-64 ms under load, a
   * stall every client of the node waited out.
   */
  private maybeCompact(): void {
    if (this.compactionInFlight || this.kv.snapshotInProgress !== null || this.heldSnapshot !== null) return;
    if (!this.compactionDue(this.kv.appliedIndex)) return;
    this.compactionStartedAt = performance.now();
    this.kv.beginSnapshot();
    this.scheduleTurn();
  }

  /**
   * True while this node, a leader, should not yet compact to `index`: a recently
   * active follower still needs entries up to it (MAX_DEFERRED_COMPACTION_PERIODS says for
   * how long at most; MAX_ENTRIES_HELD_FOR_A_SNAPSHOT_TRANSFER for a follower being sent
   * the current snapshot or catching up from it). Compacting would leave that follower
   * only a whole snapshot.
   */
  private deferCompaction(index: number): boolean {
    const followers = this.node.followersNeeding(index);
    const held = this.kv.appliedIndex - this.snapshotIndex;
    const bounded =
      held < MAX_DEFERRED_COMPACTION_PERIODS * this.data.snapshotEntries ||
      (followers > 0 && held < MAX_ENTRIES_HELD_FOR_A_SNAPSHOT_TRANSFER && this.node.followersRecoveringFromSnapshot(index) > 0);
    const defer = followers > 0 && bounded;
    if (!defer) {
      if (this.compactionDeferralTold && followers > 0) {
        this.log.warn({ followers, index, snapshotIndex: this.snapshotIndex, applied: this.kv.appliedIndex }, 'compaction no longer deferred: the log reached its bound');
      }
      this.compactionDeferredSince = null;
      this.compactionDeferralTold = false;
      return false;
    }
    // A follower a batch behind is past the index within milliseconds: only a hold that
    // lasts is worth telling (a leader holds most of its compactions for a moment).
    const now = performance.now();
    this.compactionDeferredSince ??= now;
    if (!this.compactionDeferralTold && now - this.compactionDeferredSince >= COMPACTION_DEFERRAL_TOLD_AFTER_MS) {
      this.compactionDeferralTold = true;
      this.log.info({ followers, index, snapshotIndex: this.snapshotIndex, applied: this.kv.appliedIndex }, 'compaction deferred while followers need its entries');
      this.event(EventKind.Info, `node ${this.id} defers compacting its log to ${index} while ${followers} follower(s) still need entries up to it`, this.hardState.currentTerm);
    }
    return true;
  }

  /** At the end of a turn: one slice of the snapshot in progress; once it is complete, the compaction proper. */
  private continueSnapshot(): void {
    if (this.heldSnapshot !== null) {
      if (this.compactionInFlight || this.deferCompaction(this.heldSnapshot.index)) return;
      const { index, data, serializedMs } = this.heldSnapshot;
      this.heldSnapshot = null;
      this.compactWith(index, data, serializedMs);
      return;
    }
    const index = this.kv.snapshotInProgress;
    if (index === null || this.compactionInFlight) return;
    const deadline = performance.now() + SNAPSHOT_MS_PER_TURN;
    let data = this.kv.snapshotStep(SNAPSHOT_KEYS_PER_SLICE);
    while (data === null && performance.now() < deadline) data = this.kv.snapshotStep(SNAPSHOT_KEYS_PER_SLICE);
    if (data === null) {
      // Not done: go on next turn even if nothing else happens.
      this.scheduleTurn();
      return;
    }
    const serializedMs = Math.round((performance.now() - this.compactionStartedAt) * 10) / 10;
    if (this.deferCompaction(index)) {
      this.heldSnapshot = { index, data, serializedMs };
      return;
    }
    this.compactWith(index, data, serializedMs);
  }

  /** The compaction proper: the core takes the snapshot at `index`, then its file is written off this thread and the WAL cut. */
  private compactWith(index: number, data: Uint8Array, serializedMs: number): void {
    const started = this.compactionStartedAt;
    const metadata = this.node.compact(index, data);
    if (metadata === null) {
      // A leader's snapshot, installed meanwhile, is newer: nothing took these bytes.
      this.kv.recycleSnapshot(data);
      return;
    }
    // The core now holds this snapshot, not the previous one, whose file is written
    // (compactions do not overlap) and which no message refers to (the Readys before this
    // turn's end were all handled): its memory goes to the next snapshot.
    if (this.ownSnapshotBytes !== null) this.kv.recycleSnapshot(this.ownSnapshotBytes);
    this.ownSnapshotBytes = data;
    const snapshot = { ...metadata, data };
    this.compactionInFlight = true;
    this.storage.saveSnapshotAsync(snapshot, (error, saved) => {
      this.compactionInFlight = false;
      if (this.stopped) return;
      try {
        // A WAL that cannot record its snapshot cannot promise anything: stop (die() tells why).
        if (error !== null) throw error;
        if (!saved) return; // a leader's snapshot, installed meanwhile, superseded it
        this.snapshotIndex = Math.max(this.snapshotIndex, snapshot.index);
        const durationMs = Math.round((performance.now() - started) * 10) / 10;
        this.event(EventKind.LogCompacted, `node ${this.id} compacted its log up to index ${snapshot.index} (snapshot of ${data.byteLength} bytes)`, this.hardState.currentTerm);
        this.log.info({ snapshotIndex: snapshot.index, snapshotTerm: snapshot.term, bytes: data.byteLength, serializedMs, durationMs }, 'log compacted');
      } catch (thrown) {
        this.die(thrown);
      }
    });
  }

  /**
   * Every node compacts once per snapshotEntries applied entries, each at its own phase:
   * the node ranked r of n compacts when its applied index passes r/n of the way through
   * a period (and never within half a period of its last snapshot). All nodes apply the
   * same indexes, so without the phase they all compacted at once, and the synchronous
   * snapshot write (50-130 ms under load on this machine) stalled the whole cluster
   * together: p99 at 40k writes/s was 82-130 ms with compaction, 27-35 ms without.
   */
  private compactionDue(applied: number): boolean {
    const period = this.data.snapshotEntries;
    if (applied - this.snapshotIndex < Math.ceil(period / 2)) return false;
    const phase = this.compactionPhase;
    return Math.floor((applied - phase) / period) > Math.floor((this.snapshotIndex - phase) / period);
  }

  private serveReads(): void {
    if (this.readsAwaitingApply.length === 0) return;
    const applied = this.kv.appliedIndex;
    let served = 0;
    for (const batch of this.readsAwaitingApply) {
      if (batch.index > applied) break;
      for (const read of batch.reads) read.client.replies.ok(read.rid, this.kv.read(read.key));
      served++;
    }
    if (served > 0) this.readsAwaitingApply = this.readsAwaitingApply.slice(served);
  }

  private reply(client: ClientConnection, rid: number, error: { code: string; message: string; leaderId?: NodeId }): void {
    client.replies.error(rid, error.code, error.message, error.leaderId ?? this.softState.leaderId);
  }

  private flushClients(): void {
    for (const client of this.clients) {
      if (client.replies.count === 0) continue;
      const bytes = client.replies.take();
      client.port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
    }
  }

  // ---------------------------------------------------------------------------
  // State changes, events and status

  private onSoftState(next: SoftState): void {
    const previous = this.softState;
    this.softState = next;
    if (previous.role === Role.Leader && next.role !== Role.Leader) this.failPendingOnLeadershipLoss();
    if (previous.role !== next.role) {
      const term = this.node.status().currentTerm;
      switch (next.role) {
        case Role.PreCandidate:
          this.event(EventKind.ElectionStarted, `node ${this.id} starts a pre-vote for term ${term + 1}`, term);
          break;
        case Role.Candidate:
          this.event(EventKind.ElectionStarted, `node ${this.id} starts an election for term ${term}`, term);
          break;
        case Role.Leader:
          this.event(EventKind.LeaderElected, `node ${this.id} is LEADER for term ${term}`, term);
          break;
        case Role.Follower:
          this.event(EventKind.RoleChanged, `node ${this.id} is a follower in term ${term}`, term);
          break;
        default:
          assertNever(next.role);
      }
      this.log.info({ role: next.role, term, leaderId: next.leaderId }, 'role changed');
    }
    if (next.leaderId !== previous.leaderId && next.leaderId !== 0) this.lastLeaderContactAt = Date.now();
    // A leader that steps down (cut off: CheckQuorum) led until now, so it last had a leader
    // now: counted from its election instead, the dashboard's CONTACT showed a node deposed
    // a second ago as out of touch for as long as it had led.
    if (previous.role === Role.Leader && next.role !== Role.Leader) this.lastLeaderContactAt = Date.now();
  }

  /** The events of a new term and a new vote; onHardState takes the state itself after. */
  private announceHardState(next: HardState): void {
    const previous = this.hardState;
    if (next.currentTerm !== previous.currentTerm) {
      this.event(EventKind.TermChanged, `node ${this.id} moves to term ${next.currentTerm}`, next.currentTerm);
      this.log.info({ term: next.currentTerm }, 'term changed');
    }
    if (next.votedFor !== 0 && (next.votedFor !== previous.votedFor || next.currentTerm !== previous.currentTerm)) {
      const whom = next.votedFor === this.id ? 'itself' : `node ${next.votedFor}`;
      this.event(EventKind.VoteGranted, `node ${this.id} votes for ${whom} in term ${next.currentTerm}`, next.currentTerm);
      this.log.info({ term: next.currentTerm, votedFor: next.votedFor }, 'voted');
    }
  }

  private onHardState(next: HardState): void {
    const previous = this.hardState;
    this.hardState = next;
    if (this.softState.role === Role.Leader && next.commitIndex !== previous.commitIndex) {
      const now = Date.now();
      if (now - this.lastCommitEventAt >= COMMIT_EVENT_INTERVAL_MS) {
        this.lastCommitEventAt = now;
        this.event(EventKind.Commit, `leader ${this.id} has committed up to index ${next.commitIndex}`, next.currentTerm);
      }
    }
  }

  /** Proposals still in flight may yet commit under the next leader: their outcome is unknown. */
  private failPendingOnLeadershipLoss(): void {
    for (const waiter of this.proposals.takeAll()) {
      this.reply(waiter.client, waiter.rid, {
        code: NodeReplyCode.LeadershipLost,
        message: `node ${this.id} lost leadership before the write was applied`,
      });
    }
    const reads = [...this.readsAwaitingRound, ...[...this.readsInRound.values()].flat(), ...this.readsAwaitingApply.flatMap((b) => b.reads)];
    this.readsAwaitingRound = [];
    this.readsInRound.clear();
    this.readsAwaitingApply = [];
    for (const read of reads) {
      this.reply(read.client, read.rid, { code: NodeReplyCode.NotLeader, message: `node ${this.id} lost leadership` });
    }
  }

  private rememberEntries(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    this.recentEntries = this.recentEntries.filter((entry) => entry.index < first);
    const tail = entries.length > RECENT_ENTRIES_KEPT ? entries.slice(entries.length - RECENT_ENTRIES_KEPT) : entries;
    this.recentEntries.push(...tail);
    if (this.recentEntries.length > RECENT_ENTRIES_KEPT) {
      this.recentEntries = this.recentEntries.slice(this.recentEntries.length - RECENT_ENTRIES_KEPT);
    }
  }

  private event(kind: ClusterEvent['kind'], text: string, term?: number): void {
    this.pendingEvents.push(term === undefined ? { kind, node: this.id, text } : { kind, node: this.id, text, term });
  }

  private flushEvents(): void {
    if (this.pendingEvents.length === 0) return;
    this.control.post({ type: 'events', events: this.pendingEvents });
    this.pendingEvents = [];
  }

  private countMalformed(count: number, reason: string): void {
    this.malformedMessages += count;
    const now = Date.now();
    if (now - this.lastMalformedLogAt >= MALFORMED_LOG_INTERVAL_MS) {
      this.lastMalformedLogAt = now;
      this.log.warn({ count: this.malformedMessages, reason }, 'dropped malformed message');
    }
  }

  status(): NodeStatus {
    const status = this.node.status();
    const stats = this.storage.stats();
    const commitIndex = status.commitIndex;
    const recentEntries: EntrySummary[] = this.recentEntries.map((entry) => ({
      index: entry.index,
      term: entry.term,
      committed: entry.index <= commitIndex,
      text: entry.membership === undefined ? describeCommand(entry.data) : `config: ${describeMembership(entry.membership)}`,
    }));
    const fsyncLatencyMs = this.fsyncCountSinceStatus > 0 ? this.fsyncLatencyTotalMs / this.fsyncCountSinceStatus : null;
    return {
      id: this.id,
      alive: true,
      role: status.role,
      term: status.currentTerm,
      votedFor: status.votedFor,
      leaderId: status.leaderId,
      commitIndex,
      appliedIndex: this.kv.appliedIndex,
      lastLogIndex: status.lastLogIndex,
      lastLogTerm: status.lastLogTerm,
      snapshotIndex: status.snapshotIndex,
      electionElapsedTicks: status.electionElapsedTicks,
      electionTimeoutTicks: status.electionTimeoutTicks,
      lastLeaderContactMs:
        status.role === Role.Leader || this.lastLeaderContactAt === null ? null : Date.now() - this.lastLeaderContactAt,
      walBytes: stats.walBytes,
      walFiles: stats.files,
      fsyncLatencyMs,
      slowFsyncs: [...this.slowFsyncs],
      membership: status.membership,
      membershipIndex: status.membershipIndex,
      learner: memberKind(status.membership, this.id) === 'learner',
      progress: status.progress.map((peer) => ({
        id: peer.id,
        learner: peer.learner,
        matchIndex: peer.matchIndex,
        nextIndex: peer.nextIndex,
        state: peer.state,
        inflight: peer.inflight,
        ...(peer.snapshotBytes === undefined ? {} : { snapshotBytes: peer.snapshotBytes }),
      })),
      recentEntries,
      logTerms: this.storage.termRuns(STATUS_TERM_RUNS),
      malformedMessages: this.malformedMessages,
      fsyncCount: stats.fsyncCount,
      entriesPersisted: this.entriesPersisted,
      appendEntriesSent: this.appendEntriesSent,
      entriesSent: this.entriesSent,
      entriesReadBack: this.entriesReadBack,
      walSparesUsed: stats.sparesUsed,
      reportedAt: Date.now(),
    };
  }

  /**
   * The next status at the next multiple of statusIntervalMs on the wall clock, which
   * every node's thread shares, plus a millisecond per node id: the nodes report within a
   * few milliseconds of one another, so under load their statuses differ by the entries of
   * those milliseconds, not of up to a whole interval (the dashboard's log strip lines
   * their rows up by index), and their reports (0.1-0.2 ms each under load, most of it
   * describing the recent entries) do not all want the two cores at once.
   */
  private scheduleStatus(): void {
    if (this.stopped) return;
    const intervalMs = this.data.statusIntervalMs;
    const phaseMs = (this.id - 1) % STATUS_PHASE_SPREAD_MS;
    const untilNext = intervalMs - ((Date.now() - phaseMs) % intervalMs);
    // A timer that ran a hair early does not report twice in a row.
    this.statusTimer = setTimeout(() => {
      try {
        this.postStatus();
        this.scheduleStatus();
      } catch (error) {
        this.die(error);
      }
    }, untilNext < intervalMs / 4 ? untilNext + intervalMs : untilNext);
  }

  private postStatus(): void {
    if (this.stopped) return;
    this.control.post({ type: 'status', status: this.status() });
    this.fsyncLatencyTotalMs = 0;
    this.fsyncCountSinceStatus = 0;
  }

  private startTicking(tickMs: number): void {
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.tickTimer = setInterval(() => {
      if (this.stopped) return;
      try {
        this.node.tick();
        this.scheduleTurn();
      } catch (error) {
        this.die(error);
      }
    }, tickMs);
  }

  /**
   * An error escaped the node's loop (every entry to it, from a timer, a port or a storage
   * callback, comes here): the worker ends with that error, uncaught, and the supervisor
   * reports it by its code: an I/O failure of the node's own files (WAL_IO) as a disk
   * failure, anything else (a violated invariant, any bug) as a crash. First node.log gets
   * a fatal line naming it (for a disk failure: code, errno, path). Nothing of the node
   * runs after this.
   */
  private die(error: unknown): never {
    if (!this.dead) {
      this.dead = true;
      this.stopped = true;
      if (this.tickTimer !== null) clearInterval(this.tickTimer);
      if (this.statusTimer !== null) clearTimeout(this.statusTimer);
      const failure = diskFailure(error);
      try {
        if (failure === null) this.log.fatal({ err: error }, 'node crashed');
        else this.log.fatal({ err: error, code: failure.code, errno: failure.errno, syscall: failure.syscall, path: failure.path }, 'node stopped: its disk failed');
      } catch {
        // The log's disk may be the one that failed: the supervisor still reports the error.
      }
    }
    throw error;
  }

  stop(): void {
    if (this.stopped) return;
    if (this.syncsInFlight.length > 0) {
      // The fdatasyncs in flight must complete first; onSynced comes back here.
      this.stopAfterSync = true;
      return;
    }
    // Finish the work already accepted, synchronously, so what was acknowledged is on disk.
    this.proposeQueued(Number.POSITIVE_INFINITY);
    this.processReadies(true);
    this.syncStorage();
    this.releaseUnsynced();
    this.stopped = true;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    if (this.statusTimer !== null) clearTimeout(this.statusTimer);
    this.storage.close();
    this.transport.close();
    for (const client of this.clients) client.port.close();
    this.log.info('node stopped');
    this.control.post({ type: 'stopped' });
  }
}

