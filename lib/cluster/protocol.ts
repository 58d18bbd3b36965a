// The wire between clients and nodes, and between the supervisor and its workers.
//
// Client traffic is msgpack (msgpackr): a batch of frames per post, as an exact-size
// buffer that is transferred. Control traffic (supervisor <-> worker) is rare and uses
// structured clone. Everything that arrives from a port is `unknown` until one of the
// decoders here has checked it.

import { Packr } from 'msgpackr';
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
  const view = packr.pack(value);
  const exact = new Uint8Array(view.length);
  exact.set(view);
  return exact;
}

export function unpackBytes(bytes: unknown): unknown {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('expected bytes');
  return packr.unpack(bytes);
}

const MAX_RID = Number.MAX_SAFE_INTEGER;

function isRid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_RID;
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
    const reason = checkClientFrame(raw);
    if (reason === null) frames.push(raw as ClientFrame);
    else reasons.push(reason);
  }
  return { frames, malformed: reasons.length, reasons };
}

function checkClientFrame(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null) return 'frame is not an object';
  const frame = raw as Record<string, unknown>;
  if (!isRid(frame['rid'])) return 'frame has no valid rid';
  switch (frame['t']) {
    case 'w':
      return frame['command'] instanceof Uint8Array ? null : 'write frame without command bytes';
    case 'r':
      return typeof frame['key'] === 'string' ? null : 'read frame without a string key';
    default:
      return `unknown frame type ${JSON.stringify(frame['t'])}`;
  }
}

/** Checks one batch of replies (client side). */
export function decodeReplyBatch(bytes: unknown): Reply[] {
  const decoded = unpackBytes(bytes);
  if (!Array.isArray(decoded)) throw new TypeError('reply batch is not an array');
  const replies: Reply[] = [];
  for (const raw of decoded as unknown[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const reply = raw as Record<string, unknown>;
    if (!isRid(reply['rid'])) continue;
    if (reply['ok'] === true) {
      replies.push({ rid: reply['rid'], ok: true, value: (reply['value'] ?? null) as JsonValue });
    } else if (reply['ok'] === false && typeof reply['code'] === 'string') {
      replies.push({
        rid: reply['rid'],
        ok: false,
        code: reply['code'],
        message: typeof reply['message'] === 'string' ? reply['message'] : reply['code'],
        leaderId: typeof reply['leaderId'] === 'number' ? reply['leaderId'] : 0,
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
