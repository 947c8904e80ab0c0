import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobStore } from '../../src/jobs/index.ts';
import { openStore } from '../../src/store/index.ts';
import { cli, cliJson } from '../cli/helpers.ts';
import { rmDir, tempDir } from '../indexer/helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmDir(d);
});

describe('trellis jobs (CLI)', () => {
  it('lists, shows, cancels and retries jobs in the store', async () => {
    const home = tempDir('trellis-jobcli-');
    dirs.push(home);
    const store = openStore(join(home, 'trellis.db'));
    const jobs = new JobStore(store);
    const queued = jobs.insert('ingest', { collection: 'docs', paths: ['/x'] });
    const failed = jobs.insert('reindex', { collection: 'docs' });
    jobs.claim(failed.id, 'gone-host:1:dead');
    jobs.finish(failed.id, 'failed', { error: 'boom' });
    const orphan = jobs.insert('reindex', { collection: 'docs' });
    jobs.claim(orphan.id, 'gone-host:1:dead'); // "running" in a process that no longer exists
    store.close();

    const listed = await cliJson(home, ['jobs', 'list', '--json']);
    expect(listed.map((j: { id: string }) => j.id)).toEqual([orphan.id, failed.id, queued.id]);
    expect((await cliJson(home, ['jobs', 'list', '--json', '--state', 'failed']))[0]).toMatchObject({ id: failed.id, error: 'boom' });
    const table = await cli(home, ['jobs', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${failed.id}\\s+reindex\\s+failed`));
    expect(await cliJson(home, ['jobs', 'show', queued.id])).toMatchObject({ id: queued.id, kind: 'ingest', state: 'queued', params: { collection: 'docs' } });

    const retried = await cli(home, ['jobs', 'retry', failed.id]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(/attempt 2/);
    const refused = await cli(home, ['jobs', 'retry', queued.id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot be retried: it is queued/);

    expect((await cli(home, ['jobs', 'cancel', queued.id])).stdout).toMatch(/cancelled job/);
    expect((await cli(home, ['jobs', 'cancel', orphan.id])).stdout).toMatch(/cancelled job/); // no live owner: at once
    const missing = await cli(home, ['jobs', 'show', 'job_nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no job with id "job_nope"/);

    const after = await cliJson(home, ['jobs', 'list', '--json']);
    expect(Object.fromEntries(after.map((j: { id: string; state: string; attempts: number }) => [j.id, [j.state, j.attempts]]))).toEqual({
      [queued.id]: ['cancelled', 1],
      [failed.id]: ['queued', 2],
      [orphan.id]: ['cancelled', 1],
    });
  });
});
