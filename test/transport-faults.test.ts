// The transport's fault injection does what the nemesis says it does (`raftlab check`'s
// cut, faults and heal): a blocked link carries nothing one way while the other way flows;
// drops, duplicates and delays happen at the rates set; clearing the faults restores
// every message. Two PortMeshTransports joined by a real MessageChannel, as two nodes are.

import test from 'ava';
import { MessageChannel } from 'node:worker_threads';
import type { LinkFault } from '../lib/cluster/protocol.js';
import { HEALTHY_LINK } from '../lib/cluster/protocol.js';
import { createPrng } from '../lib/raft/prng.js';
import { PortMeshTransport } from '../lib/transport/transport.js';
import { freshSeed } from './check-helpers.js';

/** Two transports, node 1 and node 2, and what each received: [sequence number, arrival ms]. */
function pair(seed: number): { one: PortMeshTransport; two: PortMeshTransport; atOne: number[][]; atTwo: number[][]; close: () => void } {
  const one = new PortMeshTransport(createPrng(seed));
  const two = new PortMeshTransport(createPrng(seed ^ 0x5eed));
  const channel = new MessageChannel();
  const atOne: number[][] = [];
  const atTwo: number[][] = [];
  const started = performance.now();
  one.onReceive((_from, bytes) => atOne.push([new DataView((bytes as Uint8Array).buffer).getUint32(0), performance.now() - started]));
  two.onReceive((_from, bytes) => atTwo.push([new DataView((bytes as Uint8Array).buffer).getUint32(0), performance.now() - started]));
  one.attach(2, channel.port1);
  two.attach(1, channel.port2);
  return {
    one,
    two,
    atOne,
    atTwo,
    close: () => {
      one.close();
      two.close();
    },
  };
}

function message(sequence: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setUint32(0, sequence);
  return bytes;
}

/** A message far past any sequence sent: once it arrives over a clean link, everything sent before it without delay has arrived too (a port keeps order). */
const SENTINEL = 0xffff_fff0;

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const fault = (overrides: Partial<LinkFault>): LinkFault => ({ ...HEALTHY_LINK, ...overrides });

/** Sends `count` messages one→two under `link`, then a sentinel over a clean link; returns what two received before it. */
async function sendThrough(link: LinkFault, count: number, seed: number): Promise<{ received: number[]; dropped: number }> {
  const { one, atTwo, close } = pair(seed);
  try {
    one.setFaults({ '2': link });
    for (let i = 0; i < count; i++) one.send(2, message(i));
    one.setFaults({ '2': HEALTHY_LINK });
    one.send(2, message(SENTINEL));
    await until(() => atTwo.some(([sequence]) => sequence === SENTINEL), 10_000, 'the sentinel');
    return { received: atTwo.map(([sequence]) => sequence!).filter((sequence) => sequence !== SENTINEL), dropped: one.messagesDroppedByFaults };
  } finally {
    close();
  }
}

test('a blocked link (a one-way cut) carries nothing that way, while the other way flows; cleared, it carries again', async (t) => {
  const seed = freshSeed();
  const { one, two, atOne, atTwo, close } = pair(seed);
  t.teardown(close);
  // 1→2 cut, 2→1 not: node 1's transport holds the fault for its sends to 2.
  one.setFaults({ '2': fault({ blocked: true }) });
  two.setFaults({ '1': HEALTHY_LINK });
  for (let i = 0; i < 100; i++) {
    one.send(2, message(i));
    two.send(1, message(i));
  }
  two.send(1, message(SENTINEL));
  await until(() => atOne.some(([sequence]) => sequence === SENTINEL), 10_000, '2→1 to flow');
  t.is(atOne.length, 101, '2→1 flows: every message');
  t.is(one.messagesDroppedByFaults, 100);
  // Healed: 1→2 carries again.
  one.setFaults({ '2': HEALTHY_LINK });
  one.send(2, message(SENTINEL));
  await until(() => atTwo.length > 0, 10_000, '1→2 after the heal');
  t.deepEqual(
    atTwo.map(([sequence]) => sequence),
    [SENTINEL],
    `seed ${seed}: nothing sent over the cut arrived, the message after the heal did`,
  );
});

const count = 5_000;

test('drops happen at the rate set (0.3 of 5,000 messages, within 3 points)', async (t) => {
  const seed = freshSeed();
  const { received, dropped } = await sendThrough(fault({ dropRate: 0.3 }), count, seed);
  const rate = 1 - received.length / count;
  t.true(Math.abs(rate - 0.3) < 0.03, `seed ${seed}: dropped ${rate}`);
  t.is(dropped, count - received.length, 'counted as dropped');
  t.is(new Set(received).size, received.length, 'nothing duplicated');
});

test('duplicates happen at the rate set (0.3 of 5,000 messages, within 3 points), each an exact copy', async (t) => {
  const seed = freshSeed();
  const { received } = await sendThrough(fault({ duplicateRate: 0.3 }), count, seed);
  const rate = received.length / count - 1;
  t.true(Math.abs(rate - 0.3) < 0.03, `seed ${seed}: duplicated ${rate}`);
  t.is(new Set(received).size, count, `seed ${seed}: every message arrived, some twice`);
  t.true(received.every((sequence) => sequence >= 0 && sequence < count), 'copies carry the same bytes');
});

test('drops and duplicates together: what is not dropped is duplicated at its rate', async (t) => {
  const seed = freshSeed();
  const { received } = await sendThrough(fault({ dropRate: 0.2, duplicateRate: 0.25 }), count, seed);
  const distinct = new Set(received).size;
  t.true(Math.abs(1 - distinct / count - 0.2) < 0.03, `seed ${seed}: dropped ${1 - distinct / count}`);
  t.true(Math.abs(received.length / distinct - 1 - 0.25) < 0.03, `seed ${seed}: duplicated ${received.length / distinct - 1}`);
});

test('a delay holds each message 0.5 to 1.5 times the delay set, and reorders them', async (t) => {
  const seed = freshSeed();
  const { one, atTwo, close } = pair(seed);
  t.teardown(close);
  const delayMs = 40;
  const n = 200;
  one.setFaults({ '2': fault({ delayMs }) });
  for (let i = 0; i < n; i++) one.send(2, message(i));
  await until(() => atTwo.length === n, 10_000, 'every delayed message');
  const sequences = atTwo.map(([sequence]) => sequence!);
  t.deepEqual([...sequences].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), 'each once');
  t.notDeepEqual(sequences, Array.from({ length: n }, (_, i) => i), `seed ${seed}: reordered by the jitter`);
  // Arrival times count from the pair's start, just before the sends: none came before half
  // the delay, and on average they came after about the delay (on a loaded machine, later).
  const times = atTwo.map(([, at]) => at!);
  const first = Math.min(...times);
  const mean = times.reduce((sum, at) => sum + at, 0) / n;
  t.true(first >= delayMs * 0.5 - 1, `seed ${seed}: the first arrived after ${first} ms`);
  t.true(mean >= delayMs * 0.9, `seed ${seed}: on average after ${mean} ms`);
});
