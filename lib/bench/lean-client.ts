// A lean client for the benchmark's load generators. It speaks exactly the wire protocol
// of lib/cluster/client.ts (protocol.ts frames carrying lib/kv encodeCommand bytes, one
// session per client id, (session id, seq) exactly-once), but is built for many thousands
// of requests per second from one thread:
//   - no object, closure or string per request: a request is a slot in parallel arrays,
//     named to the caller by a numeric tag; the caller writes a put's key and value
//     straight into the outgoing batch (LeanRequests.writePut) and hears the outcome
//     through one method (LeanRequests.done),
//   - each session's id is encoded once (putPrefix), not once per put,
//   - one timeout sweep per interval instead of a timer per request,
//   - ackedBelow tracked incrementally, over a ring of answered flags per session,
//   - one clock read per batch of replies (done() is given it) and none per request sent
//     (a deadline is only checked every timeoutSweepMs, so it is set from the time of
//     the last batch of replies or sweep).
// Measured on this machine, KvClient spent more CPU per write in the generator than the
// leader spent committing it, and on 2 cores that CPU is taken from the cluster; and a
// string built per put (the value) was what kept half of the generator's young
// generation alive through each scavenge.
//
// Retry rules (the same as KvClient's): a refusal that proves nothing was proposed
// (NOT_LEADER, LEADERSHIP_TRANSFER_IN_PROGRESS, PROPOSAL_QUEUE_FULL) is resent with the
// same bytes, so the same (session id, seq). Anything that may have been proposed and is
// not answered (LEADERSHIP_LOST, timeout, lost connection) ends the request as an
// indeterminate error: the benchmark counts it and never counts it as acknowledged.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { isSessionId, putPrefix, writePutHead } from '../kv/command.js';
import { FrameBatcher, NodeReplyCode, decodeReplyBatch } from '../cluster/protocol.js';
import type { Reply } from '../cluster/protocol.js';
import type { JsonValue } from '../cluster/types.js';
import type { NodeId } from '../raft/types.js';
import type { MsgpackWriter } from '../transport/msgpack-writer.js';
import { RidTable } from './rid-table.js';
import { drawSessionSecret } from '../cluster/session-secret.js';

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

/** What the client asks of its caller, per request tag (the caller's own number for the request). */
export interface LeanRequests {
  /**
   * Writes put `tag`'s key and then its value, as two msgpack values. Called again for a
   * resend, which must write the same bytes (the caller keeps the put's key and value
   * fixed until done()).
   */
  writePut(out: MsgpackWriter, tag: number): void;
  /**
   * Request `tag` is over, exactly once: failure null and the value read (null for a put),
   * or why not. `now` is performance.now() when its reply arrived (or it failed).
   */
  done(tag: number, failure: RequestFailure | null, value: JsonValue, now: number): void;
}

const Failure = {
  Timeout: 'TIMEOUT',
  ConnectionLost: 'CONNECTION_LOST',
  Closed: 'CLIENT_CLOSED',
} as const;

const Kind = { Put: 0, Get: 1, Register: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

const INITIAL_SEQ_WINDOW = 64;
/** A session's prefix until its registration returns its id. */
const NOT_REGISTERED = new Uint8Array(0);

interface Session {
  readonly clientId: string;
  /** The session's secret (drawSessionSecret), in its register and every put's prefix. */
  readonly secret: number;
  /** putPrefix(session id): the first bytes of every put of this session, once registered. */
  prefix: Uint8Array;
  nextSeq: number;
  /** Every seq below this has been answered: the session may forget their replies. */
  ackedBelow: number;
  /**
   * Seqs from ackedBelow to nextSeq - 1, by seq & (length - 1): 1 once answered. A ring
   * longer than that window (it doubles when a put would fill it).
   */
  answered: Uint8Array;
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
  private readonly sessions: Session[] = [];
  /** Registrations in flight, by tag (a Register slot's tag indexes this): told the failure, or the reply's value. */
  private readonly registrations: ((failure: RequestFailure | null, value: JsonValue) => void)[] = [];
  // One slot per request in flight, in parallel arrays (a put's seq and ackedBelow are
  // fixed at its first send, so a resend carries the same bytes).
  private readonly slotKind: Kind[] = [];
  private readonly slotTag: number[] = [];
  private readonly slotSession: number[] = [];
  private readonly slotSeq: number[] = [];
  private readonly slotAckedBelow: number[] = [];
  private readonly slotNode: NodeId[] = [];
  private readonly slotDeadline: number[] = [];
  /** A get's key ('' for other kinds). */
  private readonly slotKey: string[] = [];
  private readonly freeSlots: number[] = [];
  /** The slot of each rid sent and not yet answered. */
  private readonly slotOfRid = new RidTable();
  private nextRid = 1;
  /** performance.now() at the last batch of replies or sweep: deadlines are set from it. */
  private clock = performance.now();
  private closed = false;
  private leaderHint: NodeId;
  private readonly sweep: ReturnType<typeof setInterval>;
  /** Batching as the client sees it: frames and port messages each way. */
  readonly wire = { requestFrames: 0, requestMessages: 0, replyFrames: 0, replyMessages: 0 };

  constructor(
    private readonly nodeIds: readonly NodeId[],
    ports: readonly { readonly node: NodeId; readonly port: MessagePort }[],
    private readonly timeoutMs: number,
    private readonly requests: LeanRequests,
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
      const sessionIndex = this.sessions.length;
      const session: Session = { clientId, secret: drawSessionSecret(), prefix: NOT_REGISTERED, nextSeq: 1, ackedBelow: 1, answered: new Uint8Array(INITIAL_SEQ_WINDOW) };
      this.sessions.push(session);
      registrations.push(
        new Promise<void>((resolve, reject) => {
          const tag = this.registrations.length;
          this.registrations.push((failure, value) => {
            if (failure !== null) reject(new Error(`bench client: registering a session failed: ${failure.code}`));
            else if (!isSessionId(value)) reject(new Error(`bench client: registering returned ${JSON.stringify(value)}, not a session id`));
            else {
              session.prefix = putPrefix(value, session.secret);
              resolve();
            }
          });
          this.submit(Kind.Register, tag, sessionIndex, 0, '');
        }),
      );
    }
    await Promise.all(registrations);
  }

  get sessionCount(): number {
    return this.sessions.length;
  }

  /** Put `tag` (key and value from requests.writePut) through session `sessionIndex`; done after commit and apply. */
  put(sessionIndex: number, tag: number): void {
    const session = this.sessions[sessionIndex];
    if (session === undefined) throw new Error(`bench client: no session ${sessionIndex} (have ${this.sessions.length})`);
    if (session.prefix === NOT_REGISTERED) throw new Error(`bench client: session ${sessionIndex} is not registered yet`);
    if (session.nextSeq - session.ackedBelow + 1 >= session.answered.length) growSeqWindow(session);
    const seq = session.nextSeq++;
    session.answered[seq & (session.answered.length - 1)] = 0;
    this.submit(Kind.Put, tag, sessionIndex, seq, '');
  }

  /** A linearizable read (ReadIndex at the leader) of `key`; done gets the value, null if absent. */
  get(key: string, tag: number): void {
    this.submit(Kind.Get, tag, -1, 0, key);
  }

  private submit(kind: Kind, tag: number, sessionIndex: number, seq: number, key: string): void {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotKind.length;
      this.slotKind.push(kind);
      this.slotTag.push(tag);
      this.slotSession.push(sessionIndex);
      this.slotSeq.push(seq);
      this.slotAckedBelow.push(0);
      this.slotNode.push(this.leaderHint);
      this.slotDeadline.push(0);
      this.slotKey.push(key);
    } else {
      this.slotKind[slot] = kind;
      this.slotTag[slot] = tag;
      this.slotSession[slot] = sessionIndex;
      this.slotSeq[slot] = seq;
      this.slotNode[slot] = this.leaderHint;
      this.slotKey[slot] = key;
    }
    this.slotAckedBelow[slot] = kind === Kind.Put ? this.sessions[sessionIndex]!.ackedBelow : 0;
    this.slotDeadline[slot] = this.clock + this.timeoutMs;
    if (this.closed) {
      this.finish(slot, { code: Failure.Closed, indeterminate: false });
      return;
    }
    this.send(slot);
  }

  private send(slot: number): void {
    const rid = this.nextRid++;
    this.slotOfRid.set(rid, slot);
    const node = this.slotNode[slot]!;
    switch (this.slotKind[slot]!) {
      case Kind.Put: {
        const batch = this.batcher.batchFor(node);
        const out = batch.beginWrite(rid);
        writePutHead(out, this.sessions[this.slotSession[slot]!]!.prefix, this.slotSeq[slot]!, this.slotAckedBelow[slot]!);
        this.requests.writePut(out, this.slotTag[slot]!);
        batch.endWrite();
        return;
      }
      case Kind.Get:
        this.batcher.enqueueRead(node, rid, this.slotKey[slot]!);
        return;
      case Kind.Register:
        const session = this.sessions[this.slotSession[slot]!]!;
        this.batcher.batchFor(node).writeCommand(rid, { type: 'register', clientId: session.clientId, secret: session.secret });
        return;
    }
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
    this.clock = performance.now();
    for (const reply of replies) this.onReply(reply);
  }

  private onReply(reply: Reply): void {
    const slot = this.slotOfRid.get(reply.rid);
    if (slot === undefined) return;
    this.slotOfRid.delete(reply.rid);
    if (reply.ok) {
      this.leaderHint = this.slotNode[slot]!;
      this.finish(slot, null, reply.value);
      return;
    }
    switch (reply.code) {
      case NodeReplyCode.NotLeader:
      case NodeReplyCode.Transferring:
      case NodeReplyCode.ProposalQueueFull:
        this.retry(slot, reply.code === NodeReplyCode.ProposalQueueFull ? this.slotNode[slot]! : reply.leaderId);
        return;
      case NodeReplyCode.LeadershipLost:
        this.finish(slot, { code: reply.code, indeterminate: this.mayHaveApplied(slot) });
        return;
      default:
        // The state machine's own answer or a refusal of the request: final. Every
        // earlier attempt was refused unproposed, so nothing happened.
        this.finish(slot, { code: reply.code, indeterminate: false });
    }
  }

  /** Resends the same bytes (same session and seq), to `node` or, if unknown, the next one. */
  private retry(slot: number, node: NodeId): void {
    const current = this.slotNode[slot]!;
    const known = node !== 0 && this.ports.has(node);
    const redirected = known && node !== current;
    const target = known ? node : this.nextNode(current);
    this.leaderHint = target;
    this.slotNode[slot] = target;
    const resend = (): void => {
      // Every attempt so far was refused before it was proposed: nothing happened.
      if (this.closed) {
        this.finish(slot, { code: Failure.Closed, indeterminate: false });
        return;
      }
      this.clock = performance.now();
      if (this.clock > this.slotDeadline[slot]!) {
        this.finish(slot, { code: Failure.Timeout, indeterminate: false });
        return;
      }
      this.send(slot);
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
    const slot = this.slotOfRid.get(rid);
    if (slot === undefined) return;
    this.slotOfRid.delete(rid);
    this.clock = performance.now();
    this.finish(slot, failure);
  }

  /** Ends the request in `slot` and frees the slot, then tells whoever asked. */
  private finish(slot: number, failure: RequestFailure | null, value: JsonValue = null): void {
    const kind = this.slotKind[slot]!;
    const tag = this.slotTag[slot]!;
    if (kind === Kind.Put) {
      // A finished request is never sent again (the bench does not retry what may have
      // been applied), so the session may forget its reply: advance the floor past it.
      const session = this.sessions[this.slotSession[slot]!]!;
      const mask = session.answered.length - 1;
      session.answered[this.slotSeq[slot]! & mask] = 1;
      while (session.ackedBelow < session.nextSeq && session.answered[session.ackedBelow & mask] === 1) session.ackedBelow++;
    }
    this.slotKey[slot] = '';
    this.freeSlots.push(slot);
    if (kind === Kind.Register) this.registrations[tag]!(failure, value);
    else this.requests.done(tag, failure, value, this.clock);
  }

  /** May `slot`'s request have been applied if it ends unanswered now? (Only a get certainly was not.) */
  private mayHaveApplied(slot: number): boolean {
    return this.slotKind[slot] !== Kind.Get;
  }

  private failNode(node: NodeId): void {
    this.ports.delete(node);
    this.clock = performance.now();
    for (const [rid, slot] of this.slotOfRid.entries()) {
      if (this.slotNode[slot] !== node) continue;
      this.slotOfRid.delete(rid);
      this.finish(slot, { code: Failure.ConnectionLost, indeterminate: this.mayHaveApplied(slot) });
    }
  }

  private expire(): void {
    const now = performance.now();
    this.clock = now;
    for (const [rid, slot] of this.slotOfRid.select((_rid, slot) => now > this.slotDeadline[slot]!)) {
      this.slotOfRid.delete(rid);
      // A write sent and unanswered may sit in a leader's log; a read changed nothing.
      this.finish(slot, { code: Failure.Timeout, indeterminate: this.mayHaveApplied(slot) });
    }
  }

  close(): void {
    this.closed = true;
    this.clock = performance.now();
    clearInterval(this.sweep);
    for (const [rid, slot] of this.slotOfRid.entries()) {
      this.slotOfRid.delete(rid);
      this.finish(slot, { code: Failure.Closed, indeterminate: this.mayHaveApplied(slot) });
    }
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}

/** Doubles a session's ring of answered flags, keeping the flags of its open window. */
function growSeqWindow(session: Session): void {
  const from = session.answered;
  const to = new Uint8Array(from.length * 2);
  for (let seq = session.ackedBelow; seq < session.nextSeq; seq++) to[seq & (to.length - 1)] = from[seq & (from.length - 1)]!;
  session.answered = to;
}
