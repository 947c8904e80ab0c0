import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Trellis } from '../context.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { Scope } from './auth.ts';

/** What the API needs of the job queue (src/jobs). */
export type JobsLike = Pick<JobQueue, 'submit' | 'get' | 'list' | 'result' | 'cancel' | 'retry' | 'counts'>;

export interface Limits {
  /** Largest JSON body, bytes. */
  jsonBytes: number;
  /** Largest uploaded file, bytes. */
  fileBytes: number;
  /** Most files in one upload. */
  files: number;
  /** Uploads above this many bytes in all, or more than `asyncFiles` files, become an ingest job (202). */
  asyncBytes: number;
  asyncFiles: number;
}

export interface ApiDeps {
  t: Trellis;
  jobs?: JobsLike;
  limits: Limits;
  need: (scope: Scope) => (ctx: Context, next: Next) => Promise<void>;
}

export type ApiRouter = Router;
