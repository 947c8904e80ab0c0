import type { Trellis } from '../context.ts';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
/** States a job never leaves on its own (retry moves failed/cancelled back to queued). */
export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobProgress {
  done: number;
  total: number;
  note?: string;
}

export interface Job {
  id: string;
  kind: string;
  state: JobState;
  params: unknown;
  progress: JobProgress | null;
  /** The handler's JSON result (succeeded; a cancelled handler that returned something keeps it too). */
  result?: unknown;
  error?: string;
  /** 1 on submit; each retry adds 1. Resuming after a restart does not count as an attempt. */
  attempts: number;
  /** Times this attempt was interrupted by a restart and resumed. */
  restarts: number;
  /** A cancel was asked for while the job ran; it becomes `cancelled` when its handler stops. */
  cancelRequested: boolean;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
}

export interface JobContext<P = any> {
  job: Job;
  params: P;
  /** Aborted on cancel (and on `stop()` without drain). Handlers must stop soon after. */
  signal: AbortSignal;
  /** Reports progress; cheap to call often (persisted at most 4 times a second). */
  progress(done: number, total: number, note?: string): void;
  t: Trellis;
}

export type JobHandler<P = any> = (ctx: JobContext<P>) => Promise<unknown>;

export interface JobKindOptions<P = any> {
  /**
   * A resumable job found `running` after a restart (the process died under it) is queued again and rerun; its
   * handler must make a rerun continue, not repeat, the work (ingest skips what it stored). Others are failed with
   * `interrupted by a restart` and can be retried.
   */
  resumable?: boolean;
  /**
   * Checks and normalises params at submit time (throw JobError INVALID_PARAMS, or a StoreError, to refuse). The
   * returned value is what is stored and given to the handler.
   */
  validate?: (params: unknown, t: Trellis) => P;
  /** A line for help texts and the API docs. */
  description?: string;
}

export type JobErrorCode = 'NOT_FOUND' | 'UNKNOWN_KIND' | 'INVALID_PARAMS' | 'INVALID_STATE' | 'NOT_FINISHED';

const HTTP_STATUS: Record<JobErrorCode, number> = {
  NOT_FOUND: 404,
  UNKNOWN_KIND: 400,
  INVALID_PARAMS: 400,
  INVALID_STATE: 409,
  NOT_FINISHED: 409,
};

/** Why a job call was refused. `status` is the HTTP status the API should answer with; `field` names a bad param. */
export class JobError extends Error {
  readonly status: number;
  constructor(
    readonly code: JobErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'JobError';
    this.status = HTTP_STATUS[code];
  }
}
