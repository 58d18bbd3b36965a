// The bench's lean client against scripted nodes on MessageChannels: redirects resend
// the very same bytes (same clientId and seq, so exactly-once holds), a full queue is
// retried, and anything that may have been applied ends as an indeterminate error.

import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { LeanClient } from '../lib/bench/lean-client.js';
import type { RequestFailure } from '../lib/bench/lean-client.js';
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
const refuse = (code: string, leaderId = 0): Answer => ({ ok: false, code, message: code, leaderId });

function put(client: LeanClient, session: number, key: string, value: JsonValue): Promise<RequestFailure | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`put ${key} got no answer in ${WAIT_MS} ms`)), WAIT_MS);
    client.put(session, key, value, (failure) => {
      clearTimeout(timer);
      resolve(failure);
    });
  });
}

test('a NOT_LEADER redirect resends the same bytes to the leader; ackedBelow advances', async (t) => {
  const follower = fakeNode(() => refuse(NodeReplyCode.NotLeader, 2));
  const leader = fakeNode(() => ok());
  const client = new LeanClient([1, 2], [{ node: 1, port: follower.port }, { node: 2, port: leader.port }], 2000);
  try {
    await client.openSessions(1);
    t.is(await put(client, 0, 'a', 'x'), null);
    t.is(await put(client, 0, 'b', 'y'), null);
    // The follower saw the registration and the first put, then the client went to the leader.
    const writes = (frames: ClientFrame[]): Uint8Array[] => frames.flatMap((frame) => (frame.t === 'w' ? [frame.command] : []));
    const atFollower = writes(follower.received);
    const atLeader = writes(leader.received);
    t.is(atFollower.length, 1);
    t.deepEqual(atLeader[0], atFollower[0], 'the registration was resent byte for byte');
    const commands = atLeader.map((bytes) => decodeCommand(bytes));
    t.is(commands[0]!.type, 'register');
    const requests = commands.filter((command) => command.type === 'request');
    t.deepEqual(
      requests.map((command) => [command.seq, command.ackedBelow]),
      [
        [1, 1],
        [2, 2],
      ],
    );
    t.true(requests.every((command) => command.clientId === commands[0]!.clientId));
  } finally {
    client.close();
  }
});

test('a full proposal queue is retried; LEADERSHIP_LOST and silence end as indeterminate errors', async (t) => {
  let refusals = 1;
  const node = fakeNode((frame, command) => {
    if (command === null || command.type === 'register') return ok();
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
  const client = new LeanClient([1], [{ node: 1, port: node.port }], 300);
  try {
    await client.openSessions(1);
    t.is(await put(client, 0, 'queue-full', 1), null);
    t.deepEqual(await put(client, 0, 'lost', 1), { code: NodeReplyCode.LeadershipLost, indeterminate: true });
    t.deepEqual(await put(client, 0, 'silent', 1), { code: 'TIMEOUT', indeterminate: true });
    t.deepEqual(await put(client, 0, 'refused', 1), { code: 'VALUE_TOO_LARGE', indeterminate: false });
  } finally {
    client.close();
  }
});

test('reads come back with their value', async (t) => {
  const node = fakeNode((frame) => (frame.t === 'r' ? ok(`value of ${frame.key}`) : ok()));
  const client = new LeanClient([1], [{ node: 1, port: node.port }], 2000);
  try {
    const value = await new Promise<JsonValue>((resolve, reject) => client.get('k1', (failure, read) => (failure === null ? resolve(read) : reject(new Error(failure.code)))));
    t.is(value, 'value of k1');
  } finally {
    client.close();
  }
});
