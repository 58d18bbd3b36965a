// Assertions stay on in production: a violated invariant means the protocol state can
// no longer be trusted, and crashing loudly is safer than replicating a wrong log.

/** Thrown when an invariant of the protocol core is violated. */
export class InvariantViolation extends Error {
  readonly code = 'RAFT_INVARIANT_VIOLATED';
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

export function assert(condition: boolean, violated: () => string): asserts condition {
  if (!condition) throw new InvariantViolation(violated());
}

/** The default branch of an exhaustive switch over a discriminated union. */
export function assertNever(value: never, what = 'value'): never {
  throw new InvariantViolation(`unhandled ${what}: ${JSON.stringify(value)}`);
}
