/**
 * Turning arbitrary user text into a safe FTS5 MATCH expression.
 *
 * FTS5 query syntax gives meaning to `"`, `*`, `^`, `:`, `-`, `+`, `(`, `)`, `{`, `}`, and the bare words AND, OR, NOT and
 * NEAR. We never pass user text through: we cut it into word tokens (runs of letters, digits and combining marks, the
 * same characters the unicode61 tokenizer keeps) and quote each one as an FTS5 string, so every token is a literal
 * term and nothing in the input can be read as an operator.
 */

const TOKEN = /[\p{L}\p{N}\p{M}]+/gu;
/** Long queries (e.g. whole abstracts used as queries) are cut to this many distinct terms. */
export const MAX_QUERY_TERMS = 64;

export type KeywordMatch = 'any' | 'all';

/** Distinct lower-cased word tokens of `text`, at most MAX_QUERY_TERMS. */
export function queryTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const m of text.normalize('NFC').matchAll(TOKEN)) {
    seen.add(m[0].toLowerCase());
    if (seen.size >= MAX_QUERY_TERMS) break;
  }
  return [...seen];
}

/**
 * The MATCH expression for `text`: quoted terms joined by OR (`any`, BM25-style ranked retrieval, the default) or by AND
 * (`all`). Returns undefined when the text holds no word at all (then nothing can match).
 */
export function toFtsQuery(text: string, match: KeywordMatch = 'any'): string | undefined {
  const terms = queryTerms(text);
  if (terms.length === 0) return undefined;
  return terms.map((t) => `"${t}"`).join(match === 'all' ? ' AND ' : ' OR ');
}
