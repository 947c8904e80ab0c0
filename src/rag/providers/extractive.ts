import { contentTerms, cosineSim, sentences } from '../text.ts';
import { NO_ANSWER } from '../prompt.ts';
import type { GenerateOptions, Generator, Prompt } from '../types.ts';

/** Embeds texts with the collection's model (one vector per text). */
export type Embedder = (texts: string[], signal?: AbortSignal) => Promise<ArrayLike<number>[]>;

export interface ExtractiveOptions {
  /** At most this many sentences in an answer (default 3). */
  maxSentences?: number;
  /** Sentences are considered from at most this many candidates (default 200: the first ones in source order). */
  maxCandidates?: number;
}

export interface ScoredSentence {
  n: number;
  text: string;
  start: number;
  overlap: number;
  similarity: number;
  score: number;
  terms: string[];
}

/** Weight of term overlap vs. embedding similarity in a sentence's score. */
const W_OVERLAP = 0.65;
const W_SIM = 0.35;
/** A sentence is relevant when it covers this share (idf-weighted) of the question's content words... */
const MIN_OVERLAP = 0.3;
/** ...or some of them and is this similar to the question... */
const MIN_SIM_WITH_OVERLAP = 0.45;
/** ...or, sharing no word, is this similar (near-paraphrase). */
const MIN_SIM_ALONE = 0.85;
/** Further sentences must score at least this share of the best one. */
const RELATIVE_FLOOR = 0.6;
/** Sentences with fewer words are headings or fragments, not answers. */
const MIN_WORDS = 4;
/** Longer "sentences" are usually flattened tables or lists: too long to be an answer. */
const MAX_WORDS = 60;

/**
 * The always-available generator. It writes nothing of its own: the answer is a few sentences copied verbatim from
 * the numbered sources, each followed by its [n] marker. Sentences (Intl.Segmenter) are scored by idf-weighted overlap
 * with the question's content words and by cosine similarity of their embedding (the collection's model) to the
 * question's. Below a relevance floor the answer is NO_ANSWER. Streams word-sized tokens.
 */
export class ExtractiveGenerator implements Generator {
  readonly name = 'extractive';
  private readonly maxSentences: number;
  private readonly maxCandidates: number;

  constructor(
    private readonly embed: Embedder | undefined,
    opts: ExtractiveOptions = {},
  ) {
    this.maxSentences = opts.maxSentences ?? 3;
    this.maxCandidates = opts.maxCandidates ?? 200;
  }

  async generate(prompt: Prompt, opts: GenerateOptions = {}): Promise<string> {
    const chosen = await this.select(prompt.question, prompt.sources, opts.signal);
    const answer = chosen.length === 0 ? NO_ANSWER : chosen.map((s) => `${s.text} [${s.n}]`).join(' ');
    if (opts.onToken) {
      for (const m of answer.matchAll(/\S+\s*/g)) {
        opts.signal?.throwIfAborted();
        opts.onToken(m[0]);
      }
    }
    return answer;
  }

  /** The sentences the answer is made of, in answer order (empty: nothing relevant). */
  async select(question: string, sources: Prompt['sources'], signal?: AbortSignal): Promise<ScoredSentence[]> {
    const scored = await this.score(question, sources, signal);
    const relevant = scored.filter(
      (s) => s.overlap >= MIN_OVERLAP || (s.overlap > 0 && s.similarity >= MIN_SIM_WITH_OVERLAP) || s.similarity >= MIN_SIM_ALONE,
    );
    if (relevant.length === 0) return [];
    relevant.sort((a, b) => b.score - a.score || a.n - b.n || a.start - b.start);
    const best = relevant[0];
    const picked = [best];
    for (const s of relevant.slice(1)) {
      if (picked.length >= this.maxSentences) break;
      if (s.score < RELATIVE_FLOOR * best.score) break;
      if (picked.some((p) => jaccard(p.terms, s.terms) > 0.7)) continue;
      picked.push(s);
    }
    // The best sentence leads; the others follow in reading order (source number, then position in the source).
    const rest = picked.slice(1).sort((a, b) => a.n - b.n || a.start - b.start);
    return [best, ...rest];
  }

  /** Every candidate sentence with its scores. */
  async score(question: string, sources: Prompt['sources'], signal?: AbortSignal): Promise<ScoredSentence[]> {
    const q = contentTerms(question);
    const seen = new Set<string>();
    const cands: ScoredSentence[] = [];
    for (const src of sources) {
      for (const s of sentences(src.text)) {
        if (cands.length >= this.maxCandidates) break;
        const key = s.text.toLowerCase();
        const nWords = s.text.split(/\s+/).length;
        if (seen.has(key) || nWords < MIN_WORDS || nWords > MAX_WORDS) continue;
        seen.add(key);
        cands.push({ n: src.n, text: s.text, start: s.start, overlap: 0, similarity: 0, score: 0, terms: contentTerms(s.text) });
      }
    }
    if (cands.length === 0) return [];
    // idf of each question term over the candidate sentences (smoothed): rare terms say more about relevance.
    const idf = new Map<string, number>();
    for (const term of q) {
      const df = cands.filter((c) => c.terms.includes(term)).length;
      idf.set(term, Math.log(1 + (cands.length + 1) / (df + 1)));
    }
    const total = [...idf.values()].reduce((a, b) => a + b, 0);
    let vectors: ArrayLike<number>[] | undefined;
    if (this.embed) vectors = await this.embed([question, ...cands.map((c) => c.text)], signal);
    cands.forEach((c, i) => {
      const have = new Set(c.terms);
      c.overlap = total === 0 ? 0 : q.reduce((acc, term) => acc + (have.has(term) ? idf.get(term)! : 0), 0) / total;
      c.similarity = vectors ? cosineSim(vectors[0], vectors[i + 1]) : 0;
      c.score = W_OVERLAP * c.overlap + W_SIM * Math.max(0, c.similarity);
    });
    return cands;
  }
}

function jaccard(a: string[], b: string[]): number {
  if (a.length === 0 && b.length === 0) return 1;
  const sb = new Set(b);
  const inter = a.filter((x) => sb.has(x)).length;
  return inter / (a.length + b.length - inter);
}
