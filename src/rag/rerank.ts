import type { Trellis } from '../context.ts';
import type { RetrievedHit } from './retrieve.ts';
import { contentTerms, cosineSim } from './text.ts';

/** Weight of embedding cosine vs. question-term coverage in the rerank score. */
export const RERANK_WEIGHTS = { cosine: 0.7, overlap: 0.3 } as const;

export interface RerankedHit extends RetrievedHit {
  /** The score the retriever gave (hybrid RRF, BM25 or similarity); `score` is now the rerank score. */
  retrievalScore: number;
  cosine: number;
  overlap: number;
}

/**
 * A cheap, transparent reranker (no cross-encoder is available offline): each candidate's new score is
 * 0.7 * cosine(question embedding, the chunk's stored embedding) + 0.3 * the share of the question's content words
 * (light-stemmed, stopwords dropped) that occur in the chunk. Its point is to put one comparable score on hybrid
 * candidates (RRF ranks are not similarities) and to favour chunks that mention what was asked. Sorted best first.
 */
export function rerankHits(t: Trellis, collection: string, questionVector: ArrayLike<number>, question: string, hits: RetrievedHit[]): RerankedHit[] {
  if (hits.length === 0) return [];
  const dim = questionVector.length;
  const { labels, vectors } = t.store.vectorsForLabels(collection, hits.map((h) => h.label));
  const byLabel = new Map<number, Float32Array>();
  labels.forEach((l, i) => byLabel.set(l, vectors.subarray(i * dim, (i + 1) * dim)));
  const q = contentTerms(question);
  const out = hits.map((h) => {
    const v = byLabel.get(h.label);
    const cos = v ? cosineSim(questionVector, v) : 0;
    const have = new Set(contentTerms(h.text));
    const overlap = q.length === 0 ? 0 : q.filter((w) => have.has(w)).length / q.length;
    return { ...h, retrievalScore: h.score, cosine: cos, overlap, score: RERANK_WEIGHTS.cosine * cos + RERANK_WEIGHTS.overlap * overlap };
  });
  return out.sort((a, b) => b.score - a.score);
}
