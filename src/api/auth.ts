import type { Context, Next } from 'koa';
import { ApiError } from './errors.ts';

export type Scope = 'read' | 'write' | 'admin';

/** What the API needs of the token store (src/store/tokens.ts implements it). */
export interface TokenVerifier {
  verify(token: string): { ok: true; record: { id: string | number; name: string; scope: Scope | string } } | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };
  allows(scope: Scope | string, needed: Scope): boolean;
}

export interface RateLimitOptions {
  /** Tokens added per second to each caller's bucket; 0 turns rate limiting off. */
  perSecond: number;
  /** Bucket size (the burst a caller may send at once). */
  burst: number;
}

export interface AuthOptions {
  tokens?: TokenVerifier;
  /** Read endpoints answer without a token. */
  public: boolean;
  /** false: no authentication at all (tests and benchmarks on loopback only). */
  enabled: boolean;
  rateLimit: RateLimitOptions;
}

export interface Principal {
  id: string;
  name: string;
  scope: Scope;
  anonymous: boolean;
}

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };
const allowsDefault = (scope: string, needed: Scope): boolean => (RANK[scope as Scope] ?? 0) >= RANK[needed];

/** Token buckets keyed by caller (token id, or client address for anonymous public reads). */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly opts: RateLimitOptions) {}

  /** 0 when allowed, else the seconds until one request would be. */
  take(key: string, now = performance.now()): number {
    const { perSecond, burst } = this.opts;
    if (!(perSecond > 0)) return 0;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.buckets.clear();
      b = { tokens: burst, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / perSecond;
  }
}

function unauthorized(message: string, code: string): ApiError {
  return new ApiError(401, code, message, 'authorization', { 'WWW-Authenticate': `Bearer realm="trellis"${code === 'UNAUTHENTICATED' ? '' : ', error="invalid_token"'}` });
}

/**
 * Middleware factory: `need('read')` on a route checks the bearer token's scope (admin ⊇ write ⊇ read), then the
 * caller's rate limit. 401 (+ WWW-Authenticate: Bearer) for a missing/unknown/expired/revoked token, 403 for a scope
 * that is too small, 429 + Retry-After past the rate limit.
 */
export function authMiddleware(opts: AuthOptions) {
  const limiter = new RateLimiter(opts.rateLimit);
  return (needed: Scope) =>
    async (ctx: Context, next: Next): Promise<void> => {
      const principal = authenticate(ctx, opts, needed);
      ctx.state.principal = principal;
      const wait = limiter.take(principal.anonymous ? `ip:${ctx.ip}` : `token:${principal.id}`);
      if (wait > 0) throw new ApiError(429, 'RATE_LIMITED', `rate limit exceeded (${opts.rateLimit.perSecond}/s, burst ${opts.rateLimit.burst}); retry later`, undefined, { 'Retry-After': String(Math.max(1, Math.ceil(wait))) });
      await next();
    };
}

function authenticate(ctx: Context, opts: AuthOptions, needed: Scope): Principal {
  const anonymous: Principal = { id: 'anonymous', name: 'anonymous', scope: 'read', anonymous: true };
  if (!opts.enabled) return { ...anonymous, scope: 'admin' };
  const header = ctx.get('authorization');
  if (!header) {
    if (opts.public && needed === 'read') return anonymous;
    throw unauthorized('this endpoint needs an API token: send "Authorization: Bearer <token>"', 'UNAUTHENTICATED');
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized('malformed Authorization header: expected "Bearer <token>"', 'INVALID_TOKEN');
  if (!opts.tokens) throw unauthorized('no token store is configured', 'INVALID_TOKEN');
  const v = opts.tokens.verify(m[1]!);
  if (!v.ok) {
    const why = v.reason === 'expired' ? 'the token has expired' : v.reason === 'revoked' ? 'the token has been revoked' : 'unknown token';
    throw unauthorized(why, v.reason === 'expired' ? 'TOKEN_EXPIRED' : v.reason === 'revoked' ? 'TOKEN_REVOKED' : 'INVALID_TOKEN');
  }
  const scope = v.record.scope as Scope;
  const allowed = opts.tokens.allows ? opts.tokens.allows(scope, needed) : allowsDefault(scope, needed);
  if (!allowed) throw new ApiError(403, 'FORBIDDEN', `token "${v.record.name}" has scope ${scope}; this endpoint needs ${needed}`, 'authorization');
  return { id: String(v.record.id), name: v.record.name, scope, anonymous: false };
}
