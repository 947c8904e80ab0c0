/**
 * Batcher metrics as plain data. Buckets are cumulative-friendly (Prometheus style) so a later issue can expose them
 * as histograms without changing how they are collected.
 */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] as const;

export interface HistogramSnapshot {
  /** Upper bounds; `counts[i]` counts observations <= bounds[i] and > bounds[i-1]; the last count is the +Inf bucket. */
  bounds: number[];
  counts: number[];
  count: number;
  sum: number;
  max: number;
}

export class Histogram {
  private readonly bounds: number[];
  private readonly counts: number[];
  private count = 0;
  private sum = 0;
  private max = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = [...bounds];
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: [...this.bounds], counts: [...this.counts], count: this.count, sum: this.sum, max: this.max };
  }
}

export interface BatcherMetrics {
  /** Model tag (name:version) and which tower (text / vision). */
  model: string;
  /** Items submitted, completed, refused for overload, cancelled while queued, failed in the model. */
  submitted: number;
  completed: number;
  rejectedOverload: number;
  cancelled: number;
  failed: number;
  batches: number;
  queueDepth: number;
  /** batchSizes[n] = number of batches that held exactly n items. */
  batchSizes: Record<number, number>;
  /** Tokens (padded: batch size x longest row) per text batch. */
  paddedTokens: HistogramSnapshot;
  queueWaitMs: HistogramSnapshot;
  inferenceMs: HistogramSnapshot;
}

const TOKEN_BUCKETS = [64, 256, 1024, 4096, 16384, 65536] as const;

export class BatcherMetricsCollector {
  submitted = 0;
  completed = 0;
  rejectedOverload = 0;
  cancelled = 0;
  failed = 0;
  batches = 0;
  readonly batchSizes = new Map<number, number>();
  readonly paddedTokens = new Histogram(TOKEN_BUCKETS);
  readonly queueWaitMs = new Histogram(LATENCY_BUCKETS_MS);
  readonly inferenceMs = new Histogram(LATENCY_BUCKETS_MS);

  constructor(readonly model: string) {}

  recordBatch(size: number, paddedTokens: number, inferenceMs: number): void {
    this.batches++;
    this.batchSizes.set(size, (this.batchSizes.get(size) ?? 0) + 1);
    if (paddedTokens > 0) this.paddedTokens.observe(paddedTokens);
    this.inferenceMs.observe(inferenceMs);
  }

  snapshot(queueDepth: number): BatcherMetrics {
    return {
      model: this.model,
      submitted: this.submitted,
      completed: this.completed,
      rejectedOverload: this.rejectedOverload,
      cancelled: this.cancelled,
      failed: this.failed,
      batches: this.batches,
      queueDepth,
      batchSizes: Object.fromEntries([...this.batchSizes.entries()].sort((a, b) => a[0] - b[0])),
      paddedTokens: this.paddedTokens.snapshot(),
      queueWaitMs: this.queueWaitMs.snapshot(),
      inferenceMs: this.inferenceMs.snapshot(),
    };
  }
}
