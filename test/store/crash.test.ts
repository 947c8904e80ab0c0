import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.ts';
import { tempDir } from './helpers.ts';

/** Spawns the child writer, waits for `marker` on its stdout (plus `delayMs`), then SIGKILLs it. */
function runAndKill(db: string, mode: string, marker: string, delayMs = 0): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/crash-child.ts'), db, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child never printed ${marker}; stderr: ${err}`));
    }, 40_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(marker)) setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(out);
      else reject(new Error(`child exited with ${code} before being killed; stderr: ${err}`));
    });
  });
}

function checkIntact(db: string) {
  const s = openStore(db);
  try {
    expect(s.integrityCheck()).toBe('ok');
    const c = s.requireCollection('crash');
    // The FTS index agrees with the chunks table.
    expect(() => s.db.exec(`INSERT INTO chunks_fts_${c.id}(chunks_fts_${c.id}) VALUES ('integrity-check')`)).not.toThrow();
    const counts = s.counts('crash');
    const perDoc = s.db.prepare('SELECT COUNT(*) AS n FROM chunks WHERE collection_id = ? GROUP BY document_pk').pluck().all(c.id) as number[];
    expect(perDoc.every((n) => n === 4)).toBe(true); // no half-written document
    expect(counts.chunks).toBe(counts.documents * 4);
    const maxLabel = s.db.prepare('SELECT MAX(label) FROM chunks WHERE collection_id = ?').pluck().get(c.id) as number | null;
    expect(c.nextLabel).toBeGreaterThan(maxLabel ?? -1);
    return { s, c, counts };
  } catch (e) {
    s.close();
    throw e;
  }
}

describe('crash safety (SIGKILL)', () => {
  let t: ReturnType<typeof tempDir>;
  let db: string;
  beforeEach(() => {
    t = tempDir();
    db = join(t.dir, 'trellis.db');
  });
  afterEach(() => t.cleanup());

  it('a transaction killed before COMMIT leaves nothing behind', async () => {
    await runAndKill(db, 'mid-transaction', 'MID');
    // The uncommitted transaction was big enough to spill pages into the WAL before it died: recovery must ignore them.
    expect(statSync(`${db}-wal`).size).toBeGreaterThan(1 << 20);
    const { s, counts } = checkIntact(db);
    expect(counts).toEqual({ documents: 0, chunks: 0, vectors: 0 });
    expect(s.db.prepare(`SELECT COUNT(*) FROM ingest_files WHERE state = 'done'`).pluck().get()).toBe(0);
    expect(s.requireCollection('crash').nextLabel).toBe(0);
    s.close();
  }, 60_000);

  it('a transaction killed right after COMMIT is all there', async () => {
    await runAndKill(db, 'after-commit', 'COMMITTED');
    const { s, counts } = checkIntact(db);
    expect(counts).toEqual({ documents: 300, chunks: 1200, vectors: 1200 });
    expect(s.db.prepare(`SELECT COUNT(*) FROM ingest_files WHERE state = 'done'`).pluck().get()).toBe(300);
    expect(s.keywordSearch('crash', 'document 299', 1)[0].documentId).toBe('doc-299');
    s.close();
  }, 60_000);

  it('a stream of small transactions killed at a random moment: every document whole, file states agree', async () => {
    await runAndKill(db, 'many', 'STARTED', 50 + Math.floor(Math.random() * 300));
    const { s, c } = checkIntact(db);
    const done = s.db.prepare(`SELECT document_id FROM ingest_files WHERE state = 'done' ORDER BY document_id`).pluck().all() as string[];
    const docs = s.db.prepare('SELECT id FROM documents WHERE collection_id = ? ORDER BY id').pluck().all(c.id) as string[];
    expect(docs.length).toBeGreaterThan(20);
    expect(done).toEqual(docs); // a file is marked done exactly when its document committed
    s.close();
  }, 60_000);
});
