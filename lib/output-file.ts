// Output files a command writes at the end of a long run (check's history, bench's JSON):
// checked before the run, so that a wrong path costs a second, not the run; and the
// directories a command makes (a cluster's data directory, bench's profiles).

import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Why `file` could not be written, or null: an existing file must open for writing (it
 * is left as it is), a new one must be creatable (it is created and removed).
 */
export function whyNotWritable(file: string): string | null {
  try {
    if (existsSync(file)) closeSync(openSync(file, 'r+'));
    else {
      closeSync(openSync(file, 'wx'));
      rmSync(file);
    }
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * mkdirSync(dir, { recursive: true }), one level at a time: Node 20's recursive mkdir
 * never returns where a directory cannot hold new children and answers ENOENT, as
 * under /proc (it makes the "missing" parent, which exists, and tries again, at 100% of a
 * core: `raftlab --data /proc/x` hung at "starting ...", a library start never settled,
 * `raftlab bench --cpu-prof /proc/x` never began). Here the first failure is thrown. Returns the first directory made, as
 * mkdirSync does (undefined when `dir` existed).
 */
export function makeDirectories(dir: string): string | undefined {
  const missing: string[] = [];
  for (let path = resolve(dir); !existsSync(path); path = dirname(path)) {
    missing.unshift(path);
    if (dirname(path) === path) break;
  }
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      // Made meanwhile by someone else: as good, if it is a directory.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(path).isDirectory()) throw error;
    }
  }
  if (!statSync(dir).isDirectory()) mkdirSync(dir); // an existing file: ENOTDIR/EEXIST, as before
  return missing[0];
}
