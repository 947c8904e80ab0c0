import { EventEmitter, setMaxListeners } from 'node:events';
import type { Trellis } from '../context.ts';
import { JobStore, newOwner, ownerAlive, releaseOwner, toJsonText } from './store.ts';
import { FINISHED_STATES, JobError, type Job, type JobHandler, type JobKindOptions, type JobProgress, type JobState } from './types.ts';

export interface JobQueueOptions {
  /** Jobs run at once. Default 1. */
  concurrency?: number;
  /** One line per notable event (recoveries, failures). Default: stderr. */
  log?: (line: string) => void;
  /** How often the queue looks for work queued and cancels asked for by other processes (the CLI), ms. Default 500. */
  pollMs?: number;
  /** Least time between two persisted progress updates of one job, ms. Default 250 (at most 4 writes a second). */
  progressIntervalMs?: number;
  /** A resumable job interrupted by this many restarts in a row is failed instead of resumed again. Default 3. */
  maxRestarts?: number;
}

export interface StopOptions {
  /** true: let running jobs finish; false (default): abort them (resumable ones go back to the queue). */
  drain?: boolean;
  /** Give up waiting after this long, ms (a draining queue then aborts what is left). Default: wait as long as it takes. */
  timeoutMs?: number;
}

export interface RecoveryReport {
  /** Resumable jobs found running (their process died) and queued again. */
  resumed: string[];
  /** Jobs found running that were failed (`interrupted by a restart`) and can be retried. */
  failed: string[];
  /** Jobs found running with a cancel pending, now cancelled. */
  cancelled: string[];
}

export interface RegisteredKind {
  kind: string;
  resumable: boolean;
  description?: string;
}

interface Kind {
  handler: JobHandler;
  options: JobKindOptions;
}

interface Running {
  job: Job;
  controller: AbortController;
  /** Why the signal was aborted, if it was. */
  reason?: 'cancel' | 'shutdown';
  progress: JobProgress | null;
  lastWrite: number;
  dirty: boolean;
  timer?: NodeJS.Timeout;
  done: Promise<void>;
}

export const INTERRUPTED_BY_RESTART = 'interrupted by a restart';
export const INTERRUPTED_BY_SHUTDOWN = 'interrupted by a shutdown';

/**
 * A durable job queue on the store's `jobs` table. Every transition (queued, running, succeeded, failed, cancelled)
 * is committed as it happens; progress at most 4 times a second per job. Jobs run only while `start()`ed, in the
 * process that owns the queue (the server); other processes (the CLI) change states through `JobStore`, and the
 * running queue picks those changes up within `pollMs`.
 *
 * Events: `change` (job) after every persisted change of a job this queue touched.
 */
export class JobQueue extends EventEmitter {
  readonly jobs: JobStore;
  readonly concurrency: number;
  private readonly log: (line: string) => void;
  private readonly pollMs: number;
  private readonly progressIntervalMs: number;
  private readonly maxRestarts: number;
  private readonly kindsByName = new Map<string, Kind>();
  private readonly active = new Map<string, Running>();
  private owner?: string;
  private poller?: NodeJS.Timeout;
  private accepting = false;
  private pumping = false;

  constructor(
    readonly t: Trellis,
    opts: JobQueueOptions = {},
  ) {
    super();
    this.setMaxListeners(0);
    const c = opts.concurrency ?? 1;
    if (!Number.isInteger(c) || c < 1) throw new JobError('INVALID_PARAMS', `concurrency must be a positive integer, got ${String(c)}`, 'concurrency');
    this.concurrency = c;
    this.log = opts.log ?? ((line) => process.stderr.write(`trellis: ${line}\n`));
    this.pollMs = opts.pollMs ?? 500;
    this.progressIntervalMs = opts.progressIntervalMs ?? 250;
    this.maxRestarts = opts.maxRestarts ?? 3;
    this.jobs = new JobStore(t.store);
  }

  override on(event: 'change', listener: (job: Job) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  override off(event: 'change', listener: (job: Job) => void): this;
  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.off(event, listener);
  }

  /** Registers the handler of a job kind. `resumable`: see JobKindOptions. */
  register<P = any>(kind: string, handler: JobHandler<P>, options: JobKindOptions<P> = {}): this {
    if (typeof kind !== 'string' || !/^[a-z][a-z0-9_.-]{0,63}$/.test(kind)) throw new JobError('INVALID_PARAMS', `job kind must match [a-z][a-z0-9_.-]*, got "${String(kind)}"`, 'kind');
    if (this.kindsByName.has(kind)) throw new JobError('INVALID_PARAMS', `job kind "${kind}" is already registered`, 'kind');
    this.kindsByName.set(kind, { handler: handler as JobHandler, options: options as JobKindOptions });
    if (this.accepting) this.pump();
    return this;
  }

  kinds(): RegisteredKind[] {
    return [...this.kindsByName].map(([kind, k]) => ({ kind, resumable: !!k.options.resumable, description: k.options.description }));
  }

  get started(): boolean {
    return this.accepting;
  }

  /** Queues a job. Refuses unknown kinds (UNKNOWN_KIND) and params the kind's `validate` refuses. */
  submit(kind: string, params: unknown = {}): Job {
    const k = this.kindsByName.get(kind);
    if (!k) {
      const known = [...this.kindsByName.keys()].join(', ') || 'none';
      throw new JobError('UNKNOWN_KIND', `unknown job kind "${String(kind)}" (registered: ${known})`, 'kind');
    }
    const checked = k.options.validate ? k.options.validate(params, this.t) : params;
    const job = this.jobs.insert(kind, checked);
    this.emitChange(job);
    this.schedule();
    return job;
  }

  /** The job, with the latest progress of a job this queue is running (the persisted copy lags by ≤ 250 ms). */
  get(id: string): Job | undefined {
    const job = this.jobs.get(id);
    const run = job && this.active.get(id);
    if (job && run && job.state === 'running') job.progress = run.progress ?? job.progress;
    return job;
  }

  /** Newest first; `limit` default 100. */
  list(opts: { state?: JobState; kind?: string; limit?: number } = {}): Job[] {
    return this.jobs.list(opts).map((j) => {
      const run = j.state === 'running' ? this.active.get(j.id) : undefined;
      return run?.progress ? { ...j, progress: run.progress } : j;
    });
  }

  /** Jobs per state (queue depth = `queued`). */
  counts(): Record<JobState, number> {
    return this.jobs.counts();
  }

  /** A succeeded job's result; JobError NOT_FOUND, NOT_FINISHED (queued/running) or INVALID_STATE (failed/cancelled). */
  result(id: string): unknown {
    return this.jobs.result(id);
  }

  /**
   * Cancels a job. Queued: `cancelled` at once. Running here: its signal is aborted and it becomes `cancelled` when
   * the handler returns (`cancelRequested` meanwhile). Running in another live process: flagged, and that process
   * aborts it. Finished jobs: INVALID_STATE.
   */
  cancel(id: string): Job {
    const run = this.active.get(id);
    if (run) {
      this.jobs.flagCancel(id);
      this.abort(run, 'cancel');
      const job = this.get(id)!;
      this.emitChange(job);
      return job;
    }
    const job = this.jobs.cancel(id);
    this.emitChange(job);
    return job;
  }

  /** failed | cancelled -> queued with attempts + 1. Others: INVALID_STATE. */
  retry(id: string): Job {
    const job = this.jobs.retry(id);
    this.emitChange(job);
    this.schedule();
    return job;
  }

  /** Resolves with the job once it is succeeded, failed or cancelled (wherever it runs). */
  wait(id: string, opts: { timeoutMs?: number } = {}): Promise<Job> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let deadline: NodeJS.Timeout | undefined;
      const finish = (job: Job | undefined, err?: Error): void => {
        this.off('change', onChange);
        clearInterval(timer);
        clearTimeout(deadline);
        if (err) reject(err);
        else resolve(job!);
      };
      const check = (): void => {
        try {
          const job = this.jobs.require(id);
          if (FINISHED_STATES.includes(job.state)) finish(job);
        } catch (err) {
          finish(undefined, err as Error);
        }
      };
      const onChange = (job: Job): void => {
        if (job.id === id && FINISHED_STATES.includes(job.state)) finish(job);
      };
      this.on('change', onChange);
      timer = setInterval(check, this.pollMs);
      if (opts.timeoutMs !== undefined) deadline = setTimeout(() => finish(undefined, new Error(`job ${id} did not finish within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      check();
    });
  }

  /**
   * Starts taking jobs. First recovers what a previous process left `running`: resumable kinds are queued again (up to
   * `maxRestarts` restarts in a row), others failed with `interrupted by a restart` (retryable); jobs with a cancel
   * pending become cancelled. Jobs running in another live process on this host are left alone.
   */
  start(): RecoveryReport {
    const report: RecoveryReport = { resumed: [], failed: [], cancelled: [] };
    if (this.accepting) return report;
    this.owner = newOwner();
    for (const job of this.jobs.running()) {
      if (ownerAlive(job.owner)) continue;
      const kind = this.kindsByName.get(job.kind);
      if (job.cancelRequested) {
        this.jobs.finish(job.id, 'cancelled', { error: 'cancelled (its process stopped before the handler did)' });
        report.cancelled.push(job.id);
      } else if (kind?.options.resumable && job.restarts < this.maxRestarts) {
        this.jobs.requeue(job.id, { restart: true });
        report.resumed.push(job.id);
      } else {
        const error = kind?.options.resumable ? `${INTERRUPTED_BY_RESTART} ${job.restarts + 1} times in a row; not resumed again (retry it)` : INTERRUPTED_BY_RESTART;
        this.jobs.finish(job.id, 'failed', { error });
        report.failed.push(job.id);
      }
      this.emitChange(this.jobs.require(job.id));
    }
    if (report.resumed.length) this.log(`resuming ${report.resumed.length} job(s) interrupted by a restart: ${report.resumed.join(', ')}`);
    if (report.failed.length) this.log(`marked ${report.failed.length} job(s) interrupted by a restart as failed (retry them): ${report.failed.join(', ')}`);
    this.accepting = true;
    this.poller = setInterval(() => this.poll(), this.pollMs);
    this.poller.unref();
    this.pump();
    return report;
  }

  /**
   * Stops taking jobs. Without `drain`, running jobs are aborted: resumable ones go back to `queued` (the next start
   * resumes them), others fail with `interrupted by a shutdown` (retryable). With `drain`, they may finish (until
   * `timeoutMs`, after which they are aborted the same way).
   */
  async stop(opts: StopOptions = {}): Promise<void> {
    this.accepting = false;
    clearInterval(this.poller);
    this.poller = undefined;
    if (!opts.drain) for (const run of this.active.values()) this.abort(run, 'shutdown');
    let settled = await this.settle(opts.timeoutMs);
    if (!settled && opts.drain) {
      for (const run of this.active.values()) this.abort(run, 'shutdown');
      settled = await this.settle(opts.timeoutMs);
    }
    if (!settled) this.log(`stopped with ${this.active.size} job(s) still running (they ignored the abort); the next start recovers them`);
    if (this.owner) releaseOwner(this.owner);
  }

  // -------------------------------------------------------------------------------------------------------------

  private async settle(timeoutMs?: number): Promise<boolean> {
    const all = Promise.all([...this.active.values()].map((r) => r.done)).then(() => true);
    if (timeoutMs === undefined) return all;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private abort(run: Running, reason: 'cancel' | 'shutdown'): void {
    if (run.controller.signal.aborted) return;
    run.reason = reason;
    run.controller.abort(new DOMException(reason === 'cancel' ? 'job cancelled' : 'job queue shutting down', 'AbortError'));
  }

  private schedule(): void {
    if (this.accepting) setImmediate(() => this.pump());
  }

  private poll(): void {
    try {
      if (this.owner) {
        for (const id of this.jobs.cancelRequested(this.owner)) {
          const run = this.active.get(id);
          if (run && !run.controller.signal.aborted) this.abort(run, 'cancel');
        }
      }
      this.pump();
    } catch (err) {
      this.log(`job queue poll failed: ${(err as Error).message}`);
    }
  }

  /** Claims queued jobs of registered kinds, oldest first, while there are free slots. */
  private pump(): void {
    if (!this.accepting || this.pumping || !this.owner) return;
    this.pumping = true;
    try {
      const kinds = [...this.kindsByName.keys()];
      while (this.accepting && this.active.size < this.concurrency && kinds.length) {
        const free = this.concurrency - this.active.size;
        const candidates = this.t.store.db
          .prepare(`SELECT id FROM jobs WHERE state = 'queued' AND kind IN (${kinds.map(() => '?').join(',')}) ORDER BY seq LIMIT ?`)
          .pluck()
          .all(...kinds, free) as string[];
        if (!candidates.length) break;
        for (const id of candidates) {
          const job = this.jobs.claim(id, this.owner);
          if (job) this.launch(job);
        }
      }
    } catch (err) {
      this.log(`job queue could not take work: ${(err as Error).message}`);
    } finally {
      this.pumping = false;
    }
  }

  private launch(job: Job): void {
    const kind = this.kindsByName.get(job.kind)!;
    const run: Running = { job, controller: new AbortController(), progress: job.progress, lastWrite: 0, dirty: false, done: Promise.resolve() };
    // Handlers pass the signal down to every call they make (the embedding batcher listens once per pending text).
    setMaxListeners(0, run.controller.signal);
    this.active.set(job.id, run);
    this.emitChange(job);
    run.done = this.execute(run, kind).finally(() => {
      this.active.delete(job.id);
      this.pump();
    });
  }

  private async execute(run: Running, kind: Kind): Promise<void> {
    const { job } = run;
    let ok = false;
    let result: unknown;
    let error: unknown;
    try {
      result = await kind.handler({
        job,
        params: job.params,
        signal: run.controller.signal,
        progress: (done, total, note) => this.progress(run, done, total, note),
        t: this.t,
      });
      ok = true;
    } catch (err) {
      error = err;
    }
    clearTimeout(run.timer);
    const progress = run.dirty ? run.progress : undefined;
    try {
      let final: Job;
      if (run.reason === 'shutdown') {
        if (kind.options.resumable) {
          if (progress) this.jobs.setProgress(job.id, progress);
          this.jobs.requeue(job.id, { restart: false });
          final = this.jobs.require(job.id);
        } else {
          final = this.jobs.finish(job.id, 'failed', { error: INTERRUPTED_BY_SHUTDOWN, progress });
        }
      } else if (run.reason === 'cancel') {
        final = this.jobs.finish(job.id, 'cancelled', { error: 'cancelled', result: ok ? safeJson(result) : undefined, progress });
      } else if (ok) {
        try {
          toJsonText(result, 'the job result');
          final = this.jobs.finish(job.id, 'succeeded', { result: result ?? null, progress });
        } catch (err) {
          final = this.jobs.finish(job.id, 'failed', { error: (err as Error).message, progress });
        }
      } else {
        final = this.jobs.finish(job.id, 'failed', { error: errorText(error), progress });
        this.log(`job ${job.id} (${job.kind}) failed: ${errorText(error)}`);
      }
      this.active.delete(job.id);
      this.emitChange(final);
    } catch (err) {
      // The store is closed or unwritable: the row stays `running`, and the next start recovers it.
      this.log(`job ${job.id} (${job.kind}): could not record its outcome: ${(err as Error).message}`);
    }
  }

  private progress(run: Running, done: number, total: number, note?: string): void {
    if (!Number.isFinite(done) || !Number.isFinite(total)) return;
    run.progress = note === undefined ? { done, total } : { done, total, note: String(note).slice(0, 500) };
    run.dirty = true;
    const wait = run.lastWrite + this.progressIntervalMs - Date.now();
    if (wait <= 0) this.writeProgress(run);
    else if (!run.timer) {
      run.timer = setTimeout(() => this.writeProgress(run), wait);
      run.timer.unref();
    }
  }

  private writeProgress(run: Running): void {
    run.timer = undefined;
    if (!run.dirty || !run.progress || !this.active.has(run.job.id)) return;
    run.dirty = false;
    run.lastWrite = Date.now();
    try {
      this.jobs.setProgress(run.job.id, run.progress);
      this.emit('change', { ...run.job, state: 'running', progress: run.progress } satisfies Job);
    } catch (err) {
      this.log(`job ${run.job.id}: could not record progress: ${(err as Error).message}`);
    }
  }

  private emitChange(job: Job): void {
    try {
      this.emit('change', job);
    } catch (err) {
      this.log(`a job 'change' listener threw: ${(err as Error).message}`);
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function safeJson(value: unknown): unknown {
  try {
    toJsonText(value, 'result');
    return value ?? undefined;
  } catch {
    return undefined;
  }
}
