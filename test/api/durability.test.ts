import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCollection } from '../../src/cli/collections.ts';
import { openTrellis } from '../../src/context.ts';
import { TokenStore } from '../../src/store/index.ts';
import { call } from './helpers.ts';

const BIN = resolve(process.cwd(), 'bin/trellis.mjs');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts `trellis serve --port 0` and resolves with its URL once it has printed it and says ready. */
function serve(home: string): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: { ...process.env, TRELLIS_HOME: home, TRELLIS_INTRA_OP_THREADS: '1', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let url: string | undefined;
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      url ??= /serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url && /trellis: ready/.test(out)) {
        clearTimeout(timer);
        resolvePromise({ child, url, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited ${code}:\n${out}`)));
  });
}

describe('job durability across a killed server', () => {
  it('an ingest job running when the server is SIGKILLed is resumed (or failed and retryable) after a restart', async () => {
    const home = mkdtempSync(join(tmpdir(), 'trellis-api-dur-'));
    const corpus = mkdtempSync(join(tmpdir(), 'trellis-api-dur-files-'));
    dirs.push(home, corpus);
    const N = 400;
    mkdirSync(corpus, { recursive: true });
    for (let i = 0; i < N; i++) {
      const body = Array.from({ length: 30 }, (_, j) => `Document ${i} sentence ${j} mentions token${(i * 31 + j) % 997} and vectors.`).join(' ');
      writeFileSync(join(corpus, `doc-${String(i).padStart(4, '0')}.txt`), body);
    }
    const t = openTrellis({ home });
    await createCollection(t, 'dur', {});
    const token = new TokenStore(t.store).create({ name: 'ops', scope: 'write' }).token;
    await t.close();

    let s = await serve(home);
    const sub = await call(s.url, 'POST', '/v1/jobs', { token, json: { kind: 'ingest', params: { collection: 'dur', paths: [corpus], concurrency: 1 } } });
    expect(sub.status).toBe(202);
    const id = sub.body.id as string;
    // Wait until it is running with some progress, then kill -9.
    for (let i = 0; ; i++) {
      const j = await call(s.url, 'GET', `/v1/jobs/${id}`, { token });
      if (j.body.state === 'running' && (j.body.progress?.done ?? 0) > 5) break;
      expect(j.body.state === 'succeeded', 'the job finished before it could be killed; make the corpus bigger').toBe(false);
      expect(i).toBeLessThan(600);
      await new Promise((r) => setTimeout(r, 25));
    }
    s.child.kill('SIGKILL');
    await s.exited;

    s = await serve(home);
    let job: any;
    for (let i = 0; ; i++) {
      job = (await call(s.url, 'GET', `/v1/jobs/${id}`, { token })).body;
      if (job.state === 'failed') {
        // not resumed: must say why and be retryable
        expect(job.error).toMatch(/interrupted/);
        const r = await call(s.url, 'POST', `/v1/jobs/${id}/retry`, { token });
        expect(r.status).toBe(202);
      } else if (job.state === 'succeeded') break;
      expect(['queued', 'running', 'failed']).toContain(job.state);
      expect(i).toBeLessThan(1200);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.restarts + job.attempts).toBeGreaterThanOrEqual(2);
    const c = await call(s.url, 'GET', '/v1/collections/dur', { token });
    expect(c.body.documents).toBe(N);
    expect(c.body.indexed).toBe(c.body.vectors);
    // graceful stop on SIGTERM
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });
});
