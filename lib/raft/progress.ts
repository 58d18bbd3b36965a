// The leader's view of one follower (Figure 2: nextIndex[], matchIndex[]) and the flow
// control on top of it (etcd raft's tracker/ package):
//  - Probe: we do not know where the follower's log matches ours. Send one AppendEntries
//    and wait for its answer (or a heartbeat response) before sending another, so a
//    diverged follower is not flooded with messages it will reject.
//  - Replicate: the match point is known. Advance nextIndex optimistically and pipeline
//    up to maxInflightAppends messages.
//  - Snapshot: the entries the follower needs were compacted away, so an InstallSnapshot
//    (§7) is outstanding. Send nothing else until it answers (or seems lost), then probe
//    from what it reports.

import { assert } from './assert.js';
import { ProgressState } from './types.js';
import type { LogIndex, NodeId, PeerProgress } from './types.js';

/** A bounded FIFO of the last index carried by each unacknowledged AppendEntries. */
export class Inflights {
  readonly #capacity: number;
  readonly #lastIndexes: LogIndex[];
  #start = 0;
  #count = 0;

  constructor(capacity: number) {
    assert(capacity >= 1, () => `inflight capacity must be >= 1, got ${capacity}`);
    this.#capacity = capacity;
    this.#lastIndexes = new Array<LogIndex>(capacity).fill(0);
  }

  get count(): number {
    return this.#count;
  }

  full(): boolean {
    return this.#count === this.#capacity;
  }

  add(lastIndex: LogIndex): void {
    assert(!this.full(), () => `inflight window overflow (capacity ${this.#capacity})`);
    this.#lastIndexes[(this.#start + this.#count) % this.#capacity] = lastIndex;
    this.#count++;
  }

  /** Acknowledge every message whose last index is <= index (acks are cumulative). */
  freeUpTo(index: LogIndex): void {
    while (this.#count > 0 && this.#lastIndexes[this.#start]! <= index) {
      this.#start = (this.#start + 1) % this.#capacity;
      this.#count--;
    }
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
  }
}

export class Progress {
  readonly id: NodeId;
  /** Highest index known replicated on this follower. Invariant: matchIndex < nextIndex. */
  matchIndex: LogIndex = 0;
  /** Index of the next entry to send. */
  nextIndex: LogIndex;
  state: ProgressState = ProgressState.Probe;
  /** Probe only: an AppendEntries is outstanding; wait for its answer or a heartbeat response. */
  probeSent = false;
  /** Highest commit index this follower was told in an AppendEntries: avoids redundant commit-only messages. */
  sentCommitIndex: LogIndex = 0;
  /**
   * Heartbeat intervals answered (the first answer of each counted) while entries were
   * outstanding and matchIndex did not move; in snapshot state, heartbeat intervals
   * answered without a chunk acknowledged.
   */
  stalledHeartbeatResponses = 0;
  /** The leader's heartbeat round whose first answer from this follower was counted. */
  heartbeatRoundCounted = -1;
  /** The leader's heartbeat round in which this follower last answered anything (RawNode.followersNeeding). */
  heardAtRound = 0;
  /** Snapshot only: the index of the snapshot sent. */
  pendingSnapshotIndex: LogIndex = 0;
  /** The last of this leader's snapshots the follower was learned to have stored (RawNode.followersRecoveringFromSnapshot). */
  installedSnapshotIndex: LogIndex = 0;
  /** Snapshot only: where the last chunk sent ends (Figure 13: the follower acknowledges holding this many bytes). */
  snapshotSentTo = 0;
  /** Snapshot only: the most bytes the follower said it holds; the chunks between this and snapshotSentTo are in flight. */
  snapshotAcked = 0;
  /** Snapshot only: the offset the leader last went back to after a gap was reported (-1: none), so that the other answers reporting the same gap do not send the same chunks again. */
  snapshotResentFrom = -1;
  /** Heard from this follower since the last CheckQuorum round. */
  recentActive = true;
  /** A learner (thesis §4.2.1): replicated to like any follower, never counted in a quorum. */
  learner = false;
  readonly inflights: Inflights;

  constructor(id: NodeId, nextIndex: LogIndex, maxInflightAppends: number) {
    this.id = id;
    this.nextIndex = nextIndex;
    this.inflights = new Inflights(maxInflightAppends);
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  becomeProbe(): void {
    this.state = ProgressState.Probe;
    this.probeSent = false;
    this.stalledHeartbeatResponses = 0;
    this.pendingSnapshotIndex = 0;
    this.inflights.reset();
    this.nextIndex = Math.max(this.nextIndex, this.matchIndex + 1);
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.inflights.reset();
    this.nextIndex = this.matchIndex + 1;
  }

  /** An InstallSnapshot of the snapshot ending at `snapshotIndex` was just sent. */
  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.state = ProgressState.Snapshot;
    this.probeSent = false;
    this.stalledHeartbeatResponses = 0;
    this.pendingSnapshotIndex = snapshotIndex;
    this.snapshotSentTo = 0;
    this.snapshotAcked = 0;
    this.snapshotResentFrom = -1;
    this.inflights.reset();
  }

  /** Record an AppendEntries just sent whose entries end at lastIndex (count = number of entries). */
  sentAppend(lastIndex: LogIndex, entryCount: number): void {
    switch (this.state) {
      case ProgressState.Probe:
        this.probeSent = true;
        return;
      case ProgressState.Replicate:
        if (entryCount > 0) {
          this.nextIndex = lastIndex + 1;
          this.inflights.add(lastIndex);
        }
        return;
      case ProgressState.Snapshot:
        assert(false, () => `an AppendEntries was sent to ${this.id} while its snapshot is outstanding`);
    }
  }

  /** A successful AppendEntriesResponse for `index`: returns false for a stale (duplicate or reordered) ack. */
  maybeUpdate(index: LogIndex): boolean {
    if (index <= this.matchIndex) return false;
    this.matchIndex = index;
    this.stalledHeartbeatResponses = 0;
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * A rejection of prevLogIndex `rejectedIndex`, with the follower's hint already turned
   * into a proposed next index by the caller. Returns false when the rejection is stale
   * (it answers a message older than the current probe or below the match point).
   */
  maybeDecreaseTo(rejectedIndex: LogIndex, hintNextIndex: LogIndex): boolean {
    if (rejectedIndex <= this.matchIndex) return false;
    // A late answer to an append sent before the snapshot: the snapshot's answer decides.
    if (this.state === ProgressState.Snapshot) return false;
    if (this.state === ProgressState.Probe && rejectedIndex !== this.nextIndex - 1) return false;
    // Never below matchIndex + 1 (known good) nor above the rejected point.
    this.nextIndex = Math.max(this.matchIndex + 1, Math.min(hintNextIndex, rejectedIndex));
    this.probeSent = false;
    return true;
  }

  /** `snapshotTotalBytes`: the size of the snapshot being sent, when it is the one this progress is sending. */
  snapshot(snapshotTotalBytes: number | null = null): PeerProgress {
    const peer: PeerProgress = {
      id: this.id,
      matchIndex: this.matchIndex,
      nextIndex: this.nextIndex,
      state: this.state,
      inflight: this.inflights.count,
      recentActive: this.recentActive,
      learner: this.learner,
    };
    if (this.state !== ProgressState.Snapshot || snapshotTotalBytes === null) return peer;
    return { ...peer, snapshotBytes: { total: snapshotTotalBytes, sent: this.snapshotSentTo, acknowledged: this.snapshotAcked } };
  }
}

