// A terminal that went away under a process must not crash it on its way out.
//
// Node remembers, at startup, the termios of each of fds 0-2 that is a terminal, and at
// exit (an atexit hook: every exit path, process.exit included) puts them back with
// tcsetattr, asserting that the call succeeded or failed only with EPERM. On a terminal
// that has gone (its pseudo-terminal hung up: tmux killed, ssh dropped) tcsetattr fails
// with EIO, and the assertion aborts the process: "Assertion failed ... ResetStdio" on a
// stderr nobody reads, SIGABRT, and the raftlab command (which exits as its child did)
// ended by SIGABRT too, after the dashboard had stopped its cluster cleanly.
//
// Node leaves alone an fd that was closed or now refers to another file (it compares
// device and inode with what it saw at startup). So, just before exiting, each of fds
// 0-2 that was a terminal at startup and is no longer one (its ioctls fail: the terminal
// is gone) is pointed at /dev/null: close it and open /dev/null, which takes the lowest
// free fd, the one just closed. Node's own stream for a terminal writes through a
// descriptor it reopened at startup (libuv's uv_tty_init), not through fd 0-2, so nothing
// that still works is redirected, and a terminal that is still there is not touched.

import { closeSync, openSync } from 'node:fs';
import { isatty } from 'node:tty';

export const STDIO_FDS = [0, 1, 2] as const;

/** Which of fds 0-2 were terminals when this module was loaded (first thing, by lib/cli.ts: as Node saw them at startup). */
const startedAsTerminal: readonly boolean[] = STDIO_FDS.map((fd) => isatty(fd));

/** The system calls `detachDeadTerminal` makes, replaceable in tests. */
export interface StdioCalls {
  isTerminal(fd: number): boolean;
  close(fd: number): void;
  /** Opens /dev/null (read-only for fd 0, write-only otherwise) and returns the fd it got. */
  openNull(forFd: number): number;
}

const systemCalls: StdioCalls = {
  isTerminal: (fd) => isatty(fd),
  close: (fd) => closeSync(fd),
  openNull: (forFd) => openSync('/dev/null', forFd === 0 ? 'r' : 'w'),
};

/**
 * Points each of fds 0-2 that was a terminal at startup and is none now at /dev/null, so
 * that Node's terminal reset at exit skips it instead of aborting; returns those fds. Call
 * it just before the process exits: never while a stream reads fd 0-2 directly.
 */
export function detachDeadTerminal(wasTerminal: readonly boolean[] = startedAsTerminal, calls: StdioCalls = systemCalls): number[] {
  const detached: number[] = [];
  for (const fd of STDIO_FDS) {
    if (wasTerminal[fd] !== true || calls.isTerminal(fd)) continue;
    try {
      calls.close(fd);
    } catch (error) {
      // Closed already: Node skips a closed fd as well.
      if ((error as NodeJS.ErrnoException).code !== 'EBADF') throw error;
    }
    const opened = calls.openNull(fd);
    // Another thread took the number in between: the fd now names another file, which
    // Node leaves alone too; the /dev/null it got instead is not needed.
    if (opened !== fd) calls.close(opened);
    detached.push(fd);
  }
  return detached;
}
