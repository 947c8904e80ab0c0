import type { Command } from 'commander';
import { startServer } from '../api/server.ts';
import { openTrellis } from '../context.ts';
import { parseIntOption } from './shared.ts';

interface ServeFlags {
  host: string;
  port: number;
  public?: boolean;
  cors?: string;
  rateLimit?: number;
  burst?: number;
  bodyLimit?: number;
  jobs: number;
}

/** `trellis serve`: the HTTP API, until SIGTERM/SIGINT (then a graceful shutdown). */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (docs at /docs)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', parseIntOption('--port', 0), 3000)
    .option('--public', 'answer read endpoints (search, ask, get) without a token')
    .option('--cors <origins>', 'allowed CORS origins, comma-separated, or *')
    .option('--rate-limit <n>', 'requests per second per token (0: off; default 50)', parseIntOption('--rate-limit', 0))
    .option('--burst <n>', 'rate-limit burst per token (default 2x the rate)', parseIntOption('--burst', 1))
    .option('--body-limit <bytes>', 'largest JSON body (default 4 MiB)', parseIntOption('--body-limit', 1024))
    .option('--jobs <n>', 'jobs run at once', parseIntOption('--jobs', 1), 1)
    .action(async (o: ServeFlags) => {
      const t = openTrellis({ home: program.opts<{ home?: string }>().home });
      const s = await startServer(t, {
        host: o.host,
        port: o.port,
        public: !!o.public,
        cors: o.cors ? o.cors.split(',').map((x) => x.trim()).filter(Boolean) : undefined,
        rateLimit: o.rateLimit === undefined ? undefined : { perSecond: o.rateLimit, burst: o.burst ?? Math.max(1, o.rateLimit * 2) },
        bodyLimit: o.bodyLimit,
        jobConcurrency: o.jobs,
      });
      console.log(`trellis: serving ${t.config.home} on ${s.url} (API docs: ${s.url}/docs)${o.public ? ' [public reads]' : ''}`);
      s.ready.then(() => console.log(`trellis: ready (${t.store.listCollections().length} collections loaded)`));
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (sig: string): void => {
          if (stopping) {
            console.error(`trellis: ${sig} again; exiting now`);
            process.exit(130);
          }
          stopping = true;
          console.log(`trellis: ${sig}: shutting down (draining requests, stopping jobs, saving indexes)`);
          s.close().then(
            () => {
              console.log('trellis: stopped');
              resolve();
            },
            (err: Error) => {
              console.error(`trellis: shutdown failed: ${err.message}`);
              process.exitCode = 1;
              resolve();
            },
          );
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
