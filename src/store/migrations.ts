import type Database from 'better-sqlite3';
import { StoreError } from './errors.ts';

/**
 * Schema migrations, applied in order. Each is one transaction: its SQL plus the row in `schema_migrations`.
 * Never edit a released step; append a new one. Later steps reserve room for jobs and API tokens.
 *
 * Per-collection FTS5 tables (`chunks_fts_<collection id>`) and their triggers are not here: they are created and
 * dropped with their collection (see Store.createCollection), so that BM25 statistics are per collection.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'collections, documents, chunks, ingest runs',
    sql: `
CREATE TABLE collections (
  id              INTEGER PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  kind            TEXT NOT NULL CHECK (kind IN ('text', 'image')),
  model           TEXT NOT NULL,
  dim             INTEGER NOT NULL CHECK (dim > 0),
  metric          TEXT NOT NULL CHECK (metric IN ('cosine', 'l2', 'ip')),
  m               INTEGER NOT NULL CHECK (m >= 2),
  ef_construction INTEGER NOT NULL CHECK (ef_construction >= 1),
  ef_search       INTEGER NOT NULL CHECK (ef_search >= 1),
  backend         TEXT NOT NULL,
  next_label      INTEGER NOT NULL DEFAULT 0,
  metadata        TEXT NOT NULL DEFAULT '{}',
  created_at      TEXT NOT NULL
);

CREATE TABLE documents (
  pk            INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  id            TEXT NOT NULL,
  source        TEXT,
  content_hash  TEXT,
  mtime         INTEGER,
  metadata      TEXT NOT NULL DEFAULT '{}',
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  UNIQUE (collection_id, id)
);
CREATE INDEX documents_source ON documents (collection_id, source);
CREATE INDEX documents_hash ON documents (collection_id, content_hash);

CREATE TABLE chunks (
  pk            INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  document_pk   INTEGER NOT NULL REFERENCES documents(pk) ON DELETE CASCADE,
  id            TEXT NOT NULL,
  ordinal       INTEGER NOT NULL,
  kind          TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'image')),
  text          TEXT NOT NULL DEFAULT '',
  source        TEXT,
  start_offset  INTEGER,
  end_offset    INTEGER,
  page          INTEGER,
  label         INTEGER NOT NULL,
  metadata      TEXT NOT NULL DEFAULT '{}',
  vector        BLOB NOT NULL,
  created_at    TEXT NOT NULL,
  UNIQUE (collection_id, id),
  UNIQUE (collection_id, label)
);
CREATE INDEX chunks_document ON chunks (document_pk, ordinal);

CREATE TABLE ingest_runs (
  id            INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  started_at    TEXT NOT NULL,
  finished_at   TEXT,
  status        TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'interrupted', 'cancelled')),
  options       TEXT NOT NULL DEFAULT '{}',
  counters      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ingest_runs_collection ON ingest_runs (collection_id, status);

CREATE TABLE ingest_files (
  run_id       INTEGER NOT NULL REFERENCES ingest_runs(id) ON DELETE CASCADE,
  path         TEXT NOT NULL,
  content_hash TEXT,
  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'skipped', 'failed')),
  error        TEXT,
  document_id  TEXT,
  chunks       INTEGER,
  updated_at   TEXT NOT NULL,
  PRIMARY KEY (run_id, path)
);
CREATE INDEX ingest_files_state ON ingest_files (run_id, state);
`,
  },
  {
    version: 2,
    name: 'jobs and API tokens',
    sql: `
CREATE TABLE jobs (
  seq              INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  kind             TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  params           TEXT NOT NULL DEFAULT '{}',
  progress         TEXT,
  result           TEXT,
  error            TEXT,
  attempts         INTEGER NOT NULL DEFAULT 1,
  restarts         INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  owner            TEXT,
  created_at       TEXT NOT NULL,
  started_at       TEXT,
  finished_at      TEXT,
  updated_at       TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, seq);

CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
  hash         TEXT NOT NULL UNIQUE,
  prefix       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  expires_at   TEXT,
  revoked_at   TEXT,
  last_used_at TEXT
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
`,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** The schema version a database is at (0 for a fresh file). */
export function currentVersion(db: Database.Database): number {
  const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
  if (!has) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Brings the schema up to `migrations`' last version. Refuses (SCHEMA_TOO_NEW) a database written by a newer Trellis.
 * Returns the versions applied.
 */
export function migrate(db: Database.Database, file: string, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
  const applied: number[] = [];
  for (;;) {
    // Re-read inside each step's transaction so two processes opening the same file at once do not both apply it.
    const step = db
      .transaction(() => {
        const v = currentVersion(db);
        if (v > latest) {
          throw new StoreError(
            'SCHEMA_TOO_NEW',
            `${file}: database schema version ${v} is newer than this version of Trellis understands (${latest}); upgrade Trellis to open it`,
          );
        }
        const next = migrations.find((m) => m.version > v);
        if (!next) return undefined;
        db.exec(next.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(next.version, next.name, new Date().toISOString());
        db.pragma(`user_version = ${next.version}`);
        return next.version;
      })
      .immediate();
    if (step === undefined) return applied;
    applied.push(step);
  }
}
