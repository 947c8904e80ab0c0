import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Trellis } from '../context.ts';

/** One Prometheus registry per app (so several servers in one process do not collide). */
export function createMetrics(t: Trellis, opts: { queueDepth?: () => Promise<Record<string, number>> | Record<string, number> } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'trellis_' });

  const requestSeconds = new Histogram({
    name: 'trellis_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const embedGauge = (name: string, help: string, pick: (m: Awaited<ReturnType<Trellis['embed']['metrics']>>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['model'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const m of await t.embed.metrics()) this.set({ model: m.model }, pick(m));
      },
    });
  embedGauge('trellis_embed_queue_depth', 'items waiting in the embedding batcher queue', (m) => m.queueDepth);
  embedGauge('trellis_embed_items_submitted', 'items submitted to the embedding batcher (counter)', (m) => m.submitted);
  embedGauge('trellis_embed_items_completed', 'items embedded (counter)', (m) => m.completed);
  embedGauge('trellis_embed_rejected_overload', 'items refused because the queue was full (counter)', (m) => m.rejectedOverload);
  embedGauge('trellis_embed_batches', 'model runs (counter)', (m) => m.batches);
  embedGauge('trellis_embed_mean_batch_size', 'mean items per model run', (m) => (m.batches ? m.completed / m.batches : 0));

  new Gauge({
    name: 'trellis_embed_batch_size_runs',
    help: 'model runs by batch size (counter per size)',
    labelNames: ['model', 'size'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const m of await t.embed.metrics()) for (const [size, n] of Object.entries(m.batchSizes)) this.set({ model: m.model, size }, n);
    },
  });

  new Gauge({
    name: 'trellis_index_vectors',
    help: 'vectors stored per collection',
    labelNames: ['collection'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of t.store.listCollections()) this.set({ collection: c.name }, t.store.counts(c.name).vectors);
    },
  });
  new Gauge({
    name: 'trellis_index_documents',
    help: 'documents per collection',
    labelNames: ['collection'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of t.store.listCollections()) this.set({ collection: c.name }, t.store.counts(c.name).documents);
    },
  });
  if (opts.queueDepth) {
    const depth = opts.queueDepth;
    new Gauge({
      name: 'trellis_jobs',
      help: 'jobs by state',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const [state, n] of Object.entries(await depth())) this.set({ state }, n);
      },
    });
  }
  return { registry, requestSeconds };
}
