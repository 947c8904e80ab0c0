import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { JOB_STATES, JobStore, type Job, type JobState } from '../jobs/index.ts';
import { openHomeStore } from '../store/index.ts';
import { parseIntOption, printTable } from './shared.ts';

/** Opens only the store: jobs run inside a serving process; the CLI inspects them and changes their states. */
function withJobs<T>(program: Command, fn: (jobs: JobStore) => T): T {
  const store = openHomeStore(loadConfig({ home: program.opts<{ home?: string }>().home }));
  try {
    return fn(new JobStore(store));
  } finally {
    store.close();
  }
}

function progressText(j: Job): string {
  if (!j.progress) return '-';
  const { done, total, note } = j.progress;
  const pct = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : '';
  return `${done}/${total}${pct}${note ? ` ${note}` : ''}`;
}

/** `trellis jobs list|show|cancel|retry`. */
export function registerJobsCommands(program: Command): void {
  const cmd = program.command('jobs').description('inspect, cancel and retry durable jobs (they run inside `trellis serve`)');

  cmd
    .command('list')
    .option('--state <state>', `only jobs in this state (${JOB_STATES.join(', ')})`)
    .option('--kind <kind>', 'only jobs of this kind')
    .option('--limit <n>', 'newest n jobs', parseIntOption('--limit', 1), 50)
    .option('--json', 'print JSON')
    .description('list jobs, newest first')
    .action((o: { state?: string; kind?: string; limit: number; json?: boolean }) =>
      withJobs(program, (jobs) => {
        const all = jobs.list({ state: o.state as JobState | undefined, kind: o.kind, limit: o.limit });
        if (o.json) return console.log(JSON.stringify(all, null, 2));
        printTable(
          ['ID', 'KIND', 'STATE', 'PROGRESS', 'ATTEMPTS', 'CREATED', 'ERROR'],
          all.map((j) => [j.id, j.kind, j.state + (j.cancelRequested ? ' (cancelling)' : ''), progressText(j), String(j.attempts), j.createdAt, (j.error ?? '').slice(0, 60)]),
        );
      }),
    );

  cmd
    .command('show')
    .argument('<id>')
    .description('a job with its params, progress, result or error (JSON)')
    .action((id: string) => withJobs(program, (jobs) => console.log(JSON.stringify(jobs.require(id), null, 2))));

  cmd
    .command('cancel')
    .argument('<id>')
    .description('cancel a queued job, or ask the serving process to stop a running one')
    .action((id: string) =>
      withJobs(program, (jobs) => {
        const j = jobs.cancel(id);
        if (j.state === 'cancelled') console.log(`cancelled job ${id}`);
        else console.log(`cancellation of running job ${id} requested; the serving process stops it shortly (see \`trellis jobs show ${id}\`)`);
      }),
    );

  cmd
    .command('retry')
    .argument('<id>')
    .description('queue a failed or cancelled job again (attempts + 1); a serving process picks it up')
    .action((id: string) =>
      withJobs(program, (jobs) => {
        const j = jobs.retry(id);
        console.log(`queued job ${id} again (attempt ${j.attempts})`);
      }),
    );
}
