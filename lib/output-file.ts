// Output files a command writes at the end of a long run (check's history, bench's JSON):
// checked before the run, so that a wrong path costs a second, not the run.

import { closeSync, existsSync, openSync, rmSync } from 'node:fs';

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
