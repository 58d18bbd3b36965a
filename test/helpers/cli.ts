// Runs the compiled `raftlab` CLI (dist/lib/cli.js) in a child process, for the tests
// that drive it end to end.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../lib/cli.js', import.meta.url));
const CLI_TIMEOUT_MS = 120_000;

export interface CliOutcome {
  /** The exit code; -1 when the child was killed (the timeout). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[]): Promise<CliOutcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: CLI_TIMEOUT_MS }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
