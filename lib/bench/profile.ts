// `raftlab bench --cpu-prof DIR`: the bench re-runs itself under `node --cpu-prof`, which
// writes one .cpuprofile per thread (main, every Raft node worker, every load
// generator), then prints each thread's busy share and its top functions by self time.
// That is the "measure, change one thing, measure again" loop the issue asks for.

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { collectorFlags } from '../cluster/v8-tuning.js';
import { makeDirectories } from '../output-file.js';

export const PROFILE_LIMITS = {
  topFunctions: 15,
} as const;

/** The subset of V8's .cpuprofile format this summary reads. */
interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number } }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export const ThreadRole = {
  RaftNode: 'raft node',
  LoadGenerator: 'load generator',
  Pacer: 'open-loop pacer',
  Main: 'main',
} as const;
export type ThreadRole = (typeof ThreadRole)[keyof typeof ThreadRole];

export interface ThreadProfile {
  readonly file: string;
  readonly role: ThreadRole;
  readonly totalSeconds: number;
  readonly busySeconds: number;
  /** Function, share of busy time, best first. */
  readonly top: readonly { readonly where: string; readonly busyFraction: number }[];
}

function isCpuProfile(value: unknown): value is CpuProfile {
  const profile = value as Partial<CpuProfile> | null;
  return typeof profile === 'object' && profile !== null && Array.isArray(profile.nodes) && Array.isArray(profile.samples) && Array.isArray(profile.timeDeltas);
}

/** Shortens ".../dist/lib/x.js" and ".../node_modules/y/z.js" to the part a reader knows. */
function shortUrl(url: string): string {
  return url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, profile: CpuProfile, top: number): ThreadProfile {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const selfMicros = new Map<string, number>();
  let totalMicros = 0;
  let idleMicros = 0;
  const urls = new Set<string>();
  for (const node of profile.nodes) urls.add(node.callFrame.url);
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i]!);
    const micros = profile.timeDeltas[i] ?? 0;
    totalMicros += micros;
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idleMicros += micros;
      continue;
    }
    const where = `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${shortUrl(frame.url)}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    selfMicros.set(where, (selfMicros.get(where) ?? 0) + micros);
  }
  const has = (suffix: string): boolean => [...urls].some((url) => url.endsWith(suffix));
  const role = has('workers/raft-node.js')
    ? ThreadRole.RaftNode
    : has('workers/bench-client.js')
      ? ThreadRole.LoadGenerator
      : has('workers/bench-pacer.js')
        ? ThreadRole.Pacer
        : ThreadRole.Main;
  const busyMicros = totalMicros - idleMicros;
  return {
    file,
    role,
    totalSeconds: totalMicros / 1e6,
    busySeconds: busyMicros / 1e6,
    top: [...selfMicros]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, micros]) => ({ where, busyFraction: busyMicros === 0 ? 0 : micros / busyMicros })),
  };
}

export function summarizeProfileDir(dir: string, top: number = PROFILE_LIMITS.topFunctions): ThreadProfile[] {
  const summaries: ThreadProfile[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')).sort()) {
    const parsed: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    if (!isCpuProfile(parsed)) throw new Error(`${file} is not a V8 cpu profile`);
    summaries.push(summarizeProfile(file, parsed, top));
  }
  // The busiest thread first: under load that is the leader.
  return summaries.sort((a, b) => b.busySeconds / Math.max(1e-9, b.totalSeconds) - a.busySeconds / Math.max(1e-9, a.totalSeconds));
}

export function formatProfiles(summaries: readonly ThreadProfile[]): string {
  const lines: string[] = [];
  for (const summary of summaries) {
    const busyPercent = (100 * summary.busySeconds) / Math.max(1e-9, summary.totalSeconds);
    lines.push(`${summary.role} (${summary.file}): busy ${summary.busySeconds.toFixed(2)} s of ${summary.totalSeconds.toFixed(2)} s (${busyPercent.toFixed(0)}%)`);
    for (const entry of summary.top) lines.push(`  ${(100 * entry.busyFraction).toFixed(1).padStart(5)}%  ${entry.where}`);
  }
  return lines.join('\n');
}

/**
 * Runs `node [collector flags] --cpu-prof --cpu-prof-dir DIR <cli> bench <args>` with the terminal
 * passed through, then prints the per-thread summary. Returns the child's exit code.
 */
export async function runProfiled(cliPath: string, benchArgs: readonly string[], parentDir: string): Promise<number> {
  // A fresh directory per run, so an old run's threads never mix into the summary.
  const dir = join(parentDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  makeDirectories(dir);
  const code = await new Promise<number>((resolve, reject) => {
    // With this process's collector flags, so the profiled command does not restart
    // itself (lib/cli.ts): one process, one set of profiles, the same V8 setting.
    const flags = [...collectorFlags(process.execArgv), '--cpu-prof', '--cpu-prof-dir', dir];
    const child = spawn(process.execPath, [...flags, cliPath, 'bench', ...benchArgs], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128)));
  });
  process.stdout.write(`\nCPU profiles in ${dir} (open them in Chrome DevTools or speedscope); self time by thread:\n`);
  process.stdout.write(formatProfiles(summarizeProfileDir(dir)) + '\n');
  return code;
}
