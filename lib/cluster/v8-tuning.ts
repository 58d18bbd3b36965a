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
//
// The second start flag turns V8's allocation-site pretenuring off (PRETENURING_FLAGS
// below): after a burst of load it kept allocating the leader's short-lived objects in
// the old generation. The restart sets both; a command line that chose either setting
// keeps its choice.

import { setFlagsFromString } from 'node:v8';

const MARKING_WORKERS_FLAG = '--concurrent-marking-max-worker-num';
/** One concurrent-marking helper per isolate (V8's default is 7, capped by the platform's pool of 4). */
export const CLUSTER_MARKING_WORKERS = 1;

/** Command-line flags that choose how the collector uses threads: when one is given, it wins. */
const COLLECTOR_THREAD_FLAGS = ['--single-threaded-gc', '--no-single-threaded-gc', MARKING_WORKERS_FLAG, '--v8-pool-size'];

/**
 * V8's allocation-site pretenuring: when most objects from one allocation site (a line
 * that makes an object) outlive a scavenge, V8 allocates that site's objects straight in
 * the old generation from then on. A closed loop of 2,048 requests in flight does that
 * to the leader's log entries and their views of the client's bytes, and the decision
 * outlived the load that caused it: at an ordinary rate afterwards each of those objects,
 * dead within milliseconds, filled the old generation, whose collection stopped the leader
 * for 4-11 ms every 0.8 s (lib/bench/README.md, "The fourteenth session's look at the tail").
 */
const PRETENURING_FLAGS = ['--allocation-site-pretenuring', '--no-allocation-site-pretenuring'];

/** Each start flag, and the command-line flags that choose its setting instead (any one wins). */
const START_FLAGS: readonly { readonly flag: string; readonly choosers: readonly string[] }[] = [
  { flag: '--single-threaded-gc', choosers: COLLECTOR_THREAD_FLAGS },
  { flag: '--no-allocation-site-pretenuring', choosers: PRETENURING_FLAGS },
];

/** The flags a process hosting a cluster is best started with (lib/bench/README.md, "What each optimisation gained"). */
export const CLUSTER_START_FLAGS: readonly string[] = START_FLAGS.map(({ flag }) => flag);

/** Whether one command-line argument is one of `choosers` (bare or with `=value`). */
function isOneOf(argument: string, choosers: readonly string[]): boolean {
  return choosers.some((flag) => argument === flag || argument.startsWith(`${flag}=`));
}

function chooses(execArgv: readonly string[], choosers: readonly string[]): boolean {
  return execArgv.some((argument) => isOneOf(argument, choosers));
}

/** The arguments of a command line that choose the collector's threads or its pretenuring, in order. */
export function collectorFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((argument) => START_FLAGS.some(({ choosers }) => isOneOf(argument, choosers)));
}

/**
 * The start flags (CLUSTER_START_FLAGS) a process with this command line lacks. Each is
 * the command line's to choose: `node --no-single-threaded-gc` (or any flag choosing the
 * collector's threads) keeps V8's threads, `node --allocation-site-pretenuring` keeps
 * V8's pretenuring.
 */
export function missingStartFlags(execArgv: readonly string[] = process.execArgv): readonly string[] {
  return START_FLAGS.filter(({ choosers }) => !chooses(execArgv, choosers)).map(({ flag }) => flag);
}

let applied: string[] = [];

/**
 * What can be set at run time: one concurrent-marking helper per isolate, unless the
 * command line chose the collector's threads. Call it before any worker starts (an
 * isolate created earlier keeps V8's default). Returns the flags it set.
 */
export function tuneV8ForCluster(execArgv: readonly string[] = process.execArgv): readonly string[] {
  if (chooses(execArgv, COLLECTOR_THREAD_FLAGS)) return [];
  const flag = `${MARKING_WORKERS_FLAG}=${CLUSTER_MARKING_WORKERS}`;
  setFlagsFromString(flag);
  applied = [flag];
  return applied;
}

/** The node and V8 flags this process runs with: its command line's, then those tuneV8ForCluster set. */
export function processFlags(): readonly string[] {
  return [...process.execArgv, ...applied];
}
