// The leader's queue of ReadIndex requests (thesis §6.4), in the spirit of etcd raft's
// readOnly: reads wait first for the leader's first commit in its term, then for a
// quorum of heartbeat acknowledgements proving it was still leader when they arrived.

import type { LogIndex, NodeId, ReadState } from './types.js';

/** A ReadIndex round waiting for a quorum of heartbeat acknowledgements. */
interface PendingRead {
  readonly context: number;
  /** commitIndex when the round started: the read may be served once applied >= index. */
  readonly index: LogIndex;
  readonly acknowledgedBy: Set<NodeId>;
}

export class ReadIndexQueue {
  readonly #leaderId: NodeId;
  /** Whether these acknowledgements (the leader's own included) are a quorum of the configuration in use. */
  readonly #hasQuorum: (acknowledgedBy: ReadonlySet<NodeId>) => boolean;
  /** Requests that arrived before the leader committed an entry of its term. */
  #awaitingCommit: number[] = [];
  /** Rounds waiting for acknowledgements, oldest first. */
  #awaitingQuorum: PendingRead[] = [];

  constructor(leaderId: NodeId, hasQuorum: (acknowledgedBy: ReadonlySet<NodeId>) => boolean) {
    this.#leaderId = leaderId;
    this.#hasQuorum = hasQuorum;
  }

  get size(): number {
    return this.#awaitingCommit.length + this.#awaitingQuorum.length;
  }

  deferUntilCommit(context: number): void {
    this.#awaitingCommit.push(context);
  }

  takeDeferred(): number[] {
    const contexts = this.#awaitingCommit;
    this.#awaitingCommit = [];
    return contexts;
  }

  /** Start a round at read index `index`; returns the ReadState at once when the leader alone is a quorum. */
  start(context: number, index: LogIndex): ReadState | null {
    const acknowledgedBy = new Set([this.#leaderId]);
    if (this.#hasQuorum(acknowledgedBy)) return { index, context };
    this.#awaitingQuorum.push({ context, index, acknowledgedBy });
    return null;
  }

  /** The newest round's context, re-sent on every heartbeat so a lost round is retried (0: none). */
  newestContext(): number {
    return this.#awaitingQuorum[this.#awaitingQuorum.length - 1]?.context ?? 0;
  }

  /**
   * A heartbeat response for `context` proves `from` accepted us as leader after that
   * round (and every earlier one) started: acknowledge them all, then release the
   * longest prefix that has a quorum.
   */
  acknowledge(from: NodeId, context: number): ReadState[] {
    const position = this.#awaitingQuorum.findIndex((read) => read.context === context);
    if (position < 0) return [];
    for (let index = 0; index <= position; index++) this.#awaitingQuorum[index]!.acknowledgedBy.add(from);
    let released = 0;
    for (let index = position; index >= 0; index--) {
      if (this.#hasQuorum(this.#awaitingQuorum[index]!.acknowledgedBy)) {
        released = index + 1;
        break;
      }
    }
    return this.#awaitingQuorum.splice(0, released).map((read) => ({ index: read.index, context: read.context }));
  }
}
