// The bench's lean client against scripted nodes on MessageChannels: redirects resend
// the very same bytes (same session and seq, so exactly-once holds), a full queue is
// retried, and anything that may have been applied ends as an indeterminate error.

import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { LeanClient } from '../lib/bench/lean-client.js';
import type { LeanRequests, RequestFailure } from '../lib/bench/lean-client.js';
import type { MsgpackWriter } from '../lib/transport/msgpack-writer.js';
import { pack } from 'msgpackr';
import { NodeReplyCode, decodeClientBatch, encodeReplyBatch } from '../lib/cluster/protocol.js';
import type { ClientFrame, ErrorReply, OkReply, Reply } from '../lib/cluster/protocol.js';
import type { JsonValue } from '../lib/cluster/types.js';
import { decodeCommand } from '../lib/kv/command.js';
import type { Command } from '../lib/kv/command.js';

const WAIT_MS = 5000;

type Answer = Omit<OkReply, 'rid'> | Omit<ErrorReply, 'rid'>;
type Script = (frame: ClientFrame, command: Command | null) => Answer | null;

interface FakeNode {
  readonly port: MessagePort;
  readonly received: ClientFrame[];
}

/** A node that answers each frame as `script` says (null: never answers). */
function fakeNode(script: Script): FakeNode {
  const { port1, port2 } = new MessageChannel();
  const received: ClientFrame[] = [];
  port1.on('message', (bytes: unknown) => {
    const { frames } = decodeClientBatch(bytes);
    const replies: Reply[] = [];
    for (const frame of frames) {
      received.push(frame);
      const answer = script(frame, frame.t === 'w' ? decodeCommand(frame.command) : null);
      if (answer !== null) replies.push({ ...answer, rid: frame.rid });
    }
    if (replies.length > 0) port1.postMessage(encodeReplyBatch(replies));
  });
  port1.unref();
  return { port: port2, received };
}

const ok = (value: JsonValue = null): Answer => ({ ok: true, value });
/** The session id these fake nodes' registrations return (a real one returns its register entry's index). */
const SESSION_ID = 1;
const refuse = (code: string, leaderId = 0): Answer => ({ ok: false, code, message: code, leaderId });

interface Outcome {
  readonly failure: RequestFailure | null;
  readonly value: JsonValue;
}

/** The client's caller: each put's key and value by tag, each outcome to the promise that waits for it. */
class Requests implements LeanRequests {
  private readonly puts = new Map<number, { key: string; value: JsonValue }>();
  private readonly waiting = new Map<number, (outcome: Outcome) => void>();
  private nextTag = 0;

  writePut(out: MsgpackWriter, tag: number): void {
    const put = this.puts.get(tag);
    if (put === undefined) throw new Error(`writePut for unknown tag ${tag}`);
    out.str(put.key);
    out.raw(pack(put.value));
  }

  done(tag: number, failure: RequestFailure | null, value: JsonValue): void {
    const resolve = this.waiting.get(tag);
    if (resolve === undefined) throw new Error(`done twice (or never asked) for tag ${tag}`);
    this.waiting.delete(tag);
    this.puts.delete(tag);
    resolve({ failure, value });
  }

  put(client: LeanClient, session: number, key: string, value: JsonValue): Promise<RequestFailure | null> {
    const tag = this.nextTag++;
    this.puts.set(tag, { key, value });
    return this.wait(tag, `put ${key}`, () => client.put(session, tag)).then((outcome) => outcome.failure);
  }

  get(client: LeanClient, key: string): Promise<Outcome> {
    const tag = this.nextTag++;
    return this.wait(tag, `get ${key}`, () => client.get(key, tag));
  }

  private wait(tag: number, what: string, send: () => void): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} got no answer in ${WAIT_MS} ms`)), WAIT_MS);
      this.waiting.set(tag, (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
      send();
    });
  }
}

test('a NOT_LEADER redirect resends the same bytes to the leader; ackedBelow advances', async (t) => {
  const follower = fakeNode(() => refuse(NodeReplyCode.NotLeader, 2));
  const leader = fakeNode((_frame, command) => (command?.type === 'register' ? ok(SESSION_ID) : ok()));
  const requests = new Requests();
  const client = new LeanClient([1, 2], [{ node: 1, port: follower.port }, { node: 2, port: leader.port }], 2000, requests);
  try {
    await client.openSessions(1);
    t.is(await requests.put(client, 0, 'a', 'x'), null);
    t.is(await requests.put(client, 0, 'b', 'y'), null);
    // The follower saw the registration and the first put, then the client went to the leader.
    const writes = (frames: ClientFrame[]): Uint8Array[] => frames.flatMap((frame) => (frame.t === 'w' ? [frame.command] : []));
    const atFollower = writes(follower.received);
    const atLeader = writes(leader.received);
    t.is(atFollower.length, 1);
    t.deepEqual(atLeader[0], atFollower[0], 'the registration was resent byte for byte');
    const commands = atLeader.map((bytes) => decodeCommand(bytes));
    t.is(commands[0]!.type, 'register');
    const puts = commands.filter((command) => command.type === 'request');
    t.deepEqual(
      puts.map((command) => [command.seq, command.ackedBelow]),
      [
        [1, 1],
        [2, 2],
      ],
    );
    t.true(puts.every((command) => command.session === SESSION_ID), 'every put carries the session id its registration returned');
    t.deepEqual(
      puts.map((command) => command.operation),
      [
        { op: 'put', key: 'a', value: 'x' },
        { op: 'put', key: 'b', value: 'y' },
      ],
    );
  } finally {
    client.close();
  }
});

test('a full proposal queue is retried; LEADERSHIP_LOST and silence end as indeterminate errors', async (t) => {
  let refusals = 1;
  const node = fakeNode((frame, command) => {
    if (command === null) return ok();
    if (command.type === 'register') return ok(SESSION_ID);
    if (command.operation.op !== 'put') return ok();
    switch (command.operation.key) {
      case 'queue-full':
        return refusals-- > 0 ? refuse(NodeReplyCode.ProposalQueueFull) : ok();
      case 'lost':
        return refuse(NodeReplyCode.LeadershipLost);
      case 'silent':
        return null;
      default:
        return refuse('VALUE_TOO_LARGE');
    }
  });
  const requests = new Requests();
  // A request timeout of 1.5 s, not 0.3: at a load average of 22 the queue-full retry (a
  // 25 ms timer) came after 300 ms and the put ended TIMEOUT (the thirty-first session).
  // The silent put waits it out.
  const client = new LeanClient([1], [{ node: 1, port: node.port }], 1500, requests);
  try {
    await client.openSessions(1);
    t.is(await requests.put(client, 0, 'queue-full', 1), null);
    // The refused put and its retry carry the same bytes: same session, seq and ackedBelow.
    const queueFull = node.received.flatMap((frame) => (frame.t === 'w' && decodeCommand(frame.command).type === 'request' ? [frame.command] : []));
    t.is(queueFull.length, 2);
    t.deepEqual(queueFull[1], queueFull[0]);
    t.deepEqual(await requests.put(client, 0, 'lost', 1), { code: NodeReplyCode.LeadershipLost, indeterminate: true });
    t.deepEqual(await requests.put(client, 0, 'silent', 1), { code: 'TIMEOUT', indeterminate: true });
    t.deepEqual(await requests.put(client, 0, 'refused', 1), { code: 'VALUE_TOO_LARGE', indeterminate: false });
  } finally {
    client.close();
  }
});

test('a registration answered with anything but a session id fails openSessions, and no put can go out', async (t) => {
  const node = fakeNode(() => ok('not a session id'));
  const client = new LeanClient([1], [{ node: 1, port: node.port }], 2000, new Requests());
  try {
    await t.throwsAsync(client.openSessions(1), { message: /not a session id/ });
    t.throws(() => client.put(0, 0), { message: /not registered/ });
  } finally {
    client.close();
  }
});

test('reads come back with their value', async (t) => {
  const node = fakeNode((frame) => (frame.t === 'r' ? ok(`value of ${frame.key}`) : ok()));
  const requests = new Requests();
  const client = new LeanClient([1], [{ node: 1, port: node.port }], 2000, requests);
  try {
    t.deepEqual(await requests.get(client, 'k1'), { failure: null, value: 'value of k1' });
  } finally {
    client.close();
  }
});

test('ackedBelow stays below every unanswered seq when replies come out of order, past the first window', async (t) => {
  // A node that holds every put until told, then answers them in an order of the test's choosing.
  const { port1, port2 } = new MessageChannel();
  const held: { rid: number; command: Command }[] = [];
  let onHeld: (() => void) | null = null;
  port1.on('message', (bytes: unknown) => {
    const replies: Reply[] = [];
    for (const frame of decodeClientBatch(bytes).frames) {
      if (frame.t !== 'w') continue;
      const command = decodeCommand(frame.command);
      if (command.type === 'register') replies.push({ ok: true, value: SESSION_ID, rid: frame.rid });
      else held.push({ rid: frame.rid, command });
    }
    if (replies.length > 0) port1.postMessage(encodeReplyBatch(replies));
    onHeld?.();
  });
  port1.unref();
  const answer = (rids: number[]): void => port1.postMessage(encodeReplyBatch(rids.map((rid) => ({ ok: true, value: null, rid }))));
  const heldCount = (count: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the node held ${held.length} puts, not ${count}, after ${WAIT_MS} ms`)), WAIT_MS);
      onHeld = () => {
        if (held.length < count) return;
        clearTimeout(timer);
        onHeld = null;
        resolve();
      };
      onHeld();
    });
  const requests = new Requests();
  const client = new LeanClient([1], [{ node: 1, port: port2 }], 5000, requests);
  const seqOf = (entry: { command: Command }): number => (entry.command.type === 'request' ? entry.command.seq : -1);
  const ackedOf = (entry: { command: Command }): number => (entry.command.type === 'request' ? entry.command.ackedBelow : -1);
  const puts = (from: number, count: number): Promise<RequestFailure | null>[] => Array.from({ length: count }, (_, i) => requests.put(client, 0, `k${from + i}`, i));
  const ridOfSeq = (seq: number): number => held.find((entry) => seqOf(entry) === seq)!.rid;
  try {
    await client.openSessions(1);
    // 40 puts in flight; all but seq 1 answered, newest first.
    const early = puts(1, 40);
    await heldCount(40);
    t.deepEqual(held.map(seqOf), Array.from({ length: 40 }, (_, i) => i + 1));
    answer(held.slice(1).map((entry) => entry.rid).reverse());
    t.true((await Promise.all(early.slice(1))).every((failure) => failure === null));
    // 110 more: past the 64 answered flags a session starts with, so its ring grows while
    // seqs 2..40 are answered and 1 is not.
    const more = puts(41, 110);
    await heldCount(150);
    t.true(held.every((entry) => ackedOf(entry) === 1), 'seq 1 is unanswered: the floor stays at 1');
    // Seq 1 answered: the floor passes 2..40, answered before the ring grew.
    answer([ridOfSeq(1)]);
    t.is(await early[0], null);
    const probe = puts(151, 1);
    await heldCount(151);
    t.is(ackedOf(held[150]!), 41);
    // Everything from 41 on answered, out of order, except 77.
    answer(held.filter((entry) => seqOf(entry) >= 41 && seqOf(entry) !== 77).map((entry) => entry.rid).sort((a, b) => (a * 7919) % 151 - (b * 7919) % 151));
    await Promise.all([...more.slice(0, 36), ...more.slice(37), ...probe]);
    const last = puts(152, 1);
    await heldCount(152);
    t.is(ackedOf(held[151]!), 77, 'seq 77 is still unanswered');
    answer([ridOfSeq(77), held[151]!.rid]);
    t.is(await more[36], null);
    t.is(await last[0], null);
  } finally {
    client.close();
  }
});
