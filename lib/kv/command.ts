// The commands of the replicated key-value store: what a client proposes, how it is laid
// out in a log entry, and the checks that keep anything invalid out of the log.
//
// Everything here is pure and deterministic (no clock, no randomness, no I/O): the same
// bytes decode to the same command on every node, so every replica applies the same thing.
//
// Wire layout of a command (msgpack, plain arrays rather than maps because they are
// smaller and faster to decode on the apply hot path):
//   register: [CommandTag.register, clientId, secret]
//   request:  [CommandTag.securedRequest, session, secret, seq, ackedBelow, OperationTag.x, key, ...args]
//     put: args = [value]; append: args = [value, maxValueBytes] (an append from before the
//     bound: [value]); cas: args = [expected, value]; delete/get: args = []
// A client registers once under its client id (an opaque string, a UUID); the register
// entry's log index becomes its session id (thesis §6.3: "the client's session ID is the
// index of its register command"), which the reply returns and every request carries.
// Unlike the client id it is unique by construction, and it is a small integer: five
// bytes or fewer in every entry instead of 37, and looked up without hashing a string.
// A session id is a log index, which anyone can guess: so the client also draws a random
// secret (a 32-bit unsigned integer, 1 or more) when it registers, the register entry
// carries it (every replica stores it with the session, and snapshots keep it), and
// every request names its session by id and secret. A request whose secret is not its
// session's is answered SESSION_MISMATCH on every replica and changes nothing; so is a
// register of an open session's client id under another secret. A secret is not a
// cryptographic authenticator: it keeps a program writing raw frames from naming
// another client's session by its index (a guess is right once in 2^32, and each guess
// is a committed entry), at 5 bytes per entry.
// A raftlab from before session secrets wrote [CommandTag.request, session, seq, ...]
// and [CommandTag.register, clientId]; one from before session ids wrote requests that
// name the client id instead ([CommandTag.request, clientId, ...]). A WAL holding them
// still replays (the secret is not checked: such an entry names a session without one,
// and a legacy request finds its session by its client id), but a node takes no such
// command from a client any more (isClientCommand).
// An append carries the limit its proposer (the client, or the leader in its stead) puts
// on the stored list: the state machine refuses it (VALUE_TOO_LARGE) if the list would
// encode to more. The limit is in the entry, not in the node's options, so every replica
// decides an append alike whatever limit it was started with, at any replay. An append
// from before the bound has no limit and is applied unbounded, as it was.

import { Packr, Unpackr } from 'msgpackr';
import type { JsonValue as ClusterJsonValue } from '../cluster/types.js';
import { assertNever } from '../raft/assert.js';
import { asciiStrAt, readFlatTupleInto } from './flat-tuple.js';
import { MsgpackWriter } from '../transport/msgpack-writer.js';

export type JsonValue = ClusterJsonValue;

export type KvOperation =
  | { readonly op: 'put'; readonly key: string; readonly value: JsonValue }
  | { readonly op: 'delete'; readonly key: string }
  /** The key's value is a list; push one element (an absent key becomes [value]). */
  | { readonly op: 'append'; readonly key: string; readonly value: JsonValue }
  /** Compare-and-set: the reply value is true (swapped) or false (current value differed). */
  | { readonly op: 'cas'; readonly key: string; readonly expected: JsonValue; readonly value: JsonValue }
  /** A read through the log. Reads normally use ReadIndex (thesis §6.4), not this. */
  | { readonly op: 'get'; readonly key: string };

export type KvOperationName = KvOperation['op'];

export type Command =
  /**
   * Opens a client session (thesis §6.3); the reply's value is the session id. Idempotent:
   * registering a client id whose session is open under the same secret only refreshes it
   * and returns its id (under another secret: SESSION_MISMATCH, nothing changed).
   * `secret` absent: a register from before session secrets (its session has none).
   */
  | { readonly type: 'register'; readonly clientId: string; readonly secret?: number }
  | {
      readonly type: 'request';
      /** The session id the client's registration returned: its register entry's index (0 in a legacy request). */
      readonly session: number;
      /** Only in a legacy request (a raftlab from before session ids): the client id that names its session. */
      readonly clientId?: string;
      /** The secret its session was registered with (isSessionSecret); absent only in a request from before session secrets. */
      readonly secret?: number;
      /** The client's request number, from 1, unique per client; a retry reuses it. */
      readonly seq: number;
      /** The client holds the replies of every seq below this; the session may forget them. */
      readonly ackedBelow: number;
      readonly operation: KvOperation;
      /**
       * Only on an append (writeCommand refuses it on anything else): the most bytes the
       * stored list may encode to (jsonEncodedSize) once the element is pushed; the append
       * is refused with VALUE_TOO_LARGE, a definite error, if it would grow the list past
       * it. The proposer's maxValueBytes. Absent in an append from before the bound (a
       * 7-field entry), which is applied unbounded, as it was then.
       */
      readonly maxValueBytes?: number;
    };

export type KvReply =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Every limit of the store, named. */
export const KV_LIMITS = {
  maxKeyBytes: 1024,
  defaultMaxValueBytes: 1 << 20,
  maxSessions: 10_000,
  maxRepliesPerSession: 4096,
  /** Client ids are opaque strings; this only stops an absurd one from bloating every entry. */
  maxClientIdBytes: 256,
  /** Nesting depth of a value: bounds the recursion of validation, equality and cloning. */
  maxValueDepth: 128,
} as const;

/** The stable codes of KvError and of error replies. */
export const KvErrorCode = {
  MalformedCommand: 'MALFORMED_COMMAND',
  InvalidKey: 'INVALID_KEY',
  InvalidValue: 'INVALID_VALUE',
  ValueTooLarge: 'VALUE_TOO_LARGE',
  InvalidArgument: 'INVALID_ARGUMENT',
  NotAList: 'NOT_A_LIST',
  SessionExpired: 'SESSION_EXPIRED',
  StaleRequest: 'STALE_REQUEST',
  /** A request (or a register of an open session's client id) under a secret that is not its session's: nothing changed. */
  SessionMismatch: 'SESSION_MISMATCH',
  MalformedSnapshot: 'MALFORMED_SNAPSHOT',
} as const;
export type KvErrorCode = (typeof KvErrorCode)[keyof typeof KvErrorCode];

/**
 * A definite error: the operation did not happen. `code` is stable and, unlike
 * `instanceof`, survives a worker boundary.
 */
export class KvError extends Error {
  readonly code: string;
  readonly indeterminate = false;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'KvError';
    this.code = code;
  }
}

/** request: from before session secrets (replayed from a WAL, never taken from a client); securedRequest carries the secret. */
const CommandTag = { register: 1, request: 2, securedRequest: 3 } as const;
const OperationTag = { put: 1, delete: 2, append: 3, cas: 4, get: 5 } as const;
type OperationTag = (typeof OperationTag)[keyof typeof OperationTag];

// Plain maps, not msgpackr records: values hold arbitrary keys, so record definitions
// would rarely be reused, and maps decode to plain objects.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const commandWriter = new MsgpackWriter(1024);


/** Encodes a command for a log entry. The result is an exact-size copy that owns its buffer. */
export function encodeCommand(command: Command): Uint8Array {
  const out = commandWriter;
  out.reset();
  writeCommand(out, command);
  return out.take();
}

/**
 * Writes the command's tuple straight into `out` (a client batch, or encodeCommand's
 * buffer): scalars by hand, structured values through msgpackr, each in msgpack's
 * smallest form, as msgpackr would write the whole tuple. The same command always gives
 * the same bytes, so a retry resends what it sent.
 */
export function writeCommand(out: MsgpackWriter, command: Command): void {
  if (command.type === 'register') {
    const secret = command.secret;
    if (secret !== undefined && !isSessionSecret(secret)) throw new Error(`writeCommand: ${secret} is not a session secret`);
    out.arrayHeader(secret === undefined ? 2 : 3);
    out.uint(CommandTag.register);
    out.str(command.clientId);
    if (secret !== undefined) out.uint(secret);
    return;
  }
  const operation = command.operation;
  const limit = command.maxValueBytes;
  if (limit !== undefined) {
    // The caller's bug, caught here rather than applied on every node as a malformed command.
    if (operation.op !== 'append') throw new Error(`writeCommand: maxValueBytes is an append's, not a ${operation.op}'s`);
    if (!isAppendLimit(limit)) throw new Error(`writeCommand: maxValueBytes ${limit} is not a positive safe integer`);
  }
  const values = operation.op === 'cas' ? 2 : operation.op === 'put' ? 1 : operation.op === 'append' ? (limit === undefined ? 1 : 2) : 0;
  const secret = command.secret;
  if (secret !== undefined) {
    // As putPrefix: a request without a registered session is the caller's bug, caught
    // here rather than applied on every node as a malformed command.
    if (!isSessionSecret(secret)) throw new Error(`writeCommand: ${secret} is not a session secret`);
    if (command.clientId !== undefined || !isSessionId(command.session)) throw new Error(`writeCommand: a request with a secret names its session by id, not ${command.clientId ?? command.session}`);
    out.arrayHeader(7 + values);
    out.uint(CommandTag.securedRequest);
    out.uint(command.session);
    out.uint(secret);
  } else {
    out.arrayHeader(6 + values);
    out.uint(CommandTag.request);
    if (command.clientId !== undefined) out.str(command.clientId);
    else if (isSessionId(command.session)) out.uint(command.session);
    else throw new Error(`writeCommand: ${command.session} is not a session id`);
  }
  out.uint(command.seq);
  out.uint(command.ackedBelow);
  out.uint(OperationTag[operation.op]);
  out.str(operation.key);
  switch (operation.op) {
    case 'put':
      writeJsonValue(out, operation.value);
      return;
    case 'append':
      writeJsonValue(out, operation.value);
      if (limit !== undefined) out.uint(limit);
      return;
    case 'cas':
      writeJsonValue(out, operation.expected);
      writeJsonValue(out, operation.value);
      return;
    case 'delete':
    case 'get':
      return;
    default:
      assertNever(operation, 'operation');
  }
}

/** Fields of a put: [securedRequest, session, secret, seq, ackedBelow, put, key, value]. */
const PUT_FIELDS = 8;

/**
 * The bytes every put of `session` starts with, for writePutHead: a client that sends
 * many puts through one session encodes its id and secret once.
 */
export function putPrefix(session: number, secret: number): Uint8Array {
  if (!isSessionId(session)) throw new Error(`putPrefix: ${session} is not a session id`);
  if (!isSessionSecret(secret)) throw new Error(`putPrefix: ${secret} is not a session secret`);
  const out = new MsgpackWriter(16);
  out.arrayHeader(PUT_FIELDS);
  out.uint(CommandTag.securedRequest);
  out.uint(session);
  out.uint(secret);
  return out.take();
}

/** A session secret: an integer from 1 to 2^32-1 (the client draws it at random). */
export function isSessionSecret(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 0xffffffff;
}

/**
 * Whether a node takes `command` from a client: a register or request carrying a session
 * secret. A command from before session secrets (or from before session ids) still
 * applies from a WAL, but from a client it would name a session without showing its
 * secret, which is what the secret is for.
 */
export function isClientCommand(command: Command): boolean {
  return command.secret !== undefined;
}

/** An append's limit (Command maxValueBytes): a safe integer >= 1. */
function isAppendLimit(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/** A session id is a log index: a safe integer >= 1. */
export function isSessionId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * A put written in two steps: this head (putPrefix's bytes, seq, ackedBelow, the put
 * tag), then the caller writes the key and the value as two msgpack strings or values.
 * The bytes are writeCommand's for the same put.
 */
export function writePutHead(out: MsgpackWriter, prefix: Uint8Array, seq: number, ackedBelow: number): void {
  out.raw(prefix);
  out.uint(seq);
  out.uint(ackedBelow);
  out.uint(OperationTag.put);
}

/** A JSON value as msgpackr packs it; the common scalars without a msgpackr call. */
export function writeJsonValue(out: MsgpackWriter, value: JsonValue): void {
  if (typeof value === 'string') out.str(value);
  else if (value === null) out.nil();
  else if (typeof value === 'boolean') out.bool(value);
  else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) out.uint(value);
  else out.raw(packr.pack(value));
}

/**
 * A plain Uint8Array copy that owns an ArrayBuffer of exactly its size. (Buffer#slice
 * would return another view into the same scratch buffer, not a copy.)
 */
export function exactCopy(view: Uint8Array): Uint8Array {
  const copy = new Uint8Array(view.length);
  copy.set(view);
  return copy;
}

/**
 * Unpacks through a fresh view of `bytes`: msgpackr caches a DataView on the object it is
 * given (an enumerable `dataView` property), and log entries must not grow one.
 */
export function unpackFreshView(unpacker: Unpackr, bytes: Uint8Array): unknown {
  return unpacker.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** decodeCommand's elements when the command is a flat tuple (nearly always). */
const decodedScratch: unknown[] = [];

function malformed(why: string): KvError {
  return new KvError(KvErrorCode.MalformedCommand, `malformed command: ${why}`);
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function expectLength(decoded: unknown[], length: number, operationTag: unknown): void {
  if (decoded.length !== length) throw malformed(`operation tag ${String(operationTag)} needs ${length} fields`);
}

function checkValue(value: unknown): JsonValue {
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw malformed('value is not a JSON value');
    return value === 0 ? 0 : value; // -0 is stored as 0 (see jsonShapeProblem)
  }
  // Strings decoded from UTF-8 are always well formed, so only the shape is checked.
  if (jsonShapeProblem(value, true) !== null) throw malformed('value is not a JSON value');
  return value as JsonValue;
}

/**
 * A JSON value decoded from msgpack (a snapshot's), checked and made canonical as a
 * command's values are (-0 becomes 0, in place), or undefined if it is not a JSON value.
 */
export function decodedJsonValue(value: unknown): JsonValue | undefined {
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'number') return Number.isFinite(value) ? (value === 0 ? 0 : value) : undefined;
  return jsonShapeProblem(value, true) === null ? (value as JsonValue) : undefined;
}

/**
 * Decodes and fully validates a log entry's command. Throws KvError MALFORMED_COMMAND on
 * anything that is not exactly what encodeCommand produces (garbage, truncated bytes,
 * wrong shapes, invalid keys or values). Value size is not limited here: that is checked
 * before proposing (validateOperation), and a node must apply whatever was committed.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  if (!(bytes instanceof Uint8Array)) throw malformed('not bytes');
  // The common shape is read into a reused array: only the strings and the command's own
  // objects are allocated, and decodedScratch never leaves this function.
  let decoded: unknown = decodedScratch;
  if (!readFlatTupleInto(bytes, decodedScratch)) {
    try {
      decoded = unpackFreshView(unpackr, bytes);
    } catch (error) {
      throw malformed(`undecodable msgpack (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (!Array.isArray(decoded)) throw malformed('not an array');
  const tag: unknown = decoded[0];
  if (tag === CommandTag.register) {
    const clientId: unknown = decoded[1];
    if (!isValidClientId(clientId)) throw malformed('bad clientId');
    if (decoded.length === 2) return { type: 'register', clientId };
    if (decoded.length !== 3) throw malformed('register has extra fields');
    const secret: unknown = decoded[2];
    if (!isSessionSecret(secret)) throw malformed('a register\'s secret must be an integer from 1 to 2^32-1');
    return { type: 'register', clientId, secret };
  }
  // A secured request has its secret after the session: every later field is one further.
  const secured = tag === CommandTag.securedRequest;
  if (!secured && tag !== CommandTag.request) throw malformed(`unknown command tag ${String(tag)}`);
  const shift = secured ? 1 : 0;
  const session: unknown = decoded[1];
  const legacyClientId = !secured && typeof session === 'string' ? session : undefined;
  if (legacyClientId !== undefined ? !isValidClientId(legacyClientId) : !isSessionId(session)) {
    throw malformed('session must be a safe integer >= 1 (or, in a legacy request, a client id)');
  }
  const secret: unknown = secured ? decoded[2] : undefined;
  if (secured && !isSessionSecret(secret)) throw malformed('a request\'s secret must be an integer from 1 to 2^32-1');
  const seq: unknown = decoded[2 + shift];
  const ackedBelow: unknown = decoded[3 + shift];
  if (!isNonNegativeSafeInteger(seq) || seq < 1) throw malformed('seq must be a safe integer >= 1');
  if (!isNonNegativeSafeInteger(ackedBelow) || ackedBelow > seq) {
    throw malformed('ackedBelow must be a safe integer in [0, seq]');
  }
  const operationTag: unknown = decoded[4 + shift];
  const key: unknown = decoded[5 + shift];
  if (!isValidDecodedKey(key)) throw malformed('bad key');
  let operation: KvOperation;
  let limit: number | undefined;
  switch (operationTag as OperationTag) {
    case OperationTag.put:
      expectLength(decoded, 7 + shift, operationTag);
      operation = { op: 'put', key, value: checkValue(decoded[6 + shift]) };
      break;
    case OperationTag.delete:
      expectLength(decoded, 6 + shift, operationTag);
      operation = { op: 'delete', key };
      break;
    case OperationTag.append:
      // 7 fields (8 secured): an append from before the bound, which carries no limit.
      if (decoded.length === 8 + shift) {
        const carried: unknown = decoded[7 + shift];
        if (!isAppendLimit(carried)) throw malformed('an append\'s maxValueBytes must be a safe integer >= 1');
        limit = carried;
      } else if (decoded.length !== 7 + shift) {
        throw malformed(`an append needs ${8 + shift} fields (${7 + shift} in one from before its limit)`);
      }
      operation = { op: 'append', key, value: checkValue(decoded[6 + shift]) };
      break;
    case OperationTag.cas:
      expectLength(decoded, 8 + shift, operationTag);
      operation = { op: 'cas', key, expected: checkValue(decoded[6 + shift]), value: checkValue(decoded[7 + shift]) };
      break;
    case OperationTag.get:
      expectLength(decoded, 6 + shift, operationTag);
      operation = { op: 'get', key };
      break;
    default:
      throw malformed(`unknown operation tag ${String(operationTag)}`);
  }
  if (secured) {
    return limit === undefined
      ? { type: 'request', session: session as number, secret: secret as number, seq, ackedBelow, operation }
      : { type: 'request', session: session as number, secret: secret as number, seq, ackedBelow, operation, maxValueBytes: limit };
  }
  if (legacyClientId !== undefined) {
    return limit === undefined
      ? { type: 'request', session: 0, clientId: legacyClientId, seq, ackedBelow, operation }
      : { type: 'request', session: 0, clientId: legacyClientId, seq, ackedBelow, operation, maxValueBytes: limit };
  }
  return limit === undefined
    ? { type: 'request', session: session as number, seq, ackedBelow, operation }
    : { type: 'request', session: session as number, seq, ackedBelow, operation, maxValueBytes: limit };
}

/**
 * Where scanPlainPut found a plain put's parts (one shared record: read it before the
 * next scan). Strings are ASCII, so their bytes are their characters.
 */
export interface PlainPut {
  session: number;
  /** The session's secret the put carries. */
  secret: number;
  seq: number;
  ackedBelow: number;
  keyStart: number;
  keyEnd: number;
  /** The value's msgpack bytes; for a string value, its text is [valueTextStart, valueEnd). */
  valueStart: number;
  valueTextStart: number;
  valueEnd: number;
  /** True when the value is an ASCII string. */
  valueIsString: boolean;
}

export const plainPut: PlainPut = {
  session: 0,
  secret: 0,
  seq: 0,
  ackedBelow: 0,
  keyStart: 0,
  keyEnd: 0,
  valueStart: 0,
  valueTextStart: 0,
  valueEnd: 0,
  valueIsString: false,
};

/**
 * True when `bytes` is certainly a command decodeCommand accepts, found without decoding
 * it: the common shape, a secured put whose session, secret, seq and ackedBelow are 32-bit unsigned
 * integers and whose key and value are ASCII strings within the limits (or a nil, boolean
 * or small unsigned integer value). False means "decode it
 * to find out", never "invalid". The leader checks each write this way on arrival and
 * decodes it only when applying it, so no decoded command lives from arrival to apply;
 * the state machine applies such a put straight from its bytes (plainPut says where).
 */
export function isCertainlyValidPut(bytes: Uint8Array): boolean {
  return readPlainPut(bytes, true);
}

/**
 * isCertainlyValidPut for bytes it already said true of (the leader applying the entry it
 * proposed): plainPut says where the parts are, the strings' bytes not scanned again.
 */
export function isVettedPut(bytes: Uint8Array): boolean {
  return readPlainPut(bytes, false);
}

function readPlainPut(bytes: Uint8Array, scanText: boolean): boolean {
  const end = bytes.length;
  if (end < 8 || bytes[0] !== 0x98 || bytes[1] !== CommandTag.securedRequest) return false;
  const found = plainPut;
  const session = smallUint(bytes, 2);
  if (session < 1) return false;
  let at = 2 + uintBytes(bytes[2]!);
  if (at >= end) return false;
  found.session = session;
  const secret = smallUint(bytes, at);
  if (secret < 1) return false;
  at += uintBytes(bytes[at]!);
  if (at >= end) return false;
  found.secret = secret;
  const seq = smallUint(bytes, at);
  if (seq < 1) return false;
  at += uintBytes(bytes[at]!);
  if (at >= end) return false;
  const ackedBelow = smallUint(bytes, at);
  if (ackedBelow < 0 || ackedBelow > seq) return false;
  at += uintBytes(bytes[at]!);
  if (at >= end || bytes[at] !== OperationTag.put) return false;
  found.seq = seq;
  found.ackedBelow = ackedBelow;
  at = asciiString(bytes, at + 1, 1, KV_LIMITS.maxKeyBytes, scanText);
  if (at < 0 || at >= end) return false;
  found.keyStart = stringStart;
  found.keyEnd = at;
  found.valueStart = at;
  found.valueEnd = end;
  found.valueIsString = false;
  const head = bytes[at]!;
  if (head === 0xc0 || head === 0xc2 || head === 0xc3) return at + 1 === end;
  if (head < 0x80 || head === 0xcc || head === 0xcd || head === 0xce) return smallUint(bytes, at) >= 0 && at + uintBytes(head) === end;
  if (asciiString(bytes, at, 0, Number.MAX_SAFE_INTEGER, scanText) !== end) return false;
  found.valueTextStart = stringStart;
  found.valueIsString = true;
  return true;
}

/** Where the text of the string asciiString last accepted starts. */
let stringStart = 0;
const stringText = { start: 0, end: 0 };

/** The position after an ASCII msgpack string of minBytes..maxBytes at `at` (its bytes not checked unless `scan`), or -1. */
function asciiString(bytes: Uint8Array, at: number, minBytes: number, maxBytes: number, scan: boolean): number {
  if (!asciiStrAt(bytes, at, stringText, scan)) return -1;
  const length = stringText.end - stringText.start;
  if (length < minBytes || length > maxBytes) return -1;
  stringStart = stringText.start;
  return stringText.end;
}

/** The unsigned integer (fixint, uint8/16/32) at `at`, or -1 for anything else or a cut one. */
function smallUint(bytes: Uint8Array, at: number): number {
  const head = bytes[at]!;
  const size = uintBytes(head);
  if (size === 0 || at + size > bytes.length) return -1;
  if (head < 0x80) return head;
  if (head === 0xcc) return bytes[at + 1]!;
  if (head === 0xcd) return (bytes[at + 1]! << 8) | bytes[at + 2]!;
  return bytes[at + 1]! * 0x1000000 + ((bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!);
}

/** The encoded size of a fixint or uint8/16/32 with this first byte; 0 for anything else. */
function uintBytes(head: number): number {
  if (head < 0x80) return 1;
  if (head === 0xcc) return 2;
  if (head === 0xcd) return 3;
  if (head === 0xce) return 5;
  return 0;
}

// UTF-8 length without node:buffer, so this module stays runnable anywhere.
function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

// A lone surrogate cannot be encoded in UTF-8: msgpack would turn it into U+FFFD, so the
// value read back would differ from the one written. With the u flag, a surrogate pair is
// one code point, so \p{Cs} matches only lone halves.
const LONE_SURROGATE = /\p{Cs}/u;

function isWellFormedString(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

function isValidClientId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= KV_LIMITS.maxClientIdBytes &&
    (value.length * 3 <= KV_LIMITS.maxClientIdBytes || utf8ByteLength(value) <= KV_LIMITS.maxClientIdBytes)
  );
}

function keyProblem(key: unknown, checkWellFormed: boolean): string | null {
  if (typeof key !== 'string') return `a key must be a string, got ${typeof key}`;
  if (key.length === 0) return 'a key must not be empty';
  // Cheap bound first: a UTF-16 unit is at most 3 UTF-8 bytes (a pair of units is 4).
  if (key.length > KV_LIMITS.maxKeyBytes) return `a key must be at most ${KV_LIMITS.maxKeyBytes} bytes of UTF-8`;
  if (key.length * 3 > KV_LIMITS.maxKeyBytes && utf8ByteLength(key) > KV_LIMITS.maxKeyBytes) {
    return `a key must be at most ${KV_LIMITS.maxKeyBytes} bytes of UTF-8`;
  }
  if (checkWellFormed && !isWellFormedString(key)) return 'a key must be well-formed Unicode (no lone surrogates)';
  return null;
}

/** For keys decoded from UTF-8, which are always well formed (a command's, a snapshot's). */
export function isValidDecodedKey(key: unknown): key is string {
  return keyProblem(key, false) === null;
}

/** Throws KvError INVALID_KEY unless `key` is a non-empty string of at most 1 KiB of UTF-8. */
export function validateKey(key: unknown): asserts key is string {
  const problem = keyProblem(key, true);
  if (problem !== null) throw new KvError(KvErrorCode.InvalidKey, `invalid key: ${problem}`);
}

/** Why `key` is not a valid key (as validateKey refuses it), or null: for a read frame a node answers. */
export function invalidKeyReason(key: unknown): string | null {
  const problem = keyProblem(key, true);
  return problem === null ? null : `invalid key: ${problem}`;
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Why `value` is not a JSON value, or null if it is: null, boolean, finite number,
 * string, dense array, or plain object of such; no cycles, at most maxValueDepth deep.
 * `decoded`: the value was decoded from msgpack (a log entry's, a snapshot's) and is its
 * decoder's own. Its strings, decoded from UTF-8, need no check for lone surrogates (a
 * caller's do), and each -0 in it is replaced by 0 in place: msgpack can carry -0 (a
 * float64), but a snapshot writes every integer-valued number as an integer, so a
 * replica restored from one would hold 0 where the replicas that applied the entry held
 * -0 (Object.is, 1 / x and a structured clone tell them apart).
 */
function jsonShapeProblem(root: unknown, decoded: boolean): string | null {
  const checkStrings = !decoded;
  const path: object[] = [];
  const visit = (value: unknown, depth: number): string | null => {
    switch (typeof value) {
      case 'boolean':
        return null;
      case 'number':
        return Number.isFinite(value) ? null : `${String(value)} is not a JSON number`;
      case 'string':
        return checkStrings && !isWellFormedString(value) ? 'a string has a lone surrogate' : null;
      case 'object': {
        if (value === null) return null;
        if (depth >= KV_LIMITS.maxValueDepth) return `nested deeper than ${KV_LIMITS.maxValueDepth}`;
        // Shared sub-values are fine (they are written twice); only a cycle is not.
        if (path.includes(value)) return 'it contains a cycle';
        path.push(value);
        let problem: string | null = null;
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length && problem === null; i++) {
            if (!(i in value)) problem = 'an array has a hole';
            else problem = visit(value[i], depth + 1);
            if (decoded && value[i] === 0) value[i] = 0;
          }
        } else if (!isPlainObject(value)) {
          problem = `a ${value.constructor?.name ?? 'non-plain'} object is not a JSON value`;
        } else {
          for (const property of Object.keys(value)) {
            // msgpackr renames __proto__ (to defend against prototype pollution): it would not round-trip.
            if (property === '__proto__') problem = 'the key "__proto__" is not supported';
            else if (checkStrings && !isWellFormedString(property)) problem = 'an object key has a lone surrogate';
            else problem = visit((value as Record<string, unknown>)[property], depth + 1);
            if (problem !== null) break;
            if (decoded && (value as Record<string, unknown>)[property] === 0) (value as Record<string, unknown>)[property] = 0;
          }
        }
        path.pop();
        return problem;
      }
      default:
        return `${typeof value} is not a JSON value`;
    }
  };
  return visit(root, 0);
}

/**
 * The bytes of a msgpack array or map header for `count` elements (fix, 16 or 32): what a
 * list's encoded size changes by, besides its element, when an append lengthens it.
 */
export function containerHeaderBytes(count: number): number {
  return count < 16 ? 1 : count < 0x10000 ? 3 : 5;
}

/** The bytes of a msgpack string header for `bytes` bytes of UTF-8 (fixstr, str8, 16 or 32). */
function stringHeaderBytes(bytes: number): number {
  return bytes < 32 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
}

/**
 * The size of a JSON value in msgpack's smallest forms, in bytes, computed from the value
 * alone: what writeJsonValue and msgpackr write for it (a uint or negative int of up to 32
 * bits in 1, 2, 3 or 5 bytes, -0 as 0; any other number a float64; strings by their UTF-8
 * length, a lone surrogate as U+FFFD). The state machine bounds a list grown by appends
 * with it, so it depends on no encoder's choices: the same value has the same size on
 * every node, in every version, whatever bytes carried it.
 */
export function jsonEncodedSize(value: JsonValue): number {
  switch (typeof value) {
    case 'string': {
      const bytes = utf8ByteLength(value);
      return stringHeaderBytes(bytes) + bytes;
    }
    case 'number':
      if (value >>> 0 === value) return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : 5;
      if (value >> 0 === value) return value >= -0x20 ? 1 : value >= -0x80 ? 2 : value >= -0x8000 ? 3 : 5;
      return 9;
    case 'boolean':
      return 1;
    default: {
      if (value === null) return 1;
      if (Array.isArray(value)) {
        let size = containerHeaderBytes(value.length);
        for (let i = 0; i < value.length; i++) size += jsonEncodedSize(value[i] as JsonValue);
        return size;
      }
      const keys = Object.keys(value);
      let size = containerHeaderBytes(keys.length);
      for (const key of keys) size += jsonEncodedSize(key) + jsonEncodedSize(value[key] as JsonValue);
      return size;
    }
  }
}

/** The msgpack-encoded size of a JSON value, in bytes: what it costs in the log. */
function encodedSizeBytes(value: JsonValue): number {
  return packr.pack(value).length;
}

/**
 * Throws KvError INVALID_VALUE unless `value` is a JSON value (null, boolean, finite
 * number, well-formed string, dense array, plain object; no undefined, NaN, functions,
 * class instances or cycles), and VALUE_TOO_LARGE if it encodes to more than
 * `maxValueBytes` bytes.
 */
export function validateValue(value: unknown, maxValueBytes: number): asserts value is JsonValue {
  const problem = jsonShapeProblem(value, false);
  if (problem !== null) throw new KvError(KvErrorCode.InvalidValue, `invalid value: ${problem}`);
  const sizeBytes = encodedSizeBytes(value as JsonValue);
  if (sizeBytes > maxValueBytes) {
    throw new KvError(KvErrorCode.ValueTooLarge, `value too large: ${sizeBytes} bytes encoded, limit ${maxValueBytes}`);
  }
}

const OPERATION_FIELDS: Readonly<Record<KvOperationName, readonly string[]>> = {
  put: ['op', 'key', 'value'],
  delete: ['op', 'key'],
  append: ['op', 'key', 'value'],
  cas: ['op', 'key', 'expected', 'value'],
  get: ['op', 'key'],
};

function invalidArgument(message: string): KvError {
  return new KvError(KvErrorCode.InvalidArgument, `invalid argument: ${message}`);
}

/**
 * Checks an operation from outside (a client, a worker message) before it is proposed,
 * and returns a fresh operation holding only its known fields. Throws KvError:
 * INVALID_ARGUMENT (not an operation object, unknown op, a field missing/undefined or
 * unknown), INVALID_KEY, INVALID_VALUE, VALUE_TOO_LARGE (each value field separately).
 */
export function validateOperation(op: unknown, maxValueBytes: number): KvOperation {
  if (typeof op !== 'object' || op === null || Array.isArray(op)) throw invalidArgument('an operation must be an object');
  const record = op as Record<string, unknown>;
  const name = record['op'];
  if (typeof name !== 'string' || !Object.hasOwn(OPERATION_FIELDS, name)) {
    throw invalidArgument(`unknown op ${JSON.stringify(name) ?? String(name)}`);
  }
  const operationName = name as KvOperationName;
  const fields = OPERATION_FIELDS[operationName];
  for (const field of Object.keys(record)) {
    if (!fields.includes(field)) throw invalidArgument(`${operationName} has no field "${field}"`);
  }
  for (const field of fields) {
    if (record[field] === undefined) throw invalidArgument(`${operationName} needs "${field}"`);
  }
  const key = record['key'];
  validateKey(key);
  const value = (field: string): JsonValue => {
    const candidate = record[field];
    validateValue(candidate, maxValueBytes);
    return candidate;
  };
  switch (operationName) {
    case 'put':
      return { op: 'put', key, value: value('value') };
    case 'delete':
      return { op: 'delete', key };
    case 'append':
      return { op: 'append', key, value: value('value') };
    case 'cas':
      return { op: 'cas', key, expected: value('expected'), value: value('value') };
    case 'get':
      return { op: 'get', key };
    default:
      return assertNever(operationName, 'op');
  }
}

/** How much of a key or value a dashboard line shows. */
const DESCRIBE_MAX_CHARS = 40;
const CLIENT_ID_SHOWN_CHARS = 8;

function shorten(text: string): string {
  return text.length <= DESCRIBE_MAX_CHARS ? text : `${text.slice(0, DESCRIBE_MAX_CHARS - 1)}…`;
}

function showValue(value: JsonValue): string {
  return shorten(JSON.stringify(value));
}

/**
 * One short line for dashboards and logs: "put x=1", "append log+\"a\"", "cas x 1→2",
 * "register c7f2", "no-op" (null data), "malformed (12 bytes)". Never throws.
 */
export function describeCommand(bytes: Uint8Array | null): string {
  if (bytes === null) return 'no-op';
  let command: Command;
  try {
    command = decodeCommand(bytes);
  } catch {
    return `malformed (${bytes instanceof Uint8Array ? bytes.length : 0} bytes)`;
  }
  if (command.type === 'register') return `register ${command.clientId.slice(0, CLIENT_ID_SHOWN_CHARS)}`;
  const operation = command.operation;
  const key = shorten(operation.key);
  switch (operation.op) {
    case 'put':
      return `put ${key}=${showValue(operation.value)}`;
    case 'delete':
      return `delete ${key}`;
    case 'append':
      return `append ${key}+${showValue(operation.value)}`;
    case 'cas':
      return `cas ${key} ${showValue(operation.expected)}→${showValue(operation.value)}`;
    case 'get':
      return `get ${key}`;
    default:
      return assertNever(operation, 'operation');
  }
}
