/** query id -> (document id -> graded relevance). */
export type Qrels = Map<string, Map<string, number>>;

export interface RunMetrics {
  'ndcg@10': number;
  'recall@10': number;
  'recall@100': number;
  'mrr@10': number;
}

/** nDCG@k with graded gains (rel) and log2 discounts, as trec_eval/BEIR compute it. */
export function ndcgAt(ranked: string[], rel: Map<string, number>, k: number): number {
  let dcg = 0;
  for (let i = 0; i < Math.min(k, ranked.length); i++) dcg += (rel.get(ranked[i]) ?? 0) / Math.log2(i + 2);
  const ideal = [...rel.values()].filter((g) => g > 0).sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += ideal[i] / Math.log2(i + 2);
  return idcg > 0 ? dcg / idcg : 0;
}

export function recallAt(ranked: string[], rel: Map<string, number>, k: number): number {
  const relevant = [...rel.entries()].filter(([, g]) => g > 0).map(([d]) => d);
  if (relevant.length === 0) return 0;
  const top = new Set(ranked.slice(0, k));
  return relevant.filter((d) => top.has(d)).length / relevant.length;
}

export function mrrAt(ranked: string[], rel: Map<string, number>, k: number): number {
  for (let i = 0; i < Math.min(k, ranked.length); i++) if ((rel.get(ranked[i]) ?? 0) > 0) return 1 / (i + 1);
  return 0;
}

/** Mean of each metric over the queries of `ranked` that have judgements. */
export function evaluateRun(ranked: Map<string, string[]>, qrels: Qrels): RunMetrics {
  const sums: RunMetrics = { 'ndcg@10': 0, 'recall@10': 0, 'recall@100': 0, 'mrr@10': 0 };
  let n = 0;
  for (const [qid, docs] of ranked) {
    const rel = qrels.get(qid);
    if (!rel) continue;
    n++;
    sums['ndcg@10'] += ndcgAt(docs, rel, 10);
    sums['recall@10'] += recallAt(docs, rel, 10);
    sums['recall@100'] += recallAt(docs, rel, 100);
    sums['mrr@10'] += mrrAt(docs, rel, 10);
  }
  for (const key of Object.keys(sums) as (keyof RunMetrics)[]) sums[key] = n ? sums[key] / n : 0;
  return sums;
}
