import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LAST_USED_RESOLUTION_MS,
  StoreError,
  TokenStore,
  allows,
  hashToken,
  openHomeStore,
  openStore,
  parseDuration,
  tokenStatus,
  type Store,
  type TokenScope,
} from '../../src/store/index.ts';
import { cli } from '../cli/helpers.ts';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'trellis-tokens-'));
  dirs.push(d);
  return d;
}

/** A token store on a fresh database with a clock the test moves. */
function setup(): { tokens: TokenStore; store: Store; clock: { now: number }; path: string } {
  const path = join(temp(), 'trellis.db');
  const store = openStore(path);
  stores.push(store);
  const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
  return { tokens: new TokenStore(store, () => clock.now), store, clock, path };
}

function errorOf(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    return err as StoreError;
  }
  throw new Error('expected an error');
}

describe('API tokens', () => {
  it('creates a token shown once, verifies it, and lists the record without secrets', () => {
    const { tokens } = setup();
    const { token, record } = tokens.create({ name: 'ci', scope: 'write' });
    expect(token).toMatch(/^trl_[A-Za-z0-9_-]{43}$/);
    expect(record).toMatchObject({ name: 'ci', scope: 'write', expiresAt: null, revokedAt: null, lastUsedAt: null, prefix: token.slice(0, 8) });
    expect(record.id).toMatch(/^tok_[0-9a-f]{16}$/);
    const v = tokens.verify(token);
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.record.id).toBe(record.id);
    const listed = tokens.list();
    expect(listed).toHaveLength(1);
    expect(listed[0].lastUsedAt).toBe('2025-01-01T00:00:00.000Z');
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(JSON.stringify(listed)).not.toContain(hashToken(token));
    // Two tokens never collide.
    expect(tokens.create({ name: 'other', scope: 'read' }).token).not.toBe(token);
  });

  it('refuses unknown, malformed and tampered tokens', () => {
    const { tokens } = setup();
    const { token } = tokens.create({ name: 'a', scope: 'read' });
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    for (const bad of [flipped, '', 'trl_', 'Bearer ' + token, token + 'x', token.toUpperCase(), 'x'.repeat(47)]) {
      expect(tokens.verify(bad)).toEqual({ ok: false, reason: 'unknown' });
    }
    expect(tokens.verify(undefined as unknown as string)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('stores only the SHA-256: the plaintext is nowhere in the database files', () => {
    const { tokens, store, path } = setup();
    const made = [tokens.create({ name: 'one', scope: 'admin' }).token, tokens.create({ name: 'two', scope: 'read', expiresInMs: 3_600_000 }).token];
    for (const t of made) expect(tokens.verify(t).ok).toBe(true);
    const bytes = (): Buffer => Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p)));
    const check = (): void => {
      const all = bytes();
      for (const t of made) {
        expect(all.includes(Buffer.from(t))).toBe(false);
        expect(all.includes(Buffer.from(t.slice(4)))).toBe(false); // the secret part alone
        expect(all.includes(Buffer.from(t.slice(4, 24)))).toBe(false); // nor a long piece of it
        expect(all.includes(Buffer.from(hashToken(t)))).toBe(true); // what is stored instead
      }
    };
    check(); // WAL and main file as they are
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    check(); // everything in the main file
  });

  it('keeps names unique among active tokens; a revoked or expired token frees its name', () => {
    const { tokens, clock } = setup();
    tokens.create({ name: 'ci', scope: 'read' });
    expect(errorOf(() => tokens.create({ name: 'ci', scope: 'admin' })).code).toBe('ALREADY_EXISTS');
    expect(tokens.revoke('ci')).toBe(true);
    const second = tokens.create({ name: 'ci', scope: 'admin', expiresInMs: 60_000 });
    clock.now += 61_000;
    const third = tokens.create({ name: 'ci', scope: 'write' });
    const rows = tokens.list();
    expect(rows.map((r) => tokenStatus(r, clock.now))).toEqual(['revoked', 'revoked', 'active']);
    expect(tokens.get('ci')!.id).toBe(third.record.id);
    expect(tokens.verify(second.token)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('expires tokens at expiresAt', () => {
    const { tokens, clock } = setup();
    const { token, record } = tokens.create({ name: 'short', scope: 'read', expiresInMs: 90 * 60_000 });
    expect(record.expiresAt).toBe('2025-01-01T01:30:00.000Z');
    clock.now += 90 * 60_000 - 1;
    expect(tokens.verify(token).ok).toBe(true);
    clock.now += 1;
    const v = tokens.verify(token);
    expect(v).toMatchObject({ ok: false, reason: 'expired' });
    if (!v.ok) expect(v.record?.name).toBe('short');
  });

  it('revokes by id or by name, once', () => {
    const { tokens } = setup();
    const a = tokens.create({ name: 'a', scope: 'read' });
    const b = tokens.create({ name: 'b', scope: 'write' });
    expect(tokens.revoke(a.record.id)).toBe(true);
    expect(tokens.revoke(a.record.id)).toBe(false);
    expect(tokens.revoke('b')).toBe(true);
    expect(tokens.revoke('b')).toBe(false);
    expect(tokens.revoke('nobody')).toBe(false);
    expect(tokens.verify(a.token)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(tokens.verify(b.token)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(tokens.list().every((r) => r.revokedAt !== null)).toBe(true);
  });

  it('updates lastUsedAt at most once a minute per token', () => {
    const { tokens, clock, store } = setup();
    const { token, record } = tokens.create({ name: 'busy', scope: 'read' });
    const changes = (): number => store.db.prepare('SELECT total_changes()').pluck().get() as number;
    tokens.verify(token);
    const first = tokens.get(record.id)!.lastUsedAt;
    const before = changes();
    for (let i = 0; i < 100; i++) {
      clock.now += 100;
      expect(tokens.verify(token).ok).toBe(true);
    }
    expect(changes()).toBe(before); // 10 s of verifying: no writes
    expect(tokens.get(record.id)!.lastUsedAt).toBe(first);
    clock.now += LAST_USED_RESOLUTION_MS;
    tokens.verify(token);
    expect(tokens.get(record.id)!.lastUsedAt).toBe(new Date(clock.now).toISOString());
  });

  it('orders scopes admin ⊇ write ⊇ read', () => {
    const scopes: TokenScope[] = ['read', 'write', 'admin'];
    const table = scopes.map((have) => scopes.map((need) => allows(have, need)));
    expect(table).toEqual([
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ]);
    expect(TokenStore.allows('write', 'read')).toBe(true);
    expect(allows('bogus' as TokenScope, 'read')).toBe(false);
  });

  it('validates input and durations', () => {
    const { tokens } = setup();
    expect(errorOf(() => tokens.create({ name: 'x', scope: 'root' as TokenScope })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => tokens.create({ name: '', scope: 'read' })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => tokens.create({ name: 'has space', scope: 'read' })).code).toBe('INVALID_ARGUMENT');
    expect(errorOf(() => tokens.create({ name: 'x', scope: 'read', expiresInMs: 0 })).code).toBe('INVALID_ARGUMENT');
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('45s')).toBe(45_000);
    for (const bad of ['30', 'd', '-1d', '0m', '1y', '']) expect(() => parseDuration(bad)).toThrow(/duration/);
  });

  it('CLI: create prints the token once, list shows it without the secret, revoke refuses it', async () => {
    const home = temp();
    const made = await cli(home, ['tokens', 'create', '--name', 'deploy', '--scope', 'write', '--expires', '30d']);
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.trim();
    expect(token).toMatch(/^trl_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toMatch(/only time it is shown/);

    const listed = await cli(home, ['tokens', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(token);
    const rows = JSON.parse(listed.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: 'deploy', scope: 'write', status: 'active', prefix: token.slice(0, 8) });
    expect(Date.parse(rows[0].expiresAt) - Date.parse(rows[0].createdAt)).toBe(30 * 86_400_000);

    const table = await cli(home, ['tokens', 'list']);
    expect(table.stdout).toMatch(/deploy\s+write/);

    const store = openHomeStore({ home });
    stores.push(store);
    expect(new TokenStore(store).verify(token).ok).toBe(true);

    expect((await cli(home, ['tokens', 'create', '--name', 'deploy', '--scope', 'read'])).stderr).toMatch(/already exists/);
    expect((await cli(home, ['tokens', 'create', '--name', 'x', '--scope', 'root'])).code).not.toBe(0);
    expect((await cli(home, ['tokens', 'create', '--name', 'x', '--scope', 'read', '--expires', 'soon'])).stderr).toMatch(/duration/);

    const revoked = await cli(home, ['tokens', 'revoke', 'deploy']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(new TokenStore(store).verify(token)).toMatchObject({ ok: false, reason: 'revoked' });
    const again = await cli(home, ['tokens', 'revoke', 'deploy']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no active token/);
  });
});
