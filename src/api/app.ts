import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bodyParser } from '@koa/bodyparser';
import cors from '@koa/cors';
import Router from '@koa/router';
import Koa from 'koa';
import { createRequire } from 'node:module';
import type { Trellis } from '../context.ts';
import { authMiddleware, type RateLimitOptions, type TokenVerifier } from './auth.ts';
import { ApiError, errorBody, toApiError } from './errors.ts';
import { createMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { askRoutes } from './routes/ask.ts';
import { collectionRoutes } from './routes/collections.ts';
import { documentRoutes } from './routes/documents.ts';
import { embeddingRoutes } from './routes/embeddings.ts';
import { jobRoutes } from './routes/jobs.ts';
import { searchRoutes } from './routes/search.ts';
import type { ApiDeps, JobsLike, Limits } from './types.ts';

export interface AppOptions {
  tokens?: TokenVerifier;
  jobs?: JobsLike;
  /** Read endpoints answer without a token. */
  public?: boolean;
  /** false: no authentication (loopback tests/benchmarks only). Default true. */
  auth?: boolean;
  /** Allowed CORS origins (`*` for any); empty or absent: no CORS headers. */
  cors?: string[] | boolean;
  /** Per-token (or per-address for anonymous reads) token bucket. Default 50/s, burst 100. `perSecond: 0` = off. */
  rateLimit?: Partial<RateLimitOptions>;
  /** Largest JSON body in bytes (default 4 MiB). */
  bodyLimit?: number;
  limits?: Partial<Omit<Limits, 'jsonBytes'>>;
  /** Start not ready (the server flips it when warm-up is done). Default true. */
  ready?: boolean;
  /** Logger for 5xx errors. Default stderr. */
  log?: (line: string) => void;
}

export interface TrellisApp extends Koa {
  trellis: { ready: boolean; inFlight: number; readyReason: string };
}

const require = createRequire(import.meta.url);

export const DEFAULT_LIMITS: Limits = {
  jsonBytes: 4 * 1024 * 1024,
  fileBytes: 64 * 1024 * 1024,
  files: 1000,
  asyncBytes: 1024 * 1024,
  asyncFiles: 10,
};

/** The Koa app: routes validate and call the layers below (store, retrieve, ask, jobs, embed); no business logic. */
export function createApp(t: Trellis, options: AppOptions = {}): TrellisApp {
  const app = new Koa({ proxy: false }) as TrellisApp;
  app.trellis = { ready: options.ready ?? true, inFlight: 0, readyReason: 'loading models and indexes' };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Errors Koa sees outside the handler chain (e.g. a streamed response whose client went away).
  app.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
    log(`trellis: ${err.stack ?? err.message}`);
  });
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits, jsonBytes: options.bodyLimit ?? DEFAULT_LIMITS.jsonBytes };
  const metrics = createMetrics(t, { queueDepth: options.jobs ? () => options.jobs!.counts() : undefined });
  const auth = authMiddleware({
    tokens: options.tokens,
    public: !!options.public,
    enabled: options.auth ?? true,
    rateLimit: { perSecond: options.rateLimit?.perSecond ?? 50, burst: options.rateLimit?.burst ?? 100 },
  });
  // JSON bodies are parsed after the token and scope checks (an anonymous caller cannot make the server read a body).
  const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: limits.jsonBytes, encoding: 'utf-8' });
  const readJson = async (ctx: Koa.Context, next: Koa.Next): Promise<void> => {
    if (!ctx.is('application/json')) return next();
    const len = Number(ctx.get('content-length'));
    if (len > limits.jsonBytes) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body is ${len} bytes; the limit is ${limits.jsonBytes}`, 'body');
    return parseJson(ctx, next);
  };
  const need: ApiDeps['need'] = (scope) => {
    const check = auth(scope);
    return (ctx, next) => check(ctx, () => readJson(ctx, next));
  };
  const deps: ApiDeps = { t, jobs: options.jobs, limits, need };

  // Outermost: in-flight count, latency histogram (by route template), error -> JSON.
  app.use(async (ctx, next) => {
    app.trellis.inFlight++;
    const end = metrics.requestSeconds.startTimer();
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ApiError(404, 'NOT_FOUND', `no route ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const e = toApiError(err);
      if (e.status >= 500 && e.status !== 503) log(`trellis: ${ctx.method} ${ctx.path} failed: ${(err as Error)?.stack ?? String(err)}`);
      ctx.status = e.status;
      for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
      ctx.body = errorBody(e);
    } finally {
      app.trellis.inFlight--;
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
      end({ method: ctx.method, route: typeof route === 'string' ? route : 'unmatched', status: String(ctx.status) });
    }
  });

  const origins = options.cors === true ? ['*'] : Array.isArray(options.cors) ? options.cors : [];
  if (origins.length) {
    app.use(
      cors({
        origin: (ctx) => (origins.includes('*') ? '*' : origins.includes(ctx.get('origin')) ? ctx.get('origin') : ''),
        allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type'],
        exposeHeaders: ['Retry-After', 'Location', 'WWW-Authenticate'],
        maxAge: 600,
      }),
    );
  }

  // System routes: no token needed.
  const sys = new Router({ strict: true });
  sys.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  sys.get('/readyz', (ctx) => {
    if (!app.trellis.ready) {
      ctx.status = 503;
      ctx.set('Retry-After', '1');
      ctx.body = { status: 'not ready', reason: app.trellis.readyReason };
      return;
    }
    ctx.body = { status: 'ready', collections: t.store.listCollections().length };
  });
  sys.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  let openapi: Record<string, unknown> | undefined;
  sys.get('/openapi.json', (ctx) => {
    ctx.body = openapi ??= openApiDocument();
  });
  // absolute-path.js only (the package's index.js would load the 1.5 MB bundle into the server).
  const uiDir: string = (require('swagger-ui-dist/absolute-path.js') as () => string)();
  sys.get('/docs', (ctx) => ctx.redirect('/docs/'));
  sys.get('/docs/', (ctx) => {
    ctx.type = 'html';
    ctx.body = readFileSync(join(uiDir, 'index.html'), 'utf8').replace('<title>Swagger UI</title>', '<title>Trellis API</title>');
  });
  sys.get('/docs/swagger-initializer.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.body = `window.onload = function () {\n  window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], plugins: [SwaggerUIBundle.plugins.DownloadUrl], layout: 'StandaloneLayout' });\n};\n`;
  });
  sys.get('/docs/:file', (ctx) => {
    const file = ctx.params.file!;
    if (!/^[\w.-]+\.(js|css|png|html|map)$/.test(file) || file.startsWith('.')) throw new ApiError(404, 'NOT_FOUND', `no file ${file}`);
    try {
      ctx.body = readFileSync(join(uiDir, file));
    } catch {
      throw new ApiError(404, 'NOT_FOUND', `no file ${file}`);
    }
    ctx.type = file.split('.').pop()!;
    ctx.set('Cache-Control', 'public, max-age=3600');
  });
  app.use(sys.routes()).use(sys.allowedMethods());

  // API routes under /v1: not ready -> 503; JSON bodies parsed within the body limit.
  const v1 = new Router({ prefix: '/v1' });
  v1.use(async (ctx, next) => {
    if (!app.trellis.ready) throw new ApiError(503, 'NOT_READY', `server is starting: ${app.trellis.readyReason}`, undefined, { 'Retry-After': '1' });
    await next();
  });
  collectionRoutes(v1, deps);
  documentRoutes(v1, deps);
  searchRoutes(v1, deps);
  askRoutes(v1, deps);
  embeddingRoutes(v1, deps);
  jobRoutes(v1, deps);
  app.use(v1.routes()).use(v1.allowedMethods({ throw: false }));
  return app;
}
