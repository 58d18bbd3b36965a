// V8 settings for a process that hosts a cluster. The `raftlab` command applies them to
// itself before it starts any worker; an embedding program may call tuneV8ForCluster()
// the same way, first thing.
//
// A cluster here is many isolates in one process (one per node, one per load generator)
// on as few as 2 cores. V8 lets each isolate's concurrent marking use up to 7 helper
// threads (--concurrent-marking-max-worker-num), drawn from a platform pool of 4 that
// every isolate shares. When a node's major collection starts, its marking then fills
// both cores for milliseconds while the threads a write waits on (the leader, a
// follower, a finished fdatasync's callback, a load generator) wait for a core:
// `perf sched timehist` showed the load generators runnable but off the CPU for up to
// 6.8 ms at such moments. With one marking worker per isolate, in alternating open-loop
// runs, p99 fell at every node count (README, "What each optimisation gained") and peak
// throughput did not change.
import { setFlagsFromString } from 'node:v8';

const MARKING_WORKERS_FLAG = '--concurrent-marking-max-worker-num';
/** One concurrent-marking helper per isolate (V8's default is 7, capped by the platform's pool of 4). */
export const CLUSTER_MARKING_WORKERS = 1;

let applied: string[] = [];

/**
 * Applies the settings above to this process, unless it was started with its own value
 * of the flag (`node --concurrent-marking-max-worker-num=N ...` wins). Call it before any
 * worker starts: an isolate created earlier may keep V8's default. Returns the flags it
 * set (none when the command line chose).
 */
export function tuneV8ForCluster(execArgv: readonly string[] = process.execArgv): readonly string[] {
  if (execArgv.some((argument) => argument.startsWith(MARKING_WORKERS_FLAG))) return [];
  const flag = `${MARKING_WORKERS_FLAG}=${CLUSTER_MARKING_WORKERS}`;
  setFlagsFromString(flag);
  applied = [flag];
  return applied;
}

/** The node and V8 flags this process runs with: its command line's, then those tuneV8ForCluster set. */
export function processFlags(): readonly string[] {
  return [...process.execArgv, ...applied];
}
