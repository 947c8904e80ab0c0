import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { StoreError } from './errors.ts';
import type { Store } from './store.ts';

/**
 * API tokens (table `api_tokens`, migration 2). A token is `trl_` + 32 random bytes in base64url; it is shown once,
 * at creation, and only its SHA-256 is stored. See docs/jobs-and-tokens.md.
 */

export type TokenScope = 'read' | 'write' | 'admin';
export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'write', 'admin'];
export const TOKEN_PREFIX = 'trl_';
/** `trl_` + 43 base64url characters (32 bytes). */
export const TOKEN_LENGTH = TOKEN_PREFIX.length + 43;
const TOKEN_SHAPE = /^trl_[A-Za-z0-9_-]{43}$/;
/** Token names: 1-64 characters, letters, digits, `_`, `-`, `.`, `@`, starting with a letter or digit. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
/** `last_used_at` is written at most this often per token (verify stays a read in the common case). */
export const LAST_USED_RESOLUTION_MS = 60_000;

export interface TokenRecord {
  id: string;
  name: string;
  scope: TokenScope;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  /** The token's first 8 characters (`trl_` + 4), to recognise it; not enough to guess it. */
  prefix: string;
}

export interface CreateTokenInput {
  name: string;
  scope: TokenScope;
  /** Lifetime from now, ms. Absent: never expires. */
  expiresInMs?: number;
}

export type VerifyResult =
  | { ok: true; record: TokenRecord }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired'; record?: TokenRecord };

const RANK: Record<TokenScope, number> = { read: 1, write: 2, admin: 3 };

/** True when a token of scope `scope` may do what needs `needed`: admin ⊇ write ⊇ read. */
export function allows(scope: TokenScope, needed: TokenScope): boolean {
  return RANK[scope] !== undefined && RANK[needed] !== undefined && RANK[scope] >= RANK[needed];
}

export function isTokenScope(v: unknown): v is TokenScope {
  return typeof v === 'string' && Object.hasOwn(RANK, v);
}

/** SHA-256 of a token, hex (what the table stores). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90m`, `12h`, `30d`, `2w`, `45s`, `500ms` -> milliseconds. Throws on anything else or a non-positive duration. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2]]) : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new StoreError('INVALID_ARGUMENT', `expected a duration like 30d, 12h or 90m (units ms, s, m, h, d, w), got "${text}"`);
  }
  return ms;
}

interface TokenRow {
  id: string;
  name: string;
  scope: TokenScope;
  hash: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

function toRecord(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    scope: r.scope,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
    prefix: r.prefix,
  };
}

/** `active`, `revoked` or `expired` at `now` (ms). */
export function tokenStatus(r: TokenRecord, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (r.revokedAt) return 'revoked';
  if (r.expiresAt && Date.parse(r.expiresAt) <= now) return 'expired';
  return 'active';
}

/**
 * Creates, lists, revokes and verifies API tokens. Synchronous, like the store. `now` is injectable for tests.
 */
export class TokenStore {
  constructor(
    readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a token. The plaintext `token` is returned once and never stored; keep it. */
  create(input: CreateTokenInput): { token: string; record: TokenRecord } {
    const name = input?.name;
    if (typeof name !== 'string' || !TOKEN_NAME.test(name)) {
      throw new StoreError('INVALID_ARGUMENT', `token name must be 1-64 letters, digits, _ - . @ (starting with a letter or digit), got ${JSON.stringify(name)}`);
    }
    if (!isTokenScope(input.scope)) throw new StoreError('INVALID_ARGUMENT', `token scope must be read, write or admin, got ${JSON.stringify(input.scope)}`);
    const life = input.expiresInMs;
    if (life !== undefined && (typeof life !== 'number' || !Number.isFinite(life) || life <= 0)) {
      throw new StoreError('INVALID_ARGUMENT', `expiresInMs must be a positive number of milliseconds, got ${String(life)}`);
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = this.now();
    const iso = new Date(now).toISOString();
    const row: TokenRow = {
      id: 'tok_' + randomBytes(8).toString('hex'),
      name,
      scope: input.scope,
      hash: hashToken(token),
      prefix: token.slice(0, 8),
      created_at: iso,
      expires_at: life === undefined ? null : new Date(now + life).toISOString(),
      revoked_at: null,
      last_used_at: null,
    };
    this.store.transaction(() => {
      // An expired token frees its name: mark it revoked so that the active-name unique index lets the new one in.
      this.store.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?').run(iso, name, iso);
      try {
        this.store.db
          .prepare(
            `INSERT INTO api_tokens (id, name, scope, hash, prefix, created_at, expires_at, revoked_at, last_used_at)
             VALUES (@id, @name, @scope, @hash, @prefix, @created_at, @expires_at, @revoked_at, @last_used_at)`,
          )
          .run(row);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'SQLITE_CONSTRAINT_UNIQUE') throw new StoreError('ALREADY_EXISTS', `an active token named "${name}" already exists; revoke it first`);
        throw err;
      }
    });
    return { token, record: toRecord(row) };
  }

  /** All tokens (active, expired and revoked), oldest first. Never includes hashes. */
  list(): TokenRecord[] {
    return (this.store.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as TokenRow[]).map(toRecord);
  }

  /** A token by id, or the active (else most recent) token of that name. */
  get(idOrName: string): TokenRecord | undefined {
    const row = this.store.db
      .prepare('SELECT * FROM api_tokens WHERE id = ? OR name = ? ORDER BY (id = ?) DESC, (revoked_at IS NULL) DESC, created_at DESC LIMIT 1')
      .get(idOrName, idOrName, idOrName) as TokenRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Revokes the token with this id, or the active token with this name. False when there was none to revoke. */
  revoke(idOrName: string): boolean {
    if (typeof idOrName !== 'string' || idOrName === '') return false;
    const iso = new Date(this.now()).toISOString();
    const r = this.store.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL').run(iso, idOrName, idOrName);
    return r.changes > 0;
  }

  /**
   * Checks a presented token (the `Authorization: Bearer` value). Looks the SHA-256 up by index, then compares the
   * hashes in constant time. Updates `lastUsedAt` at most once a minute per token, so verifying is a read almost
   * always.
   */
  verify(token: string): VerifyResult {
    if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return { ok: false, reason: 'unknown' };
    const hash = hashToken(token);
    const row = this.store.db.prepare('SELECT * FROM api_tokens WHERE hash = ?').get(hash) as TokenRow | undefined;
    if (!row || !timingSafeEqual(Buffer.from(row.hash, 'hex'), Buffer.from(hash, 'hex'))) return { ok: false, reason: 'unknown' };
    const record = toRecord(row);
    const now = this.now();
    if (record.revokedAt) return { ok: false, reason: 'revoked', record };
    if (record.expiresAt && Date.parse(record.expiresAt) <= now) return { ok: false, reason: 'expired', record };
    if (!record.lastUsedAt || now - Date.parse(record.lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
      const iso = new Date(now).toISOString();
      try {
        this.store.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(iso, record.id);
        record.lastUsedAt = iso;
      } catch {
        // Bookkeeping only (e.g. the database is busy or read-only): never fail a request over it.
      }
    }
    return { ok: true, record };
  }

  /** admin ⊇ write ⊇ read. */
  allows(scope: TokenScope, needed: TokenScope): boolean {
    return allows(scope, needed);
  }

  static allows(scope: TokenScope, needed: TokenScope): boolean {
    return allows(scope, needed);
  }
}
