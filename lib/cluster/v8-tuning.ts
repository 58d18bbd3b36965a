// V8 settings for a process that hosts a cluster.
//
// A cluster here is many isolates in one process (one per node, one per load generator)
// on as few as 2 cores. By default each isolate's collector spreads its work over helper
// threads from a platform pool of 4 that every isolate shares: a scavenge posts parallel
// tasks and wakes helpers, a major collection marks concurrently on up to 7. On 2 cores
// those helpers compete with the threads a write waits on (the leader, a follower, a
// finished fdatasync's callback, a load generator): `perf sched timehist` showed the
// load generators runnable but off the CPU for up to 6.8 ms while a node's marking
// helpers held both cores, and at 7 nodes the four helpers used a fifth of a core.
//
// The best setting, --single-threaded-gc (every collection on its isolate's own thread),
// can only be given when the process starts: V8 reads it when an isolate's heap is set
// up, and flipping it at run time under an isolate that is already marking crashes V8
// (a fatal check in cppgc's marker). So the `raftlab` command restarts itself with it
// (lib/cli.ts) and a program that embeds a cluster is best started with it too. What can
// be set at run time, before any worker starts, is one marking helper per isolate
// instead of up to seven: tuneV8ForCluster(), the tenth session's setting.

import { setFlagsFromString } from 'node:v8';

/** The flag a process hosting a cluster is best started with (README, "What each optimisation gained"). */
export const CLUSTER_START_FLAGS: readonly string[] = ['--single-threaded-gc'];

const MARKING_WORKERS_FLAG = '--concurrent-marking-max-worker-num';
/** One concurrent-marking helper per isolate (V8's default is 7, capped by the platform's pool of 4). */
export const CLUSTER_MARKING_WORKERS = 1;

/** Command-line flags that choose how the collector uses threads: when one is given, it wins. */
const COLLECTOR_THREAD_FLAGS = ['--single-threaded-gc', '--no-single-threaded-gc', MARKING_WORKERS_FLAG, '--v8-pool-size'];

/** The arguments of a command line that choose the collector's threads, in order. */
export function collectorFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((argument) => COLLECTOR_THREAD_FLAGS.some((flag) => argument === flag || argument.startsWith(`${flag}=`)));
}

function commandLineChoseCollector(execArgv: readonly string[]): boolean {
  return collectorFlags(execArgv).length > 0;
}

/**
 * The start flags (CLUSTER_START_FLAGS) a process with this command line lacks: none when
 * its command line chose the collector's threads itself (`node --no-single-threaded-gc`
 * keeps V8's default).
 */
export function missingStartFlags(execArgv: readonly string[] = process.execArgv): readonly string[] {
  return commandLineChoseCollector(execArgv) ? [] : CLUSTER_START_FLAGS;
}

let applied: string[] = [];

/**
 * What can be set at run time: one concurrent-marking helper per isolate, unless the
 * command line chose the collector's threads. Call it before any worker starts (an
 * isolate created earlier keeps V8's default). Returns the flags it set.
 */
export function tuneV8ForCluster(execArgv: readonly string[] = process.execArgv): readonly string[] {
  if (commandLineChoseCollector(execArgv)) return [];
  const flag = `${MARKING_WORKERS_FLAG}=${CLUSTER_MARKING_WORKERS}`;
  setFlagsFromString(flag);
  applied = [flag];
  return applied;
}

/** The node and V8 flags this process runs with: its command line's, then those tuneV8ForCluster set. */
export function processFlags(): readonly string[] {
  return [...process.execArgv, ...applied];
}
