// Storage errors carry a stable `code` string: `instanceof` does not survive a worker
// boundary, a code does.

export const StorageErrorCode = {
  /** A record failed its length or CRC check, or decoded to something impossible. */
  Corrupt: 'WAL_CORRUPT',
  /** The snapshot file failed its length or CRC check, or decoded to something impossible. */
  SnapshotCorrupt: 'SNAPSHOT_CORRUPT',
  /** The operating system refused a read, write, fsync, open or rename. */
  Io: 'WAL_IO',
  /** A method was called in the wrong state (before load(), after close()). After a failed write, a call gets that failure's code again (WAL_IO, ...). */
  State: 'WAL_STATE',
  /** A caller broke the contract (non-contiguous entries, a term going backwards, ...). */
  Invariant: 'WAL_INVARIANT',
  /**
   * The WAL belongs to another cluster or node: a segment header names another owner than
   * FileStorageOptions.owner, or two segments name different owners (a WAL, or a segment,
   * copied in from elsewhere). load() has modified no file when it throws this.
   */
  Foreign: 'WAL_FOREIGN',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

/**
 * A bad record that is not a torn tail. The node must refuse to start: replaying past
 * it could resurrect or lose acknowledged entries. load() has modified no file when it
 * throws this.
 */
export class StorageCorruptionError extends StorageError {
  readonly file: string;
  readonly offset: number;
  readonly expected: string;
  readonly found: string;

  constructor(file: string, offset: number, expected: string, found: string) {
    super(StorageErrorCode.Corrupt, `WAL corrupt: ${file} at offset ${offset}: expected ${expected}, found ${found}`);
    this.name = 'StorageCorruptionError';
    this.file = file;
    this.offset = offset;
    this.expected = expected;
    this.found = found;
  }
}

/**
 * The snapshot file is damaged. The node must refuse to start: its log before the
 * snapshot is gone, so nothing else can stand in for it. load() has modified no file
 * when it throws this.
 */
export class SnapshotCorruptionError extends StorageError {
  readonly file: string;
  readonly offset: number;
  readonly expected: string;
  readonly found: string;

  constructor(file: string, offset: number, expected: string, found: string) {
    super(StorageErrorCode.SnapshotCorrupt, `snapshot corrupt: ${file} at offset ${offset}: expected ${expected}, found ${found}`);
    this.name = 'SnapshotCorruptionError';
    this.file = file;
    this.offset = offset;
    this.expected = expected;
    this.found = found;
  }
}

/** A violated invariant: the caller (or this module) has a bug. Assertions stay on. */
export function invariant(condition: boolean, what: () => string): asserts condition {
  if (!condition) throw new StorageError(StorageErrorCode.Invariant, `storage invariant violated: ${what()}`);
}
