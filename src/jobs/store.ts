import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Store } from '../store/index.ts';
import { JOB_STATES, JobError, type Job, type JobProgress, type JobState } from './types.ts';

/**
 * The `jobs` table (migration 2): every state change is one statement, committed at once, so a killed process loses
 * nothing. Used by the JobQueue (which runs jobs) and directly by the CLI (which only inspects and changes states).
 */

interface JobRow {
  seq: number;
  id: string;
  kind: string;
  state: JobState;
  params: string;
  progress: string | null;
  result: string | null;
  error: string | null;
  attempts: number;
  restarts: number;
  cancel_requested: number;
  owner: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

const now = (): string => new Date().toISOString();

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toJob(r: JobRow): Job {
  const job: Job = {
    id: r.id,
    kind: r.kind,
    state: r.state,
    params: parseJson(r.params),
    progress: r.progress === null ? null : (parseJson(r.progress) as JobProgress),
    attempts: r.attempts,
    restarts: r.restarts,
    cancelRequested: r.cancel_requested === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.result !== null) job.result = parseJson(r.result);
  if (r.error !== null) job.error = r.error;
  if (r.started_at !== null) job.startedAt = r.started_at;
  if (r.finished_at !== null) job.finishedAt = r.finished_at;
  return job;
}

/** JSON text of a value, refusing what JSON cannot hold faithfully (functions, cycles, BigInt). */
export function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value ?? null);
  } catch (err) {
    throw new JobError('INVALID_PARAMS', `${what} is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (text === undefined) throw new JobError('INVALID_PARAMS', `${what} is not JSON-serialisable`);
  return text;
}

// ---------------------------------------------------------------------------------------------------------------
// Owners: which process runs a job. `host:pid:instance`; instances live in this process are tracked here.

const liveInstances = new Set<string>();
const HOST = hostname().replace(/:/g, '_');

export function newOwner(): string {
  const instance = randomBytes(6).toString('hex');
  liveInstances.add(instance);
  return `${HOST}:${process.pid}:${instance}`;
}

export function releaseOwner(owner: string): void {
  liveInstances.delete(owner.split(':')[2] ?? '');
}

/**
 * Whether the queue that claimed a job may still be running it: a queue of this process that has not stopped, or
 * another live process on this host. Anything else (a dead pid, another host, a malformed owner) counts as gone, so
 * that a restart never leaves a job stranded.
 */
export function ownerAlive(owner: string | null): boolean {
  if (!owner) return false;
  const [host, pidText, instance] = owner.split(':');
  const pid = Number(pidText);
  if (host !== HOST || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return liveInstances.has(instance ?? '');
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------------------------

export class JobStore {
  constructor(readonly store: Store) {}

  private get db() {
    return this.store.db;
  }

  private row(id: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  insert(kind: string, params: unknown): Job {
    const id = 'job_' + Date.now().toString(36) + randomBytes(5).toString('hex');
    const at = now();
    this.db
      .prepare(`INSERT INTO jobs (id, kind, state, params, attempts, created_at, updated_at) VALUES (?, ?, 'queued', ?, 1, ?, ?)`)
      .run(id, kind, toJsonText(params, 'params'), at, at);
    return this.require(id);
  }

  get(id: string): Job | undefined {
    if (typeof id !== 'string') return undefined;
    const r = this.row(id);
    return r ? toJob(r) : undefined;
  }

  require(id: string): Job {
    const job = this.get(id);
    if (!job) throw new JobError('NOT_FOUND', `no job with id "${id}"`);
    return job;
  }

  /** Newest first. */
  list(opts: { state?: JobState; kind?: string; limit?: number } = {}): Job[] {
    if (opts.state !== undefined && !JOB_STATES.includes(opts.state)) {
      throw new JobError('INVALID_PARAMS', `state must be one of ${JOB_STATES.join(', ')}, got "${String(opts.state)}"`, 'state');
    }
    const limit = opts.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) throw new JobError('INVALID_PARAMS', `limit must be a positive integer, got ${String(limit)}`, 'limit');
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.state) (where.push('state = ?'), args.push(opts.state));
    if (opts.kind) (where.push('kind = ?'), args.push(opts.kind));
    const sql = `SELECT * FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, limit) as JobRow[]).map(toJob);
  }

  /** Jobs per state (all states present). */
  counts(): Record<JobState, number> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as { state: JobState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  /** Queued jobs, oldest first. */
  queued(limit: number): Job[] {
    return (this.db.prepare(`SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT ?`).all(limit) as JobRow[]).map(toJob);
  }

  running(): (Job & { owner: string | null })[] {
    return (this.db.prepare(`SELECT * FROM jobs WHERE state = 'running' ORDER BY seq`).all() as JobRow[]).map((r) => ({ ...toJob(r), owner: r.owner }));
  }

  /** queued -> running for `owner`; undefined when someone else took it (or it was cancelled) first. */
  claim(id: string, owner: string): Job | undefined {
    const at = now();
    const r = this.db
      .prepare(`UPDATE jobs SET state = 'running', owner = ?, started_at = ?, updated_at = ?, cancel_requested = 0 WHERE id = ? AND state = 'queued'`)
      .run(owner, at, at, id);
    return r.changes ? this.require(id) : undefined;
  }

  setProgress(id: string, progress: JobProgress): void {
    this.db.prepare(`UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND state = 'running'`).run(JSON.stringify(progress), now(), id);
  }

  /** running -> succeeded | failed | cancelled. */
  finish(id: string, state: 'succeeded' | 'failed' | 'cancelled', out: { result?: unknown; error?: string; progress?: JobProgress | null } = {}): Job {
    const at = now();
    const result = out.result === undefined ? null : toJsonText(out.result, 'the job result');
    const sets = ['state = ?', 'result = ?', 'error = ?', 'finished_at = ?', 'updated_at = ?', 'owner = NULL'];
    const args: unknown[] = [state, result, out.error ?? null, at, at];
    if (out.progress !== undefined) (sets.push('progress = ?'), args.push(out.progress === null ? null : JSON.stringify(out.progress)));
    this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND state = 'running'`).run(...args, id);
    return this.require(id);
  }

  /** running -> queued again (resumed after a restart or a shutdown); `restart` counts it. */
  requeue(id: string, opts: { restart: boolean }): void {
    this.db
      .prepare(`UPDATE jobs SET state = 'queued', owner = NULL, updated_at = ?, restarts = restarts + ? WHERE id = ? AND state = 'running'`)
      .run(now(), opts.restart ? 1 : 0, id);
  }

  /**
   * Cancels a job: a queued one (or a running one whose process is gone) becomes `cancelled` at once; a running one
   * gets `cancelRequested`, which the queue running it turns into an abort (within its poll interval), and becomes
   * `cancelled` when its handler stops. Finished jobs are refused (INVALID_STATE).
   */
  cancel(id: string): Job {
    return this.store.transaction(() => {
      const r = this.row(id);
      if (!r) throw new JobError('NOT_FOUND', `no job with id "${id}"`);
      const at = now();
      if (r.state === 'queued' || (r.state === 'running' && !ownerAlive(r.owner))) {
        this.db
          .prepare(`UPDATE jobs SET state = 'cancelled', error = 'cancelled', finished_at = ?, updated_at = ?, owner = NULL, cancel_requested = 0 WHERE id = ?`)
          .run(at, at, id);
      } else if (r.state === 'running') {
        this.db.prepare(`UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?`).run(at, id);
      } else {
        throw new JobError('INVALID_STATE', `job ${id} already ${r.state}; only queued or running jobs can be cancelled`);
      }
      return this.require(id);
    });
  }

  /** failed | cancelled -> queued, attempts + 1 (result, error and progress cleared). Others: INVALID_STATE. */
  retry(id: string): Job {
    return this.store.transaction(() => {
      const r = this.row(id);
      if (!r) throw new JobError('NOT_FOUND', `no job with id "${id}"`);
      if (r.state !== 'failed' && r.state !== 'cancelled') {
        const why = r.state === 'succeeded' ? 'it succeeded' : `it is ${r.state}`;
        throw new JobError('INVALID_STATE', `job ${id} cannot be retried: ${why}; only failed or cancelled jobs can be retried`);
      }
      this.db
        .prepare(
          `UPDATE jobs SET state = 'queued', attempts = attempts + 1, restarts = 0, result = NULL, error = NULL, progress = NULL,
             started_at = NULL, finished_at = NULL, owner = NULL, cancel_requested = 0, updated_at = ? WHERE id = ?`,
        )
        .run(now(), id);
      return this.require(id);
    });
  }

  /** Ids of running jobs of this owner whose cancel was asked for (by another process, e.g. the CLI). */
  cancelRequested(owner: string): string[] {
    return this.db.prepare(`SELECT id FROM jobs WHERE state = 'running' AND owner = ? AND cancel_requested = 1`).pluck().all(owner) as string[];
  }

  /** Marks a job cancel-requested (no state change). */
  flagCancel(id: string): void {
    this.db.prepare(`UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state = 'running'`).run(now(), id);
  }

  /** The result of a succeeded job; JobError otherwise (NOT_FINISHED while queued/running, INVALID_STATE after failing or being cancelled). */
  result(id: string): unknown {
    const job = this.require(id);
    switch (job.state) {
      case 'succeeded':
        return job.result ?? null;
      case 'queued':
      case 'running':
        throw new JobError('NOT_FINISHED', `job ${id} is ${job.state}; its result is not ready`);
      case 'failed':
        throw new JobError('INVALID_STATE', `job ${id} failed: ${job.error ?? 'unknown error'}`);
      case 'cancelled':
        throw new JobError('INVALID_STATE', `job ${id} was cancelled; it has no result`);
    }
  }
}
