// What `npm pack` would publish: every compiled module with its types, and the TypeScript source each source map names
// (a stack trace or a debugger in an embedder's process points into lib/, workers/ and tui/, not only into dist/).

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the package ships each source map\'s sources, and no tests', (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 60_000,
  });
  const packed = new Set<string>((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
  const maps = [...packed].filter((p) => p.endsWith('.js.map'));
  t.true(maps.length > 50, `only ${maps.length} source maps packed`);
  t.true(packed.has('dist/workers/raft-node.js'), 'the node worker not packed');
  const missing: string[] = [];
  for (const map of maps) {
    t.true(packed.has(map.replace(/\.map$/, '')), `${map} packed without its module`);
    const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
    for (const source of sources) {
      const path = normalize(join(dirname(map), source)).split('\\').join('/');
      if (!packed.has(path)) missing.push(`${map} -> ${path}`);
    }
  }
  t.deepEqual(missing, [], 'sources named by packed source maps but not packed');
  t.deepEqual([...packed].filter((p) => p.startsWith('test/') || p.startsWith('dist/test/')), [], 'tests packed');
});
