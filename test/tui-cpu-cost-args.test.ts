// `node dist/tui/cpu-cost.js` (README.md, "The dashboard"): its arguments are checked
// before it measures anything. It used to ignore what it did not know, so `--help` or a
// misspelt option started a 22-second measurement, and `--seconds abc` measured NaN.

import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const COST = fileURLToPath(new URL('../tui/cpu-cost.js', import.meta.url));
// A bound for a hung process only: on a machine at load 40 a node process took minutes to
// start. Without the checks the refusals fail anyway: a measurement ends 0, printing no usage.
const BOUND_MS = 120_000;

interface Outcome {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [COST, ...args], { timeout: BOUND_MS, encoding: 'utf8' }, (_error, stdout, stderr) => {
      resolve({ status: child.exitCode, signal: child.signalCode, stdout, stderr });
    });
  });
}

test('cpu-cost --help prints its usage and measures nothing', async (t) => {
  const result = await run(['--help']);
  t.is(result.signal, null, 'it did not have to be killed');
  t.is(result.status, 0, result.stderr);
  t.regex(result.stdout, /^usage: node dist\/tui\/cpu-cost\.js \[--seconds S\] \[--real\]/);
});

for (const [args, reason] of [
  [['--frob'], /unknown argument '--frob'/],
  [['--seconds', 'abc'], /--seconds needs an integer from 1 to 600, got 'abc'/],
  [['--seconds'], /--seconds needs an integer from 1 to 600, got nothing/],
  [['--seconds', '0'], /--seconds needs an integer from 1 to 600, got '0'/],
  [['--real', '--real'], /--real given twice/],
] as const) {
  test(`cpu-cost ${args.join(' ')} is refused with the reason and the usage, exit 2, before measuring`, async (t) => {
    const result = await run(args);
    t.is(result.signal, null, 'it did not have to be killed');
    t.is(result.status, 2);
    t.regex(result.stderr, reason);
    t.regex(result.stderr, /usage: node dist\/tui\/cpu-cost\.js/);
    t.is(result.stdout, '');
  });
}
