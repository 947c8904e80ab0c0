import type { RetrievedHit } from './retrieve.ts';
import { sentences } from './text.ts';
import type { Citation } from './types.ts';

/** The header line of a numbered source as the generator sees it: `[2] docs/guide.md (p. 3)`. */
export function sourceHeader(c: Pick<Citation, 'n' | 'source' | 'page' | 'id'>): string {
  return `[${c.n}] ${c.source ?? c.id}${c.page ? ` (p. ${c.page})` : ''}`;
}

export function renderSource(c: Citation): string {
  return `${sourceHeader(c)}\n${c.text}`;
}

/** The numbered sources block that goes into the prompt. */
export function renderSources(cs: Citation[]): string {
  return cs.map(renderSource).join('\n\n');
}

export interface AssembledContext {
  sources: Citation[];
  /** Tokens of `renderSources(sources)`, always <= budget. */
  tokens: number;
  budget: number;
  /** The last source was cut to fit. */
  truncated: boolean;
  /** Hits left out entirely for lack of budget. */
  dropped: number;
}

/** A source shorter than this many tokens of text after cutting is not worth including. */
const MIN_SOURCE_TOKENS = 8;

/**
 * Numbers the hits 1..n in order and keeps as many as fit in `budget` tokens (counted with `count`, the collection
 * model's tokenizer, over the rendered block, headers and separators included). The first source that does not fit
 * whole is cut at the last sentence end that fits (or, when not even one sentence fits, the last word end), and
 * nothing after it is included. The rendered block never exceeds the budget.
 */
export function assembleContext(hits: RetrievedHit[], budget: number, count: (s: string) => number): AssembledContext {
  const out: Citation[] = [];
  let used = 0;
  let truncated = false;
  const sep = count('\n\n');
  for (const h of hits) {
    const c: Citation = { n: out.length + 1, id: h.id, documentId: h.documentId, source: h.source, page: h.page, score: h.score, text: h.text.trim() };
    const extra = out.length > 0 ? sep : 0;
    const full = count(renderSource(c)) + extra;
    if (used + full <= budget) {
      out.push(c);
      used += full;
      continue;
    }
    const room = budget - used - extra - count(sourceHeader(c) + '\n');
    if (room >= MIN_SOURCE_TOKENS) {
      const cut = cutToFit(c.text, room, count);
      if (cut && count(cut) >= MIN_SOURCE_TOKENS) {
        c.text = cut;
        out.push(c);
        truncated = true;
      }
    }
    break;
  }
  // Token counts of joined pieces add up for WordPiece/BPE (whitespace makes no tokens), but check the real thing anyway.
  let tokens = count(renderSources(out));
  while (tokens > budget && out.length > 0) {
    const last = out[out.length - 1];
    const shorter = cutToFit(last.text, Math.max(0, count(last.text) - (tokens - budget) - 1), count);
    if (shorter && shorter.length < last.text.length && count(shorter) >= MIN_SOURCE_TOKENS) {
      last.text = shorter;
      truncated = true;
    } else out.pop();
    tokens = count(renderSources(out));
  }
  return { sources: out, tokens, budget, truncated, dropped: hits.length - out.length };
}

/** The longest prefix of `text` that ends at a sentence end (else a word end) and has at most `room` tokens. */
export function cutToFit(text: string, room: number, count: (s: string) => number): string | undefined {
  if (room <= 0) return undefined;
  const sentenceEnds = sentences(text).map((s) => s.start + s.text.length);
  const best = longestFitting(text, sentenceEnds, room, count);
  if (best !== undefined) return best;
  const wordEnds = [...text.matchAll(/\S+/g)].map((m) => m.index! + m[0].length);
  return longestFitting(text, wordEnds, room, count);
}

function longestFitting(text: string, ends: number[], room: number, count: (s: string) => number): string | undefined {
  let lo = 0;
  let hi = ends.length - 1;
  let found: string | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const piece = text.slice(0, ends[mid]).trimEnd();
    if (count(piece) <= room) {
      found = piece;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
