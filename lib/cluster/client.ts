// Clients of the replicated store.
//
// A ClientHub owns one MessagePort to every node and multiplexes any number of
// KvClients over them, batching frames per port per microtask. It works in any thread:
// the supervisor's, or a benchmark worker that was handed its own ports.
//
// A KvClient is one session (thesis §6.3): a unique client id, numbered requests, and
// retries that reuse the request's number, so that a write retried after a leader died
// between commit and reply is answered from the session instead of applied again.

import { randomUUID } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
import { KV_LIMITS, KvErrorCode, encodeCommand, isSessionId, validateOperation } from '../kv/command.js';
import type { Command, KvOperation } from '../kv/command.js';
import { cloneJson } from '../kv/state-machine.js';
import { assertNever } from '../raft/assert.js';
import type { NodeId } from '../raft/types.js';
import { ErrorCode, RaftlabError, asErrorCode, describeGiven } from './errors.js';
import { FrameBatcher, NodeReplyCode, decodeReplyBatch } from './protocol.js';
import { drawSessionSecret } from './session-secret.js';
import type { Reply } from './protocol.js';
import type { JsonValue } from './types.js';

/** A reply that no node sent: the attempt's own timeout, a lost connection, or a frame never sent. */
const AttemptFailed = {
  Timeout: 'ATTEMPT_TIMEOUT',
  /** Sent, and the connection went before an answer came: the node may have taken it. */
  ConnectionLost: 'CONNECTION_LOST',
  /** Never posted (no connection to the node, or the cluster stopped): nothing can have taken it. */
  NotSent: 'NOT_SENT',
} as const;

/**
 * The most seqs a client has in flight past its lowest unanswered one. A session keeps
 * the replies of KV_LIMITS.maxRepliesPerSession requests (those at or above the lowest
 * its client still waits for, and a few retried out of order below it) and drops the
 * oldest past that: a retry of a write whose reply was dropped is STALE_REQUEST, and an
 * unbounded client sent more. 6,000 puts at once from one client on a loaded 3-node
 * cluster ended 1,904 of them STALE_REQUEST (indeterminate, though every one applied):
 * their first attempts outlasted the attempt timeout, and the retries came after 4,096
 * newer writes. Half the bound leaves room for the stragglers.
 */
const WRITE_WINDOW = KV_LIMITS.maxRepliesPerSession / 2;

/** The longest deadline a client call may have: what a Node timer holds. */
const MAX_CLIENT_TIMEOUT_MS = 2 ** 31 - 1;

export const CLIENT_DEFAULTS = {
  timeoutMs: 5000,
  /** One attempt at one node; then the client tries elsewhere with the same request id. */
  attemptTimeoutMs: 1000,
  /** Pause before retrying when no leader is known (an election is under way). */
  noLeaderBackoffMs: 25,
  maxValueBytes: 1 << 20,
} as const;


type FrameWithoutRid = { readonly t: 'w'; readonly command: Uint8Array } | { readonly t: 'r'; readonly key: string };

interface InFlight {
  readonly node: NodeId;
  readonly resolve: (reply: Reply) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export interface HubOptions {
  readonly maxValueBytes?: number;
  /** Called for each completed write with its latency (the dashboard's ops/s and p99). */
  readonly onWriteLatency?: (latencyMs: number) => void;
}

export class ClientHub {
  private readonly ports = new Map<NodeId, MessagePort>();
  private readonly batcher = new FrameBatcher(
    (node) => this.ports.get(node),
    (rid, node) => this.settle(rid, { rid, ok: false, code: AttemptFailed.NotSent, message: `not sent: no connection to node ${node}`, leaderId: 0 }),
  );
  private readonly inFlight = new Map<number, InFlight>();
  /** The nodes clients may send to, ascending: membership changes add and remove some. */
  private ids: NodeId[];
  private nextRid = 1;
  private closed = false;
  /** Best guess of the current leader, shared by every client of the hub. */
  leaderHint: NodeId = 0;
  readonly maxValueBytes: number;
  readonly onWriteLatency: ((latencyMs: number) => void) | null;

  constructor(nodeIds: readonly NodeId[], options: HubOptions = {}) {
    this.ids = [...nodeIds].sort((a, b) => a - b);
    this.maxValueBytes = options.maxValueBytes ?? CLIENT_DEFAULTS.maxValueBytes;
    this.onWriteLatency = options.onWriteLatency ?? null;
  }

  get nodeIds(): readonly NodeId[] {
    return this.ids;
  }

  /** The cluster stopped (close()): no request will be answered any more. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** A node joined the cluster (Cluster.addNode): clients may try it too. */
  addNode(node: NodeId): void {
    if (this.ids.includes(node)) return;
    this.ids = [...this.ids, node].sort((a, b) => a - b);
  }

  /** A node left the cluster (Cluster.removeNode): its port is closed and no client tries it again. */
  removeNode(node: NodeId): void {
    this.ids = this.ids.filter((id) => id !== node);
    const port = this.ports.get(node);
    if (port !== undefined) {
      this.ports.delete(node);
      port.close();
    }
    this.failNode(node);
    if (this.leaderHint === node) this.leaderHint = 0;
  }

  /** Installs (or replaces, after a restart) the port to one node. */
  connect(node: NodeId, port: MessagePort): void {
    const previous = this.ports.get(node);
    if (previous !== undefined) {
      this.ports.delete(node);
      previous.close();
      this.failNode(node);
    }
    this.ports.set(node, port);
    port.on('message', (bytes: unknown) => this.onReplies(bytes));
    port.on('close', () => {
      if (this.ports.get(node) !== port) return;
      this.ports.delete(node);
      this.failNode(node);
    });
    // Do not keep the process alive just for an idle client port.
    port.unref();
  }

  /** The node's worker died (`reason`: why, if known): its in-flight requests will never be answered. */
  failNode(node: NodeId, reason?: string): void {
    const message = `connection to node ${node} lost${reason === undefined ? '' : `: ${reason}`}`;
    for (const [rid, flight] of this.inFlight) {
      if (flight.node !== node) continue;
      this.settle(rid, { rid, ok: false, code: AttemptFailed.ConnectionLost, message, leaderId: 0 });
    }
  }

  /** Sends one frame to one node; resolves with its reply or a synthetic failure. */
  request(node: NodeId, frame: FrameWithoutRid, timeoutMs: number): Promise<Reply> {
    const rid = this.nextRid++;
    return new Promise<Reply>((resolve) => {
      if (this.closed) {
        resolve({ rid, ok: false, code: AttemptFailed.NotSent, message: 'not sent: the cluster was stopped', leaderId: 0 });
        return;
      }
      if (!this.ports.has(node)) {
        resolve({ rid, ok: false, code: AttemptFailed.NotSent, message: `not sent: no connection to node ${node}`, leaderId: 0 });
        return;
      }
      const timer = setTimeout(() => {
        this.settle(rid, { rid, ok: false, code: AttemptFailed.Timeout, message: `node ${node} did not answer in ${timeoutMs} ms`, leaderId: 0 });
      }, timeoutMs);
      this.inFlight.set(rid, { node, resolve, timer });
      this.batcher.enqueue(node, frame.t === 'w' ? { t: 'w', rid, command: frame.command } : { t: 'r', rid, key: frame.key });
    });
  }

  private onReplies(bytes: unknown): void {
    let replies: Reply[];
    try {
      replies = decodeReplyBatch(bytes);
    } catch {
      return; // A garbled batch: its requests time out and are retried.
    }
    for (const reply of replies) this.settle(reply.rid, reply);
  }

  private settle(rid: number, reply: Reply): void {
    const flight = this.inFlight.get(rid);
    if (flight === undefined) return;
    this.inFlight.delete(rid);
    clearTimeout(flight.timer);
    flight.resolve(reply);
  }

  /** The node to try after `failed` did not work out. */
  nextNode(failed: NodeId): NodeId {
    const ids = this.nodeIds;
    const position = ids.indexOf(failed);
    return ids[(position + 1) % ids.length] ?? ids[0] ?? 1;
  }

  client(options: { timeoutMs?: number } = {}): KvClient {
    // timeoutMs is its only option: a misspelt one ({ timeout: 100 }) would leave the 5 s default.
    const unknown = typeof options === 'object' && options !== null ? Object.keys(options).filter((key) => key !== 'timeoutMs') : null;
    if (unknown === null || unknown.length > 0) {
      const what = unknown === null ? `its options are an object, got ${describeGiven(options)}` : `unknown option(s) ${unknown.map((key) => JSON.stringify(key)).join(', ')}; it takes timeoutMs`;
      throw new RaftlabError(ErrorCode.InvalidArgument, `cannot make a client: ${what}`);
    }
    const timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs;
    // A deadline no attempt fits in, or one a timer cannot hold (2^31 - 1 ms).
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_CLIENT_TIMEOUT_MS) {
      throw new RaftlabError(ErrorCode.InvalidArgument, `timeoutMs must be a number of milliseconds from 1 to ${MAX_CLIENT_TIMEOUT_MS}, got ${String(timeoutMs)}`);
    }
    return new KvClient(this, timeoutMs);
  }

  close(): void {
    this.closed = true;
    for (const [rid] of this.inFlight) {
      this.settle(rid, { rid, ok: false, code: AttemptFailed.ConnectionLost, message: 'client hub closed', leaderId: 0 });
    }
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A copy of an operation whose values are JSON copies (cloneJson), taken now: the caller may change the originals after the call. */
function copyOperation(operation: KvOperation): KvOperation {
  switch (operation.op) {
    case 'put':
    case 'append':
      return { op: operation.op, key: operation.key, value: cloneJson(operation.value) };
    case 'cas':
      return { op: 'cas', key: operation.key, expected: cloneJson(operation.expected), value: cloneJson(operation.value) };
    case 'delete':
    case 'get':
      return { op: operation.op, key: operation.key };
    default:
      return assertNever(operation, 'operation');
  }
}

function toRaftlabError(error: unknown): RaftlabError {
  if (error instanceof RaftlabError) return error;
  return new RaftlabError(asErrorCode((error as { code?: unknown }).code) ?? ErrorCode.InvalidArgument, (error as Error).message, false);
}

export class KvClient {
  private clientId: string = randomUUID();
  /** Drawn with the client id, registered with it, and carried by every request of its session. */
  private secret = drawSessionSecret();
  /** The session id the registration returned (0: not registered). */
  private session = 0;
  private registered: Promise<void> | null = null;
  private nextSeq = 1;
  /** The seqs of this session's writes in flight, in the order taken (rising): the first is ackedBelow. */
  private outstanding = new Set<number>();
  /** Writes waiting for room in the window (WRITE_WINDOW), woken as writes end. */
  private windowWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly hub: ClientHub,
    private readonly timeoutMs: number,
  ) {}

  get id(): string {
    return this.clientId;
  }

  /** Linearizable read (ReadIndex); null if the key is absent. */
  async get(key: string): Promise<JsonValue> {
    this.checkOpen();
    try {
      validateOperation({ op: 'get', key }, this.hub.maxValueBytes);
    } catch (error) {
      throw toRaftlabError(error);
    }
    const deadline = Date.now() + this.timeoutMs;
    let node = this.hub.leaderHint || this.hub.nodeIds[0]!;
    let lastError = 'no attempt made';
    const leaderless = new Map<NodeId, number>();
    while (Date.now() < deadline) {
      const reply = await this.hub.request(node, { t: 'r', key }, this.attemptTimeout(deadline));
      if (reply.ok) {
        this.hub.leaderHint = node;
        return reply.value;
      }
      lastError = `${reply.code}: ${reply.message}`;
      this.checkHubOpen(`get ${JSON.stringify(key)}`, false);
      node = await this.redirect(node, reply, leaderless);
    }
    // A read changes nothing, so a read that ran out of time is a definite failure.
    throw new RaftlabError(ErrorCode.Timeout, `get ${JSON.stringify(key)} timed out after ${this.timeoutMs} ms (${lastError})`, false);
  }

  async put(key: string, value: JsonValue): Promise<void> {
    await this.write({ op: 'put', key, value });
  }

  async delete(key: string): Promise<void> {
    await this.write({ op: 'delete', key });
  }

  /** Treats the key's value as a list and pushes `value` onto it. */
  async append(key: string, value: JsonValue): Promise<void> {
    await this.write({ op: 'append', key, value });
  }

  /** Sets key to `value` if its current value (null when absent) equals `expected`. */
  async cas(key: string, expected: JsonValue, value: JsonValue): Promise<boolean> {
    return (await this.write({ op: 'cas', key, expected, value })) === true;
  }

  close(): void {
    this.closed = true;
  }

  /** Whether the next seq is fewer than WRITE_WINDOW past the lowest still in flight. */
  private windowHasRoom(): boolean {
    const lowest = this.outstanding.values().next().value;
    return lowest === undefined || this.nextSeq - lowest < WRITE_WINDOW;
  }

  private wakeWindowWaiters(): void {
    if (this.windowWaiters.length === 0) return;
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const wake of waiters) wake();
  }

  private checkOpen(): void {
    if (this.closed) throw new RaftlabError(ErrorCode.ClientClosed, 'this client was closed', false);
  }

  /** Once the cluster stopped no attempt can succeed: fail now rather than retry until the deadline. */
  private checkHubOpen(what: string, mayHaveApplied: boolean): void {
    if (!this.hub.isClosed) return;
    const outcome = mayHaveApplied ? '; it may or may not have been applied' : '';
    throw new RaftlabError(ErrorCode.ClusterStopped, `${what} failed: the cluster was stopped${outcome}`, mayHaveApplied);
  }

  private attemptTimeout(deadline: number): number {
    return Math.max(1, Math.min(CLIENT_DEFAULTS.attemptTimeoutMs, deadline - Date.now()));
  }

  /**
   * Where to send the next attempt, pausing first when no leader is known. `leaderless`
   * counts, for one call, the answers "not the leader, and I know none" by node: a hint
   * naming a node that said so twice is not followed again. A learner never campaigns,
   * so one cut off with a deposed leader names it as leader for as long as the partition
   * lasts, and the call went back and forth between the two (a learner after the deposed
   * leader in id order) until its deadline, while the majority's leader took writes.
   */
  private async redirect(node: NodeId, reply: Reply & { ok: false }, leaderless: Map<NodeId, number>): Promise<NodeId> {
    if (reply.code === NodeReplyCode.NotLeader && reply.leaderId === 0) leaderless.set(node, (leaderless.get(node) ?? 0) + 1);
    if (reply.leaderId !== 0 && reply.leaderId !== node && (leaderless.get(reply.leaderId) ?? 0) < 2) {
      this.hub.leaderHint = reply.leaderId;
      return reply.leaderId;
    }
    await delay(CLIENT_DEFAULTS.noLeaderBackoffMs);
    const next = this.hub.nextNode(node);
    this.hub.leaderHint = next;
    return next;
  }

  private async ensureRegistered(deadline: number): Promise<void> {
    if (this.registered === null) {
      const clientId = this.clientId;
      this.registered = this.submit(encodeCommand({ type: 'register', clientId, secret: this.secret }), deadline).then(
        (session) => {
          // The state machine answers every register with its session id: anything else is a bug.
          if (!isSessionId(session)) throw new Error(`raftlab client: registering ${clientId} returned ${JSON.stringify(session)}, not a session id`);
          // Not if this identity expired meanwhile (a write under it was answered
          // SESSION_EXPIRED): the writes waiting register the new one.
          if (this.clientId === clientId) this.session = session;
        },
        (error: unknown) => {
          if (this.clientId === clientId) {
            this.registered = null;
            // Its client id registered under another secret (only a program that learnt
            // it, `kv.id`, and registered it first): go on under a new identity.
            if ((error as { code?: unknown }).code === KvErrorCode.SessionMismatch) this.renewIdentity();
          }
          // Registering twice is harmless, so a failed registration never leaves doubt: the
          // write that waited for it was not sent.
          const failure = toRaftlabError(error);
          const message =
            failure.code === ErrorCode.ClusterStopped
              ? 'the cluster was stopped before the write was sent; it was not applied'
              : failure.code === ErrorCode.Timeout
                ? `no leader registered this client within ${this.timeoutMs} ms, so the write was not sent; it was not applied`
                : `the write was not sent (it was not applied): registering this client failed: ${failure.message}`;
          throw new RaftlabError(failure.code === ErrorCode.Timeout ? ErrorCode.NoLeader : failure.code, message, false);
        },
      );
    }
    return this.registered;
  }

  /** A new client id and secret, to be registered by the next write. */
  private renewIdentity(): void {
    this.clientId = randomUUID();
    this.secret = drawSessionSecret();
    this.session = 0;
    this.registered = null;
    this.nextSeq = 1;
    this.outstanding = new Set();
  }

  private async write(operation: KvOperation): Promise<JsonValue> {
    this.checkOpen();
    try {
      validateOperation(operation, this.hub.maxValueBytes);
    } catch (error) {
      throw toRaftlabError(error);
    }
    const startedAt = Date.now();
    const deadline = startedAt + this.timeoutMs;
    // Registered, the command is encoded now, before anything awaits: what is stored is
    // what was checked, whatever the caller does to the value after the call. Not yet
    // registered (or waiting for room in the window), it is encoded after the await, from
    // a copy taken now.
    let session = this.session;
    let copied = false;
    const copyNow = (): void => {
      if (copied) return;
      copied = true;
      // Copied as the encoder reads it (own enumerable keys, property reads), and the copy
      // checked again, so what is stored is what was checked: structuredClone threw a
      // DOMException (code 25, no `indeterminate`) on a Proxy or an accessor, values that
      // a registered client takes as they read.
      try {
        operation = validateOperation(copyOperation(operation), this.hub.maxValueBytes);
      } catch (error) {
        throw toRaftlabError(error);
      }
    };
    for (;;) {
      if (session === 0) {
        copyNow();
        // Read synchronously after the await: another call that found the session expired
        // meanwhile has reset it to 0, and then this one registers the new identity too.
        while (session === 0) {
          try {
            await this.ensureRegistered(deadline);
          } catch (error) {
            // The registration waited for may be an earlier call's, ended by that call's
            // deadline: this call registers again until its own (nothing was sent for it).
            if (!(error instanceof RaftlabError) || error.code !== ErrorCode.NoLeader || Date.now() >= deadline) throw error;
            continue;
          }
          session = this.session;
        }
      }
      if (this.windowHasRoom()) break;
      copyNow();
      await new Promise<void>((resolve) => this.windowWaiters.push(resolve));
      if (Date.now() >= deadline) {
        throw new RaftlabError(
          ErrorCode.NoLeader,
          `the write was not sent within ${this.timeoutMs} ms: it waited for earlier writes of this client (at most ${WRITE_WINDOW} are sent at once); it was not applied`,
          false,
        );
      }
      session = this.session;
    }
    const seq = this.nextSeq++;
    // This session's: a write of an expired session that ends later takes its seq out of
    // its own set, not out of the new session's (where that seq may be in flight).
    const outstanding = this.outstanding;
    outstanding.add(seq);
    try {
      // Seqs go in rising, so the first in the set is the lowest still in flight.
      const ackedBelow = outstanding.values().next().value!;
      // An append carries this client's limit on the list it grows (the cluster's
      // maxValueBytes): the state machine decides by the limit in the entry.
      const secret = this.secret;
      const command: Command =
        operation.op === 'append'
          ? { type: 'request', session, secret, seq, ackedBelow, operation, maxValueBytes: this.hub.maxValueBytes }
          : { type: 'request', session, secret, seq, ackedBelow, operation };
      const value = await this.submit(encodeCommand(command), deadline);
      this.hub.onWriteLatency?.(Date.now() - startedAt);
      return value;
    } catch (error) {
      const failure = toRaftlabError(error);
      if ((failure.code === ErrorCode.SessionExpired || failure.code === ErrorCode.SessionMismatch) && session === this.session) {
        // The state machine forgot this session (or knows it under another secret, which
        // no raftlab client causes): continue under a fresh identity so a stale retry of
        // an old request can never be mistaken for a new one (once: a write of an older
        // session that hears it late leaves the new identity alone).
        this.renewIdentity();
      }
      throw failure;
    } finally {
      outstanding.delete(seq);
      this.wakeWindowWaiters();
    }
  }

  /**
   * Sends one command until a node answers it, redirecting and retrying with the same
   * bytes (so the same request id) until the deadline.
   */
  private async submit(command: Uint8Array, deadline: number): Promise<JsonValue> {
    let node = this.hub.leaderHint || this.hub.nodeIds[0]!;
    /** True once any attempt may have reached a leader's log. */
    let mayHaveApplied = false;
    let lastError = 'no attempt made';
    const leaderless = new Map<NodeId, number>();
    while (Date.now() < deadline) {
      const reply = await this.hub.request(node, { t: 'w', command }, this.attemptTimeout(deadline));
      if (reply.ok) {
        this.hub.leaderHint = node;
        return reply.value;
      }
      lastError = `${reply.code}: ${reply.message}`;
      switch (reply.code) {
        case NodeReplyCode.NotLeader:
        case NodeReplyCode.Transferring:
          this.checkHubOpen('the write', mayHaveApplied);
          node = await this.redirect(node, reply, leaderless);
          continue;
        case NodeReplyCode.ProposalQueueFull:
          this.checkHubOpen('the write', mayHaveApplied);
          await delay(CLIENT_DEFAULTS.noLeaderBackoffMs);
          continue;
        case AttemptFailed.NotSent:
          // Never posted: this attempt applied nothing (an earlier one still may have).
          this.checkHubOpen('the write', mayHaveApplied);
          node = await this.redirect(node, reply, leaderless);
          continue;
        case NodeReplyCode.LeadershipLost:
        case AttemptFailed.Timeout:
        case AttemptFailed.ConnectionLost:
          mayHaveApplied = true;
          this.checkHubOpen('the write', mayHaveApplied);
          node = await this.redirect(node, reply, leaderless);
          continue;
        default:
          // An answer of the state machine (or a refusal of the request itself): final.
          // A session that expired after an earlier attempt may have applied it first.
          // A code that is not an ErrorCode (none is expected) goes as MALFORMED_REQUEST, said in the message.
          throw new RaftlabError(
            asErrorCode(reply.code) ?? ErrorCode.MalformedRequest,
            asErrorCode(reply.code) === null ? `${reply.code}: ${reply.message}` : reply.message,
            reply.code === ErrorCode.SessionExpired || reply.code === ErrorCode.StaleRequest ? mayHaveApplied : false,
          );
      }
    }
    if (mayHaveApplied) {
      throw new RaftlabError(ErrorCode.Timeout, `no answer within ${this.timeoutMs} ms; the write may or may not have been applied (${lastError})`, true);
    }
    throw new RaftlabError(ErrorCode.NoLeader, `no leader accepted the write within ${this.timeoutMs} ms; it was not applied (${lastError})`, false);
  }
}
