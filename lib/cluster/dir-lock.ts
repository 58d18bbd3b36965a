// The data directory's lock: `<dataDir>/raftlab.lock`, held by the process whose
// cluster runs there. Two supervisors on one directory would each start a worker per
// node on the same files, both appending at their own offsets: the WAL of every node
// interleaved, every acknowledged write unreadable. Node has no flock(), so the lock is
// a file put in place exclusively (written whole to a file of its own, then hard-linked
// to the lock's name, which fails if that exists: no one ever reads it half written),
// naming its holder: the process id, the
// process's start time (so a recycled pid, or this very pid in a container restarted
// since, is not taken for the holder), the host, and a nonce of the Cluster that took
// it. A lock whose holder is gone (killed, crashed) is stale and taken over; one whose
// holder runs, or that names another host (a shared file system: whether that process
// runs cannot be told from here), is refused with DATA_DIR_LOCKED.
//
// Taking a stale lock over means removing it by name, and a name is not a file: between
// judging the lock stale and the unlink, another process could take it over and link
// its own, which the unlink would then remove (two holders). So only the holder of a
// second lock, `raftlab.lock.breaking` (put in place the same way, held for the
// microseconds of one removal), may remove a stale lock: while it is held the file
// under the lock's name cannot change, since its dead holder cannot release it and no
// one else may remove it. A breaking lock whose own holder died mid-removal is stale in
// turn and removed with a re-read just before (the one window left: a process killed
// in those microseconds, and two others starting at that very moment).

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, RaftlabError } from './errors.js';

export const LOCK_FILE = 'raftlab.lock';
/** Held while a stale lock is removed (see the header). */
export const BREAKING_FILE = 'raftlab.lock.breaking';
/** How many times a start tries to put the lock in place, removing a stale one between tries. */
const LOCK_ATTEMPTS = 5;
/** How long a start waits, in all, for another process's removal of a stale lock to end. */
const BREAKING_WAIT_MS = 2_000;

/** Test-only: called just before a stale lock is removed, to interleave another start there. */
export const lockTestHooks: { beforeStaleRemoval: (() => void) | null } = { beforeStaleRemoval: null };

interface LockHolder {
  readonly pid: number;
  /** The holder's start time in clock ticks since boot (/proc/<pid>/stat), null where there is no /proc. */
  readonly startTicks: number | null;
  readonly host: string;
  readonly nonce: string;
}

export class DataDirLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly holder: LockHolder,
  ) {}

  /** Takes `dataDir`'s lock, or throws DATA_DIR_LOCKED naming the process that holds it. */
  static acquire(dataDir: string): DataDirLock {
    const path = join(dataDir, LOCK_FILE);
    const me: LockHolder = { pid: process.pid, startTicks: processStartTicks(process.pid), host: hostname(), nonce: randomBytes(8).toString('hex') };
    // A few times: processes racing over one stale lock each remove it at most once per
    // attempt, and whoever links the next one holds it.
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      if (tryCreate(dataDir, path, me)) {
        const lock = new DataDirLock(path, me);
        // Another process may have removed a stale lock it judged before this one was
        // linked: the file names exactly one holder, and it must be this one.
        if (readHolder(path)?.nonce === me.nonce) return lock;
        continue;
      }
      const holder = readHolder(path);
      if (holder !== null && holderRuns(holder, me)) {
        if (holder.host === me.host && holder.pid === me.pid) {
          // An embedder's own cluster, not stopped yet (or its stop() not awaited): "another process" would mislead.
          throw new RaftlabError(ErrorCode.DataDirLocked, `${dataDir} is in use by process ${holder.pid} on ${holder.host}, this one: another Cluster in it holds ${path}; await its stop() before starting one on the directory again`);
        }
        throw new RaftlabError(
          ErrorCode.DataDirLocked,
          `${dataDir} is in use by process ${holder.pid} on ${holder.host} (${path}): two clusters on one directory would write the same files. Stop that one first${holder.host === me.host ? '' : `, or, if that host is down, remove ${path}`}`,
        );
      }
      // Stale (its holder is gone), or unreadable (not written by this code): removed
      // under the breaking lock, if it still names that holder then.
      removeStale(dataDir, path, holder, me);
    }
    throw new RaftlabError(ErrorCode.DataDirLocked, `${dataDir} is being opened by another process at the same moment (${path}); try again`);
  }

  /** Gives the lock up, if the file still names this holder. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (readHolder(this.path)?.nonce !== this.holder.nonce) return;
    try {
      unlinkSync(this.path);
    } catch {
      // Gone already: nothing to give up.
    }
  }
}

/**
 * Removes the lock at `path` if it still names `stale` (null: unreadable), holding the
 * breaking lock meanwhile. Returns when removed, or when it changed (another process
 * took it over); throws DATA_DIR_LOCKED when another process's removal does not end.
 */
function removeStale(dataDir: string, path: string, stale: LockHolder | null, me: LockHolder): void {
  const breaking = join(dataDir, BREAKING_FILE);
  const waitUntil = Date.now() + BREAKING_WAIT_MS;
  while (!tryCreate(dataDir, breaking, me)) {
    const breaker = readHolder(breaking);
    if (breaker === null || !holderRuns(breaker, me)) {
      // Its holder died mid-removal (or it is not ours): gone unless it changed meanwhile.
      if (readHolder(breaking)?.nonce === breaker?.nonce) unlinkIfThere(dataDir, breaking);
      continue;
    }
    if (Date.now() >= waitUntil) {
      throw new RaftlabError(ErrorCode.DataDirLocked, `${dataDir} is being opened by another process at the same moment (process ${breaker.pid} holds ${breaking}); try again`);
    }
    // Another start is removing the stale lock: wait a millisecond, then see.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    if (readHolder(path)?.nonce !== stale?.nonce) return;
  }
  try {
    // Held: the file under the lock's name can change only through this process now.
    if (readHolder(path)?.nonce !== stale?.nonce) return;
    lockTestHooks.beforeStaleRemoval?.();
    unlinkIfThere(dataDir, path);
  } finally {
    if (readHolder(breaking)?.nonce === me.nonce) unlinkIfThere(dataDir, breaking);
  }
}

function unlinkIfThere(dataDir: string, path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(dataDir, path, error);
  }
}

/** Puts the lock in place naming `me`, whole, unless one is there: false then. */
function tryCreate(dataDir: string, path: string, me: LockHolder): boolean {
  const temporary = `${path}.${me.nonce}.tmp`;
  try {
    const fd = openSync(temporary, 'w', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(me)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw lockError(dataDir, path, error);
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Not made.
    }
  }
}

function lockError(dataDir: string, path: string, error: unknown): RaftlabError {
  return new RaftlabError(ErrorCode.InvalidConfig, `cannot lock the data directory ${dataDir} (${path}): ${(error as Error).message}`);
}

function readHolder(path: string): LockHolder | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { pid, startTicks, host, nonce } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(pid) || typeof host !== 'string' || typeof nonce !== 'string') return null;
  return { pid: pid as number, startTicks: typeof startTicks === 'number' ? startTicks : null, host, nonce };
}

/** Whether the process a lock names still runs (on another host: assumed so). */
function holderRuns(holder: LockHolder, me: LockHolder): boolean {
  if (holder.host !== me.host) return true;
  // This process: a Cluster here holds it unless the lock is from an earlier process
  // that had this pid (a container restarted since), which started at another time.
  if (holder.pid === me.pid) return holder.startTicks === null || holder.startTicks === me.startTicks;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: it runs, as another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const ticks = processStartTicks(holder.pid);
  return holder.startTicks === null || ticks === null || ticks === holder.startTicks;
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot; null without /proc. */
function processStartTicks(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count after it.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) ? ticks : null;
}
