// The `raftlab` command's help: the full usage names every subcommand, and each
// subcommand's --help lists every option README.md's command line gives it.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { dirname, join } from 'node:path';
import { repoRoot } from './check-helpers.js';
import { CLI, runCli } from './helpers/cli.js';

const subcommands = ['tui', 'sim', 'check', 'verify', 'bench'] as const;

for (const help of ['--help', '-h', 'help']) {
  test(`raftlab ${help} prints the full usage: every subcommand, and where each lists its options`, async (t) => {
    const { code, stdout, stderr } = await runCli([help]);
    t.is(code, 0, stderr);
    for (const command of subcommands) t.regex(stdout, new RegExp(`^\\s+raftlab (\\[${command}\\]|${command}) `, 'm'), `${command} in:\n${stdout}`);
    t.regex(stdout, /raftlab bench --against DIR \[--rounds R\]/);
    t.regex(stdout, /raftlab bench --catch-up/);
    t.regex(stdout, /raftlab <command> --help/);
    t.notRegex(stdout, /--no-fsync/, 'not the dashboard\'s own usage');
  });
}

test('raftlab help <command> prints that command\'s usage; an unknown or extra word after help is refused, exit 2', async (t) => {
  for (const command of subcommands) {
    const direct = await runCli([command, '--help']);
    for (const help of ['help', '--help', '-h']) {
      const { code, stdout, stderr } = await runCli([help, command]);
      t.is(code, 0, `${help} ${command}: ${stderr}`);
      t.is(stdout, direct.stdout, `raftlab ${help} ${command} is raftlab ${command} --help`);
    }
  }
  const unknown = await runCli(['help', 'simulate']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^raftlab help: unknown command 'simulate'\nusage: raftlab <command>/);
  t.is(unknown.stdout, '');
  const extra = await runCli(['help', 'sim', 'bench']);
  t.is(extra.code, 2);
  t.regex(extra.stderr, /^raftlab help: one command at a time, got 'sim bench'/);
});

test('options without a command are still the dashboard\'s', async (t) => {
  const { code, stdout } = await runCli(['--nodes', '3', '--help']);
  t.is(code, 0);
  t.regex(stdout, /^usage: raftlab \[tui\] \[--nodes N\]/);
});

/** README.md's "The command line" block: per subcommand, the options it shows. */
function readmeOptions(): Map<string, Set<string>> {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = /## The command line\n\n```\n([\s\S]*?)```/.exec(readme);
  if (block === null) throw new Error('README.md has no command-line block');
  const options = new Map<string, Set<string>>();
  let command = '';
  for (const line of block[1]!.split('\n')) {
    // `raftlab bench --catch-up ...` is a mode of bench with a usage of its own.
    const start = /^raftlab (\[?[a-z]+\]?)( --catch-up)?/.exec(line);
    if (start !== null) command = start[1]!.replace(/[[\]]/g, '') + (start[2] ?? '');
    if (command === '') continue;
    const flags = options.get(command) ?? new Set<string>();
    // The text after a wide gap is a description, not syntax.
    for (const flag of line.split(/\s{3,}(?=[a-z])/)[0]!.match(/--[a-z][a-z-]*/g) ?? []) flags.add(flag);
    options.set(command, flags);
  }
  return options;
}

test('each subcommand\'s --help lists every option README.md shows for it', async (t) => {
  const options = readmeOptions();
  t.deepEqual([...new Set([...options.keys()].map((key) => key.split(' ')[0]!))].sort(), [...subcommands].sort());
  for (const [command, flags] of options) {
    const { code, stdout } = await runCli([...command.split(' '), '--help']);
    t.is(code, 0, command);
    for (const flag of flags) t.true(stdout.includes(flag), `raftlab ${command} --help does not mention ${flag}:\n${stdout}`);
  }
});

// Node 20's recursive mkdir spins forever under /proc: `bench --cpu-prof /proc/x` never
// began (and a path through a file ended in a stack trace). Bounded, in a child process.
test('bench --cpu-prof with a directory that cannot be made says so with the usage, exit 2, at once', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'raftlab-cli-')), 'a-file');
  writeFileSync(file, '');
  t.teardown(() => rmSync(dirname(file), { recursive: true, force: true }));
  const cases = [[`${file}/sub`, /ENOTDIR/]] as [string, RegExp][];
  if (existsSync('/proc/self')) cases.push(['/proc/raftlab-no-such', /ENOENT/]);
  for (const [dir, reason] of cases) {
    const result = spawnSync(process.execPath, [CLI, 'bench', '--cpu-prof', dir, '--nodes', '1', '--duration', '1'], { timeout: 20_000, encoding: 'utf8' });
    t.is(result.signal, null, `${dir}: it did not have to be killed`);
    t.is(result.status, 2, dir);
    t.regex(result.stderr, new RegExp(`^raftlab bench: --cpu-prof ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot make that directory: `), dir);
    t.regex(result.stderr, reason, dir);
    t.regex(result.stderr, /usage: raftlab bench/, dir);
  }
});

// `bench --data-dir` (and `--catch-up --data-dir`) where no directory can be made ended in
// a stack trace and exit 1, bench's code for writes lost (readmeaudit, thirty-first session).
test('bench --data-dir with a directory that cannot be made says so with the usage, exit 2, at once', (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'raftlab-cli-')), 'a-file');
  writeFileSync(file, '');
  t.teardown(() => rmSync(dirname(file), { recursive: true, force: true }));
  for (const extra of [[], ['--catch-up']]) {
    const dir = `${file}/sub`;
    const result = spawnSync(process.execPath, [CLI, 'bench', ...extra, '--data-dir', dir, '--nodes', '3'], { timeout: 20_000, encoding: 'utf8' });
    t.is(result.signal, null, `${extra.join(' ')}: it did not have to be killed`);
    t.is(result.status, 2, `${extra.join(' ')}: ${result.stderr}`);
    t.true(result.stderr.startsWith(`raftlab bench: --data-dir ${dir}: cannot make that directory: `), result.stderr);
    t.regex(result.stderr, /ENOTDIR/);
  }
});
