import { ApiError } from '../errors.ts';
import { parse, requireJson } from '../http.ts';
import { JobListQuery, JobParams, JobSubmitBody } from '../schemas.ts';
import type { ApiDeps, ApiRouter, JobsLike } from '../types.ts';

export function jobRoutes(r: ApiRouter, d: ApiDeps): void {
  const { need } = d;
  const jobs = (): JobsLike => {
    if (!d.jobs) throw new ApiError(503, 'JOBS_UNAVAILABLE', 'this server runs no job queue', undefined, { 'Retry-After': '60' });
    return d.jobs;
  };
  const found = async (id: string) => {
    const job = await jobs().get(id);
    if (!job) throw new ApiError(404, 'NOT_FOUND', `no job with id "${id}"`, 'id');
    return job;
  };

  r.post('/jobs', need('write'), async (ctx) => {
    requireJson(ctx);
    const body = parse(JobSubmitBody, ctx.request.body);
    const job = await jobs().submit(body.kind, body.params);
    ctx.status = 202;
    ctx.set('Location', `/v1/jobs/${job.id}`);
    ctx.body = job;
  });

  r.get('/jobs', need('write'), async (ctx) => {
    const q = parse(JobListQuery, ctx.query);
    ctx.body = { jobs: await jobs().list(q) };
  });

  r.get('/jobs/:id', need('write'), async (ctx) => {
    const { id } = parse(JobParams, ctx.params);
    ctx.body = await found(id);
  });

  r.get('/jobs/:id/result', need('write'), async (ctx) => {
    const { id } = parse(JobParams, ctx.params);
    await found(id);
    ctx.body = { id, result: await jobs().result(id) };
  });

  r.post('/jobs/:id/cancel', need('write'), async (ctx) => {
    const { id } = parse(JobParams, ctx.params);
    await found(id);
    ctx.body = await jobs().cancel(id);
  });

  r.post('/jobs/:id/retry', need('write'), async (ctx) => {
    const { id } = parse(JobParams, ctx.params);
    await found(id);
    ctx.status = 202;
    ctx.body = await jobs().retry(id);
  });
}
