// Shared helpers for functional tests: real workers, real files, temp dirs.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Cluster } from '../../lib/cluster/cluster.js';
import type { ClusterOptions } from '../../lib/cluster/cluster.js';
import type { ClusterEvent } from '../../lib/cluster/types.js';

export function tempDir(prefix = 'raftlab-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts a cluster in a temp dir, stopped and removed when the test ends. Events are
 *  kept so a failing test can print what the cluster went through. */
export async function startCluster(t: ExecutionContext, options: ClusterOptions = {}): Promise<{ cluster: Cluster; events: ClusterEvent[]; dataDir: string }> {
  const dataDir = options.dataDir ?? tempDir();
  const events: ClusterEvent[] = [];
  const cluster = await Cluster.start({ ...options, dataDir });
  cluster.on('event', (event: ClusterEvent) => events.push(event));
  t.teardown(async () => {
    await cluster.stop();
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  });
  t.log(`cluster seed ${cluster.seed}, data in ${dataDir}`);
  return { cluster, events, dataDir };
}

/** Resolves once `condition()` returns a truthy value, polling every 10 ms; rejects after timeoutMs. */
export async function eventually<T>(condition: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === null ? '' : ` (last error: ${String(lastError)})`}`);
}

/** Makes node `id` the leader (leadership transfer, retried) and returns once it leads. */
export async function lead(cluster: Cluster, id: number, timeoutMs = 15_000): Promise<void> {
  await eventually(
    () => {
      if (cluster.status().leaderId === id && cluster.status().nodes.find((node) => node.id === id)?.role === 'leader') return true;
      cluster.transferLeadership(id);
      return false;
    },
    timeoutMs,
    `node ${id} to lead`,
  );
}
