import * as ort from 'onnxruntime-node';
import { AdaptiveBatcher } from './batcher.ts';
import { InferenceError } from './errors.ts';
import { checkTextGraph } from './inspect.ts';
import type { GraphSpec, Pooling } from './manifest.ts';
import { l2normalize } from './vector.ts';
import { createSession, describeGraph, type LoadedSession } from './session.ts';
import { TextTokenizer, type TokenizedText } from './tokenizer.ts';
import type { RunnerOptions } from './options.ts';

export interface TextEmbedding {
  vector: Float32Array;
  truncated: boolean;
}

/**
 * Text tower: tokenizer -> adaptive batcher -> one onnxruntime session -> pooling -> L2 normalisation.
 * Works for BERT-style graphs (input_ids, attention_mask, token_type_ids -> last_hidden_state or sentence_embedding)
 * and CLIP's text tower (input_ids -> text_embeds).
 */
export class TextRunner {
  readonly batcher: AdaptiveBatcher<TokenizedText, Float32Array>;
  private readonly inputNames: Set<string>;
  private readonly int32: boolean;

  private constructor(
    readonly label: string,
    private readonly loaded: LoadedSession,
    readonly tokenizer: TextTokenizer,
    private readonly graph: GraphSpec,
    private readonly pooling: Pooling,
    private readonly normalize: boolean,
    readonly dimension: number,
    opts: RunnerOptions,
  ) {
    this.inputNames = new Set(loaded.session.inputNames);
    this.int32 = graph.inputs.find((i) => i.name === 'input_ids')?.type === 'int32';
    this.batcher = new AdaptiveBatcher<TokenizedText, Float32Array>({
      name: `${label} text`,
      run: (items) => this.runBatch(items),
      cost: (t) => t.ids.length,
      maxBatchSize: opts.maxBatchSize,
      maxBatchTokens: opts.maxBatchTokens,
      maxLatencyMs: opts.maxLatencyMs,
      maxQueue: opts.maxQueue,
      batching: opts.batching,
      maxPaddingRatio: opts.maxPaddingRatio,
    });
  }

  static async create(
    label: string,
    dir: string,
    graph: GraphSpec,
    model: { pooling: Pooling; normalize: boolean; maxTokens: number; dimension: number },
    opts: RunnerOptions,
  ): Promise<TextRunner> {
    const loaded = await createSession(`${dir}/${graph.file}`, opts, `${label} (${graph.file})`);
    // Re-check what the session really declares: model.json could come from an older Trellis or be hand-edited.
    try {
      checkTextGraph(graph.file, describeGraph(loaded.session));
    } catch (err) {
      await loaded.session.release();
      throw err;
    }
    const tokenizer = await TextTokenizer.load(dir, { maxTokens: model.maxTokens, maxTextBytes: opts.maxTextBytes });
    return new TextRunner(label, loaded, tokenizer, graph, model.pooling, model.normalize, model.dimension, opts);
  }

  get provider(): string {
    return this.loaded.provider;
  }

  /**
   * Embed texts. Each text is validated and tokenised in the caller's turn (a bad text fails only its caller, before
   * it reaches the queue), then all of them are submitted to the shared batcher as one unit.
   */
  async embed(texts: readonly (string | Uint8Array)[], signal?: AbortSignal): Promise<TextEmbedding[]> {
    const tokenized = texts.map((t) => this.tokenizer.encode(t));
    const vectors = await this.batcher.submitMany(tokenized, signal);
    return vectors.map((vector, i) => ({ vector, truncated: tokenized[i]!.truncated }));
  }

  /** Pad to the batch's longest row, feed exactly the declared inputs, fetch only the needed output, pool. */
  private async runBatch(items: TokenizedText[]): Promise<Float32Array[]> {
    const b = items.length;
    const len = Math.max(...items.map((t) => t.ids.length));
    const make = (fill: (row: TokenizedText, j: number) => number): ort.Tensor => {
      if (this.int32) {
        const a = new Int32Array(b * len);
        items.forEach((row, i) => {
          for (let j = 0; j < len; j++) a[i * len + j] = fill(row, j);
        });
        return new ort.Tensor('int32', a, [b, len]);
      }
      const a = new BigInt64Array(b * len);
      items.forEach((row, i) => {
        for (let j = 0; j < len; j++) a[i * len + j] = BigInt(fill(row, j));
      });
      return new ort.Tensor('int64', a, [b, len]);
    };
    const pad = this.tokenizer.padId;
    const feeds: Record<string, ort.Tensor> = {};
    if (this.inputNames.has('input_ids')) feeds.input_ids = make((r, j) => (j < r.ids.length ? r.ids[j]! : pad));
    if (this.inputNames.has('attention_mask')) feeds.attention_mask = make((r, j) => (j < r.ids.length ? 1 : 0));
    if (this.inputNames.has('token_type_ids')) feeds.token_type_ids = make((r, j) => (r.typeIds && j < r.typeIds.length ? r.typeIds[j]! : 0));

    let out: ort.Tensor;
    try {
      const res = await this.loaded.session.run(feeds, [this.graph.output]);
      out = res[this.graph.output] as ort.Tensor;
    } catch (err) {
      throw new InferenceError(`${this.label}: model run failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    const data = out.data as Float32Array;
    const dims = out.dims;
    const vectors: Float32Array[] = [];
    if (this.pooling === 'pooled') {
      const d = dims[dims.length - 1]!;
      for (let i = 0; i < b; i++) vectors.push(data.slice(i * d, (i + 1) * d));
    } else {
      // Token states [b, len, h]: mean over real tokens (attention mask), or the first ([CLS]) token.
      const h = dims[2]!;
      for (let i = 0; i < b; i++) {
        const v = new Float32Array(h);
        const base = i * len * h;
        if (this.pooling === 'cls') {
          v.set(data.subarray(base, base + h));
        } else {
          const n = items[i]!.ids.length;
          for (let j = 0; j < n; j++) {
            const o = base + j * h;
            for (let k = 0; k < h; k++) v[k]! += data[o + k]!;
          }
          for (let k = 0; k < h; k++) v[k]! /= Math.max(n, 1e-9);
        }
        vectors.push(v);
      }
    }
    if (this.normalize) for (const v of vectors) l2normalize(v);
    return vectors;
  }

  async close(): Promise<void> {
    this.batcher.close();
    await this.loaded.session.release();
  }
}
