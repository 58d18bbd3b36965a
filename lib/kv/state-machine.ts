// The replicated key-value state machine. Every node applies the same committed log
// entries in the same order and must reach the same state, so this is pure and
// deterministic: no clock, no randomness, no I/O. Anything time-like (session
// expiry) is driven by log indexes.
//
// Exactly-once semantics come from client sessions (Ongaro's thesis §6.3): "each
// client is given a unique identifier, and clients assign unique serial numbers to
// every command. Each server's state machine maintains a session for each client. The
// session tracks the latest serial number processed for the client, along with the
// associated response. If a server receives a command whose serial number has already
// been executed, it responds immediately without re-executing the request."
// Here a session keeps a reply per seq (a client may have several requests in
// flight), and the client tells us, with `ackedBelow`, which replies it no longer needs.
// The unique identifier is the session id: the index of the entry that registered the
// client's id (a UUID), as the thesis assigns it; requests carry it, not the client id.
// An index is easy to guess, so a session also has the secret its register carried, and
// a request that names it under another secret is SESSION_MISMATCH and changes nothing
// (see lib/kv/command.ts).

import { Packr, Unpackr } from 'msgpackr';
import {
  containerHeaderBytes,
  decodeCommand,
  decodedJsonValue,
  exactCopy,
  isCertainlyValidPut,
  isVettedPut,
  isSessionId,
  isSessionSecret,
  isValidDecodedKey,
  jsonEncodedSize,
  plainPut,
  unpackFreshView,
  writeJsonValue,
  KV_LIMITS,
  KvError,
  KvErrorCode,
  type Command,
  type JsonValue,
  type KvOperation,
  type KvReply,
} from './command.js';
import { assertNever } from '../raft/assert.js';
import { MsgpackWriter } from '../transport/msgpack-writer.js';
import { KeyValueTable } from './key-value-table.js';
import { asciiStrAt, msgpackItemEnd, ScalarCursor } from './flat-tuple.js';

export interface KvStateMachineOptions {
  /** Sessions kept before the least recently active one is evicted (default KV_LIMITS.maxSessions). */
  readonly maxSessions?: number;
  /** Stored replies per session before the oldest is dropped (default KV_LIMITS.maxRepliesPerSession). */
  readonly maxRepliesPerSession?: number;
  /** TEST-ONLY broken variant: no sessions, no deduplication; every request is applied. */
  readonly disableSessions?: boolean;
}

class Session {
  constructor(
    readonly clientId: string,
    /** The session id: the log index of the register entry that opened it. */
    readonly id: number,
    /** The secret its register carried (every request must carry it too); 0: a session from before secrets, which no request with a secret names. */
    readonly secret: number,
    /** Log index of the last register or request of this client: the LRU order. Unique among
     *  sessions (each log index touches one session), so the least recently active is well defined. */
    public lastActivityIndex: number,
    /** Replies of seqs below this are forgotten; a request below it is stale. */
    public floorSeq: number,
    /** seq → reply, in the order they were applied. */
    readonly replies: ReplyWindow = new ReplyWindow(),
  ) {}
}

/**
 * The sessions by session id (what every request carries) and by client id (what a
 * registration names), in registration order (a Map's: the same on every replica, and
 * kept by snapshots).
 */
class SessionTable {
  readonly #byClientId = new Map<string, Session>();
  readonly #byId = new Map<number, Session>();

  get size(): number {
    return this.#byClientId.size;
  }

  byClientId(clientId: string): Session | undefined {
    return this.#byClientId.get(clientId);
  }

  byId(id: number): Session | undefined {
    return this.#byId.get(id);
  }

  /** Adds a session whose client id and session id are both new. */
  add(session: Session): void {
    this.#byClientId.set(session.clientId, session);
    this.#byId.set(session.id, session);
  }

  delete(session: Session): void {
    this.#byClientId.delete(session.clientId);
    this.#byId.delete(session.id);
  }

  /** In registration order. */
  values(): IterableIterator<Session> {
    return this.#byClientId.values();
  }
}

/**
 * A session's stored replies, oldest first: a queue (replies are only ever dropped from
 * the front) that is also looked up by seq. It replaced a Map<seq, reply>, whose set,
 * delete and key iterator per request were a seventh of applying a put. Seqs in it are
 * unique (a seq already stored is answered, never stored again).
 */
export class ReplyWindow {
  /** A ring of capacity a power of two; it grows and never shrinks (no allocation in the steady state). */
  #seqs: number[] = new Array<number>(INITIAL_REPLY_SLOTS).fill(0);
  #replies: (KvReply | undefined)[] = new Array<KvReply | undefined>(INITIAL_REPLY_SLOTS).fill(undefined);
  /** The slot of the oldest reply. */
  #head = 0;
  #size = 0;
  /** No stored seq is above this: a new request (the common case) is found absent without a scan. */
  #maxSeq = 0;

  get size(): number {
    return this.#size;
  }

  get(seq: number): KvReply | undefined {
    if (seq > this.#maxSeq) return undefined;
    const mask = this.#seqs.length - 1;
    // Newest first: a retry is usually of a recent request.
    for (let i = this.#size - 1; i >= 0; i--) {
      const slot = (this.#head + i) & mask;
      if (this.#seqs[slot] === seq) return this.#replies[slot];
    }
    return undefined;
  }

  /** Stores the reply of `seq`, which must not be stored already. */
  push(seq: number, reply: KvReply): void {
    if (this.#size === this.#seqs.length) this.#grow();
    const slot = (this.#head + this.#size) & (this.#seqs.length - 1);
    this.#seqs[slot] = seq;
    this.#replies[slot] = reply;
    this.#size++;
    if (seq > this.#maxSeq) this.#maxSeq = seq;
  }

  /** The seq of the oldest stored reply, or -1 when empty. */
  oldestSeq(): number {
    return this.#size > 0 ? this.#seqs[this.#head]! : -1;
  }

  dropOldest(): void {
    if (this.#size === 0) return;
    this.#replies[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#seqs.length - 1);
    this.#size--;
  }

  /** [seq, reply] pairs, oldest first (the snapshot's order). */
  entries(): [number, KvReply][] {
    const pairs: [number, KvReply][] = [];
    const mask = this.#seqs.length - 1;
    for (let i = 0; i < this.#size; i++) {
      const slot = (this.#head + i) & mask;
      pairs.push([this.#seqs[slot]!, this.#replies[slot]!]);
    }
    return pairs;
  }

  #grow(): void {
    const pairs = this.entries();
    const capacity = this.#seqs.length * 2;
    this.#seqs = new Array<number>(capacity).fill(0);
    this.#replies = new Array<KvReply | undefined>(capacity).fill(undefined);
    pairs.forEach(([seq, reply], slot) => {
      this.#seqs[slot] = seq;
      this.#replies[slot] = reply;
    });
    this.#head = 0;
  }
}

/** A session's first ring; a busy one grows it (doubling) to what its requests in flight need. */
const INITIAL_REPLY_SLOTS = 8;

/** An incremental snapshot being written (KvStateMachine.beginSnapshot). */
interface SnapshotInProgress {
  /** The applied index the snapshot is of. */
  readonly index: number;
  readonly out: MsgpackWriter;
  /** Where the data array's header goes (its count is known at the end). */
  readonly dataHeader: number;
  written: number;
  /**
   * By id: 1 while the id holds a key that existed at the snapshot's index and that the
   * snapshot has not written yet. Ids handed out later are beyond it or 0 in it.
   */
  readonly pending: Uint8Array;
  /**
   * By id, in the order they were set aside: the [key, value] pairs, encoded as the
   * snapshot writes them, of pending keys as they were before a change (copy on write).
   * Each is written where the walk reaches its id, or at the end (its key was removed).
   */
  readonly kept: Map<number, Uint8Array>;
  /** The sessions section, written when the snapshot began. */
  readonly sessions: Uint8Array;
}

const OK_NULL: KvReply = Object.freeze({ ok: true, value: null });
const OK_TRUE: KvReply = Object.freeze({ ok: true, value: true });
const OK_FALSE: KvReply = Object.freeze({ ok: true, value: false });

/** 3: sessions carry their secret. */
const SNAPSHOT_FORMAT_VERSION = 3;
/** 2: sessions carry their id (the register entry's index) but no secret; still restored, each session with none. */
const UNSECURED_SNAPSHOT_FORMAT_VERSION = 2;
/** 1: a raftlab from before session ids (sessions named by client id only); still restored. */
const LEGACY_SNAPSHOT_FORMAT_VERSION = 1;
/** A snapshot's session row: [clientId, id, secret, lastActivityIndex, floorSeq, [[seq, reply]...]] (a version 2 row has no secret, a version 1 row no id either). */
const SESSION_ROW_FIELDS = 6;

function isSnapshotFormatVersion(version: unknown): version is number {
  return version === SNAPSHOT_FORMAT_VERSION || version === UNSECURED_SNAPSHOT_FORMAT_VERSION || version === LEGACY_SNAPSHOT_FORMAT_VERSION;
}
/** snapshot()'s first buffer: it doubles as needed. */
const SNAPSHOT_INITIAL_BYTES = 1 << 20;
/**
 * An incremental snapshot's buffer is this much larger than the last snapshot, so that it
 * is not grown (a copy into untouched memory, 2.6 ms for 1 MiB here) in a step.
 */
const SNAPSHOT_HEADROOM = 1.25;

// Snapshots use plain maps (not msgpackr records) for the same reason commands do:
// arbitrary user keys; and so the bytes depend only on the state.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
/** The stored reply of nearly every put, packed once. */
const OK_NULL_PACKED = exactCopy(packr.pack(OK_NULL));

function malformedSnapshot(why: string): KvError {
  return new KvError(KvErrorCode.MalformedSnapshot, `malformed snapshot: ${why}`);
}

/** Where #restoreFromBytes found the text of a key or value. */
const restoredText = { start: 0, end: 0 };

/** The msgpack item bytes[start, end) decoded alone, or undefined if msgpackr refuses it. */
function decodedItem(bytes: Uint8Array, start: number, end: number): unknown {
  try {
    return unpackFreshView(unpackr, bytes.subarray(start, end));
  } catch {
    return undefined;
  }
}

function errorReply(code: string, message: string): KvReply {
  return { ok: false, code, message };
}

/** An append refused by its bound. Its message depends only on the entry and the state: it is stored in sessions and snapshots, which must be alike on every replica. */
function listTooLarge(key: string, size: number, limit: number): KvReply {
  return errorReply(
    KvErrorCode.ValueTooLarge,
    `value too large: append to ${JSON.stringify(key)} would make the list ${size} bytes encoded, limit ${limit}; nothing was appended`,
  );
}

function unknownSession(session: number | string): KvReply {
  return errorReply(KvErrorCode.SessionExpired, `session ${session} is unknown or expired (evicted as least recently used); register again`);
}

/** A request (or register) naming a session under a secret that is not its: nothing changed. Its text names no secret. */
function sessionMismatch(session: number): KvReply {
  return errorReply(KvErrorCode.SessionMismatch, `session ${session} was registered with another secret: nothing was changed`);
}


/** Deep JSON equality (object key order does not matter). Used only by cas. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i] as JsonValue, b[i] as JsonValue)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  for (const key of aKeys) {
    if (!Object.hasOwn(b, key)) return false;
    if (!jsonEqual(a[key] as JsonValue, b[key] as JsonValue)) return false;
  }
  return true;
}

/** A deep copy of a JSON value, so callers never hold a reference the store mutates (append). */
export function cloneJson(value: JsonValue): JsonValue {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const copy: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(value)) copy[key] = cloneJson(value[key] as JsonValue);
  return copy;
}

export class KvStateMachine {
  /** Keys and values (strings as UTF-8 bytes in an arena, overwritten in place). */
  #data = new KeyValueTable();
  /**
   * Iteration order is registration order (the same on every replica, and kept by
   * snapshots). Activity only updates lastActivityIndex: reordering the Map on every
   * request cost a delete and a set per write on every node.
   */
  #sessions = new SessionTable();
  readonly #maxSessions: number;
  readonly #maxRepliesPerSession: number;
  readonly #disableSessions: boolean;
  /** Invariant: every entry up to here has been applied, in order, and none after it. */
  #appliedIndex = 0;
  /** The incremental snapshot in progress (beginSnapshot), or null. */
  #snapshotting: SnapshotInProgress | null = null;
  /** The size of the last snapshot this machine wrote (0: none yet), to size the next one's buffer. */
  #lastSnapshotBytes = 0;
  /** The buffers of the incremental snapshots this machine handed out, until handed back. */
  readonly #snapshotBuffers = new WeakSet<ArrayBufferLike>();
  /** A snapshot buffer handed back (recycleSnapshot), for the next snapshot to write into. */
  #recycledSnapshotBuffer: Buffer | null = null;
  /** Encodes the pairs an incremental snapshot sets aside (#keepForSnapshot). */
  readonly #keptPairWriter = new MsgpackWriter(256);
  /**
   * The encoded size (jsonEncodedSize) of stored lists that a bounded append measured,
   * kept up to date by every append after, so that an append costs the size of its element,
   * not of the list. By the list itself: a list replaced (put, cas, delete, a restore) is
   * a new array, not in here, measured afresh (once) by the next bounded append. It only
   * saves work: the size is a function of the list, so a node that restored a snapshot,
   * replayed its log or measured late decides every append as one that kept it all along.
   */
  #listSizes = new WeakMap<JsonValue[], number>();

  constructor(options: KvStateMachineOptions = {}) {
    this.#maxSessions = options.maxSessions ?? KV_LIMITS.maxSessions;
    this.#maxRepliesPerSession = options.maxRepliesPerSession ?? KV_LIMITS.maxRepliesPerSession;
    this.#disableSessions = options.disableSessions ?? false;
    if (!Number.isSafeInteger(this.#maxSessions) || this.#maxSessions < 1) {
      throw new Error(`KvStateMachine: maxSessions must be a positive integer, got ${this.#maxSessions}`);
    }
    if (!Number.isSafeInteger(this.#maxRepliesPerSession) || this.#maxRepliesPerSession < 1) {
      throw new Error(
        `KvStateMachine: maxRepliesPerSession must be a positive integer, got ${this.#maxRepliesPerSession}`,
      );
    }
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Number of keys stored. */
  get size(): number {
    return this.#data.size;
  }

  /** The value of `key` (null if absent), as a copy the caller may keep. */
  read(key: string): JsonValue {
    const id = this.#data.find(key);
    if (id < 0) return null;
    // A string value is decoded afresh; anything else is the store's own object, copied.
    return cloneJson(this.#data.value(id));
  }

  /** The value of `key` as a JSON value (undefined: absent); the store's own object, not a copy. */
  #valueOf(key: string): JsonValue | undefined {
    const id = this.#data.find(key);
    return id < 0 ? undefined : this.#data.value(id);
  }

  /**
   * Applies the committed entry at `index`, which must be appliedIndex + 1. `data` null
   * is the leader's no-op (§8) and yields null. Undecodable data yields an error reply
   * (MALFORMED_COMMAND, the same reply on every node, whatever its decoder met before) and
   * changes nothing else, rather than throwing: a committed entry cannot be refused.
   * `vetted`: isCertainlyValidPut was true of these very bytes (the leader checked the
   * write it proposed), so their strings are not scanned again.
   */
  apply(index: number, data: Uint8Array | null, vetted = false): KvReply | null {
    if (index !== this.#appliedIndex + 1) {
      throw new Error(
        `KvStateMachine.apply: entries must be applied consecutively: got index ${index} after ${this.#appliedIndex}`,
      );
    }
    if (data === null) {
      this.#appliedIndex = index;
      return null;
    }
    if ((vetted ? isVettedPut(data) : isCertainlyValidPut(data)) && plainPut.valueIsString) return this.#applyPlainPut(index, data);
    let command: Command;
    try {
      command = decodeCommand(data);
    } catch {
      this.#appliedIndex = index;
      // One reply for every undecodable entry, not decodeCommand's reason: how msgpackr
      // fails on some bytes depends on the node as well (a value nested 4,000 deep
      // overflows the stack of a node that applies it from a deeper call, and is refused
      // as too deep by another; a dangling structured-clone pointer fails one way before
      // the decoder first met an id, another way after), and every replica must answer
      // a committed entry alike. The leader checks a write with decodeCommand before
      // proposing it, and its client is told the reason then.
      return errorReply(KvErrorCode.MalformedCommand, `malformed command: the entry at index ${index} is not a command; applied as a no-op`);
    }
    return this.#applyCommand(index, command);
  }

  /** apply() of a decoded command (index already checked to be the next). */
  #applyCommand(index: number, command: Command): KvReply {
    this.#appliedIndex = index;
    switch (command.type) {
      case 'register':
        return this.#register(index, command.clientId, command.secret ?? 0);
      case 'request':
        return this.#request(index, command.clientId ?? command.session, command.secret, command.seq, command.ackedBelow, command.operation, command.maxValueBytes);
      default:
        return assertNever(command, 'command');
    }
  }

  /**
   * Opens the session of `clientId` (or refreshes its open one) and replies its id; an open
   * one under another secret is SESSION_MISMATCH, untouched. `secret` 0: a register from
   * before secrets.
   */
  #register(index: number, clientId: string, secret: number): KvReply {
    const existing = this.#sessions.byClientId(clientId);
    if (existing !== undefined) {
      if (existing.secret !== secret && !this.#disableSessions) return sessionMismatch(existing.id);
      existing.lastActivityIndex = index;
      return { ok: true, value: existing.id };
    }
    // Bounded table: evict the least recently active session. Driven only by log
    // indexes, so every replica evicts the same one. A scan, but only when a new
    // session arrives at a full table.
    while (this.#sessions.size >= this.#maxSessions) {
      let oldest: Session | null = null;
      for (const session of this.#sessions.values()) {
        if (oldest === null || session.lastActivityIndex < oldest.lastActivityIndex) oldest = session;
      }
      if (oldest === null) break;
      this.#sessions.delete(oldest);
    }
    // A log index is never reused, so neither is a session id: a request of an evicted
    // session can never be taken for one of a newer session.
    this.#sessions.add(new Session(clientId, index, secret, index, 0));
    return { ok: true, value: index };
  }

  /**
   * `session`: its id, or the client id of a legacy request. `secret`: the request's
   * (undefined in one from before secrets, replayed from a WAL). `limit`: an append's
   * (Command maxValueBytes).
   */
  #request(index: number, session: number | string, secret: number | undefined, seq: number, ackedBelow: number, operation: KvOperation, limit: number | undefined): KvReply {
    const admitted = this.#admit(index, session, secret, seq, ackedBelow);
    if (admitted !== null && !(admitted instanceof Session)) return admitted;
    // A refusal (NOT_A_LIST, VALUE_TOO_LARGE) is remembered like any reply: a retry gets it again.
    const reply = this.#execute(operation, limit);
    if (admitted !== null) this.#remember(admitted, seq, reply);
    return reply;
  }

  /**
   * A put of an ASCII string, applied from its bytes (isCertainlyValidPut said where its
   * parts are): the value's bytes go straight into the arena, no string is made of them.
   * The same result as decoding it and applying the command.
   */
  #applyPlainPut(index: number, data: Uint8Array): KvReply {
    const put = plainPut;
    const { seq, keyStart, keyEnd, valueTextStart, valueEnd } = put;
    this.#appliedIndex = index;
    let admitted: Session | KvReply | null = null;
    if (!this.#disableSessions) {
      const session = this.#sessions.byId(put.session);
      admitted =
        session === undefined ? unknownSession(put.session) : session.secret !== put.secret ? sessionMismatch(session.id) : this.#admitTo(index, session, seq, put.ackedBelow);
    }
    if (admitted !== null && !(admitted instanceof Session)) return admitted;
    // The key is looked up by its bytes: no string is made of it.
    let id = this.#data.findBytes(data, keyStart, keyEnd);
    if (this.#snapshotting !== null) this.#keepForSnapshot(this.#snapshotting, id);
    if (id < 0) id = this.#data.insertBytes(data, keyStart, keyEnd);
    this.#data.setStringBytes(id, data, valueTextStart, valueEnd);
    if (admitted !== null) this.#remember(admitted, seq, OK_NULL);
    return OK_NULL;
  }

  /**
   * Exactly-once (thesis §6.3): the session of a request, if it is to be executed; a reply
   * if it is answered without executing (a retry, a stale or unknown session, or one
   * named under another secret, which is left as it was); null when sessions are disabled.
   */
  #admit(index: number, sessionId: number | string, secret: number | undefined, seq: number, ackedBelow: number): Session | KvReply | null {
    if (this.#disableSessions) return null;
    const session = typeof sessionId === 'number' ? this.#sessions.byId(sessionId) : this.#sessions.byClientId(sessionId);
    if (session === undefined) return unknownSession(sessionId);
    // A request from before secrets (only a WAL of that time holds one) is not checked.
    if (secret !== undefined && secret !== session.secret) return sessionMismatch(session.id);
    return this.#admitTo(index, session, seq, ackedBelow);
  }

  /** #admit once the session is found. */
  #admitTo(index: number, session: Session, seq: number, ackedBelow: number): Session | KvReply {
    session.lastActivityIndex = index;
    if (ackedBelow > session.floorSeq) {
      session.floorSeq = ackedBelow;
      // Replies are stored in the order applied, which is nearly seq order: drop from the
      // oldest until one the client still needs. A straggler left behind is harmless (it
      // is the right reply, and the table stays bounded by maxRepliesPerSession).
      const replies = session.replies;
      for (let oldest = replies.oldestSeq(); oldest !== -1 && oldest < ackedBelow; oldest = replies.oldestSeq()) {
        replies.dropOldest();
      }
    }
    const stored = session.replies.get(seq);
    if (stored !== undefined) return stored; // a retry: answered from the session, not applied again
    if (seq < session.floorSeq) {
      // Either the client said it has this reply, or it was dropped to bound the table.
      // It may have been applied: the client must not take this as "did not happen".
      return errorReply(
        KvErrorCode.StaleRequest,
        `request ${seq} of session ${session.id} is below the session's floor ${session.floorSeq}; its reply is gone`,
      );
    }
    return session;
  }

  #remember(session: Session, seq: number, reply: KvReply): void {
    session.replies.push(seq, reply);
    while (session.replies.size > this.#maxRepliesPerSession) {
      const oldest = session.replies.oldestSeq();
      session.replies.dropOldest();
      // A retry of the dropped seq must not be applied a second time: make it stale.
      if (oldest >= session.floorSeq) session.floorSeq = oldest + 1;
    }
  }

  /** Sets `key` to `value` (a string goes to the value arena, in place when it fits). */
  #store(key: string, value: JsonValue): void {
    let id = this.#data.find(key);
    if (this.#snapshotting !== null) this.#keepForSnapshot(this.#snapshotting, id);
    if (id < 0) id = this.#data.insert(key);
    if (typeof value === 'string') this.#data.setString(id, value);
    else this.#data.setJson(id, value);
  }

  /**
   * Pushes `element` onto the list of `key` (an absent key becomes [element]), unless the
   * value is not a list (NOT_A_LIST) or the list would then encode to more than `limit`
   * bytes (VALUE_TOO_LARGE; nothing changes). `limit` comes from the entry, never from
   * this node's options, so every replica decides alike; undefined (an append from before
   * the bound) pushes unbounded, as then. O(size of the element): the list's size is kept
   * as it grows (#listSizes).
   */
  #append(key: string, element: JsonValue, limit: number | undefined): KvReply {
    const id = this.#data.find(key);
    if (id < 0) {
      const list = [element];
      if (limit !== undefined) {
        const size = containerHeaderBytes(1) + jsonEncodedSize(element);
        if (size > limit) return listTooLarge(key, size, limit);
        this.#listSizes.set(list, size);
      }
      this.#store(key, list);
      return OK_NULL;
    }
    const current = this.#data.value(id);
    if (!Array.isArray(current)) {
      return errorReply(KvErrorCode.NotAList, `append: the value of ${JSON.stringify(key)} is not a list`);
    }
    // An unbounded append measures nothing, as before the bound, but keeps a size already known.
    const known = this.#listSizes.get(current);
    if (limit !== undefined || known !== undefined) {
      const before = known ?? jsonEncodedSize(current);
      const length = current.length;
      const size = before - containerHeaderBytes(length) + containerHeaderBytes(length + 1) + jsonEncodedSize(element);
      if (limit !== undefined && size > limit) {
        if (known === undefined) this.#listSizes.set(current, before);
        return listTooLarge(key, size, limit);
      }
      this.#listSizes.set(current, size);
    }
    // In place: appending stays O(1). read() and get replies hand out copies, so
    // nobody outside holds this array (a snapshot in progress encodes it aside first).
    if (this.#snapshotting !== null) this.#keepForSnapshot(this.#snapshotting, id);
    current.push(element);
    return OK_NULL;
  }

  /**
   * The encoded size (jsonEncodedSize) of the list stored under `key`, as the bound on
   * appends sees it; undefined if the value is not a list or the key is absent. For tests.
   */
  listEncodedSize(key: string): number | undefined {
    const value = this.#valueOf(key);
    if (!Array.isArray(value)) return undefined;
    return this.#listSizes.get(value) ?? jsonEncodedSize(value);
  }

  /** For tests: whether the size of the list under `key` is kept (an append measured it), not to be measured again. */
  listSizeKept(key: string): boolean {
    const value = this.#valueOf(key);
    return Array.isArray(value) && this.#listSizes.has(value);
  }

  #execute(operation: KvOperation, limit: number | undefined): KvReply {
    const key = operation.key;
    switch (operation.op) {
      case 'put':
        this.#store(key, operation.value);
        return OK_NULL;
      case 'delete': {
        const id = this.#data.find(key);
        if (this.#snapshotting !== null) this.#keepForSnapshot(this.#snapshotting, id);
        if (id >= 0) this.#data.remove(id);
        return OK_NULL;
      }
      case 'append':
        return this.#append(key, operation.value, limit);
      case 'cas': {
        const current = this.#valueOf(key) ?? null;
        if (!jsonEqual(current, operation.expected)) return OK_FALSE;
        this.#store(key, operation.value);
        return OK_TRUE;
      }
      case 'get': {
        const current = this.#valueOf(key);
        // A copy: the reply is stored in the session and must not change with later appends.
        return current === undefined ? OK_NULL : { ok: true, value: cloneJson(current) };
      }
      default:
        return assertNever(operation, 'operation');
    }
  }

  /**
   * The whole state (data, sessions in registration order, appliedIndex) as bytes. Two machines
   * that applied the same log produce identical bytes.
   */
  snapshot(): Uint8Array {
    // Written straight into one buffer, as packr would pack [version, appliedIndex,
    // [[key, value]...], [[clientId, id, lastActivityIndex, floorSeq, [[seq, reply]...]]...]]:
    // building those arrays first and packing them cost 10-130 ms a compaction (cold
    // code, under load) and stalled the node for as long.
    const out = new MsgpackWriter(SNAPSHOT_INITIAL_BYTES);
    out.arrayHeader(4);
    out.uint(SNAPSHOT_FORMAT_VERSION);
    out.uint(this.#appliedIndex);
    out.arrayHeader(this.#data.size);
    for (let id = this.#data.first(); id >= 0; id = this.#data.next(id)) this.#writeStored(out, id);
    this.#writeSessions(out);
    return out.take();
  }

  /**
   * Starts an incremental snapshot of the state as it is now, at appliedIndex (returned):
   * snapshotStep() writes it a slice at a time while entries go on being applied, so a
   * compaction never stops the node for the whole state at once. A key changed before
   * the snapshot reached it keeps its value as of that index aside (copy on write); the
   * sessions, which are few, are written at once. The bytes restore exactly the state at
   * that index (the data in a possibly different order than snapshot() writes). Replaces
   * a snapshot in progress; restoreFrom() abandons one.
   */
  beginSnapshot(): number {
    const sessions = new MsgpackWriter(64 * 1024);
    this.#writeSessions(sessions);
    const bytes = Math.max(SNAPSHOT_INITIAL_BYTES, Math.ceil(this.#lastSnapshotBytes * SNAPSHOT_HEADROOM));
    const recycled = this.#recycledSnapshotBuffer;
    this.#recycledSnapshotBuffer = null;
    const out = new MsgpackWriter(bytes, recycled !== null && recycled.byteLength >= bytes ? recycled : undefined);
    out.arrayHeader(4);
    out.uint(SNAPSHOT_FORMAT_VERSION);
    out.uint(this.#appliedIndex);
    const pending = new Uint8Array(this.#data.idLimit);
    for (let id = this.#data.first(); id >= 0; id = this.#data.next(id)) pending[id] = 1;
    this.#snapshotting = {
      index: this.#appliedIndex,
      out,
      dataHeader: out.array32Placeholder(),
      written: 0,
      pending,
      kept: new Map(),
      sessions: sessions.take(),
    };
    this.#data.walkBegin();
    return this.#appliedIndex;
  }

  /** The index of the incremental snapshot in progress, or null. */
  get snapshotInProgress(): number | null {
    return this.#snapshotting?.index ?? null;
  }

  /** Writes up to `maxKeys` more keys of the snapshot begun by beginSnapshot(): its bytes once complete, else null. */
  snapshotStep(maxKeys: number): Uint8Array | null {
    const snapshot = this.#snapshotting;
    if (snapshot === null) throw new Error('KvStateMachine.snapshotStep: no snapshot in progress (beginSnapshot first)');
    const { out, pending, kept } = snapshot;
    for (let step = 0; step < maxKeys; step++) {
      // Keys added meanwhile are reached too (they are the newest): they are not pending.
      const id = this.#data.walkNext();
      if (id < 0) return this.#finishSnapshot(snapshot);
      if (id >= pending.length || pending[id] === 0) continue;
      pending[id] = 0;
      const pair = kept.size > 0 ? kept.get(id) : undefined;
      if (pair === undefined) {
        this.#writeStored(out, id);
      } else {
        kept.delete(id);
        out.raw(pair);
      }
      snapshot.written++;
    }
    return null;
  }

  #finishSnapshot(snapshot: SnapshotInProgress): Uint8Array {
    const out = snapshot.out;
    // What is left aside belongs to keys removed since the snapshot's index.
    for (const pair of snapshot.kept.values()) {
      out.raw(pair);
      snapshot.written++;
    }
    out.patchArray32(snapshot.dataHeader, snapshot.written);
    out.raw(snapshot.sessions);
    this.#snapshotting = null;
    this.#lastSnapshotBytes = out.length;
    // The writer is this snapshot's alone: its buffer, written a slice per step, becomes
    // the snapshot's bytes. A copy into fresh memory here was a 3-6 ms step.
    const bytes = out.release();
    this.#snapshotBuffers.add(bytes.buffer);
    return bytes;
  }

  /**
   * Hands back the bytes of an incremental snapshot of this machine that nothing refers
   * to any more (the host's core and storage hold a newer one): the next snapshot is
   * written into the same memory. Memory touched for the first time costs about 10 us a
   * page here, so a fresh buffer made serialising a 1.4 MB state take twice the slices.
   * Bytes of anything else, or handed back twice, are refused.
   */
  recycleSnapshot(bytes: Uint8Array): void {
    if (!this.#snapshotBuffers.has(bytes.buffer)) {
      throw new Error('KvStateMachine.recycleSnapshot: not the bytes of a snapshot this machine handed out, or already handed back');
    }
    this.#snapshotBuffers.delete(bytes.buffer);
    this.#recycledSnapshotBuffer = Buffer.from(bytes.buffer);
  }

  /**
   * Before the key of `id` (-1: a key not stored, which has nothing to keep) changes or
   * is removed during an incremental snapshot: if the snapshot still owes that key, its
   * pair as it is now is encoded and set aside, once. A removed key's id may be handed
   * out again to a key created since: the walk, reaching that id, writes the pair set
   * aside for it, which is the removed key's (the order of the pairs is not part of the
   * state), and never the new key.
   */
  #keepForSnapshot(snapshot: SnapshotInProgress, id: number): void {
    const { pending, kept } = snapshot;
    if (id < 0 || id >= pending.length || pending[id] === 0 || kept.has(id)) return;
    const scratch = this.#keptPairWriter;
    this.#writeStored(scratch, id);
    kept.set(id, scratch.take());
  }

  /** One [key, value] pair of the snapshot's data: the stored key and value of `id`, written straight from the arenas' bytes when they are there. */
  #writeStored(out: MsgpackWriter, id: number): void {
    out.arrayHeader(2);
    const key = this.#data.keyBytesOf(id);
    out.strHeader(key.length);
    out.raw(key);
    if (this.#data.isString(id)) {
      const value = this.#data.stringBytesOf(id);
      out.strHeader(value.length);
      out.raw(value);
    } else {
      writeJsonValue(out, this.#data.json(id));
    }
  }

  #writeSessions(out: MsgpackWriter): void {
    out.arrayHeader(this.#sessions.size);
    for (const session of this.#sessions.values()) {
      out.arrayHeader(SESSION_ROW_FIELDS);
      out.str(session.clientId);
      out.uint(session.id);
      out.uint(session.secret);
      out.uint(session.lastActivityIndex);
      out.uint(session.floorSeq);
      const replies = session.replies.entries();
      out.arrayHeader(replies.length);
      for (const [seq, reply] of replies) {
        out.arrayHeader(2);
        out.uint(seq);
        out.raw(reply === OK_NULL ? OK_NULL_PACKED : packr.pack(reply));
      }
    }
  }

  /**
   * Rebuilds a machine from snapshot() bytes. Throws KvError MALFORMED_SNAPSHOT if the
   * bytes are not a snapshot (storage corruption must not be applied silently).
   */
  static restore(bytes: Uint8Array, options: KvStateMachineOptions = {}): KvStateMachine {
    if (bytes instanceof Uint8Array) {
      const machine = KvStateMachine.#restoreFromBytes(bytes, options);
      if (machine !== null) return machine;
    }
    return KvStateMachine.#restoreDecoded(bytes, options);
  }

  /**
   * restore() for the snapshot's common shape, read where it lies: a key or string value
   * that is ASCII goes from the snapshot's bytes straight into the table, anything else
   * is decoded alone with msgpackr. Decoding the whole snapshot first made a JS object of
   * every pair and a string of every key and value, only to encode them into the table
   * again: 1.1 s for 300,000 keys of 200 bytes, during which an installing follower
   * answered nothing. Null (declined) for any byte string it does not expect, which
   * #restoreDecoded then judges: both always agree on what a snapshot holds.
   */
  static #restoreFromBytes(bytes: Uint8Array, options: KvStateMachineOptions): KvStateMachine | null {
    const cursor = new ScalarCursor(bytes);
    if (cursor.arrayHeader() !== 4 || !cursor.scalar()) return null;
    const version = cursor.value;
    if (!isSnapshotFormatVersion(version)) return null;
    if (!cursor.scalar() || !isNonNegativeSafeInteger(cursor.value)) return null;
    const appliedIndex = cursor.value;
    const pairs = cursor.arrayHeader();
    // A pair takes three bytes at least: a count beyond that is not to be reserved for.
    if (pairs < 0 || 3 * pairs > bytes.length - cursor.at) return null;
    const machine = new KvStateMachine(options);
    machine.#appliedIndex = appliedIndex;
    const data = machine.#data;
    // The snapshot's size bounds its string values' bytes.
    data.reserve(pairs, bytes.length);
    const text = restoredText;
    let at = cursor.at;
    for (let pair = 0; pair < pairs; pair++) {
      if (bytes[at] !== 0x92) return null; // [key, value], as #writeStored writes it
      at++;
      let id: number;
      if (asciiStrAt(bytes, at, text) && text.end > text.start && text.end - text.start <= KV_LIMITS.maxKeyBytes) {
        at = text.end;
        id = data.findBytes(bytes, text.start, text.end);
        if (id < 0) id = data.insertBytes(bytes, text.start, text.end);
      } else {
        const end = msgpackItemEnd(bytes, at);
        const key = end < 0 ? undefined : decodedItem(bytes, at, end);
        if (!isValidDecodedKey(key)) return null;
        at = end;
        id = data.find(key);
        if (id < 0) id = data.insert(key);
      }
      if (asciiStrAt(bytes, at, text)) {
        at = text.end;
        data.setStringBytes(id, bytes, text.start, text.end);
      } else {
        const end = msgpackItemEnd(bytes, at);
        if (end < 0) return null;
        // Not a JSON value (msgpackr also makes Dates, BigInts, undefined, NaN, Buffers...): declined.
        const value = decodedJsonValue(decodedItem(bytes, at, end));
        if (value === undefined) return null;
        at = end;
        if (typeof value === 'string') data.setString(id, value);
        else data.setJson(id, value);
      }
    }
    // The sessions are few: decoded as they are by #restoreDecoded (trailing bytes included).
    const sessions = decodedItem(bytes, at, bytes.length);
    if (!Array.isArray(sessions)) return null;
    KvStateMachine.#restoreSessions(machine, version, appliedIndex, sessions);
    return machine;
  }

  /** restore() by decoding the whole snapshot with msgpackr: the reference, and the judge of anything unusual. */
  static #restoreDecoded(bytes: Uint8Array, options: KvStateMachineOptions): KvStateMachine {
    let decoded: unknown;
    try {
      if (!(bytes instanceof Uint8Array)) throw new Error('not bytes');
      decoded = unpackFreshView(unpackr, bytes);
    } catch (error) {
      throw malformedSnapshot(`undecodable (${error instanceof Error ? error.message : String(error)})`);
    }
    if (!Array.isArray(decoded) || decoded.length !== 4) throw malformedSnapshot('not a 4-element array');
    const [version, appliedIndex, data, sessions] = decoded as unknown[];
    if (!isSnapshotFormatVersion(version)) throw malformedSnapshot(`unknown format version ${String(version)}`);
    if (!isNonNegativeSafeInteger(appliedIndex)) throw malformedSnapshot('appliedIndex');
    if (!Array.isArray(data) || !Array.isArray(sessions)) throw malformedSnapshot('data or sessions is not an array');
    const machine = new KvStateMachine(options);
    machine.#appliedIndex = appliedIndex;
    for (const pair of data as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || !isValidDecodedKey(pair[0])) throw malformedSnapshot('data entry');
      // Only what a command can store: a snapshot value that is no JSON value (a Date, a
      // BigInt, undefined, NaN, a Buffer from msgpack's extensions) would be replied as no
      // JSON value, or make the reply or the next snapshot throw.
      const value = decodedJsonValue(pair[1]);
      if (value === undefined) throw malformedSnapshot(`the value of ${JSON.stringify(pair[0].slice(0, 40))} is not a JSON value`);
      machine.#store(pair[0], value);
    }
    KvStateMachine.#restoreSessions(machine, version, appliedIndex, sessions);
    return machine;
  }

  static #restoreSessions(machine: KvStateMachine, version: number, appliedIndex: number, sessions: unknown[]): void {
    const bad = malformedSnapshot;
    const fields = version === SNAPSHOT_FORMAT_VERSION ? SESSION_ROW_FIELDS : version === UNSECURED_SNAPSHOT_FORMAT_VERSION ? SESSION_ROW_FIELDS - 1 : SESSION_ROW_FIELDS - 2;
    for (const row of sessions) {
      if (!Array.isArray(row) || row.length !== fields) throw bad('session row');
      // A legacy row has no id: its session gets its last activity's index, as unique
      // among sessions as an id must be, never above the snapshot's index (so no later
      // register's), and the same on every replica that restores these bytes. A row
      // without a secret (version 1 or 2) gets 0: its client was of a raftlab from before
      // secrets, and no request with a secret can name its session any more.
      const [clientId, id, secret, lastActivityIndex, floorSeq, replies] = (
        version === SNAPSHOT_FORMAT_VERSION ? row : version === UNSECURED_SNAPSHOT_FORMAT_VERSION ? [row[0], row[1], 0, ...row.slice(2)] : [row[0], row[1], 0, ...row.slice(1)]
      ) as unknown[];
      if (typeof clientId !== 'string' || !isSessionId(id) || !isNonNegativeSafeInteger(lastActivityIndex)) throw bad('session row');
      // 0 in a version 3 row too: a session from before secrets (an old WAL's register) kept since.
      if (secret !== 0 && !isSessionSecret(secret)) throw bad(`session ${String(id)}'s secret`);
      if (!isNonNegativeSafeInteger(floorSeq) || !Array.isArray(replies)) throw bad('session row');
      if (id > appliedIndex || lastActivityIndex < id) throw bad(`session ${id} registered after its activity or the snapshot`);
      // Activity after the snapshot's index would keep the session from eviction longer than on the replicas that applied the log.
      if (lastActivityIndex > appliedIndex) throw bad(`session ${id} active at ${lastActivityIndex}, after the snapshot's index ${appliedIndex}`);
      if (machine.#sessions.byClientId(clientId) !== undefined) throw bad(`client ${clientId} has two sessions`);
      if (machine.#sessions.byId(id) !== undefined) throw bad(`session ${id} stored twice`);
      const session = new Session(clientId, id, secret as number, lastActivityIndex, floorSeq);
      for (const entry of replies as unknown[]) {
        if (!Array.isArray(entry) || entry.length !== 2 || !isNonNegativeSafeInteger(entry[0])) throw bad('reply');
        const reply: unknown = entry[1];
        if (!isReply(reply)) throw bad('reply');
        if (session.replies.get(entry[0]) !== undefined) throw bad(`reply of seq ${entry[0]} stored twice`);
        session.replies.push(entry[0], reply);
      }
      machine.#sessions.add(session);
    }
  }

  /**
   * Replaces this machine's whole state with a snapshot's (an InstallSnapshot from the
   * leader, §7: "Reset state machine using snapshot contents"). The bytes are checked
   * in full first (KvError MALFORMED_SNAPSHOT): on a refusal nothing changes.
   */
  restoreFrom(bytes: Uint8Array): void {
    this.adoptState(this.restoredFrom(bytes));
  }

  /**
   * restoreFrom's first half: a new machine with this one's limits, restored from the
   * snapshot's bytes checked in full (KvError MALFORMED_SNAPSHOT). This machine is left
   * as it is. A node host checks a leader's snapshot this way before it makes it durable,
   * and then installs it with adoptState, without restoring it a second time.
   */
  restoredFrom(bytes: Uint8Array): KvStateMachine {
    return KvStateMachine.restore(bytes, {
      maxSessions: this.#maxSessions,
      maxRepliesPerSession: this.#maxRepliesPerSession,
      disableSessions: this.#disableSessions,
    });
  }

  /**
   * restoreFrom's second half: this machine's whole state becomes `restored`'s, a machine
   * from restoredFrom (the same limits). `restored` shares that state from then on and
   * must not be used again. A snapshot in progress is abandoned.
   */
  adoptState(restored: KvStateMachine): void {
    if (
      restored === this ||
      restored.#maxSessions !== this.#maxSessions ||
      restored.#maxRepliesPerSession !== this.#maxRepliesPerSession ||
      restored.#disableSessions !== this.#disableSessions
    ) {
      throw new Error('KvStateMachine.adoptState: the machine adopted must come from restoredFrom (the same limits, another machine)');
    }
    this.#snapshotting = null;
    this.#data = restored.#data;
    this.#listSizes = restored.#listSizes;
    this.#sessions = restored.#sessions;
    this.#appliedIndex = restored.#appliedIndex;
  }
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A stored reply as #writeSessions writes one (its value checked, and made canonical, as a stored value's is). */
function isReply(value: unknown): value is KvReply {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record['ok'] === true) {
    if (!Object.hasOwn(record, 'value')) return false;
    const canonical = decodedJsonValue(record['value']);
    if (canonical === undefined) return false;
    record['value'] = canonical;
    return true;
  }
  return record['ok'] === false && typeof record['code'] === 'string' && typeof record['message'] === 'string';
}
