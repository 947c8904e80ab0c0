import { setMaxListeners } from 'node:events';
import type { Trellis } from '../context.ts';
import { StoreError, type SearchMode } from '../store/index.ts';
import { assembleContext } from './context.ts';
import { buildPrompt, citedNumbers, NO_ANSWER } from './prompt.ts';
import { createGenerator } from './providers/index.ts';
import { rerankHits } from './rerank.ts';
import { retrieve, type RetrievedHit } from './retrieve.ts';
import { checkSafety } from './safety.ts';
import { embedRows, tokenCounter } from './text.ts';
import type { AskEvent, AskRequest, AskResponse, Citation, Generator, Step } from './types.ts';

export interface AskOptions {
  signal?: AbortSignal;
  /** Use this generator instead of the one named by `req.provider` / config (tests, embedding Trellis in an app). */
  generator?: Generator;
}

export const MAX_K = 50;
export const MAX_QUESTION_CHARS = 4000;
/** What the answer says when the safety gate refuses. */
export const REFUSAL = 'I cannot help with that request.';

/**
 * Answers a question from one collection: retrieve -> (rerank) -> (safety gate) -> generate, each step timed in
 * `steps`. Invalid requests throw StoreError('INVALID_ARGUMENT'); an unknown collection StoreError('NOT_FOUND');
 * generator failures GenerationError (502/504/501). See docs/rag.md.
 */
export function ask(t: Trellis, collection: string, req: AskRequest, opts: AskOptions = {}): Promise<AskResponse> {
  return runAsk(t, collection, req, opts);
}

/**
 * The same pipeline, streamed: `{type:'retrieved', citations}` (every numbered source) first, then the answer as
 * `{type:'token', text}` pieces (they concatenate to `response.answer`), then `{type:'done', response}`. Errors are
 * thrown from the iterator; nothing runs before the first `next()`, so awaiting the first event is how a server
 * learns about a bad request before it commits to a 200 and SSE headers. Leaving the loop early aborts the pipeline.
 */
export async function* askStream(t: Trellis, collection: string, req: AskRequest, opts: AskOptions = {}): AsyncGenerator<AskEvent, void, undefined> {
  const ctl = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ctl.signal]) : ctl.signal;
  setMaxListeners(0, signal);
  const queue: AskEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failed = false;
  let error: unknown;
  const push = (e: AskEvent): void => {
    queue.push(e);
    wake?.();
  };
  const run = runAsk(t, collection, req, { ...opts, signal }, push)
    .then(
      (response) => push({ type: 'done', response }),
      (err: unknown) => {
        failed = true;
        error = err;
      },
    )
    .finally(() => {
      finished = true;
      wake?.();
    });
  try {
    for (;;) {
      if (queue.length > 0) {
        yield queue.shift()!;
        continue;
      }
      if (finished) {
        if (failed) throw error;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    if (!finished) {
      ctl.abort(new Error('ask stream closed by the consumer'));
      await run;
    }
  }
}

interface Validated {
  question: string;
  k: number;
  mode: SearchMode;
  budget: number;
  provider: string;
}

function validate(t: Trellis, kind: 'text' | 'image', req: AskRequest): Validated {
  const bad = (field: string, msg: string): never => {
    throw new StoreError('INVALID_ARGUMENT', `${field}: ${msg}`);
  };
  if (req === null || typeof req !== 'object') bad('body', 'expected an object with a question');
  if (typeof req.question !== 'string' || req.question.trim() === '') bad('question', 'must be a non-empty string');
  if (req.question.length > MAX_QUESTION_CHARS) bad('question', `at most ${MAX_QUESTION_CHARS} characters`);
  const k = req.k ?? 5;
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) bad('k', `must be an integer from 1 to ${MAX_K}`);
  const mode = req.mode ?? (kind === 'image' ? 'vector' : 'hybrid');
  if (!['vector', 'keyword', 'hybrid'].includes(mode)) bad('mode', 'must be vector, keyword or hybrid');
  const budget = req.maxContextTokens ?? t.config.rag.maxContextTokens;
  if (!Number.isInteger(budget) || budget < 32 || budget > 1_000_000) bad('maxContextTokens', 'must be an integer from 32 to 1000000');
  if (req.efSearch !== undefined && (!Number.isInteger(req.efSearch) || req.efSearch < 1)) bad('efSearch', 'must be a positive integer');
  const provider = req.provider ?? t.config.rag.provider;
  if (typeof provider !== 'string' || provider === '') bad('provider', 'must be a provider name');
  return { question: req.question.trim(), k, mode, budget, provider };
}

async function runAsk(t: Trellis, collectionName: string, req: AskRequest, opts: AskOptions, emit?: (e: AskEvent) => void): Promise<AskResponse> {
  const t0 = performance.now();
  // The embedding batcher listens on the signal once per text (the extractive generator embeds every sentence):
  // give the pipeline its own signal, following the caller's, with no listener limit.
  let signal: AbortSignal | undefined;
  if (opts.signal) {
    opts.signal.throwIfAborted();
    signal = AbortSignal.any([opts.signal]);
    setMaxListeners(0, signal);
  }
  const collection = t.store.requireCollection(collectionName);
  const v = validate(t, collection.kind, req);
  const rag = t.config.rag;
  const model = await t.modelFor(collection);
  const embedder = (texts: string[], s?: AbortSignal): Promise<Float32Array[]> => embedRows(model, texts, s ?? signal);
  const generator = opts.generator ?? createGenerator(v.provider, rag, embedder);
  const steps: Step[] = [];
  const timings: AskResponse['timings'] = { retrieveMs: 0, generateMs: 0, totalMs: 0 };
  const finish = (r: Omit<AskResponse, 'steps' | 'timings' | 'provider'>): AskResponse => {
    timings.totalMs = performance.now() - t0;
    return { ...r, steps, timings, provider: generator.name };
  };

  // 1. retrieve (the question embedding, needed by rerank and safety, is computed alongside: the batcher pairs them).
  const useRerank = rag.rerank.enabled;
  const useSafety = rag.safety.enabled;
  const candidates = useRerank ? Math.min(MAX_K, Math.max(v.k, 3 * v.k)) : v.k;
  let s = performance.now();
  const [r, qv] = await Promise.all([
    retrieve(t, collection.name, { text: v.question, k: candidates, filter: req.filter, efSearch: req.efSearch, mode: v.mode, signal }),
    useRerank || useSafety ? embedRows(model, [v.question], signal).then((x) => x[0]) : Promise.resolve(undefined),
  ]);
  timings.retrieveMs = performance.now() - s;
  steps.push({ name: 'retrieve', ms: timings.retrieveMs, mode: r.mode, k: candidates, hits: r.hits.length, embedMs: r.timings.embedMs, searchMs: r.timings.searchMs });
  let hits: RetrievedHit[] = r.hits;

  // 2. rerank (optional)
  if (useRerank) {
    s = performance.now();
    const reranked = rerankHits(t, collection.name, qv!, v.question, hits);
    hits = reranked.slice(0, v.k);
    timings.rerankMs = performance.now() - s;
    steps.push({ name: 'rerank', ms: timings.rerankMs, method: 'cosine+overlap', candidates: reranked.length, kept: hits.length });
  } else hits = hits.slice(0, v.k);

  // 3. safety gate (optional): refuses before anything is generated.
  if (useSafety) {
    s = performance.now();
    const verdict = await checkSafety(model, v.question, rag.safety.threshold, { questionVector: qv, signal });
    timings.safetyMs = performance.now() - s;
    steps.push({ name: 'safety', ms: timings.safetyMs, score: verdict.score, threshold: verdict.threshold, refused: verdict.refused, matched: verdict.matched });
    if (verdict.refused) {
      emit?.({ type: 'retrieved', citations: [] });
      emit?.({ type: 'token', text: REFUSAL });
      return finish({ answer: REFUSAL, citations: [], sources: [], refused: { reason: verdict.reason, score: verdict.score } });
    }
  }

  // 4. generate: number the sources within the token budget, prompt, generate, keep the citations the answer uses.
  s = performance.now();
  const count = tokenCounter(model);
  const ctx = assembleContext(hits, v.budget, count);
  emit?.({ type: 'retrieved', citations: ctx.sources });
  let answer: string;
  let streamed = 0;
  const onToken = emit
    ? (text: string): void => {
        streamed++;
        emit({ type: 'token', text });
      }
    : undefined;
  if (ctx.sources.length === 0) {
    answer = NO_ANSWER;
    onToken?.(NO_ANSWER);
  } else {
    answer = await generator.generate(buildPrompt(v.question, ctx.sources), { signal, onToken });
  }
  const byN = new Map(ctx.sources.map((c) => [c.n, c]));
  const cited = citedNumbers(answer).filter((n) => byN.has(n));
  const citations: Citation[] = cited.sort((a, b) => a - b).map((n) => byN.get(n)!);
  timings.generateMs = performance.now() - s;
  steps.push({
    name: 'generate',
    ms: timings.generateMs,
    provider: generator.name,
    sources: ctx.sources.length,
    contextTokens: ctx.tokens,
    budget: ctx.budget,
    truncated: ctx.truncated,
    dropped: ctx.dropped,
    cited: citations.length,
    ...(emit ? { streamedTokens: streamed } : {}),
    ...(ctx.sources.length === 0 ? { skipped: 'no sources' } : {}),
  });
  return finish({ answer, citations, sources: ctx.sources });
}
