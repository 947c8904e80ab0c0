/**
 * Splits text into chunks of at most `chunkSize` model tokens with about `chunkOverlap` tokens of overlap,
 * cutting at sentence ends and preferring paragraph ends. Offsets index into the original text, so a chunk
 * can always be traced back to its source.
 */
export interface ChunkOptions {
  /** Most tokens in a chunk (the embedding model's own tokens). */
  chunkSize: number;
  /** Tokens of trailing context repeated at the start of the next chunk. */
  chunkOverlap: number;
}

export interface TextChunk {
  text: string;
  start: number;
  end: number;
  /** Token count, summed over the sentences it holds (each at least one token per 32 characters, see MAX_CHARS_PER_TOKEN). */
  tokens: number;
}

/** Counts a text's content tokens (no special tokens). */
export type TokenCounter = (text: string) => number;

export const DEFAULT_CHUNKING: ChunkOptions = { chunkSize: 256, chunkOverlap: 32 };

interface Unit {
  start: number;
  end: number;
  tokens: number;
  /** First unit of a paragraph. */
  paragraphStart: boolean;
}

const sentenceSegmenter = new Intl.Segmenter('en', { granularity: 'sentence' });
const wordSegmenter = new Intl.Segmenter('en', { granularity: 'word' });

export function validateChunking(o: ChunkOptions): ChunkOptions {
  if (!Number.isInteger(o.chunkSize) || o.chunkSize < 8) throw new Error(`chunk size must be an integer of at least 8 tokens, got ${o.chunkSize}`);
  if (!Number.isInteger(o.chunkOverlap) || o.chunkOverlap < 0 || o.chunkOverlap >= o.chunkSize) {
    throw new Error(`chunk overlap must be an integer from 0 to chunk size - 1 (${o.chunkSize - 1}), got ${o.chunkOverlap}`);
  }
  return o;
}

/**
 * WordPiece reads any word over 100 characters as one [UNK] token, so by tokens alone a 200 KB run of letters (a
 * base64 blob without '+' or '/', a hex dump) would be a single "small" chunk, too large to embed or show. Each
 * piece of text therefore costs at least one token per this many characters (real text averages 4-6).
 */
const MAX_CHARS_PER_TOKEN = 32;

export function chunkText(text: string, countTokens: TokenCounter, options: ChunkOptions = DEFAULT_CHUNKING): TextChunk[] {
  const { chunkSize, chunkOverlap } = validateChunking(options);
  const count: TokenCounter = (s) => Math.max(countTokens(s), Math.ceil(s.length / MAX_CHARS_PER_TOKEN));
  const whole = trimSpan(text, 0, text.length);
  if (!whole) return [];
  // Most texts in a typical corpus (abstracts, notes, records) fit one chunk: one tokenizer pass instead of one
  // per sentence. (Profiled on SciFact: per-sentence counting was ~30 % of ingest time.)
  if (text.length <= chunkSize * MAX_CHARS_PER_TOKEN) {
    const tokens = count(text.slice(whole[0], whole[1]));
    if (tokens <= chunkSize) return [{ text: text.slice(whole[0], whole[1]), start: whole[0], end: whole[1], tokens }];
  }
  const units = toUnits(text, count, chunkSize);
  const chunks: TextChunk[] = [];
  let i = 0;
  while (i < units.length) {
    let tokens = 0;
    let j = i;
    while (j < units.length && (j === i || tokens + units[j].tokens <= chunkSize)) {
      // Prefer to end at a paragraph: once half full, stop before a paragraph that would not fit whole.
      if (j > i && units[j].paragraphStart && tokens >= chunkSize / 2 && tokens + paragraphTokens(units, j) > chunkSize) break;
      tokens += units[j].tokens;
      j++;
    }
    const start = units[i].start;
    const end = units[j - 1].end;
    chunks.push({ text: text.slice(start, end), start, end, tokens });
    if (j >= units.length) break;
    // Step back over trailing sentences that fit in the overlap, but always move forward.
    // The next chunk must still have room for the first unit not yet covered.
    let back = j;
    let overlap = 0;
    while (back - 1 > i && overlap + units[back - 1].tokens <= chunkOverlap && overlap + units[back - 1].tokens + units[j].tokens <= chunkSize) {
      back--;
      overlap += units[back].tokens;
    }
    i = back;
  }
  return chunks;
}

function paragraphTokens(units: Unit[], from: number): number {
  let t = units[from].tokens;
  for (let k = from + 1; k < units.length && !units[k].paragraphStart; k++) t += units[k].tokens;
  return t;
}

/** Sentences (trimmed, with offsets), each split further by words when longer than the chunk size. */
function toUnits(text: string, count: TokenCounter, chunkSize: number): Unit[] {
  const units: Unit[] = [];
  const paragraph = /\S[\s\S]*?(?=\n[ \t]*\n|$)/g;
  for (const p of text.matchAll(paragraph)) {
    const pStart = p.index;
    let first = true;
    for (const s of sentenceSegmenter.segment(p[0])) {
      const trimmed = trimSpan(p[0], s.index, s.index + s.segment.length);
      if (!trimmed) continue;
      const start = pStart + trimmed[0];
      const end = pStart + trimmed[1];
      const tokens = count(text.slice(start, end));
      if (tokens <= chunkSize) {
        units.push({ start, end, tokens, paragraphStart: first });
      } else {
        for (const piece of splitLong(text, start, end, count, chunkSize)) units.push({ ...piece, paragraphStart: first && piece.start === start });
      }
      first = false;
    }
  }
  return units;
}

/** Splits an over-long sentence at word boundaries into pieces of at most chunkSize tokens. */
function splitLong(text: string, start: number, end: number, count: TokenCounter, chunkSize: number): { start: number; end: number; tokens: number }[] {
  const pieces: { start: number; end: number; tokens: number }[] = [];
  const words = [...wordSegmenter.segment(text.slice(start, end))];
  let pieceStart = start;
  let pieceEnd = start;
  let tokens = 0;
  for (const w of words) {
    const wEnd = start + w.index + w.segment.length;
    const t = w.isWordLike || /\S/.test(w.segment) ? count(w.segment) : 0;
    if (tokens + t > chunkSize && pieceEnd > pieceStart) {
      const trimmed = trimSpan(text, pieceStart, pieceEnd);
      if (trimmed) pieces.push({ start: trimmed[0], end: trimmed[1], tokens });
      pieceStart = start + w.index;
      tokens = 0;
    }
    if (t > chunkSize) {
      // a single "word" longer than a chunk (a URL, a base64 blob): cut it by characters
      const step = Math.max(1, Math.floor((w.segment.length * chunkSize) / t));
      for (let c = 0; c < w.segment.length; c += step) {
        const s = start + w.index + c;
        const e = Math.min(wEnd, s + step);
        pieces.push({ start: s, end: e, tokens: count(text.slice(s, e)) });
      }
      pieceStart = wEnd;
      pieceEnd = wEnd;
      tokens = 0;
      continue;
    }
    tokens += t;
    pieceEnd = wEnd;
  }
  if (pieceEnd > pieceStart) {
    const trimmed = trimSpan(text, pieceStart, pieceEnd);
    if (trimmed) pieces.push({ start: trimmed[0], end: trimmed[1], tokens });
  }
  return pieces.filter((p) => /\S/.test(text.slice(p.start, p.end)));
}

function trimSpan(s: string, start: number, end: number): [number, number] | null {
  while (start < end && /\s/.test(s[start])) start++;
  while (end > start && /\s/.test(s[end - 1])) end--;
  return end > start ? [start, end] : null;
}
