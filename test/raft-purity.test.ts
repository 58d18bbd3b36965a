// lib/raft must stay pure so the simulator can replay it: no node: imports, no imports
// from outside lib/raft, no clock, no ambient randomness, no timers.

import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const RAFT_SOURCE_DIR = join(process.cwd(), 'lib', 'raft');

test('lib/raft imports only from lib/raft and uses no clock, timers or Math.random', (t) => {
  const files = readdirSync(RAFT_SOURCE_DIR).filter((name) => name.endsWith('.ts'));
  t.true(files.length >= 5, `found ${files.join(', ')}`);
  for (const file of files) {
    const source = readFileSync(join(RAFT_SOURCE_DIR, file), 'utf8');
    const code = source.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const match of code.matchAll(/from\s+'([^']+)'/g)) {
      const specifier = match[1]!;
      t.true(specifier.startsWith('./') && !specifier.includes('..'), `${file} imports '${specifier}'`);
    }
    for (const forbidden of ['Date.now', 'performance.now', 'Math.random', 'setTimeout', 'setInterval', 'process.', 'require(']) {
      t.false(code.includes(forbidden), `${file} uses ${forbidden}`);
    }
  }
});
