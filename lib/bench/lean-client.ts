// A lean client for the benchmark's load generators. It speaks exactly the wire protocol
// of lib/cluster/client.ts (protocol.ts frames carrying lib/kv encodeCommand bytes, one
// session per client id, (clientId, seq) exactly-once), but is built for many thousands
// of requests per second from one thread:
//   - callbacks instead of a promise chain per attempt,
//   - one timeout sweep per interval instead of a timer per request,
//   - ackedBelow tracked incrementally instead of Math.min over the outstanding set.
// Measured on this machine, KvClient spent more CPU per write in the generator than the
// leader spent committing it, and on 2 cores that CPU is taken from the cluster.
//
// Retry rules (the same as KvClient's): a refusal that proves nothing was proposed
// (NOT_LEADER, LEADERSHIP_TRANSFER_IN_PROGRESS, PROPOSAL_QUEUE_FULL) is resent with the
// same bytes, so the same (clientId, seq). Anything that may have been proposed and is
// not answered (LEADERSHIP_LOST, timeout, lost connection) ends the request as an
// indeterminate error: the benchmark counts it and never counts it as acknowledged.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import type { Command } from '../kv/command.js';
import { FrameBatcher, NodeReplyCode, decodeReplyBatch } from '../cluster/protocol.js';
import type { Reply } from '../cluster/protocol.js';
import type { JsonValue } from '../cluster/types.js';
import type { NodeId } from '../raft/types.js';

export const LEAN_CLIENT_LIMITS = {
  /** How often outstanding requests are checked against their deadline. */
  timeoutSweepMs: 100,
  /** Pause before resending when no leader is known or the leader's queue is full. */
  retryBackoffMs: 25,
} as const;

export interface RequestFailure {
  readonly code: string;
  /** True when the request may have been applied. */
  readonly indeterminate: boolean;
}

/** Runs once per request: failure null and the value read (null for writes), or a failure. */
export type RequestDone = (failure: RequestFailure | null, value: JsonValue) => void;

const Failure = {
  Timeout: 'TIMEOUT',
  ConnectionLost: 'CONNECTION_LOST',
  Closed: 'CLIENT_CLOSED',
} as const;

interface Session {
  readonly clientId: string;
  nextSeq: number;
  /** Every seq below this has been answered: the session may forget their replies. */
  ackedBelow: number;
  readonly outstanding: Set<number>;
}

interface Pending {
  /** A write's command, or null for a linearizable read of `key`. Encoded as it is sent:
   *  the encoding is deterministic, so a resend carries the same bytes. */
  readonly command: Command | null;
  readonly key: string;
  readonly deadline: number;
  readonly done: RequestDone;
  readonly session: Session | null;
  readonly seq: number;
  node: NodeId;
}

export class LeanClient {
  private readonly ports = new Map<NodeId, MessagePort>();
  private readonly batcher = new FrameBatcher(
    (node) => this.ports.get(node),
    (rid) => this.fail(rid, { code: Failure.ConnectionLost, indeterminate: false }),
    (frames) => {
      this.wire.requestFrames += frames;
      this.wire.requestMessages++;
    },
  );
  private readonly pending = new Map<number, Pending>();
  private readonly sessions: Session[] = [];
  private nextRid = 1;
  private closed = false;
  private leaderHint: NodeId;
  private readonly sweep: ReturnType<typeof setInterval>;
  /** Batching as the client sees it: frames and port messages each way. */
  readonly wire = { requestFrames: 0, requestMessages: 0, replyFrames: 0, replyMessages: 0 };

  constructor(
    private readonly nodeIds: readonly NodeId[],
    ports: readonly { readonly node: NodeId; readonly port: MessagePort }[],
    private readonly timeoutMs: number,
  ) {
    this.leaderHint = nodeIds[0] ?? 1;
    for (const { node, port } of ports) {
      this.ports.set(node, port);
      port.on('message', (bytes: unknown) => this.onReplies(bytes));
      port.on('close', () => this.failNode(node));
    }
    this.sweep = setInterval(() => this.expire(), LEAN_CLIENT_LIMITS.timeoutSweepMs);
  }

  /** Opens `count` sessions (thesis §6.3); resolves when all are registered. */
  async openSessions(count: number): Promise<void> {
    const registrations: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const clientId = randomUUID();
      const session: Session = { clientId, nextSeq: 1, ackedBelow: 1, outstanding: new Set() };
      registrations.push(
        new Promise<void>((resolve, reject) => {
          this.submit({ type: 'register', clientId }, '', null, 0, (failure) => {
            if (failure === null) resolve();
            else reject(new Error(`bench client: registering a session failed: ${failure.code}`));
          });
        }),
      );
      this.sessions.push(session);
    }
    await Promise.all(registrations);
  }

  get sessionCount(): number {
    return this.sessions.length;
  }

  /** A put through session `sessionIndex`; `done` runs once, after commit and apply. */
  put(sessionIndex: number, key: string, value: JsonValue, done: RequestDone): void {
    const session = this.sessions[sessionIndex];
    if (session === undefined) throw new Error(`bench client: no session ${sessionIndex} (have ${this.sessions.length})`);
    const seq = session.nextSeq++;
    session.outstanding.add(seq);
    this.submit({ type: 'request', clientId: session.clientId, seq, ackedBelow: session.ackedBelow, operation: { op: 'put', key, value } }, key, session, seq, done);
  }

  /** A linearizable read (ReadIndex at the leader); `done` gets the value, null if absent. */
  get(key: string, done: RequestDone): void {
    this.submit(null, key, null, 0, done);
  }

  private submit(command: Command | null, key: string, session: Session | null, seq: number, done: RequestDone): void {
    const rid = this.nextRid++;
    const request: Pending = { command, key, deadline: performance.now() + this.timeoutMs, done, session, seq, node: this.leaderHint };
    if (this.closed) {
      this.finish(request, { code: Failure.Closed, indeterminate: false });
      return;
    }
    this.send(rid, request);
  }

  private send(rid: number, request: Pending): void {
    this.pending.set(rid, request);
    if (request.command === null) this.batcher.enqueueRead(request.node, rid, request.key);
    else this.batcher.enqueueCommand(request.node, rid, request.command);
  }

  private onReplies(bytes: unknown): void {
    let replies: Reply[];
    try {
      replies = decodeReplyBatch(bytes);
    } catch {
      return; // A garbled batch: its requests time out and are counted as errors.
    }
    this.wire.replyFrames += replies.length;
    this.wire.replyMessages++;
    for (const reply of replies) this.onReply(reply);
  }

  private onReply(reply: Reply): void {
    const request = this.pending.get(reply.rid);
    if (request === undefined) return;
    this.pending.delete(reply.rid);
    if (reply.ok) {
      this.leaderHint = request.node;
      this.finish(request, null, reply.value);
      return;
    }
    switch (reply.code) {
      case NodeReplyCode.NotLeader:
      case NodeReplyCode.Transferring:
      case NodeReplyCode.ProposalQueueFull:
        this.retry(request, reply.code === NodeReplyCode.ProposalQueueFull ? request.node : reply.leaderId);
        return;
      case NodeReplyCode.LeadershipLost:
        this.finish(request, { code: reply.code, indeterminate: request.command !== null });
        return;
      default:
        // The state machine's own answer or a refusal of the request: final. Every
        // earlier attempt was refused unproposed, so nothing happened.
        this.finish(request, { code: reply.code, indeterminate: false });
    }
  }

  /** Resends the same bytes (same clientId and seq), to `node` or, if unknown, the next one. */
  private retry(request: Pending, node: NodeId): void {
    const known = node !== 0 && this.ports.has(node);
    const redirected = known && node !== request.node;
    const target = known ? node : this.nextNode(request.node);
    this.leaderHint = target;
    request.node = target;
    const resend = (): void => {
      // Every attempt so far was refused before it was proposed: nothing happened.
      if (this.closed) {
        this.finish(request, { code: Failure.Closed, indeterminate: false });
        return;
      }
      if (performance.now() > request.deadline) {
        this.finish(request, { code: Failure.Timeout, indeterminate: false });
        return;
      }
      this.send(this.nextRid++, request);
    };
    // Redirected to a known leader: go now. Otherwise wait out an election or a full queue.
    if (redirected) resend();
    else setTimeout(resend, LEAN_CLIENT_LIMITS.retryBackoffMs);
  }

  private nextNode(node: NodeId): NodeId {
    const position = this.nodeIds.indexOf(node);
    return this.nodeIds[(position + 1) % this.nodeIds.length] ?? node;
  }

  private fail(rid: number, failure: RequestFailure): void {
    const request = this.pending.get(rid);
    if (request === undefined) return;
    this.pending.delete(rid);
    this.finish(request, failure);
  }

  private finish(request: Pending, failure: RequestFailure | null, value: JsonValue = null): void {
    const session = request.session;
    if (session !== null) {
      // A finished request is never sent again (the bench does not retry what may have
      // been applied), so the session may forget its reply: advance the floor past it.
      session.outstanding.delete(request.seq);
      while (session.ackedBelow < session.nextSeq && !session.outstanding.has(session.ackedBelow)) session.ackedBelow++;
    }
    request.done(failure, value);
  }

  private failNode(node: NodeId): void {
    this.ports.delete(node);
    for (const [rid, request] of this.pending) {
      if (request.node !== node) continue;
      this.pending.delete(rid);
      this.finish(request, { code: Failure.ConnectionLost, indeterminate: request.command !== null });
    }
  }

  private expire(): void {
    const now = performance.now();
    for (const [rid, request] of this.pending) {
      if (now <= request.deadline) continue;
      this.pending.delete(rid);
      // A write sent and unanswered may sit in a leader's log; a read changed nothing.
      this.finish(request, { code: Failure.Timeout, indeterminate: request.command !== null });
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    for (const [rid, request] of this.pending) {
      this.pending.delete(rid);
      this.finish(request, { code: Failure.Closed, indeterminate: request.command !== null });
    }
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}
