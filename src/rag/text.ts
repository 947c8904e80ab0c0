/** Small text helpers shared by the extractive generator, the reranker and the safety gate. */
import type { EmbeddingModel } from '../embed/index.ts';

const WORD = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}]+)?/gu;

/** English function words and question words: they carry no topic. */
const STOPWORDS = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both but by ' +
    'can could did do does doing done down during each either else etc ever every few for from further get gets got had has have having he ' +
    'her here hers herself him himself his how i if in into is it its itself just let lets like may me might more most much must my myself ' +
    'need no nor not now of off on once one only or other ought our ours ourselves out over own per please rather same shall she should so ' +
    'some such tell than that the their theirs them themselves then there these they this those through thus to too under until up upon us ' +
    'use used using very via was we were what whats when where whether which while who whom whose why will with within without would yes yet ' +
    'you your yours yourself yourselves explain describe give show know want'
  ).split(' '),
);

/** A light suffix-stripping stemmer (plural/-ing/-ed/-ly), enough for term overlap between a question and sentences. */
export function stem(word: string): string {
  let w = word.toLowerCase().replace(/['’]s$/, '');
  if (w.length <= 3) return w;
  if (w.endsWith('ies') && w.length > 4) w = w.slice(0, -3) + 'y';
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  else if (w.length > 4 && w.endsWith('ly')) w = w.slice(0, -2);
  if (w.length > 4 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/** All word tokens, lower-cased. */
export function words(text: string): string[] {
  return [...text.normalize('NFC').matchAll(WORD)].map((m) => m[0].toLowerCase());
}

/** Stems of the content words (stopwords and one-letter words dropped), distinct, in order of first use. */
export function contentTerms(text: string): string[] {
  const out = new Set<string>();
  for (const w of words(text)) {
    if (STOPWORDS.has(w) || (w.length < 2 && !/\d/.test(w))) continue;
    out.add(stem(w));
  }
  return [...out];
}

export interface Sentence {
  text: string;
  /** Offset of `text` in the string it was cut from. */
  start: number;
}

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

/** Sentences (UAX #29 via Intl.Segmenter), trimmed, each an exact substring of `text`. Empty pieces are dropped. */
export function sentences(text: string): Sentence[] {
  const out: Sentence[] = [];
  for (const s of segmenter.segment(text)) {
    const lead = s.segment.length - s.segment.trimStart().length;
    const trimmed = s.segment.trim();
    if (trimmed) out.push({ text: trimmed, start: s.index + lead });
  }
  return out;
}

/** Counts tokens with the collection model's own tokenizer, without its special tokens ([CLS]/[SEP]). */
export function tokenCounter(model: EmbeddingModel): (s: string) => number {
  const tok = model.text.tokenizer;
  const specials = tok.countTokens('');
  return (s) => (s === '' ? 0 : Math.max(0, tok.countTokens(s) - specials));
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function cosineSim(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** Embeds texts with the model's text tower; one Float32Array view per text. */
export async function embedRows(model: EmbeddingModel, texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
  if (texts.length === 0) return [];
  const r = await model.embedTexts(texts, { signal });
  return texts.map((_, i) => r.vectors.subarray(i * r.dimension, (i + 1) * r.dimension));
}
