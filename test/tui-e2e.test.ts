// End to end: the built CLI in a real terminal (tmux), against the real worker cluster.
// Waits on screen content with bounded polling, never on fixed sleeps.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../lib/cli.js', import.meta.url));
/** Starting five workers on a loaded CI machine can take a while. */
const START_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

test('dashboard in tmux: leader, put/get, crash leader, restart all, usage, quit with exit 0', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'raftlab-tui-e2e-'));
  const dataDir = join(work, 'data');
  const exitFile = join(work, 'exit-code');
  // A private tmux server: the test never touches the user's sessions.
  const socket = `raftlab-e2e-${process.pid}`;
  const session = 'dashboard';
  const tmux = (...args: string[]): Promise<{ stdout: string }> => run('tmux', ['-L', socket, ...args]);
  const shellQuote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const capture = async (): Promise<string> => (await tmux('capture-pane', '-p', '-t', session)).stdout;
  const waitFor = async (what: string, timeoutMs: number, predicate: (screen: string) => boolean): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    for (;;) {
      try {
        screen = await capture();
      } catch {
        // The session may be gone (the program exited): keep the last screen.
      }
      if (predicate(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; screen:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };
  const type = async (text: string): Promise<void> => {
    await tmux('send-keys', '-t', session, '-l', text);
    await tmux('send-keys', '-t', session, 'Enter');
  };
  const leaderOf = (screen: string): number | null => {
    const match = /leader n(\d)/.exec(screen);
    return match === null ? null : Number(match[1]);
  };
  try {
    const command = `NCURSES_NO_UTF8_ACS=1 node ${shellQuote(CLI)} tui --nodes 5 --data ${shellQuote(dataDir)}; echo $? > ${shellQuote(exitFile)}`;
    await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '48', command);

    const first = await waitFor('a LEADER', START_TIMEOUT_MS, (screen) => /\* LEADER/.test(screen) && leaderOf(screen) !== null);
    const oldLeader = leaderOf(first);
    t.regex(first, /quorum OK \(5\/5 up\)/);

    await type(':put k v');
    await waitFor('the put to succeed', STEP_TIMEOUT_MS, (screen) => /put k="v" -> ok/.test(screen));
    await type(':get k');
    await waitFor('get k to show v', STEP_TIMEOUT_MS, (screen) => /get k -> "v"/.test(screen));

    await type(':crash leader');
    const afterCrash = await waitFor('a different LEADER and the old one DOWN', STEP_TIMEOUT_MS, (screen) => {
      const leader = leaderOf(screen);
      return leader !== null && leader !== oldLeader && new RegExp(`n${oldLeader}\\s+X DOWN`).test(screen) && /\* LEADER/.test(screen);
    });
    t.regex(afterCrash, /quorum OK \(4\/5 up\)/);

    await type(':restart all');
    await waitFor('every node up again', START_TIMEOUT_MS, (screen) => /quorum OK \(5\/5 up\)/.test(screen) && !/X DOWN/.test(screen));

    await type(':crash 42');
    await waitFor('the usage of crash', STEP_TIMEOUT_MS, (screen) => /no node 42 .*usage: crash ID\|leader\|all/.test(screen));

    await tmux('send-keys', '-t', session, 'q');
    await waitFor('the quit confirmation', STEP_TIMEOUT_MS, (screen) => /Quit and stop the cluster\? \(y\/n\)/.test(screen));
    await tmux('send-keys', '-t', session, 'y');
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exitCode: string | null = null;
    while (exitCode === null) {
      try {
        // The shell creates the file before writing the code: empty means "not yet".
        const text = readFileSync(exitFile, 'utf8').trim();
        if (text !== '') exitCode = text;
      } catch {
        // Not written yet.
      }
      if (exitCode === null) {
        if (Date.now() > deadline) throw new Error(`the dashboard did not exit within ${START_TIMEOUT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
    t.is(exitCode, '0');
  } finally {
    await tmux('kill-server').catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
});
