import type { SearchMode } from '../store/index.ts';

/** One question to one collection. */
export interface AskRequest {
  question: string;
  /** Sources to retrieve (default 5, at most 50). */
  k?: number;
  /** Metadata filter (docs/store.md), applied at retrieval. */
  filter?: unknown;
  /** Default `hybrid` on text collections, `vector` (text-to-image) on image collections. */
  mode?: SearchMode;
  efSearch?: number;
  /** Token budget for the numbered sources (default config `rag.maxContextTokens`). */
  maxContextTokens?: number;
  /** `extractive`, `openai-compatible` or `local` (default config `rag.provider`). */
  provider?: string;
}

/** A numbered source. `n` is the number the answer's `[n]` markers refer to. */
export interface Citation {
  n: number;
  /** Chunk id. */
  id: string;
  documentId: string;
  source: string | null;
  page: number | null;
  /** Retrieval score (or the reranker's score when reranking is on). */
  score: number;
  /** The text given to the generator (the last source may be cut to fit the budget). */
  text: string;
}

export type StepName = 'retrieve' | 'rerank' | 'safety' | 'generate';

export interface Step {
  name: StepName;
  ms: number;
  [detail: string]: unknown;
}

export interface AskTimings {
  retrieveMs: number;
  rerankMs?: number;
  safetyMs?: number;
  generateMs: number;
  totalMs: number;
}

export interface AskResponse {
  /** The answer, with `[n]` markers pointing at `citations`. */
  answer: string;
  /** The sources the answer cites (by its `[n]` markers), in order of n. Empty when nothing is cited. */
  citations: Citation[];
  /** Every numbered source that was given to the generator (a superset of `citations`). */
  sources: Citation[];
  steps: Step[];
  timings: AskTimings;
  provider: string;
  /** Set when the safety gate refused the question; then nothing was generated. */
  refused?: { reason: string; score: number };
}

export type AskEvent =
  | { type: 'retrieved'; citations: Citation[] }
  | { type: 'token'; text: string }
  | { type: 'done'; response: AskResponse };

/** What a generator is given. `user` is the numbered sources and the question, ready for a chat model. */
export interface Prompt {
  system: string;
  user: string;
  question: string;
  sources: Citation[];
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** When given, the generator streams: each piece of the answer as it comes, in order; they concatenate to the result. */
  onToken?: (text: string) => void;
}

/** A text generator behind the ask pipeline. */
export interface Generator {
  readonly name: string;
  generate(prompt: Prompt, opts?: GenerateOptions): Promise<string>;
}
