// The process's open file descriptors on paths under a directory (Linux /proc): other
// test files share the process, so a test counts only those on its own directory.

import { readdirSync, readlinkSync } from 'node:fs';

export function openFdsUnder(dir: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed between the listing and the read
    }
  }).length;
}
