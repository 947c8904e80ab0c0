import { CancelledError, EmbedError, InferenceError, OverloadError } from './errors.ts';
import { BatcherMetricsCollector, type BatcherMetrics } from './metrics.ts';

/**
 * Adaptive batcher: one per loaded ONNX session.
 *
 * Callers submit single items; the batcher groups whatever is queued into one model run, up to `maxBatchSize` items
 * and `maxBatchTokens` padded tokens (batch size x longest item), waiting at most `maxLatencyMs` after the oldest
 * queued item arrived. Only one run is in flight per session (onnxruntime already uses every intra-op thread, so two
 * concurrent runs would only fight over cores); while it runs new items queue up and go out together right after.
 *
 * Length grouping: a batch is the oldest item plus the queued items whose cost (token count) is closest to it, so
 * short texts are not padded to the length of a long one. The oldest item always goes first, so nothing starves.
 *
 * The queue is bounded: when `maxQueue` items wait, new work is refused at once with `OverloadError`.
 */
export interface BatcherOptions<I, O> {
  /** Runs one batch; must return one output per input, in order. */
  run: (inputs: I[]) => Promise<O[]>;
  /** Cost of an item in tokens (text: token count). Images use 1. */
  cost?: (input: I) => number;
  maxBatchSize: number;
  maxLatencyMs: number;
  /** Budget of padded tokens per batch (batch size x max cost); 0 or Infinity = no budget. */
  maxBatchTokens?: number;
  maxQueue: number;
  /** false = every item runs alone, as soon as the session is free (the "batching off" baseline). */
  batching?: boolean;
  /**
   * Text batches: max padding as a fraction of real tokens (default 0.15; Infinity = no cap). On CPU a padded token
   * costs as much as a real one, and batching a MiniLM-sized model gains only 1.3-2.4x in FLOP efficiency over batch 1
   * (docs/embedding.md), so padding must stay small or it eats the gain: 0.5 measured 0.98x vs batching off on the
   * bench's mixed-length chunks, 0.15 measured 1.14-1.2x (and 1.41x -> 1.70x on query-length texts).
   */
  maxPaddingRatio?: number;
  /** Label for metrics. */
  name?: string;
}

interface Pending<I, O> {
  input: I;
  cost: number;
  enqueuedAt: number;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class AdaptiveBatcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly opts: Required<Omit<BatcherOptions<I, O>, 'cost'>> & { cost: (input: I) => number };
  private readonly metrics: BatcherMetricsCollector;
  private closed = false;
  private lastBatchSize = 0;
  private lingerArmedAt = -1;
  /** Whether costs are token counts (text), so padded-token metrics mean something. */
  private readonly tokenCost: boolean;

  constructor(options: BatcherOptions<I, O>) {
    if (!(options.maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be >= 1');
    if (!(options.maxQueue >= 1)) throw new RangeError('maxQueue must be >= 1');
    this.opts = {
      cost: options.cost ?? (() => 1),
      maxBatchTokens: options.maxBatchTokens || Infinity,
      batching: options.batching ?? true,
      name: options.name ?? 'model',
      run: options.run,
      maxBatchSize: options.batching === false ? 1 : options.maxBatchSize,
      maxLatencyMs: Math.max(0, options.maxLatencyMs),
      maxQueue: options.maxQueue,
      maxPaddingRatio: options.maxPaddingRatio ?? 0.15,
    };
    this.metrics = new BatcherMetricsCollector(this.opts.name);
    this.tokenCost = options.cost !== undefined;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  getMetrics(): BatcherMetrics {
    return this.metrics.snapshot(this.queue.length);
  }

  /** Submit one item. Rejects at once with OverloadError when the queue is full. */
  submit(input: I, signal?: AbortSignal): Promise<O> {
    return this.submitMany([input], signal).then((r) => r[0]!);
  }

  /**
   * Submit several items as one unit: all are admitted or none (so a caller never gets half its vectors before an
   * overload). They may be spread over several batches and mixed with other callers' items.
   */
  submitMany(inputs: readonly I[], signal?: AbortSignal): Promise<O[]> {
    if (this.closed) return Promise.reject(new EmbedError('CLOSED', 'the model was unloaded'));
    if (signal?.aborted) {
      this.metrics.cancelled += inputs.length;
      return Promise.reject(new CancelledError());
    }
    if (inputs.length === 0) return Promise.resolve([]);
    if (this.queue.length + inputs.length > this.opts.maxQueue) {
      this.metrics.rejectedOverload += inputs.length;
      return Promise.reject(
        new OverloadError(
          `embedding queue of ${this.opts.name} is full (${this.queue.length} waiting, limit ${this.opts.maxQueue}); retry later`,
          this.retryAfterHintMs(),
        ),
      );
    }
    this.metrics.submitted += inputs.length;
    const now = performance.now();
    const promises = inputs.map(
      (input) =>
        new Promise<O>((resolve, reject) => {
          const p: Pending<I, O> = { input, cost: Math.max(1, this.opts.cost(input)), enqueuedAt: now, resolve, reject, signal };
          if (signal) {
            p.onAbort = () => this.cancel(p);
            signal.addEventListener('abort', p.onAbort, { once: true });
          }
          this.queue.push(p);
        }),
    );
    this.maybeFlushFull();
    this.schedule();
    return Promise.all(promises);
  }

  /** Refuse queued work and stop accepting more (in-flight runs finish). */
  close(): void {
    this.closed = true;
    this.clearTimer();
    for (const p of this.queue.splice(0)) this.settle(p, () => p.reject(new EmbedError('CLOSED', 'the model was unloaded')));
  }

  private retryAfterHintMs(): number {
    const inf = this.metrics.inferenceMs.snapshot();
    const perBatch = inf.count > 0 ? inf.sum / inf.count : 50;
    return Math.max(100, Math.ceil((this.queue.length / this.opts.maxBatchSize) * perBatch));
  }

  private cancel(p: Pending<I, O>): void {
    const i = this.queue.indexOf(p);
    if (i < 0) return; // already taken into a batch: it will complete normally
    this.queue.splice(i, 1);
    this.metrics.cancelled++;
    p.reject(new CancelledError());
    if (this.queue.length === 0) this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      clearImmediate(this.timer as unknown as NodeJS.Immediate);
    }
    this.timer = null;
    this.lingerArmedAt = -1;
  }

  private settle(p: Pending<I, O>, fn: () => void): void {
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    fn();
  }

  /**
   * Decide when to dispatch. When the session is idle and the last batch held a single item (no sign of concurrent
   * load), dispatch on the next event-loop turn: callers that submitted in this turn still join, and a lone caller
   * pays no added latency (so concurrency-1 p99 stays at the unbatched p99). Under load (the last batch held several
   * items) linger up to maxLatencyMs from the oldest item's arrival for the batch to fill. While a run is in flight,
   * items simply accumulate and go out together when it ends.
   */
  private schedule(): void {
    if (this.running || this.queue.length === 0 || this.closed || this.timer) return;
    const full = this.queue.length >= this.opts.maxBatchSize || this.queuedPaddedTokensExceedBudget();
    const oldestWait = performance.now() - this.queue[0]!.enqueuedAt;
    const linger = this.opts.batching && !full && this.lastBatchSize > 1 && oldestWait < this.opts.maxLatencyMs;
    const fire = () => {
      this.timer = null;
      if (!this.running && this.queue.length > 0 && !this.closed) void this.runOne();
    };
    this.timer = linger ? setTimeout(fire, this.opts.maxLatencyMs - oldestWait) : (setImmediate(fire) as unknown as NodeJS.Timeout);
    if (linger) this.lingerArmedAt = this.queue.length;
  }

  /** Called on every submit while a linger timer is armed: dispatch early once the batch is full. */
  private maybeFlushFull(): void {
    if (!this.timer || this.running || this.lingerArmedAt < 0) return;
    if (this.queue.length >= this.opts.maxBatchSize || this.queuedPaddedTokensExceedBudget()) {
      this.clearTimer();
      this.schedule();
    }
  }

  private queuedPaddedTokensExceedBudget(): boolean {
    if (this.opts.maxBatchTokens === Infinity) return false;
    let max = 0;
    for (const p of this.queue) if (p.cost > max) max = p.cost;
    return max * this.queue.length >= this.opts.maxBatchTokens;
  }

  /** Oldest item + the queued items closest to it in cost, within size and padded-token limits. */
  private takeBatch(): Pending<I, O>[] {
    const oldest = this.queue[0]!;
    const rest = this.queue.slice(1).sort((a, b) => Math.abs(a.cost - oldest.cost) - Math.abs(b.cost - oldest.cost));
    const batch = [oldest];
    let maxCost = oldest.cost;
    let realCost = oldest.cost;
    for (const p of rest) {
      if (batch.length >= this.opts.maxBatchSize) break;
      const m = Math.max(maxCost, p.cost);
      const padded = m * (batch.length + 1);
      if (padded > this.opts.maxBatchTokens) continue;
      // Padding cap: on CPU a padded token costs as much as a real one, so never let padding exceed
      // maxPaddingRatio of the real tokens; items of other lengths wait for a batch of their own length.
      if (this.tokenCost && padded > (realCost + p.cost) * (1 + this.opts.maxPaddingRatio)) continue;
      batch.push(p);
      maxCost = m;
      realCost += p.cost;
    }
    this.lastBatchSize = batch.length;
    const taken = new Set(batch);
    const keep = this.queue.filter((p) => !taken.has(p));
    this.queue.length = 0;
    this.queue.push(...keep);
    return batch;
  }

  private async runOne(): Promise<void> {
    this.running = true;
    const batch = this.takeBatch();
    const start = performance.now();
    for (const p of batch) this.metrics.queueWaitMs.observe(start - p.enqueuedAt);
    try {
      const paddedTokens = batch.length * Math.max(...batch.map((p) => p.cost));
      await this.runAndSettle(batch, paddedTokens);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /**
   * Run a batch; if the model run fails and the batch has several items, run them one by one so one poisoned input
   * cannot fail other callers' items.
   */
  private async runAndSettle(batch: Pending<I, O>[], paddedTokens: number): Promise<void> {
    const t0 = performance.now();
    try {
      const out = await this.opts.run(batch.map((p) => p.input));
      if (out.length !== batch.length) throw new InferenceError(`model returned ${out.length} outputs for ${batch.length} inputs`);
      this.metrics.recordBatch(batch.length, this.tokenCost ? paddedTokens : 0, performance.now() - t0);
      batch.forEach((p, i) => this.settle(p, () => p.resolve(out[i]!)));
      this.metrics.completed += batch.length;
    } catch (err) {
      if (batch.length > 1) {
        for (const p of batch) await this.runAndSettle([p], p.cost);
        return;
      }
      this.metrics.failed++;
      const e = err instanceof EmbedError ? err : new InferenceError(`model run failed: ${(err as Error).message}`, { cause: err });
      this.settle(batch[0]!, () => batch[0]!.reject(e));
    }
  }
}
