import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Trellis } from '../context.ts';
import { JobQueue, registerBuiltinJobs } from '../jobs/index.ts';
import { TokenStore } from '../store/index.ts';
import { createApp, type AppOptions, type TrellisApp } from './app.ts';

export interface ServerOptions extends Omit<AppOptions, 'tokens' | 'jobs' | 'ready'> {
  host?: string;
  /** 0 = any free port. Default 3000. */
  port?: number;
  /** Jobs run at once (default 1). `false`: run no job queue. */
  jobConcurrency?: number | false;
  /** Give in-flight requests this long to finish on close, ms (default 10 s); then connections are cut. */
  drainMs?: number;
  /** Wait for warm-up (models and indexes loaded) before resolving. Default false: /readyz says 503 meanwhile. */
  waitReady?: boolean;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  app: TrellisApp;
  server: Server;
  jobs?: JobQueue;
  /** Resolves when models and indexes are loaded (the server then answers /readyz 200). */
  ready: Promise<void>;
  /** Graceful: stop accepting, drain in-flight requests, stop the job queue, save index snapshots, close the database. */
  close(): Promise<void>;
}

/** Starts the HTTP API on `host:port` over an open Trellis. */
export async function startServer(t: Trellis, opts: ServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const tokens = new TokenStore(t.store);
  const jobs = opts.jobConcurrency === false ? undefined : registerBuiltinJobs(new JobQueue(t, { concurrency: opts.jobConcurrency ?? 1, log: (l) => log(`trellis: ${l}`) }));
  const app = createApp(t, { ...opts, tokens, jobs, ready: false, log });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // SSE and long uploads
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 3000, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  const ready = warmUp(t).then(
    () => {
      jobs?.start();
      app.trellis.ready = true;
    },
    (err: Error) => {
      app.trellis.readyReason = `warm-up failed: ${err.message}`;
      log(`trellis: warm-up failed: ${err.stack ?? err.message}`);
    },
  );
  if (opts.waitReady) await ready;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      app.trellis.ready = false;
      app.trellis.readyReason = 'shutting down';
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), opts.drainMs ?? 10_000);
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      await stopped;
      // A request whose client went away is still running its handler: let it finish before closing what it uses.
      const deadline = Date.now() + (opts.drainMs ?? 10_000);
      while (app.trellis.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      clearTimeout(cut);
      clearInterval(idle);
      await ready;
      await jobs?.stop({ drain: false });
      await t.indexes.flush();
      await t.close();
    })());
  return { url, port: addr.port, app, server, jobs, ready, close };
}

/** Loads the default model, every collection's model and every collection's index. */
async function warmUp(t: Trellis): Promise<void> {
  await t.embed.model();
  for (const c of t.store.listCollections()) {
    await t.modelFor(c);
    await t.indexes.index(c.name);
  }
}
