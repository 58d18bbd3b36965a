// `raftlab check --data DIR` with a DIR that cannot be made: refused with the reason
// before anything starts, exit 3 (bad input). It ended the run with a stack trace and
// exit 1, check's code for an anomaly found.

import test from 'ava';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

test('check --data under a file, or where no directory can be made, is refused at once, exit 3, no stack trace', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'raftlab-check-data-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const file = join(parent, 'a-file');
  writeFileSync(file, '');
  const cases: [string, RegExp][] = [[join(file, 'cluster'), /ENOTDIR/]];
  if (existsSync('/proc/self')) cases.push(['/proc/raftlab-no-such', /ENOENT/]);
  for (const [dir, reason] of cases) {
    const { code, stdout, stderr } = await runCli(['check', '--data', dir, '--nodes', '1', '--duration', '1']);
    t.is(code, 3, `${dir}: ${stderr}`);
    t.true(stderr.startsWith(`raftlab check: cannot put the cluster in ${dir}: cannot make that directory: `), stderr);
    t.regex(stderr, reason, dir);
    t.notRegex(stderr, /^\s+at /m, 'no stack trace');
    t.notRegex(stderr, /seed \d+/, 'nothing started');
    t.is(stdout, '');
  }
});
