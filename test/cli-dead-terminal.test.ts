// lib/dead-terminal.ts: which of fds 0-2 are pointed at /dev/null before exit, so that
// Node's terminal reset at exit does not abort on a terminal that went away. The real
// thing, in a terminal that tmux takes away, is in tui-e2e.test.ts.

import test from 'ava';
import { detachDeadTerminal } from '../lib/dead-terminal.js';
import type { StdioCalls } from '../lib/dead-terminal.js';

/** A process's fd table: fd -> what it names; /dev/null takes the lowest free number, as open(2) does. */
function fakeCalls(table: Map<number, string>): StdioCalls & { readonly calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    isTerminal: (fd) => table.get(fd) === 'terminal',
    close: (fd) => {
      calls.push(`close ${fd}`);
      if (!table.delete(fd)) throw Object.assign(new Error(`EBADF: bad file descriptor, close`), { code: 'EBADF' });
    },
    openNull: (forFd) => {
      let fd = 0;
      while (table.has(fd)) fd++;
      table.set(fd, '/dev/null');
      calls.push(`open /dev/null for ${forFd} -> ${fd}`);
      return fd;
    },
  };
}

test('a terminal that went away is replaced by /dev/null on each fd it held; a live one is left alone', (t) => {
  // Started on a terminal on all three; the terminal is gone (its ioctls fail).
  const gone = new Map([[0, 'dead tty'], [1, 'dead tty'], [2, 'dead tty'], [3, 'a WAL segment']]);
  const calls = fakeCalls(gone);
  t.deepEqual(detachDeadTerminal([true, true, true], calls), [0, 1, 2]);
  t.deepEqual([0, 1, 2].map((fd) => gone.get(fd)), ['/dev/null', '/dev/null', '/dev/null']);
  t.is(gone.get(3), 'a WAL segment');

  const live = new Map([[0, 'terminal'], [1, 'terminal'], [2, 'terminal']]);
  const liveCalls = fakeCalls(live);
  t.deepEqual(detachDeadTerminal([true, true, true], liveCalls), []);
  t.deepEqual(liveCalls.calls, [], 'a terminal still there is not touched');
});

test('an fd that was no terminal at startup is never touched (a pipe or file: Node resets nothing there, and writes still go to it)', (t) => {
  // stdout piped to a file, stderr to a pipe, stdin the dead terminal.
  const table = new Map([[0, 'dead tty'], [1, 'out.txt'], [2, 'pipe']]);
  const calls = fakeCalls(table);
  t.deepEqual(detachDeadTerminal([true, false, false], calls), [0]);
  t.deepEqual([...table.entries()], [[1, 'out.txt'], [2, 'pipe'], [0, '/dev/null']]);
});

test('an fd closed already, or a number taken by another file meanwhile, is left as Node skips it', (t) => {
  // fd 0 closed by the program: close says EBADF, /dev/null takes its number.
  const closed = new Map([[1, 'dead tty'], [2, 'dead tty']]);
  t.deepEqual(detachDeadTerminal([true, true, true], fakeCalls(closed)), [0, 1, 2]);
  t.deepEqual([0, 1, 2].map((fd) => closed.get(fd)), ['/dev/null', '/dev/null', '/dev/null']);

  // Another thread opened a file into fd 1 between the close and the open: /dev/null
  // landed elsewhere and is closed again; fd 1 names that other file (Node compares
  // device and inode with what it saw at startup, and skips it).
  const table = new Map([[0, 'terminal'], [1, 'dead tty'], [2, 'terminal']]);
  const calls = fakeCalls(table);
  const close = calls.close;
  calls.close = (fd) => {
    close(fd);
    if (fd === 1 && !table.has(1)) table.set(1, 'a file another thread opened');
  };
  calls.openNull = (forFd) => {
    table.set(3, '/dev/null');
    calls.calls.push(`open /dev/null for ${forFd} -> 3`);
    return 3;
  };
  t.deepEqual(detachDeadTerminal([true, true, true], calls), [1]);
  t.is(table.get(1), 'a file another thread opened');
  t.false(table.has(3), 'the stray /dev/null is closed');
});
