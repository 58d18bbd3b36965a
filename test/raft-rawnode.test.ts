import test from 'ava';
import { Harness, decode } from './raft-harness.js';
import { createConfig, RawNode } from '../lib/raft/raw-node.js';
import { createPrng } from '../lib/raft/prng.js';

test('single node: propose -> ready(entries) -> advance -> next ready has them committed', (t) => {
  const node = new RawNode(createConfig({ id: 1, peers: [1], random: createPrng(1) }), null);
  node.campaign();
  t.is(node.status().role, 'leader');
  let ready = node.ready();
  t.deepEqual(ready.entries.map((entry) => entry.data), [null]);
  node.advance();
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [1]);
  node.advance();
  const result = node.propose(new Uint8Array([7]));
  t.deepEqual(result, { ok: true, index: 2, term: 1 });
  ready = node.ready();
  t.is(ready.entries.length, 1);
  t.is(ready.committedEntries.length, 0);
  node.advance();
  ready = node.ready();
  t.deepEqual(ready.committedEntries.map((entry) => entry.index), [2]);
  t.is(ready.hardState?.commitIndex, 2);
  node.advance();
  t.false(node.hasReady());
});

test('three nodes elect a leader and replicate', (t) => {
  const harness = new Harness(3, { seed: 3 });
  harness.elect(1);
  t.deepEqual(harness.leaderIds(), [1], `seed ${harness.seed}`);
  harness.propose(1, 'x');
  harness.stabilize();
  for (const id of harness.ids) t.deepEqual(harness.applied.get(id)!.map(decode), ['noop', 'x'], `node ${id}`);
});
