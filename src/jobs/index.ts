/**
 * Durable async jobs on the store: submit, status, progress, result, cancel, retry; resumed or failed (retryable)
 * after a restart, never lost. See docs/jobs-and-tokens.md.
 */
export * from './types.ts';
export { JobStore, ownerAlive } from './store.ts';
export { JobQueue, INTERRUPTED_BY_RESTART, INTERRUPTED_BY_SHUTDOWN } from './queue.ts';
export type { JobQueueOptions, RecoveryReport, RegisteredKind, StopOptions } from './queue.ts';
export { registerBuiltinJobs, validateIngestParams, validateReindexParams } from './kinds.ts';
export type { IngestJobParams, ReindexJobParams, ReindexJobResult } from './kinds.ts';
