// `raftlab bench` options: parsed from argv, checked once, then plain readonly data.

import { BENCH_LIMITS, BenchClientKind } from './types.js';

export interface BenchOptions {
  readonly nodeCounts: readonly number[];
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly clients: number;
  readonly inflightPerClient: number;
  /** Load-generator threads; null: chosen per window (generatorsFor). */
  readonly generators: number | null;
  readonly valueBytes: number;
  readonly keys: number;
  readonly readFraction: number;
  /** Open loop: total requests per second; null for closed loop. */
  readonly ratePerSecond: number | null;
  readonly fsync: boolean;
  readonly jsonPath: string | null;
  readonly baseline: boolean;
  readonly seed: number;
  /** Where the per-run temp data dirs are made (default: the OS temp dir). */
  readonly dataParent: string | null;
  /** Each node's compaction period in applied entries; null: the cluster's default. */
  readonly snapshotEntries: number | null;
  /** A follower's minimum time between the starts of its fdatasyncs; null: the cluster's default. */
  readonly followerSyncSpacingMs: number | null;
  readonly verifySamplePerGenerator: number;
  readonly client: BenchClientKind;
  /** After each closed-loop window, another in open loop at half the operations/s measured (writes, and reads with --reads). */
  readonly halfPeak: boolean;
  /** After each closed-loop window, one in open loop at each of these fractions of the writes/s measured (p99 against load). */
  readonly loadCurve: readonly number[];
  /** Test only: verification also reads a key that was never written. */
  readonly testOnlyForgetKey: boolean;
}

export const BENCH_USAGE = `usage: raftlab bench [options]
  --nodes 1,3,5,7       node counts, each a fresh cluster (default 1,3,5,7)
  --duration S          measured seconds per node count (default ${BENCH_LIMITS.defaultDurationSeconds})
  --warmup S            warm-up seconds before each measurement (default ${BENCH_LIMITS.defaultWarmupSeconds})
  --clients N           client sessions across all generators (default ${BENCH_LIMITS.defaultClients})
  --inflight N          closed loop: requests in flight per session (default ${BENCH_LIMITS.defaultInflightPerClient})
  --generators N        load-generator worker threads (default ${BENCH_LIMITS.defaultGenerators} in closed loop; in open
                        loop one per ${BENCH_LIMITS.openLoopRatePerGenerator.toLocaleString('en-US')} requests/s, at most ${BENCH_LIMITS.defaultGenerators})
  --value-size B        bytes of JSON per value (default ${BENCH_LIMITS.defaultValueBytes})
  --keys N              key space (default ${BENCH_LIMITS.defaultKeys})
  --reads F             fraction of requests that are linearizable gets (default 0)
  --rate R              open loop: R requests/s in total (reached over the first half of the
                        warm-up), latency from the intended send time; writes/s counts
                        the requests due inside the window (a warm-up backlog is noted)
  --fsync on|off        fdatasync every turn (default on; off is unsafe)
  --baseline            first measure fdatasync, MessagePort and msgpackr rates, and
                        fdatasync latency with the cores idle and kept busy
  --json FILE           write everything (with machine info) to FILE (checked to be writable
                        before the run)
  --seed N              seed for keys and read/write choice (default random, printed)
  --data-dir DIR        where temporary cluster directories are made
  --snapshot-entries N  each node compacts its log every N applied entries (default: the
                        cluster's, 100,000)
  --follower-sync-spacing MS
                        a follower starts no turn within MS ms of starting its last
                        fdatasync (default: the cluster's, 2 with 5 or more nodes,
                        else 0: off)
  --verify-sample N     acknowledged keys read back per generator (default ${BENCH_LIMITS.defaultVerifySamplePerGenerator}; 0 reads
                        none back, and the notes say so)
  --client lean|kv      load through the lean bench client (default) or the public KvClient
  --half-peak           per node count, also measure latency in open loop at half the peak
  --catch-up            instead: a follower restarted under load with a large state
                        (raftlab bench --catch-up --help)
  --load-curve F,F,...  per node count, also an open-loop window at each fraction of the
                        peak (0 < F <= 1, at most ${BENCH_LIMITS.maxLoadCurvePoints}): latency against load; 0.5 is the
                        half-peak window when both are asked for
  --against DIR         compare with the build of another checkout (DIR/dist): the two take
                        turns, --rounds R times, and the ratios are printed
  --rounds R            with --against: how many rounds of turns (default 4; an even
                        number gives each build the first turn equally often)
  --cpu-prof DIR        re-run under node --cpu-prof; print each thread's busy share and hotspots
  --profile-summary DIR summarise .cpuprofile files written earlier
exit 0 every acknowledged write read back, 1 writes missing or nothing acknowledged (with
  --catch-up: not caught up), 2 bad usage, 3 the results were printed but --json FILE could
  not be written`;

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
}

/** The number written in plain decimal (`12`, `0.5`), else NaN: `1e3`, `0x10`, `Infinity` and blanks are no numbers here. */
function decimal(text: string): number {
  return /^(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : NaN;
}

export function integer(flag: string, text: string, min: number, max: number): number {
  const value = decimal(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new BenchUsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  return value;
}

export function positiveNumber(flag: string, text: string, max: number): number {
  const value = decimal(text);
  if (!Number.isFinite(value) || value <= 0 || value > max) throw new BenchUsageError(`${flag} must be a number above 0 and at most ${max}, got '${text}'`);
  return value;
}

/** Options that take no value. */
const BENCH_SWITCHES: ReadonlySet<string> = new Set(['--baseline', '--half-peak']);
/** Options that take the next argument as their value (each has its case in parseBenchArgs). */
const BENCH_VALUED_OPTIONS: ReadonlySet<string> = new Set([
  '--nodes',
  '--duration',
  '--warmup',
  '--clients',
  '--inflight',
  '--generators',
  '--value-size',
  '--keys',
  '--reads',
  '--rate',
  '--fsync',
  '--json',
  '--seed',
  '--data-dir',
  '--snapshot-entries',
  '--follower-sync-spacing',
  '--client',
  '--load-curve',
  '--verify-sample',
]);

/** Refuses an option given twice (the second would silently win). */
export function rejectRepeatedOptions(argv: readonly string[]): void {
  const seen = new Set<string>();
  for (const arg of argv) {
    if (!arg.startsWith('--')) continue;
    if (seen.has(arg)) throw new BenchUsageError(`${arg} given twice`);
    seen.add(arg);
  }
}

/** The usage error for an argument that is no known option; `--nodes=3` is told how to write it. */
function unknownOption(arg: string): BenchUsageError {
  const equals = arg.indexOf('=');
  const hint = arg.startsWith('--') && equals > 0 ? ` (an option's value is the next argument: ${arg.slice(0, equals)} ${arg.slice(equals + 1)})` : '';
  return new BenchUsageError(`unknown option '${arg}'${hint}`);
}

/** An option's value: the next argument, unless the list ends or it is another option. */
function optionValue(flag: string, text: string | undefined): string {
  if (text === undefined || text.startsWith('--')) throw new BenchUsageError(`${flag} needs a value`);
  return text;
}

export function defaultBenchOptions(): BenchOptions {
  return {
    nodeCounts: BENCH_LIMITS.defaultNodeCounts,
    durationSeconds: BENCH_LIMITS.defaultDurationSeconds,
    warmupSeconds: BENCH_LIMITS.defaultWarmupSeconds,
    clients: BENCH_LIMITS.defaultClients,
    inflightPerClient: BENCH_LIMITS.defaultInflightPerClient,
    generators: null,
    valueBytes: BENCH_LIMITS.defaultValueBytes,
    keys: BENCH_LIMITS.defaultKeys,
    readFraction: 0,
    ratePerSecond: null,
    fsync: true,
    jsonPath: null,
    baseline: false,
    seed: Math.floor(Math.random() * 0x7fffffff),
    dataParent: null,
    snapshotEntries: null,
    followerSyncSpacingMs: null,
    verifySamplePerGenerator: BENCH_LIMITS.defaultVerifySamplePerGenerator,
    client: BenchClientKind.Lean,
    halfPeak: false,
    loadCurve: [],
    testOnlyForgetKey: false,
  };
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const options: { -readonly [K in keyof BenchOptions]: BenchOptions[K] } = { ...defaultBenchOptions() };
  rejectRepeatedOptions(argv);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (BENCH_SWITCHES.has(flag)) {
      if (flag === '--baseline') options.baseline = true;
      else options.halfPeak = true;
      continue;
    }
    if (!BENCH_VALUED_OPTIONS.has(flag)) throw unknownOption(flag);
    const value = optionValue(flag, argv[++i]);
    switch (flag) {
      case '--nodes':
        options.nodeCounts = value.split(',').map((part) => integer('--nodes', part.trim(), 1, BENCH_LIMITS.maxNodes));
        break;
      case '--duration':
        options.durationSeconds = positiveNumber('--duration', value, BENCH_LIMITS.maxDurationSeconds);
        break;
      case '--warmup':
        options.warmupSeconds = value === '0' ? 0 : positiveNumber('--warmup', value, BENCH_LIMITS.maxDurationSeconds);
        break;
      case '--clients':
        options.clients = integer('--clients', value, 1, BENCH_LIMITS.maxClients);
        break;
      case '--inflight':
        options.inflightPerClient = integer('--inflight', value, 1, BENCH_LIMITS.maxInflightPerClient);
        break;
      case '--generators':
        options.generators = integer('--generators', value, 1, BENCH_LIMITS.maxGenerators);
        break;
      case '--value-size':
        options.valueBytes = integer('--value-size', value, BENCH_LIMITS.minValueBytes, BENCH_LIMITS.maxValueBytes);
        break;
      case '--keys':
        options.keys = integer('--keys', value, 1, BENCH_LIMITS.maxKeys);
        break;
      case '--reads': {
        const fraction = decimal(value);
        if (!(fraction >= 0 && fraction <= 1)) throw new BenchUsageError(`--reads must be a fraction from 0 to 1, got '${value}'`);
        options.readFraction = fraction;
        break;
      }
      case '--rate':
        options.ratePerSecond = positiveNumber('--rate', value, 1e9);
        break;
      case '--fsync':
        if (value !== 'on' && value !== 'off') throw new BenchUsageError(`--fsync must be on or off, got '${value}'`);
        options.fsync = value === 'on';
        break;
      case '--json':
        options.jsonPath = value;
        break;
      case '--seed':
        options.seed = integer('--seed', value, 0, 0x7fffffff);
        break;
      case '--data-dir':
        options.dataParent = value;
        break;
      case '--snapshot-entries':
        options.snapshotEntries = integer('--snapshot-entries', value, 1, Number.MAX_SAFE_INTEGER);
        break;
      case '--follower-sync-spacing':
        options.followerSyncSpacingMs = integer('--follower-sync-spacing', value, 0, 10);
        break;
      case '--client':
        if (value !== BenchClientKind.Lean && value !== BenchClientKind.Kv) throw new BenchUsageError(`--client must be lean or kv, got '${value}'`);
        options.client = value;
        break;
      case '--load-curve':
        options.loadCurve = loadCurve(value);
        break;
      case '--verify-sample':
        options.verifySamplePerGenerator = integer('--verify-sample', value, 0, BENCH_LIMITS.maxKeys);
        break;
      default:
        throw unknownOption(flag);
    }
  }
  checkBenchOptions(options);
  return options;
}

/** --load-curve's fractions of the peak: each in (0, 1], no repeats, in the order given. */
function loadCurve(value: string): number[] {
  const fractions = value.split(',').map((part) => {
    const fraction = decimal(part.trim());
    if (!(fraction > 0 && fraction <= 1)) throw new BenchUsageError(`--load-curve takes fractions of the peak above 0 and at most 1, got '${part}'`);
    return fraction;
  });
  if (new Set(fractions).size !== fractions.length) throw new BenchUsageError(`--load-curve names a fraction twice: '${value}'`);
  if (fractions.length > BENCH_LIMITS.maxLoadCurvePoints) throw new BenchUsageError(`--load-curve takes at most ${BENCH_LIMITS.maxLoadCurvePoints} fractions, got ${fractions.length}`);
  return fractions;
}

/**
 * The load-generator threads of a window: --generators if given; otherwise
 * defaultGenerators in closed loop, and in open loop one per openLoopRatePerGenerator
 * requests a second (at least one, at most defaultGenerators). Never more than sessions.
 */
export function generatorsFor(options: Pick<BenchOptions, 'generators' | 'clients'>, ratePerSecond: number | null): number {
  const chosen =
    options.generators ??
    (ratePerSecond === null
      ? BENCH_LIMITS.defaultGenerators
      : Math.min(BENCH_LIMITS.defaultGenerators, Math.max(1, Math.ceil(ratePerSecond / BENCH_LIMITS.openLoopRatePerGenerator))));
  return Math.min(chosen, options.clients);
}

/** Cross-field checks, also applied to options built in code (tests). */
export function checkBenchOptions(options: BenchOptions): void {
  if (options.nodeCounts.length === 0) throw new BenchUsageError('--nodes needs at least one node count');
  if (options.halfPeak && options.ratePerSecond !== null) throw new BenchUsageError('--half-peak finds its own rate: leave out --rate');
  if (options.loadCurve.length > 0 && options.ratePerSecond !== null) throw new BenchUsageError('--load-curve finds its own rates from the closed loop\'s peak: leave out --rate');
  // The most generators any window of this run can have (an open-loop window has no more than a closed-loop one).
  const generators = generatorsFor(options, options.ratePerSecond);
  if (options.keys < generators) throw new BenchUsageError(`--keys (${options.keys}) must be at least the number of generators (${generators})`);
  // A generator never has two writes to one key in flight (that is what makes read-back
  // exact), so its slice of the key space must cover everything it has in flight.
  const clientsPerGenerator = Math.ceil(options.clients / generators);
  const keysPerGenerator = Math.floor(options.keys / generators);
  if (options.ratePerSecond === null && clientsPerGenerator * options.inflightPerClient > keysPerGenerator) {
    throw new BenchUsageError(
      `--keys too small: each generator has up to ${clientsPerGenerator * options.inflightPerClient} writes in flight but only ${keysPerGenerator} keys; use --keys ${clientsPerGenerator * options.inflightPerClient * generators} or more`,
    );
  }
}
