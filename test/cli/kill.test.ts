import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prose, rmDir, tempDir, writeFiles } from '../indexer/helpers.ts';
import { BIN, cli, cliEnv, cliJson } from './helpers.ts';

const N = 150;
const LATE_PHRASE = 'zanzibarquokka';
const dirs: string[] = [];
afterAll(() => dirs.forEach(rmDir));

/** Documents stored so far, read through a read-only connection (0 while the database does not exist yet). */
function storedDocuments(dbFile: string): number {
  if (!existsSync(dbFile)) return 0;
  let db: Database.Database | undefined;
  try {
    db = new Database(dbFile, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 2000');
    return (db.prepare('SELECT count(*) AS n FROM documents').get() as { n: number }).n;
  } catch {
    return 0; // schema not created yet
  } finally {
    db?.close();
  }
}

/** Per document (source): its chunk texts in order. */
function chunksBySource(dbFile: string, collection: string): Map<string, string[]> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT d.source AS source, c.text AS text FROM chunks c JOIN documents d ON d.pk = c.document_pk
         JOIN collections k ON k.id = c.collection_id WHERE k.name = ? ORDER BY d.source, c.ordinal`,
      )
      .all(collection) as { source: string; text: string }[];
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const list = out.get(r.source) ?? [];
      list.push(r.text);
      out.set(r.source, list);
    }
    const docs = db.prepare('SELECT source, count(*) AS n FROM documents GROUP BY source').all() as { source: string; n: number }[];
    for (const d of docs) if (d.n !== 1) throw new Error(`${d.source} is stored ${d.n} times`);
    for (const d of docs) if (!out.has(d.source)) out.set(d.source, []);
    return out;
  } finally {
    db.close();
  }
}

describe('kill -9 in the middle of `trellis ingest`, then rerun', () => {
  it('resumes with no duplicate and no lost chunk; store and index agree', async () => {
    const corpus = tempDir('trellis-kill-files-');
    const home = tempDir('trellis-kill-home-');
    const cleanHome = tempDir('trellis-kill-clean-');
    dirs.push(corpus, home, cleanHome);
    const files: Record<string, string> = {};
    for (let i = 0; i < N; i++) files[`doc${String(i).padStart(3, '0')}.txt`] = prose(1000 + i, 25);
    files[`doc${N - 1}.txt`] += `\n\nThe last file alone mentions the ${LATE_PHRASE} of the far islands.`;
    writeFiles(corpus, files);
    const args = ['ingest', corpus, '-c', 'kb', '--concurrency', '1', '--chunk-size', '64', '--chunk-overlap', '8', '--json'];

    // 1. start the ingest and SIGKILL it once it has stored more than 10 documents
    const dbFile = join(home, 'trellis.db');
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    let exited = false;
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('close', (code, signal) => {
        exited = true;
        r({ code, signal });
      }),
    );
    const deadline = Date.now() + 60_000;
    let seen = 0;
    while (!exited && Date.now() < deadline && (seen = storedDocuments(dbFile)) <= 10) await new Promise((r) => setTimeout(r, 10));
    expect(exited, `ingest finished before it could be killed (saw ${seen} documents): ${stderr}`).toBe(false);
    expect(seen).toBeGreaterThan(10);
    child.kill('SIGKILL');
    const { signal } = await closed;
    expect(signal).toBe('SIGKILL');
    const atKill = storedDocuments(dbFile);
    expect(atKill).toBeGreaterThan(10);
    expect(atKill).toBeLessThan(N); // really mid-run

    // 2. rerun the same command to completion
    const rerun = await cli(home, args);
    expect(rerun.code, rerun.stderr).toBe(0);
    const resumed = JSON.parse(rerun.stdout);
    // the index file was never saved by the killed run: the rerun rebuilds it from the store and says so
    expect(rerun.stderr).toMatch(/(rebuilt|caught up) the index of collection "kb"/);
    expect(resumed.failed).toEqual([]);
    expect(resumed.resumedFrom).toHaveLength(1);
    expect(resumed.skipped).toBeGreaterThanOrEqual(atKill);
    expect(resumed.skipped + resumed.documents).toBe(N);

    // 3. a clean single run of the same folder elsewhere
    const clean = await cliJson(cleanHome, args);
    expect(clean).toMatchObject({ files: N, documents: N, skipped: 0, failed: [] });

    // every file's document is there exactly once, with exactly the chunks of the clean run, none twice
    const got = chunksBySource(dbFile, 'kb');
    const want = chunksBySource(join(cleanHome, 'trellis.db'), 'kb');
    expect(got.size).toBe(N);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    let total = 0;
    for (const [source, texts] of want) {
      expect(got.get(source), source).toEqual(texts);
      expect(new Set(texts).size, `duplicate chunk text in ${source}`).toBe(texts.length);
      total += texts.length;
    }
    expect(total).toBe(clean.chunks);

    // the store and the index agree
    const stats = await cliJson(home, ['collections', 'stats', 'kb', '--json']);
    expect(stats).toMatchObject({ documents: N, chunks: total, vectors: total, indexed: total });

    // a phrase only the last file holds is found (keyword and hybrid)
    for (const mode of ['keyword', 'hybrid']) {
      const r = await cliJson(home, ['search', LATE_PHRASE, '-c', 'kb', '--mode', mode, '-k', '3', '--json']);
      expect(r.hits[0].source).toBe(join(corpus, `doc${N - 1}.txt`));
      expect(r.hits[0].text).toContain(LATE_PHRASE);
    }
    // and vector search returns the late file's own chunk as its nearest neighbour
    const late = got.get(join(corpus, `doc${N - 1}.txt`))!;
    const v = await cliJson(home, ['search', late.at(-1)!, '-c', 'kb', '-k', '1', '--json']);
    expect(v.hits[0].text).toBe(late.at(-1));

    // the interrupted run is recorded as such, the rerun as done
    const db = new Database(dbFile, { readonly: true });
    try {
      expect((db.prepare('SELECT status FROM ingest_runs ORDER BY id').all() as { status: string }[]).map((r) => r.status)).toEqual(['interrupted', 'done']);
    } finally {
      db.close();
    }
  });
});
