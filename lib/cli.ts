#!/usr/bin/env node
// The `raftlab` command: one dispatcher; each subcommand lives with its subsystem.

import { spawn } from 'node:child_process';
import { detachDeadTerminal } from './dead-terminal.js';
import { missingStartFlags, tuneV8ForCluster } from './cluster/v8-tuning.js';

const usage = `usage: raftlab <command> [options]      (raftlab <command> --help lists all of a command's options)
  raftlab [tui] [--nodes 5] [--data DIR]         the live dashboard (what npm start runs)
  raftlab sim [--seeds N [--from S] | --seed S] [--nodes N] [--bug NAME]...
                                                 deterministic simulation of the protocol core
  raftlab check [--nodes N] [--duration S] [--workload register|append] [--nemesis crash,partition,...] [--history F] ...
                                                 Jepsen-style test of a real cluster under faults
  raftlab verify HISTORY.json                    check a recorded history for linearizability
  raftlab bench [--nodes 1,3,5,7] [--duration S] [--clients N] [--value-size B] [--json F] ...
                                                 throughput and latency against node count
  raftlab bench --against DIR [--rounds R] [bench options]
                                                 this build against another checkout's, taking turns
  raftlab bench --catch-up [options]             a follower restarted under load with a large state
  raftlab help | --help | -h                     this text
  raftlab help <command>                         that command's options (as raftlab <command> --help)`;

const helpWords: ReadonlySet<string> = new Set(['help', '--help', '-h']);
const commands: readonly string[] = ['tui', 'sim', 'check', 'verify', 'bench'];

async function main(argv: readonly string[]): Promise<number> {
  const first = argv[0];
  // Options without a command are the dashboard's; a help word first asks for this text.
  const dashboard = first === undefined || (first.startsWith('-') && !helpWords.has(first));
  const command = dashboard ? 'tui' : first;
  const rest = dashboard ? argv : argv.slice(1);
  // The dashboard handles its own terminal going away (tui/main.ts).
  if (command !== 'tui') endOutputNotRunWhenReaderLeaves();
  switch (command) {
    case 'tui':
      return (await import('../tui/main.js')).runTuiCli(rest);
    case 'sim':
      return (await import('./sim/cli.js')).runSimCli(rest);
    case 'check':
      return (await import('./check/cli.js')).runCheckCli(rest);
    case 'verify':
      return (await import('./check/cli.js')).runVerifyCli(rest);
    case 'bench':
      return (await import('./bench/cli.js')).runBenchCli(rest);
    case 'help':
    case '--help':
    case '-h': {
      // `raftlab help sim` is `raftlab sim --help`; a word after help that names no command is a mistake, said as one (an option after it is ignored, as before).
      const [topic, ...extra] = rest;
      if (topic === undefined || topic.startsWith('-')) {
        process.stdout.write(usage + '\n');
        return 0;
      }
      if (!commands.includes(topic) || extra.length > 0) {
        const what = commands.includes(topic) ? `one command at a time, got '${rest.join(' ')}'` : `unknown command '${topic}'`;
        process.stderr.write(`raftlab ${command}: ${what}\n${usage}\n`);
        return 2;
      }
      return main([topic, '--help']);
    }
    default:
      process.stderr.write(`raftlab: unknown command '${command}'\n${usage}\n`);
      return 2;
  }
}

/**
 * A reader that goes away (`raftlab check 2>&1 | head`) ends the output, not the run, as
 * for `raftlab sim` (lib/sim/cli.ts): the exit code still says what the run found, and
 * the run cleans up after itself. Node ignores SIGPIPE, so every later write fails with
 * EPIPE instead, and unheard that error killed the command: exit 1 (`check`'s code for
 * an anomaly), its cluster's scratch directory left behind.
 */
function endOutputNotRunWhenReaderLeaves(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
}

/**
 * Runs this command again in a child process started with the V8 flags a cluster's
 * process wants (v8-tuning.ts: they cannot be set once V8 is running). The child shares
 * the terminal; this process only waits, passes on a signal sent to it alone, and exits
 * as the child did.
 */
function restartWith(flags: readonly string[]): void {
  const script = process.argv[1]!;
  // The IPC channel is only a lifeline: the child ends when it closes (watchParent).
  const child = spawn(process.execPath, [...process.execArgv, ...flags, script, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [LIFELINE_ENV]: '1' },
  });
  // This process outlives the child, to exit as it did. The terminal sends Ctrl-C and a
  // hangup to the whole process group, the child included: passed on as well, they would
  // reach the child twice, and a repeat that came after the dashboard had stopped its
  // cluster and let go of its handlers killed it (exit 129 instead of 0). So those two are
  // only ignored here; SIGTERM, which is sent to one process, is passed on.
  for (const signal of ['SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);
  process.on('SIGTERM', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  child.on('error', (error) => {
    process.stderr.write(`raftlab: cannot restart with ${flags.join(' ')}: ${error.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    // At once, not by letting the event loop drain: while it drains, Node closes its signal
    // watchers before the process ends, and a hangup arriving then found none and killed
    // this process (exit 129 after the child had exited 0; a CI run of tui-e2e saw it).
    // A terminal gone meanwhile would make Node's reset of it at exit abort this process.
    detachDeadTerminal();
    process.exit(code ?? 1);
  });
}

/** Set in the child's environment: its IPC channel is the command's lifeline. */
const LIFELINE_ENV = 'RAFTLAB_LIFELINE';

/**
 * In the child: if the command that started it dies without passing a signal on
 * (SIGKILL, a crash), its end of the channel closes, and the child stops rather than
 * live on with the terminal or a cluster nobody waits for.
 */
function watchParent(): void {
  if (process.env[LIFELINE_ENV] !== '1' || process.channel === undefined) return;
  delete process.env[LIFELINE_ENV];
  process.channel.unref();
  process.once('disconnect', () => {
    process.stderr.write('raftlab: the command that started this process is gone; stopping\n');
    detachDeadTerminal();
    process.exit(1);
  });
}

const startFlags = missingStartFlags();
if (startFlags.length > 0) restartWith(startFlags);
else {
  watchParent();
  // Before any subcommand starts a worker (see v8-tuning.ts).
  tuneV8ForCluster();
  main(process.argv.slice(2)).then(
    (code) => {
      // The dashboard ends on its own when its terminal goes away (tui/main.ts): Node's
      // reset of that terminal at exit must not then abort the process (dead-terminal.ts).
      detachDeadTerminal();
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`raftlab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      detachDeadTerminal();
      process.exitCode = 1;
    },
  );
}
