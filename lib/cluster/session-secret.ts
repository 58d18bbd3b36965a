// A client session's secret (lib/kv/command.ts): drawn by the client, never by the
// replicated state machine, which must stay deterministic. A crypto draw, so that no
// program can predict another client's secret from its own.

import { randomInt } from 'node:crypto';

/** A new session secret: an integer from 1 to 2^32-1 (isSessionSecret). */
export function drawSessionSecret(): number {
  return randomInt(1, 0x1_0000_0000);
}
