import { afterEach, describe, expect, it } from 'vitest';
import type { Trellis } from '../../src/context.ts';
import { JobError, JobQueue, JobStore, registerBuiltinJobs } from '../../src/jobs/index.ts';
import { openStore } from '../../src/store/index.ts';
import { openTemp, prose, rmDir, tempDir, writeFiles } from '../indexer/helpers.ts';

const queues: JobQueue[] = [];
const open: Trellis[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const q of queues.splice(0)) await q.stop();
  for (const t of open.splice(0)) await t.close();
  for (const d of dirs.splice(0)) rmDir(d);
});

function setup(opts: { concurrency?: number } = {}): { t: Trellis; q: JobQueue; home: string; logs: string[] } {
  const home = tempDir('trellis-jobs-');
  dirs.push(home);
  const t = openTemp(home);
  open.push(t);
  const logs: string[] = [];
  const q = new JobQueue(t, { concurrency: opts.concurrency, pollMs: 50, log: (l) => logs.push(l) });
  queues.push(q);
  return { t, q, home, logs };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the signal aborts (and records that the handler saw it). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

function jobError(fn: () => unknown): JobError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(JobError);
    return err as JobError;
  }
  throw new Error('expected a JobError');
}

describe('JobQueue', () => {
  it('runs a submitted job to succeeded, persisting each state and the result', async () => {
    const { q } = setup();
    const seen: string[] = [];
    q.on('change', (j) => j.progress === null && seen.push(j.state));
    q.register('add', async ({ params }) => ({ sum: (params as { a: number; b: number }).a + (params as { a: number; b: number }).b }));
    q.start();
    const job = q.submit('add', { a: 2, b: 3 });
    expect(job).toMatchObject({ kind: 'add', state: 'queued', params: { a: 2, b: 3 }, attempts: 1, progress: null });
    expect(job.id).toMatch(/^job_/);
    const done = await q.wait(job.id, { timeoutMs: 5000 });
    expect(done.state).toBe('succeeded');
    expect(done.result).toEqual({ sum: 5 });
    expect(q.result(job.id)).toEqual({ sum: 5 });
    expect(done.startedAt && done.finishedAt).toBeTruthy();
    expect(seen).toEqual(['queued', 'running', 'succeeded']);
    expect(q.list().map((j) => j.id)).toEqual([job.id]);
    expect(q.counts()).toMatchObject({ succeeded: 1, queued: 0, running: 0 });
  });

  it('refuses unknown kinds and params a kind rejects; result() of an unfinished job is an error', async () => {
    const { q } = setup();
    q.register('strict', async () => 1, {
      validate: (p) => {
        if (typeof (p as { n?: unknown }).n !== 'number') throw new JobError('INVALID_PARAMS', 'n must be a number', 'params.n');
        return p;
      },
    });
    const e1 = jobError(() => q.submit('nope', {}));
    expect(e1.code).toBe('UNKNOWN_KIND');
    expect(e1.status).toBe(400);
    expect(jobError(() => q.submit('strict', { n: 'x' }))).toMatchObject({ code: 'INVALID_PARAMS', field: 'params.n' });
    expect(q.list()).toEqual([]); // nothing stored for refused submissions
    const job = q.submit('strict', { n: 1 }); // not started: stays queued
    expect(jobError(() => q.result(job.id))).toMatchObject({ code: 'NOT_FINISHED', status: 409 });
    expect(jobError(() => q.get('job_missing') ?? q.result('job_missing'))).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });

  it('a failing handler leaves the job failed with its error; retry queues it again and it succeeds', async () => {
    const { q } = setup();
    let calls = 0;
    q.register('flaky', async () => {
      calls++;
      if (calls === 1) throw new Error('disk on fire');
      return { calls };
    });
    q.start();
    const job = q.submit('flaky', {});
    const failed = await q.wait(job.id, { timeoutMs: 5000 });
    expect(failed).toMatchObject({ state: 'failed', error: 'disk on fire', attempts: 1 });
    expect(jobError(() => q.result(job.id))).toMatchObject({ code: 'INVALID_STATE' });
    expect(jobError(() => q.result(job.id)).message).toMatch(/disk on fire/);

    const again = q.retry(job.id);
    expect(again).toMatchObject({ state: 'queued', attempts: 2 });
    expect(again.error).toBeUndefined();
    const ok = await q.wait(job.id, { timeoutMs: 5000 });
    expect(ok).toMatchObject({ state: 'succeeded', attempts: 2, result: { calls: 2 } });
    const refused = jobError(() => q.retry(job.id));
    expect(refused.code).toBe('INVALID_STATE');
    expect(refused.message).toMatch(/succeeded; only failed or cancelled jobs can be retried/);
  });

  it('cancels a queued job at once and a running one through its signal', async () => {
    const { q } = setup({ concurrency: 1 });
    let sawAbort = false;
    let ran = 0;
    q.register('wait', async ({ signal }) => {
      ran++;
      await aborted(signal);
      sawAbort = signal.aborted;
      return { partial: true };
    });
    q.start();
    const first = q.submit('wait', {});
    const second = q.submit('wait', {});
    await until(() => q.get(first.id)!.state === 'running');
    expect(q.get(second.id)!.state).toBe('queued');

    const c2 = q.cancel(second.id);
    expect(c2.state).toBe('cancelled');
    expect(jobError(() => q.retry(first.id)).code).toBe('INVALID_STATE'); // running

    const c1 = q.cancel(first.id);
    expect(c1).toMatchObject({ state: 'running', cancelRequested: true });
    const done = await q.wait(first.id, { timeoutMs: 5000 });
    expect(done.state).toBe('cancelled');
    expect(sawAbort).toBe(true);
    expect(ran).toBe(1); // the cancelled queued job never ran
    expect(jobError(() => q.cancel(first.id)).code).toBe('INVALID_STATE');

    // A cancelled job can be retried.
    expect(q.retry(second.id)).toMatchObject({ state: 'queued', attempts: 2 });
  });

  it('picks up a cancel asked for by another process (the CLI) through the database', async () => {
    const { q, t } = setup();
    let sawAbort = false;
    q.register('wait', async ({ signal }) => {
      await aborted(signal);
      sawAbort = true;
    });
    q.start();
    const job = q.submit('wait', {});
    await until(() => q.get(job.id)!.state === 'running');
    const other = openStore(t.store.path); // a second connection, as `trellis jobs cancel` opens
    try {
      const flagged = new JobStore(other).cancel(job.id);
      expect(flagged).toMatchObject({ state: 'running', cancelRequested: true }); // its owner (this process) is alive
    } finally {
      other.close();
    }
    expect((await q.wait(job.id, { timeoutMs: 5000 })).state).toBe('cancelled');
    expect(sawAbort).toBe(true);
  });

  it('persists progress, at most 4 writes a second, and the last value at the end', async () => {
    const { q, t } = setup();
    let writes = 0;
    q.on('change', (j) => j.state === 'running' && j.progress && writes++);
    q.register('count', async ({ progress }) => {
      for (let i = 1; i <= 400; i++) {
        progress(i, 400, `step ${i}`);
        if (i % 50 === 0) await sleep(100);
        if (i === 200) {
          await sleep(300);
          const row = new JobStore(t.store).get(q.list()[0].id)!; // the persisted copy, not the in-memory one
          expect(row.progress!.done).toBeGreaterThanOrEqual(150);
          expect(row.progress!.total).toBe(400);
        }
      }
      return 'ok';
    });
    q.start();
    const started = Date.now();
    const job = q.submit('count', {});
    const done = await q.wait(job.id, { timeoutMs: 10_000 });
    const seconds = (Date.now() - started) / 1000;
    expect(done.state).toBe('succeeded');
    expect(done.progress).toEqual({ done: 400, total: 400, note: 'step 400' });
    expect(writes).toBeGreaterThanOrEqual(2);
    expect(writes).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 1);
  });

  it('stop() without drain sends resumable jobs back to the queue and fails the others (retryable)', async () => {
    const { q, t } = setup({ concurrency: 2 });
    const handler = async ({ signal }: { signal: AbortSignal }): Promise<void> => aborted(signal);
    q.register('resumable', handler, { resumable: true });
    q.register('oneshot', handler);
    q.start();
    const r = q.submit('resumable', {});
    const o = q.submit('oneshot', {});
    await until(() => q.counts().running === 2);
    await q.stop();
    const store = new JobStore(t.store);
    expect(store.get(r.id)).toMatchObject({ state: 'queued', attempts: 1 });
    expect(store.get(o.id)).toMatchObject({ state: 'failed', error: 'interrupted by a shutdown' });
    expect(store.retry(o.id).state).toBe('queued');
  });

  it('stop({ drain: true }) lets running jobs finish', async () => {
    const { q } = setup();
    q.register('slow', async () => {
      await sleep(300);
      return 'finished';
    });
    q.start();
    const job = q.submit('slow', {});
    await until(() => q.get(job.id)!.state === 'running');
    await q.stop({ drain: true });
    expect(q.get(job.id)).toMatchObject({ state: 'succeeded', result: 'finished' });
  });

  it('runs the built-in ingest and reindex kinds on a real collection', async () => {
    const { q, t } = setup();
    registerBuiltinJobs(q);
    expect(q.kinds().map((k) => [k.kind, k.resumable])).toEqual([
      ['ingest', true],
      ['reindex', true],
    ]);
    const dir = tempDir('trellis-jobfiles-');
    dirs.push(dir);
    writeFiles(dir, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`n${i}.txt`, prose(i, 6)])));
    const model = await t.embed.model(t.config.embed.defaultTextModel);
    await t.indexes.createCollection({ name: 'docs', model: model.tag, dim: model.dimension });

    expect(jobError(() => q.submit('ingest', { collection: 'nope', paths: [dir] }))).toMatchObject({ code: 'NOT_FOUND', field: 'params.collection' });
    expect(jobError(() => q.submit('ingest', { collection: 'docs', paths: [] }))).toMatchObject({ code: 'INVALID_PARAMS', field: 'params.paths' });
    expect(jobError(() => q.submit('ingest', { collection: 'docs', paths: [dir + '/missing'] }))).toMatchObject({ field: 'params.paths[0]' });
    expect(jobError(() => q.submit('ingest', { collection: 'docs', paths: [dir], chunkSize: 4 }))).toMatchObject({ field: 'params.chunkSize' });
    expect(jobError(() => q.submit('ingest', { collection: 'docs', paths: [dir], bogus: 1 }))).toMatchObject({ field: 'params.bogus' });

    q.start();
    const job = q.submit('ingest', { collection: 'docs', paths: [dir], chunkSize: 64, chunkOverlap: 8, metadata: { team: 'a' } });
    const done = await q.wait(job.id, { timeoutMs: 30_000 });
    expect(done.state, done.error).toBe('succeeded');
    const summary = done.result as { documents: number; chunks: number; failed: unknown[] };
    expect(summary.documents).toBe(8);
    expect(summary.failed).toEqual([]);
    expect(done.progress).toMatchObject({ done: 8, total: 8 });
    const stats = await t.indexes.stats('docs');
    expect(stats).toMatchObject({ documents: 8, chunks: summary.chunks, indexed: summary.chunks });
    expect(t.store.listDocuments('docs')[0].metadata.team).toBe('a');

    const re = q.submit('reindex', { collection: 'docs' });
    const redone = await q.wait(re.id, { timeoutMs: 30_000 });
    expect(redone.state, redone.error).toBe('succeeded');
    expect(redone.result).toMatchObject({ collection: 'docs', documents: 8, indexed: summary.chunks });
  });
});

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
