// Exactly-once through the real client (from the client audit): an append and a cas,
// neither idempotent, in flight when their leader crashes after the entries reached a
// follower and before it answered. The entries commit under the next leader while the
// client retries there with the same request ids; each must take effect once. Links are
// slowed so the crash, made once a follower holds the entries, lands before the answer.
// Waits are on status, with bounded timeouts.

import test from 'ava';
import type { RaftlabError } from '../lib/cluster/errors.js';
import { eventually, startCluster } from './helpers/cluster.js';
import { testSeed } from './helpers/seed.js';

const WAIT_MS = 15_000;
const ROUNDS = 4;

test.serial('an append and a cas retried across a leader crash after commit take effect once, and every answer is true', async (t) => {
  const { cluster } = await startCluster(t, { nodes: 3, seed: testSeed('EXACTLY_ONCE_SEED') });
  const kv = cluster.client({ timeoutMs: WAIT_MS });
  await cluster.waitForLeader(WAIT_MS);
  await kv.put('counter', 0);
  let counter = 0;
  const acknowledged: number[] = [];
  const maybe: number[] = [];
  const rounds: string[] = [];
  const outcome = (promise: Promise<unknown>) =>
    promise.then((value) => `ok:${String(value)}`, (error: RaftlabError) => `${error.code}/${error.indeterminate ? 'indeterminate' : 'definite'}`);
  for (let round = 0; round < ROUNDS; round++) {
    const leader = await cluster.waitForLeader(WAIT_MS);
    const before = cluster.status().nodes[leader - 1]!.lastLogIndex;
    cluster.setLinkFaults({ delayMs: 250 });
    const append = outcome(kv.append('log', round));
    const cas = outcome(kv.cas('counter', counter, counter + 1));
    await cluster.waitFor((s) => s.nodes.some((n) => n.id !== leader && n.alive && n.lastLogIndex >= before + 2), WAIT_MS, 'a follower to hold both entries');
    await cluster.crash(leader);
    cluster.setLinkFaults(null);
    const [appended, swapped] = await Promise.all([append, cas]);
    const next = await cluster.waitForLeader(WAIT_MS);
    const copies = cluster.status().nodes[next - 1]!.recentEntries.filter((entry) => entry.text === `append log+${round}`).length;
    rounds.push(`round ${round}: leader ${leader} crashed; append ${appended}, cas ${swapped}; entries carrying the append at the next leader: ${copies}`);
    if (appended === 'ok:undefined') acknowledged.push(round);
    else if (appended.endsWith('/indeterminate')) maybe.push(round);
    const value = (await kv.get('counter')) as number;
    if (swapped === 'ok:true') t.is(value, counter + 1, `cas answered true: the counter moved once (round ${round})`);
    else t.not(swapped, 'ok:false', `cas(${counter}, ${counter + 1}) answered false though only this client writes the counter (now ${value}): applied twice (round ${round})`);
    counter = value;
    await cluster.restart(leader);
    await eventually(() => cluster.status().nodes.every((n) => n.alive), WAIT_MS, 'every node up again');
  }
  t.log(rounds.join('\n'));
  const log = (await kv.get('log')) as number[];
  const counts = new Map<number, number>();
  for (const element of log) counts.set(element, (counts.get(element) ?? 0) + 1);
  for (const [element, count] of counts) t.is(count, 1, `element ${element} appended ${count} times: ${JSON.stringify(log)}`);
  for (const round of acknowledged) t.true(counts.has(round), `acknowledged append ${round} missing: ${JSON.stringify(log)}`);
  for (const element of counts.keys()) t.true(acknowledged.includes(element) || maybe.includes(element), `element ${element} from an append that definitely failed`);
});
