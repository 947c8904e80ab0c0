import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Trellis } from '../../src/context.ts';
import { INTERRUPTED_BY_RESTART, JobQueue, JobStore, registerBuiltinJobs } from '../../src/jobs/index.ts';
import { openStore } from '../../src/store/index.ts';
import { openTemp, prose, rmDir, tempDir, writeFiles } from '../indexer/helpers.ts';

const dirs: string[] = [];
const open: Trellis[] = [];
const queues: JobQueue[] = [];
afterEach(async () => {
  for (const q of queues.splice(0)) await q.stop();
  for (const t of open.splice(0)) await t.close();
  for (const d of dirs.splice(0)) rmDir(d);
});

const FILES = 60;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('job durability across a killed process', () => {
  it('resumes an ingest job killed mid-run (every document exactly once) and fails a non-resumable one, retryably', async () => {
    const home = tempDir('trellis-jobhome-');
    const corpus = tempDir('trellis-jobcorpus-');
    dirs.push(home, corpus);
    const files: Record<string, string> = {};
    for (let i = 0; i < FILES; i++) files[`doc${String(i).padStart(2, '0')}.txt`] = prose(1000 + i, 120);
    writeFiles(corpus, files);

    // 1. A serving process starts both jobs and is SIGKILLed while the ingest is part-way through.
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/worker.ts'), home, corpus], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TRELLIS_INTRA_OP_THREADS: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const deadline = Date.now() + 45_000;
    while (!stdout.includes('\n')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`worker did not start\n${stderr}`);
      await sleep(20);
    }
    const ids = JSON.parse(stdout.split('\n')[0]) as { ingest: string; hold: string };
    const watcher = openStore(join(home, 'trellis.db'));
    let killedAt = 0;
    try {
      const jobs = new JobStore(watcher);
      for (;;) {
        const job = jobs.get(ids.ingest)!;
        if (job.state !== 'queued' && job.state !== 'running') throw new Error(`ingest ${job.state} before it could be killed: ${job.error ?? ''}\n${stderr}`);
        if (job.progress && job.progress.done >= 3) {
          child.kill('SIGKILL');
          killedAt = job.progress.done;
          break;
        }
        if (Date.now() > deadline) throw new Error(`ingest made no progress\n${stderr}`);
        await sleep(15);
      }
      expect(await exited).toBe('SIGKILL');
      const after = jobs.get(ids.ingest)!;
      expect(after.state).toBe('running'); // the kill left it running: nothing marked it done or failed
      expect(after.progress!.done).toBeLessThan(FILES);
      expect(jobs.get(ids.hold)!.state).toBe('running');
      expect(watcher.counts('docs').documents).toBeLessThan(FILES);
    } finally {
      watcher.close();
    }
    expect(killedAt).toBeGreaterThan(0);

    // 2. A new process (here: this one) opens the same home and starts a queue.
    const t = openTemp(home);
    open.push(t);
    const q = new JobQueue(t, { pollMs: 50, log: () => {} });
    queues.push(q);
    registerBuiltinJobs(q);
    q.register('hold', async () => ({ held: false })); // not resumable; this time it finishes at once
    const report = q.start();
    expect(report.resumed).toEqual([ids.ingest]);
    expect(report.failed).toEqual([ids.hold]);
    expect(q.get(ids.hold)).toMatchObject({ state: 'failed', error: INTERRUPTED_BY_RESTART, attempts: 1 });

    const done = await q.wait(ids.ingest, { timeoutMs: 40_000 });
    expect(done.state, done.error).toBe('succeeded');
    expect(done).toMatchObject({ attempts: 1, restarts: 1 });
    const summary = done.result as { files: number; skipped: number; documents: number; failed: unknown[]; resumedFrom: number[] };
    expect(summary.files).toBe(FILES);
    expect(summary.failed).toEqual([]);
    expect(summary.skipped).toBeGreaterThan(0); // what the killed run stored was not redone
    expect(summary.skipped + summary.documents).toBe(FILES);
    expect(summary.resumedFrom).toHaveLength(1);

    // Every document exactly once, with all its chunks indexed.
    const docs = t.store.listDocuments('docs', { limit: 1000 });
    expect(docs).toHaveLength(FILES);
    expect(new Set(docs.map((d) => d.source)).size).toBe(FILES);
    expect(docs.map((d) => d.source).sort()).toEqual(Object.keys(files).map((f) => join(corpus, f)).sort());
    const stats = await t.indexes.stats('docs');
    expect(stats.documents).toBe(FILES);
    expect(stats.indexed).toBe(stats.chunks);
    const repeated = t.store.db.prepare('SELECT COUNT(*) FROM (SELECT 1 FROM chunks GROUP BY document_pk, ordinal HAVING COUNT(*) > 1)').pluck().get();
    expect(repeated).toBe(0);

    // The non-resumable job can be retried.
    expect(q.retry(ids.hold)).toMatchObject({ state: 'queued', attempts: 2 });
    expect(await q.wait(ids.hold, { timeoutMs: 5000 })).toMatchObject({ state: 'succeeded', result: { held: false } });
  });
});
