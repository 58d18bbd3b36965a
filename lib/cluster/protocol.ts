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
import { exactCopy } from '../kv/command.js';
import type { MessagePort } from 'node:worker_threads';
import type { NodeId } from '../raft/types.js';
import type { ClusterEvent, JsonValue, NodeStatus } from './types.js';

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

/** Encodes one post's worth of client frames (exact-size, transferable). */
export function encodeClientBatch(frames: readonly ClientFrame[]): Uint8Array {
  return packExact(frames.map((frame) => (frame.t === 'w' ? [FrameTag.write, frame.rid, frame.command] : [FrameTag.read, frame.rid, frame.key])));
}

/** Encodes one post's worth of replies (exact-size, transferable). */
export function encodeReplyBatch(replies: readonly Reply[]): Uint8Array {
  return packExact(replies.map((reply) => (reply.ok ? [reply.rid, reply.value] : [reply.rid, reply.code, reply.message, reply.leaderId])));
}

/**
 * Client frames for each node, posted as one batch per node per microtask: every request
 * made in one turn of the caller's event loop travels to its node in one port message.
 */
export class FrameBatcher {
  private readonly outboxes = new Map<NodeId, ClientFrame[]>();
  private flushScheduled = false;

  constructor(
    /** The port to post to, or undefined when the node cannot be reached. */
    private readonly portOf: (node: NodeId) => MessagePort | undefined,
    /** Told about each frame that could not be posted (no port). */
    private readonly undeliverable: (frame: ClientFrame, node: NodeId) => void,
    /** Told about each post, for statistics. */
    private readonly posted: (frames: number) => void = () => {},
  ) {}

  enqueue(node: NodeId, frame: ClientFrame): void {
    const outbox = this.outboxes.get(node);
    if (outbox === undefined) this.outboxes.set(node, [frame]);
    else outbox.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [node, frames] of this.outboxes) {
      if (frames.length === 0) continue;
      this.outboxes.set(node, []);
      const port = this.portOf(node);
      if (port === undefined) {
        for (const frame of frames) this.undeliverable(frame, node);
        continue;
      }
      const bytes = encodeClientBatch(frames);
      port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
      this.posted(frames.length);
    }
  }
}

/** Checks one batch of client frames. Refused frames are reported, never thrown. */
export function decodeClientBatch(bytes: unknown): { frames: ClientFrame[]; malformed: number; reasons: string[] } {
  const frames: ClientFrame[] = [];
  const reasons: string[] = [];
  let decoded: unknown;
  try {
    decoded = unpackBytes(bytes);
  } catch (error) {
    return { frames, malformed: 1, reasons: [`undecodable client batch: ${(error as Error).message}`] };
  }
  if (!Array.isArray(decoded)) return { frames, malformed: 1, reasons: ['client batch is not an array'] };
  for (const raw of decoded as unknown[]) {
    const frame = checkClientFrame(raw);
    if (typeof frame === 'string') reasons.push(frame);
    else frames.push(frame);
  }
  return { frames, malformed: reasons.length, reasons };
}

function checkClientFrame(raw: unknown): ClientFrame | string {
  if (!Array.isArray(raw) || raw.length !== 3) return 'frame is not a [tag, rid, argument] tuple';
  const [tag, rid, argument] = raw as unknown[];
  if (!isRid(rid)) return 'frame has no valid rid';
  switch (tag) {
    case FrameTag.write:
      return argument instanceof Uint8Array ? { t: 'w', rid, command: argument } : 'write frame without command bytes';
    case FrameTag.read:
      return typeof argument === 'string' ? { t: 'r', rid, key: argument } : 'read frame without a string key';
    default:
      return `unknown frame tag ${JSON.stringify(tag)}`;
  }
}

/** Checks one batch of replies (client side). */
export function decodeReplyBatch(bytes: unknown): Reply[] {
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

export interface TestOnlyClusterBugs {
  /** Serve reads from local state on whichever node believes it leads (no ReadIndex). */
  readonly staleReads?: boolean;
  /** Turn off the session table: retries are applied again. */
  readonly disableSessions?: boolean;
  /** Acknowledge appends before they are fsynced (and fsync only now and then). */
  readonly ackBeforeFsync?: boolean;
}

export interface NodeWorkerData {
  readonly id: NodeId;
  readonly peers: readonly NodeId[];
  readonly dir: string;
  readonly fsync: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly seed: number;
  readonly maxValueBytes: number;
  readonly segmentBytes: number;
  /** Compact the log into a snapshot every this many applied entries (§7). */
  readonly snapshotEntries: number;
  readonly statusIntervalMs: number;
  /** Int32Array view: [segment, offset] of the durable end of the WAL, for losing crashes. */
  readonly syncedPosition: SharedArrayBuffer;
  readonly testOnly: TestOnlyClusterBugs;
}

export type ControlToNode =
  | { readonly type: 'peer-port'; readonly peer: NodeId; readonly port: MessagePort }
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
  | { readonly type: 'stopped' }
  | { readonly type: 'failed'; readonly code: string; readonly message: string };
