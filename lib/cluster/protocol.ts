// The wire between clients and nodes, and between the supervisor and its workers.
//
// Client traffic is msgpack (msgpackr): a batch of frames per post, as an exact-size
// buffer that is transferred. Frames and replies travel as tuples (fixed field order),
// so no field name is encoded or decoded per request:
//   write frame [1, rid, command]      read frame [2, rid, key]
//   ok reply    [rid, value]           error reply [rid, code, message, leaderId]
// Control traffic (supervisor <-> worker) is rare and uses structured clone. Everything
// that arrives from a port is `unknown` until one of the decoders here has checked it.

import { Packr } from 'msgpackr';
import { exactCopy, writeCommand } from '../kv/command.js';
import type { Command } from '../kv/command.js';
import { ScalarCursor } from '../kv/flat-tuple.js';
import { MsgpackWriter } from '../transport/msgpack-writer.js';
import type { MessagePort } from 'node:worker_threads';
import type { LogIndex, Membership, NodeId } from '../raft/types.js';
import type { ClusterMembershipChange } from './membership.js';
import type { ClusterEvent, JsonValue, NodeStatus } from './types.js';
import { StorageErrorCode } from '../storage/errors.js';
import type { FileStorageTestOnly } from '../storage/types.js';

/** A write goes through the log: `command` is an encoded lib/kv Command. */
export interface WriteFrame {
  readonly t: 'w';
  readonly rid: number;
  readonly command: Uint8Array;
}
/** A linearizable read, served through ReadIndex (thesis §6.4). */
export interface ReadFrame {
  readonly t: 'r';
  readonly rid: number;
  readonly key: string;
}
export type ClientFrame = WriteFrame | ReadFrame;

export interface OkReply {
  readonly rid: number;
  readonly ok: true;
  readonly value: JsonValue;
}
export interface ErrorReply {
  readonly rid: number;
  readonly ok: false;
  readonly code: string;
  readonly message: string;
  /** Best known leader, 0 if unknown: where to retry. */
  readonly leaderId: NodeId;
}
export type Reply = OkReply | ErrorReply;

/** Codes a node answers with besides the state machine's own. */
export const NodeReplyCode = {
  /** Not the leader: the request was not proposed. Safe to send elsewhere. */
  NotLeader: 'NOT_LEADER',
  /** The leader's proposal queue is full: not proposed. */
  ProposalQueueFull: 'PROPOSAL_QUEUE_FULL',
  /** Leadership transfer in progress: not proposed. */
  Transferring: 'LEADERSHIP_TRANSFER_IN_PROGRESS',
  /** Proposed, then this node stopped being leader before it applied: outcome unknown. */
  LeadershipLost: 'LEADERSHIP_LOST',
  /** The frame failed validation. */
  MalformedRequest: 'MALFORMED_REQUEST',
  /** The supervisor lost the worker (it crashed or was stopped) before it answered: outcome unknown. */
  ConnectionLost: 'CONNECTION_LOST',
} as const;

const packr = new Packr({ useRecords: false, moreTypes: false });

/** msgpackr's pack() returns a view into a shared buffer: copy it to an exact-size array
 *  whose ArrayBuffer can be transferred. */
export function packExact(value: unknown): Uint8Array {
  return exactCopy(packr.pack(value));
}

export function unpackBytes(bytes: unknown): unknown {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('expected bytes');
  return packr.unpack(bytes);
}

const MAX_RID = Number.MAX_SAFE_INTEGER;

function isRid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_RID;
}

const FrameTag = { write: 1, read: 2 } as const;

/**
 * One batch (a msgpack array of tuples) written straight into a growing buffer, item by
 * item: an array32 whose count is patched when the batch is taken. A write's command is
 * written in place (writeCommand) or copied in at once, so no buffer is allocated per
 * request.
 */
class BatchWriter {
  private readonly writer = new MsgpackWriter();
  private header = this.writer.array32Placeholder();
  private items = 0;

  get count(): number {
    return this.items;
  }

  /** Starts the next item: a tuple of `size` elements; then write them with `out`. */
  tuple(size: number): MsgpackWriter {
    this.items++;
    this.writer.arrayHeader(size);
    return this.writer;
  }

  /** The batch as an exact-size array that owns its buffer (transferable); the writer is emptied. */
  take(): Uint8Array {
    this.writer.patchArray32(this.header, this.items);
    const batch = this.writer.take();
    this.header = this.writer.array32Placeholder();
    this.items = 0;
    return batch;
  }
}

/** Client frames, encoded as they are added: [[1, rid, command bin] | [2, rid, key], ...]. */
export class ClientBatchWriter {
  private readonly writer = new BatchWriter();
  /** The write begun with beginWrite(): its writer and where its bin32 header is. */
  private openOut: MsgpackWriter | null = null;
  private openWrite = 0;

  get count(): number {
    return this.writer.count;
  }

  write(rid: number, command: Uint8Array): void {
    this.frame(FrameTag.write, rid).bin(command);
  }

  /** A write frame whose command is encoded in place (writeCommand), inside a bin32. */
  writeCommand(rid: number, command: Command): void {
    writeCommand(this.beginWrite(rid), command);
    this.endWrite();
  }

  /**
   * Starts a write frame whose command the caller encodes straight into the returned
   * writer (one command, nothing else), then calls endWrite().
   */
  beginWrite(rid: number): MsgpackWriter {
    const out = this.frame(FrameTag.write, rid);
    this.openWrite = out.bin32Placeholder();
    this.openOut = out;
    return out;
  }

  endWrite(): void {
    if (this.openOut === null) throw new Error('ClientBatchWriter.endWrite without beginWrite');
    this.openOut.patchBin32(this.openWrite);
    this.openOut = null;
  }

  read(rid: number, key: string): void {
    this.frame(FrameTag.read, rid).str(key);
  }

  /** [tag, rid, ...] with the argument still to write (uint refuses anything but a safe non-negative rid). */
  private frame(tag: number, rid: number): MsgpackWriter {
    const out = this.writer.tuple(3);
    out.uint(tag);
    out.uint(rid);
    return out;
  }

  take(): Uint8Array {
    return this.writer.take();
  }
}

/** Encodes one post's worth of client frames (exact-size, transferable). */
export function encodeClientBatch(frames: readonly ClientFrame[]): Uint8Array {
  const writer = new ClientBatchWriter();
  for (const frame of frames) {
    if (frame.t === 'w') writer.write(frame.rid, frame.command);
    else writer.read(frame.rid, frame.key);
  }
  return writer.take();
}

/**
 * One post's worth of replies, encoded as they are added: [rid, value] or [rid, code,
 * message, leaderId]. A node keeps one per client connection, so answering a put builds
 * no object: its null value costs one byte and no msgpackr call.
 */
export class ReplyBatchWriter {
  private readonly writer = new BatchWriter();

  get count(): number {
    return this.writer.count;
  }

  ok(rid: number, value: JsonValue): void {
    const out = this.writer.tuple(2);
    out.uint(rid);
    if (value === null) out.nil();
    else out.raw(packr.pack(value));
  }

  error(rid: number, code: string, message: string, leaderId: NodeId): void {
    const out = this.writer.tuple(4);
    out.uint(rid);
    out.str(code);
    out.str(message);
    out.uint(leaderId);
  }

  add(reply: Reply): void {
    if (reply.ok) this.ok(reply.rid, reply.value);
    else this.error(reply.rid, reply.code, reply.message, reply.leaderId);
  }

  /** The batch (exact-size, transferable); the writer starts a new one. */
  take(): Uint8Array {
    return this.writer.take();
  }
}

/** Encodes one post's worth of replies (exact-size, transferable); see ReplyBatchWriter. */
export function encodeReplyBatch(replies: readonly Reply[]): Uint8Array {
  const writer = new ReplyBatchWriter();
  for (const reply of replies) writer.add(reply);
  return writer.take();
}

/**
 * Client frames for each node, posted as one batch per node per microtask: every request
 * made in one turn of the caller's event loop travels to its node in one port message.
 * Frames are encoded as they are enqueued (ClientBatchWriter), so a write's command bytes
 * need only live until enqueue returns.
 */
export class FrameBatcher {
  private readonly outboxes = new Map<NodeId, ClientBatchWriter>();
  private flushScheduled = false;

  constructor(
    /** The port to post to, or undefined when the node cannot be reached. */
    private readonly portOf: (node: NodeId) => MessagePort | undefined,
    /** Told about each request that could not be posted (no port). */
    private readonly undeliverable: (rid: number, node: NodeId) => void,
    /** Told about each post, for statistics. */
    private readonly posted: (frames: number) => void = () => {},
  ) {}

  enqueue(node: NodeId, frame: ClientFrame): void {
    if (frame.t === 'w') this.enqueueWrite(node, frame.rid, frame.command);
    else this.enqueueRead(node, frame.rid, frame.key);
  }

  /**
   * The batch going to `node` (its post is scheduled), for a write encoded straight into
   * it: beginWrite(rid), the command, endWrite().
   */
  batchFor(node: NodeId): ClientBatchWriter {
    return this.outbox(node);
  }

  enqueueWrite(node: NodeId, rid: number, command: Uint8Array): void {
    this.outbox(node).write(rid, command);
  }

  enqueueRead(node: NodeId, rid: number, key: string): void {
    this.outbox(node).read(rid, key);
  }

  private outbox(node: NodeId): ClientBatchWriter {
    let outbox = this.outboxes.get(node);
    if (outbox === undefined) {
      outbox = new ClientBatchWriter();
      this.outboxes.set(node, outbox);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
    return outbox;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [node, writer] of this.outboxes) {
      const frames = writer.count;
      if (frames === 0) continue;
      const bytes = writer.take();
      const port = this.portOf(node);
      if (port === undefined) {
        // The writer keeps bytes, not frames: the rids come back out of the batch itself.
        for (const rid of ridsOf(bytes)) this.undeliverable(rid, node);
        continue;
      }
      port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
      this.posted(frames);
    }
  }
}

/** The rids of a batch this process wrote (the rare undeliverable path). */
function ridsOf(bytes: Uint8Array): number[] {
  return decodeClientBatch(bytes).frames.map((frame) => frame.rid);
}

/**
 * The common case of decodeClientBatch, read by hand: every frame well formed. Null
 * sends the batch down the general path, which also explains what is wrong with it.
 */
export function readClientBatch(bytes: Uint8Array): ClientFrame[] | null {
  const cursor = new ScalarCursor(bytes);
  const count = cursor.arrayHeader();
  if (count < 0) return null;
  const frames: ClientFrame[] = [];
  for (let i = 0; i < count; i++) {
    if (bytes[cursor.at] !== 0x93) return null;
    cursor.at++;
    if (!cursor.scalar()) return null;
    const tag = cursor.value;
    if (!cursor.scalar() || !isRid(cursor.value)) return null;
    const rid = cursor.value;
    if (tag === FrameTag.write) {
      const command = cursor.bin();
      if (command === null) return null;
      frames.push({ t: 'w', rid, command });
    } else if (tag === FrameTag.read) {
      if (!cursor.scalar() || typeof cursor.value !== 'string') return null;
      frames.push({ t: 'r', rid, key: cursor.value });
    } else {
      return null;
    }
  }
  return cursor.atEnd() ? frames : null;
}

/** A refused client frame whose rid could be read: it is answered MALFORMED_REQUEST. */
export interface RefusedClientFrame {
  readonly rid: number;
  readonly reason: string;
}

export interface ClientBatch {
  readonly frames: readonly ClientFrame[];
  /** Frames refused, answerable or not. */
  readonly malformed: number;
  readonly reasons: readonly string[];
  /** The refused frames with a valid rid, to be answered so their callers do not wait for a timeout. */
  readonly refused: readonly RefusedClientFrame[];
}

/** A well-formed batch's reasons and refusals: none, shared (decodeClientBatch runs per client message). */
const NONE: readonly never[] = Object.freeze([]);

/** Checks one batch of client frames. Refused frames are reported, never thrown. */
export function decodeClientBatch(bytes: unknown): ClientBatch {
  if (bytes instanceof Uint8Array) {
    const fast = readClientBatch(bytes);
    if (fast !== null) return { frames: fast, malformed: 0, reasons: NONE, refused: NONE };
  }
  const frames: ClientFrame[] = [];
  const reasons: string[] = [];
  const refused: RefusedClientFrame[] = [];
  let decoded: unknown;
  try {
    decoded = unpackBytes(bytes);
  } catch (error) {
    return { frames, malformed: 1, reasons: [`undecodable client batch: ${(error as Error).message}`], refused };
  }
  if (!Array.isArray(decoded)) return { frames, malformed: 1, reasons: ['client batch is not an array'], refused };
  for (const raw of decoded as unknown[]) {
    const frame = checkClientFrame(raw);
    if (!('reason' in frame)) {
      frames.push(frame);
      continue;
    }
    reasons.push(frame.reason);
    if (frame.rid !== null) refused.push({ rid: frame.rid, reason: frame.reason });
  }
  return { frames, malformed: reasons.length, reasons, refused };
}

function checkClientFrame(raw: unknown): ClientFrame | { readonly rid: number | null; readonly reason: string } {
  if (!Array.isArray(raw) || raw.length !== 3) return { rid: null, reason: 'frame is not a [tag, rid, argument] tuple' };
  const [tag, rid, argument] = raw as unknown[];
  if (!isRid(rid)) return { rid: null, reason: 'frame has no valid rid' };
  switch (tag) {
    case FrameTag.write:
      return argument instanceof Uint8Array ? { t: 'w', rid, command: argument } : { rid, reason: 'write frame without command bytes' };
    case FrameTag.read:
      return typeof argument === 'string' ? { t: 'r', rid, key: argument } : { rid, reason: 'read frame without a string key' };
    default:
      return { rid, reason: `unknown frame tag ${describeUntrusted(tag)}` };
  }
}

/** A value from the wire, shown in a message: msgpack's 64-bit integers decode to BigInt, which JSON.stringify refuses. */
function describeUntrusted(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The common case of decodeReplyBatch, read by hand: replies whose fields are all scalars. */
export function readReplyBatch(bytes: Uint8Array): Reply[] | null {
  const cursor = new ScalarCursor(bytes);
  const count = cursor.arrayHeader();
  if (count < 0) return null;
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) {
    const head = bytes[cursor.at];
    cursor.at++;
    if (!cursor.scalar() || !isRid(cursor.value)) return null;
    const rid = cursor.value;
    if (head === 0x92) {
      if (!cursor.scalar()) return null;
      replies.push({ rid, ok: true, value: cursor.value as JsonValue });
      continue;
    }
    if (head !== 0x94 || !cursor.scalar()) return null;
    const code = cursor.value;
    if (typeof code !== 'string' || !cursor.scalar()) return null;
    const message = cursor.value;
    if (typeof message !== 'string' || !cursor.scalar()) return null;
    const leaderId = cursor.value;
    replies.push({ rid, ok: false, code, message, leaderId: typeof leaderId === 'number' ? leaderId : 0 });
  }
  return cursor.atEnd() ? replies : null;
}

/** Checks one batch of replies (client side). */
export function decodeReplyBatch(bytes: unknown): Reply[] {
  if (bytes instanceof Uint8Array) {
    const fast = readReplyBatch(bytes);
    if (fast !== null) return fast;
  }
  const decoded = unpackBytes(bytes);
  if (!Array.isArray(decoded)) throw new TypeError('reply batch is not an array');
  const replies: Reply[] = [];
  for (const raw of decoded as unknown[]) {
    if (!Array.isArray(raw) || !isRid(raw[0])) continue;
    if (raw.length === 2) {
      replies.push({ rid: raw[0], ok: true, value: (raw[1] ?? null) as JsonValue });
    } else if (raw.length === 4 && typeof raw[1] === 'string') {
      replies.push({
        rid: raw[0],
        ok: false,
        code: raw[1],
        message: typeof raw[2] === 'string' ? raw[2] : raw[1],
        leaderId: typeof raw[3] === 'number' ? raw[3] : 0,
      });
    }
  }
  return replies;
}

// ---------------------------------------------------------------------------------
// Supervisor <-> worker control messages (structured clone).

/** One direction of one link: what happens to messages this node sends to `peer`. */
export interface LinkFault {
  /** Everything is dropped (a partition or one-way cut). */
  readonly blocked: boolean;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayMs: number;
}

export const HEALTHY_LINK: LinkFault = { blocked: false, dropRate: 0, duplicateRate: 0, delayMs: 0 };

/** The levels of each node's node.log (pino's), lowest last; 'silent' writes nothing. */
export const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface TestOnlyClusterBugs {
  /** Serve reads from local state on whichever node believes it leads (no ReadIndex). */
  readonly staleReads?: boolean;
  /** Turn off the session table: retries are applied again. */
  readonly disableSessions?: boolean;
  /** Acknowledge appends before they are fsynced (and fsync only now and then). */
  readonly ackBeforeFsync?: boolean;
  /**
   * Not a bug but a fault, for tests: node `node`'s WAL refuses every write once it has
   * been handed `afterEntries` entries since its worker started, as a full disk would
   * ('enospc': WAL_IO, ENOSPC) or as a violated storage invariant would ('invariant':
   * WAL_INVARIANT). Its files are left as they were.
   */
  readonly walFault?: { readonly node: NodeId; readonly afterEntries: number; readonly fault: 'enospc' | 'invariant' };
  /**
   * Not a bug but a fault, for tests: node `node`'s FileStorage runs with these injected
   * disk faults (each counted from 1 at every start of its worker), below any walFault.
   */
  readonly storageFaults?: { readonly node: NodeId; readonly faults: FileStorageTestOnly };
  /**
   * Not a bug but a setting, for tests: these nodes run with this maxValueBytes instead of
   * the cluster's (clients keep the cluster's), as nodes started by programs that disagree
   * on it would. Every replica must still apply the log alike.
   */
  readonly maxValueBytesOf?: Readonly<Record<NodeId, number>>;
}

export interface NodeWorkerData {
  readonly id: NodeId;
  /** The bootstrap configuration's voters (Config.peers): the cluster's original ids, for every node, including one added later. */
  readonly peers: readonly NodeId[];
  /** The cluster's id (cluster.json), which the node's WAL names in every segment header. */
  readonly clusterId: string;
  readonly dir: string;
  readonly fsync: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly seed: number;
  readonly maxValueBytes: number;
  readonly segmentBytes: number;
  readonly preallocate: boolean;
  /** Compact the log into a snapshot every this many applied entries (§7). */
  readonly snapshotEntries: number;
  /** The most snapshot bytes in one InstallSnapshot (Config.maxSnapshotChunkBytes). */
  readonly snapshotChunkBytes: number;
  /** The largest snapshot a follower takes (Config.maxSnapshotBytes). */
  readonly maxSnapshotBytes: number;
  /** A follower starts no turn within this many ms of starting its last fdatasync (0: off). */
  readonly followerSyncSpacingMs: number;
  readonly statusIntervalMs: number;
  /** Int32Array view (power-loss.ts, PowerLossSlot): [segment, offset] of the durable end
   *  of the WAL, what of the snapshot file is not durable yet, and which segment
   *  deletions are not, for losing crashes. */
  readonly syncedPosition: SharedArrayBuffer;
  /** The lowest pino level written to node.log (ClusterOptions.logLevel). */
  readonly logLevel: LogLevel;
  readonly testOnly: TestOnlyClusterBugs;
}

/**
 * How a membership request ended. `ok`: the configuration entry committed (and was applied
 * by the node that answers). Otherwise a refusal (nothing was appended: `indeterminate`
 * false) or a proposal whose fate this node cannot tell (it lost leadership, or a
 * snapshot jumped past the entry: `indeterminate` true).
 */
export type MembershipResult =
  | { readonly ok: true; readonly index: LogIndex; readonly membership: Membership }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly leaderId: NodeId; readonly indeterminate: boolean };

export type ControlToNode =
  /** Sent at start and at run time, whenever a peer (re)starts or joins: replaces any earlier port to it. */
  | { readonly type: 'peer-port'; readonly peer: NodeId; readonly port: MessagePort }
  /**
   * Propose one membership change (thesis §4.1) and answer with a 'membership-result' once
   * its entry commits. `idempotent`: a retry after an attempt whose outcome is unknown; if
   * the node leads and its configuration already holds the change, it answers ok once that
   * configuration is committed instead of proposing again.
   */
  | { readonly type: 'propose-membership'; readonly requestId: number; readonly change: ClusterMembershipChange; readonly idempotent: boolean }
  | { readonly type: 'client-port'; readonly port: MessagePort }
  | { readonly type: 'link-faults'; readonly faults: Readonly<Record<string, LinkFault>> }
  | { readonly type: 'campaign' }
  | { readonly type: 'transfer'; readonly to: NodeId }
  | { readonly type: 'tick-ms'; readonly tickMs: number }
  | { readonly type: 'stop' };

export interface RecoveryFigures {
  readonly entries: number;
  readonly segments: number;
  readonly truncatedBytes: number;
  readonly durationMs: number;
  readonly term: number;
}

export type NodeToControl =
  | { readonly type: 'started'; readonly recovery: RecoveryFigures }
  | { readonly type: 'status'; readonly status: NodeStatus }
  | { readonly type: 'events'; readonly events: readonly Omit<ClusterEvent, 'time'>[] }
  | { readonly type: 'membership-result'; readonly requestId: number; readonly result: MembershipResult }
  | { readonly type: 'stopped' }
  | { readonly type: 'failed'; readonly code: string; readonly message: string };

// ---------------------------------------------------------------------------------
// A worker that ends because its disk failed (not a bug).

/**
 * What failed when a node's own files refused an I/O operation (WAL_IO), or gave back
 * other bytes than were written (WAL_CORRUPT: a record read back for a follower failed
 * its CRC): for its node.log and the supervisor's report.
 */
export interface DiskFailure {
  readonly code: typeof StorageErrorCode.Io | typeof StorageErrorCode.Corrupt;
  readonly message: string;
  /** The operating system's code (ENOSPC, EIO, EROFS, ...), or null if none is known. */
  readonly errno: string | null;
  readonly syscall: string | null;
  /** The file or directory (as the error names it), or null. */
  readonly path: string | null;
}

/**
 * The disk failure `error` reports (a storage error with code WAL_IO or WAL_CORRUPT, thrown
 * in the worker or as it arrives at the supervisor, where its `code` and `cause` survive
 * the worker boundary), or null for anything else: a violated invariant or any other bug,
 * which is reported as one.
 */
export function diskFailure(error: unknown): DiskFailure | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  if (code === StorageErrorCode.Corrupt) {
    // "WAL corrupt: <file> at offset <n>: expected ..., found ...": no system error.
    return { code, message: error.message, errno: null, syscall: null, path: /^WAL corrupt: (.+?) at offset \d+:/.exec(error.message)?.[1] ?? null };
  }
  if (code !== StorageErrorCode.Io) return null;
  const cause = (error as { cause?: unknown }).cause;
  const fields = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown; syscall?: unknown; path?: unknown; message?: unknown }) : {};
  const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
  // The storage's messages read "<what failed> <path>: <the system's message>".
  const causeMessage = text(fields.message);
  const what = causeMessage !== null && error.message.endsWith(`: ${causeMessage}`) ? error.message.slice(0, -causeMessage.length - 2) : error.message;
  const pathAt = what.indexOf(' /');
  return {
    code: StorageErrorCode.Io,
    message: error.message,
    errno: text(fields.code) ?? /\b(E[A-Z0-9]{2,})\b/.exec(causeMessage ?? error.message)?.[1] ?? null,
    syscall: text(fields.syscall),
    path: text(fields.path) ?? (pathAt >= 0 ? what.slice(pathAt + 1) : null),
  };
}

/** The supervisor's report of node `id` whose worker ended with `error`, if that is a disk failure; else null. */
export function describeDiskFailure(id: NodeId, error: unknown): string | null {
  const failure = diskFailure(error);
  if (failure === null) return null;
  const full = failure.errno === 'ENOSPC' || failure.errno === 'EDQUOT';
  return `node ${id} stopped: its disk failed: ${failure.message} (${failure.code}); restart it once ${full ? 'there is room' : 'its disk is mended'}`;
}
