// lib/storage: the durable log. See types.ts for the contract and record.ts for the format.

export type { FileStorageOptions, FileStorageTestOnly, LogStorage, RecoveryReport, SegmentDeletionHooks, SnapshotRenameHooks, StorageStats, SyncedPosition, WalOwner } from './types.js';
export { DEFAULT_SEGMENT_BYTES, MAX_RECORD_PAYLOAD_BYTES, MIN_SEGMENT_BYTES } from './types.js';
export { SnapshotCorruptionError, StorageCorruptionError, StorageError, StorageErrorCode } from './errors.js';
export { openFileStorage, syncCreatedDirectories, truncateToSyncedPosition, walOwnerOf } from './file-storage.js';
export { MemoryStorage } from './memory-storage.js';
export { walFiles } from './record.js';
