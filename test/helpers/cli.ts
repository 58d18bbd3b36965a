// Runs the compiled `raftlab` CLI (dist/lib/cli.js) in a child process, for the tests
// that drive it end to end.

import { execFile, spawn } from 'node:child_process';
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

/**
 * Runs the CLI and, the first time its stderr matches `when`, calls `act` (to change
 * something under a running command). Killed, code -1, if it has not exited within
 * `timeoutMs`; `acted` says whether the moment came.
 */
export function runCliActing(args: readonly string[], when: RegExp, act: () => void, timeoutMs = CLI_TIMEOUT_MS): Promise<CliOutcome & { readonly acted: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let acted = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (acted || !when.test(stderr)) return;
      acted = true;
      act();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, acted });
    });
  });
}
