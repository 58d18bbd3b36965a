// The dashboard's `:isolate` (and its `i` key, which runs it) on a cluster of one node:
// refused with a usage line in its own words. It was passed on to the cluster as a
// partition with an empty group, and the feed said "isolate failed: INVALID_ARGUMENT: a
// partition is one or more groups of one or more nodes, got [[1],[]]".

import test from 'ava';
import type { ClusterStatus } from '../lib/cluster/types.js';
import { executeLine } from '../tui/commands.js';
import type { CommandContext } from '../tui/commands.js';
import { healthyStatus, nodeStatus } from './tui-fixtures.js';

test(':isolate on the only node is a usage error that says why, and nothing is cut', async (t) => {
  const status: ClusterStatus = {
    ...healthyStatus(),
    nodes: [nodeStatus(1, { role: 'leader', membership: { voters: [1], learners: [] } })],
    leaderId: 1,
    membership: { voters: [1], learners: [] },
  };
  const calls: string[] = [];
  const reports: { text: string; level: string }[] = [];
  // Only what :isolate reaches; anything else it called would throw here.
  const context = {
    status: () => status,
    cluster: { status: () => status, partition: (groups: unknown) => calls.push(`partition ${JSON.stringify(groups)}`) },
    report: (text: string, level: string) => reports.push({ text, level }),
  } as unknown as CommandContext;
  for (const line of ['isolate 1', 'isolate leader']) {
    reports.length = 0;
    await executeLine(line, context);
    t.deepEqual(reports, [{ text: 'n1 is the only node: there is no other to cut it off from -- usage: isolate ID|leader', level: 'error' }], line);
  }
  t.deepEqual(calls, [], 'no partition was asked for');
});
