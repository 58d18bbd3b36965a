// Scratch directories: where `raftlab bench` and `raftlab check` put their throwaway
// clusters. Each is removed when its run ends, and also when the command is interrupted
// (Ctrl-C, SIGTERM, a hangup): a bench's cluster directory holds 100-200 MB of WAL
// segments, and an interrupted command used to leave it in the temporary directory.

import { mkdtempSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Signal = (typeof SIGNALS)[number];

const live = new Set<string>();

/** Makes a fresh directory, `parent/prefix` and six random characters, removed by removeScratchDir or on an interrupt. */
export function makeScratchDir(parent: string, prefix: string): string {
  const dir = mkdtempSync(join(parent, prefix));
  if (live.size === 0) for (const signal of SIGNALS) process.on(signal, onInterrupt);
  live.add(dir);
  return dir;
}

/** Removes a directory makeScratchDir made (idempotent). */
export function removeScratchDir(dir: string): void {
  removeDir(dir);
  if (!live.delete(dir) || live.size > 0) return;
  for (const signal of SIGNALS) process.off(signal, onInterrupt);
}

/** Keeps a directory makeScratchDir made: no longer removed on an interrupt (idempotent).
 *  For a run that keeps its files as evidence (`raftlab check` that failed). */
export function releaseScratchDir(dir: string): void {
  if (!live.delete(dir) || live.size > 0) return;
  for (const signal of SIGNALS) process.off(signal, onInterrupt);
}

function onInterrupt(signal: Signal): void {
  // The nodes' threads may still be writing there: they end with the process, right after.
  const dirs = [...live];
  for (const dir of dirs) removeDir(dir);
  live.clear();
  process.stderr.write(`raftlab: interrupted (${signal}); removed ${dirs.join(', ')}\n`);
  // End by the signal itself, as without this handler, so that whoever waits (a shell, the
  // raftlab command that restarted itself, lib/cli.ts) sees how the command ended.
  for (const each of SIGNALS) process.off(each, onInterrupt);
  process.kill(process.pid, signal);
  // Should another handler keep the process alive, the conventional exit code.
  setTimeout(() => process.exit(128 + constants.signals[signal]), 1000).unref();
}

function removeDir(dir: string): void {
  // A node's thread may create a file (a segment prepared ahead) while the tree goes.
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
