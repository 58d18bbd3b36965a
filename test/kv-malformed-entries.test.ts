// A committed entry that is not a command must be applied alike by every replica: the
// same reply (code and message) and the same state, whatever else the node did before
// (its decoder's history, the depth of the call that applies it). Its own file: the
// first test needs a msgpackr that has not yet decoded a structured-clone id in this
// worker.

import test from 'ava';
import { decodeCommand, encodeCommand, type KvReply } from '../lib/kv/command.js';
import { KvStateMachine } from '../lib/kv/state-machine.js';

/** [request, session 1, seq 1, ackedBelow 0, put, "k", ...value bytes]. */
const put = (value: readonly number[]): Uint8Array => Uint8Array.from([0x97, 0x02, 0x01, 0x01, 0x00, 0x01, 0xa1, 0x6b, ...value]);
/** msgpackr's structured-clone pointer (extension 0x70) to id 1, which nothing defined. */
const DANGLING_POINTER = put([0xd6, 0x70, 0, 0, 0, 1]);
/** An id (extension 0x69) defined around [5]: msgpackr accepts it, a value [5]. */
const WITH_ID = put([0xd6, 0x69, 0, 0, 0, 1, 0x91, 0x05]);

function fresh(): KvStateMachine {
  const machine = new KvStateMachine();
  machine.apply(1, encodeCommand({ type: 'register', clientId: 'c' }));
  return machine;
}

const message = (reply: KvReply | null): string => (reply !== null && !reply.ok ? `${reply.code}: ${reply.message}` : JSON.stringify(reply));

test('a malformed entry gets the same reply before and after the decoder first met a structured-clone id', (t) => {
  const before = fresh();
  const first = before.apply(2, DANGLING_POINTER);
  const after = fresh();
  t.deepEqual(after.apply(2, WITH_ID), { ok: true, value: null });
  t.deepEqual(after.read('k'), [5]);
  const second = fresh();
  const again = second.apply(2, DANGLING_POINTER);
  t.is(message(first), message(again));
  t.is(first?.ok === false ? first.code : '', 'MALFORMED_COMMAND');
  t.is(before.snapshot().length, second.snapshot().length);
  t.is(before.read('k'), null, 'nothing stored');
});

test('a value nested deeper than the stack of one node allows gets the same reply on a node with stack to spare', (t) => {
  // A depth that a shallow call decodes (and refuses as nested too deep) while a call
  // 3,000 frames deeper cannot (msgpackr overflows the stack): the same committed entry,
  // applied by a leader and a follower from calls of different depths.
  const deep = (levels: number): Uint8Array => put([...new Array<number>(levels).fill(0x91), 0x01]);
  const atDepth = <T>(frames: number, call: () => T): T => (frames === 0 ? call() : atDepth(frames - 1, call));
  const decodeReason = (frames: number, levels: number): string => {
    try {
      atDepth(frames, () => decodeCommand(deep(levels)));
      return 'decoded';
    } catch (error) {
      return (error as Error).message;
    }
  };
  let low = 200;
  let high = 200_000;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (/call stack/.test(decodeReason(0, middle))) high = middle;
    else low = middle;
  }
  const levels = low - 100;
  // The premise: decodeCommand's reason differs with the depth of the call.
  t.regex(decodeReason(0, levels), /not a JSON value/);
  t.regex(decodeReason(3000, levels), /call stack/);
  const shallow = message(atDepth(0, () => fresh().apply(2, deep(levels))));
  const deeper = message(atDepth(3000, () => fresh().apply(2, deep(levels))));
  t.is(shallow, deeper, `nested ${levels} deep`);
  t.regex(shallow, /^MALFORMED_COMMAND: /);
});

test('every kind of undecodable entry: the same reply at every node, state unchanged but for the applied index', (t) => {
  const entries = [
    new Uint8Array([]),
    new Uint8Array([0xc1]),
    new Uint8Array([0x92, 0x01]),
    put([0xcf, 0, 0, 0, 0, 0, 0, 0, 5]),
    put([0xd4, 0x00, 0x00]),
    put([0xc4, 0x01, 0x01]),
    put([0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
    DANGLING_POINTER,
    put([0xd6, 0x69, 0, 0, 0, 1, 0x91, 0xd6, 0x70, 0, 0, 0, 1]), // a cycle
    Uint8Array.from([0x97, 0x02, 0x01, 0x01, 0x02, 0x01, 0xa1, 0x6b, 0xa1, 0x76]), // ackedBelow above seq
  ];
  for (const data of entries) {
    const machines = [fresh(), fresh()];
    machines[1]!.apply(2, WITH_ID);
    machines[1]!.apply(3, encodeCommand({ type: 'request', session: 1, seq: 2, ackedBelow: 0, operation: { op: 'delete', key: 'k' } }));
    machines[0]!.apply(2, null);
    machines[0]!.apply(3, null);
    const replies = machines.map((machine) => message(machine.apply(4, data)));
    t.is(replies[0], replies[1], Buffer.from(data).toString('hex'));
    t.regex(replies[0]!, /^MALFORMED_COMMAND: /);
    for (const machine of machines) {
      t.is(machine.appliedIndex, 4);
      t.is(machine.size, 0);
      t.is(machine.sessionCount, 1);
    }
  }
});
