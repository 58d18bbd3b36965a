// encodeRaftBatches: one encode for an AppendEntries broadcast, byte-identical to encoding
// each follower's batch on its own.

import test from 'ava';
import { decodeRaftBatch, encodeRaftBatch, encodeRaftBatches } from '../lib/transport/codec.js';
import { MessageType } from '../lib/raft/types.js';
import type { AppendEntries, Entry, Message } from '../lib/raft/types.js';

const peers = [1, 2, 3, 4, 5];

function append(to: number, term: number, prevLogIndex: number, entries: Entry[]): AppendEntries {
  return { type: MessageType.AppendEntries, term, from: 1, to, prevLogIndex, prevLogTerm: term, leaderCommit: prevLogIndex, entries };
}

function entries(first: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({ index: first + i, term, data: i % 7 === 0 ? null : new Uint8Array([i & 0xff, (i >> 8) & 0xff, 42]) }));
}

for (const term of [1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40]) {
  test(`a broadcast at term ${term} encodes byte-for-byte like one encode per follower`, (t) => {
    const shared = entries(100, 50, term);
    const batches = new Map<number, Message[]>(peers.slice(1).map((to) => [to, [append(to, term, 99, shared.slice())]]));
    const fast = encodeRaftBatches(batches);
    for (const [to, messages] of batches) {
      t.deepEqual(fast.get(to), encodeRaftBatch(messages), `batch to ${to}`);
      const decoded = decodeRaftBatch(fast.get(to), to, peers);
      t.is(decoded.malformed, 0);
      t.is(decoded.messages[0]!.to, to);
    }
  });
}

test('followers at different positions, multi-message batches and other types fall back to full encodes', (t) => {
  const batches = new Map<number, Message[]>([
    [2, [append(2, 3, 10, entries(11, 5, 3))]],
    [3, [append(3, 3, 12, entries(13, 3, 3))]],
    [4, [append(4, 3, 10, entries(11, 5, 3)), { type: MessageType.Heartbeat, term: 3, from: 1, to: 4, leaderCommit: 10, context: 7 }]],
    [5, [{ type: MessageType.Heartbeat, term: 3, from: 1, to: 5, leaderCommit: 9, context: 0 }]],
  ]);
  const fast = encodeRaftBatches(batches);
  for (const [to, messages] of batches) t.deepEqual(fast.get(to), encodeRaftBatch(messages), `batch to ${to}`);
});

test('every copy owns its buffer, so each can be transferred on its own', (t) => {
  const shared = entries(1, 10, 2);
  const batches = new Map<number, Message[]>([2, 3, 4].map((to) => [to, [append(to, 2, 0, shared)]]));
  const buffers = [...encodeRaftBatches(batches).values()].map((bytes) => bytes.buffer);
  t.is(new Set(buffers).size, 3);
  for (const [i, bytes] of [...encodeRaftBatches(batches).values()].entries()) t.is(bytes.byteLength, buffers[i]!.byteLength);
});
