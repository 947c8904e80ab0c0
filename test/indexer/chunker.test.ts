import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkText, validateChunking, type TextChunk } from '../../indexer/chunker.ts';
import { prose, realCounter } from './helpers.ts';

let count: (s: string) => number;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ count, close } = await realCounter());
});
afterAll(async () => {
  await close();
});

function checkInvariants(text: string, chunks: TextChunk[], chunkSize: number): void {
  let prevStart = -1;
  for (const c of chunks) {
    expect(text.slice(c.start, c.end)).toBe(c.text);
    expect(c.text.trim()).toBe(c.text);
    expect(c.text.length).toBeGreaterThan(0);
    expect(count(c.text)).toBeLessThanOrEqual(chunkSize);
    expect(c.start).toBeGreaterThan(prevStart); // always moves forward
    prevStart = c.start;
  }
}

/** Every non-space character of the text lies in some chunk. */
function checkCoverage(text: string, chunks: TextChunk[]): void {
  const covered = new Uint8Array(text.length);
  for (const c of chunks) covered.fill(1, c.start, c.end);
  for (let i = 0; i < text.length; i++) if (/\S/.test(text[i])) expect(covered[i], `char ${i} ${JSON.stringify(text.slice(i - 5, i + 5))}`).toBe(1);
}

describe('chunker (real tokenizer of the default model)', () => {
  it('empty and whitespace-only text give no chunks', () => {
    expect(chunkText('', count)).toEqual([]);
    expect(chunkText('   \n\n\t  \n', count)).toEqual([]);
  });

  it('a short text is one chunk, trimmed, with offsets into the original', () => {
    const text = '\n\n  Tomatoes need sun. Peppers need water.  \n';
    const chunks = chunkText(text, count, { chunkSize: 64, chunkOverlap: 8 });
    expect(chunks).toHaveLength(1);
    expect(chunks[0].text).toBe('Tomatoes need sun. Peppers need water.');
    expect(text.slice(chunks[0].start, chunks[0].end)).toBe(chunks[0].text);
    expect(chunks[0].tokens).toBe(count(chunks[0].text));
  });

  it.each([
    [32, 0],
    [64, 16],
    [256, 32],
  ])('respects chunk size %i (overlap %i) in model tokens, covers the text, cuts at sentence ends', (chunkSize, chunkOverlap) => {
    const text = prose(chunkSize, 40);
    const chunks = chunkText(text, count, { chunkSize, chunkOverlap });
    expect(chunks.length).toBeGreaterThan(2);
    checkInvariants(text, chunks, chunkSize);
    checkCoverage(text, chunks);
    // sentences here are shorter than a chunk, so every chunk ends at a sentence end
    for (const c of chunks) expect(c.text.endsWith('.')).toBe(true);
    // chunks are reasonably full (greedy packing): all but the last hold at least a third of the budget
    for (const c of chunks.slice(0, -1)) expect(count(c.text)).toBeGreaterThanOrEqual(chunkSize / 3);
  });

  it('overlaps neighbouring chunks by whole sentences within the overlap budget', () => {
    const text = prose(7, 30);
    const chunkOverlap = 24;
    const chunks = chunkText(text, count, { chunkSize: 64, chunkOverlap });
    let overlapped = 0;
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1];
      const cur = chunks[i];
      expect(cur.start).toBeGreaterThan(prev.start);
      if (cur.start < prev.end) {
        overlapped++;
        const shared = text.slice(cur.start, prev.end);
        expect(count(shared)).toBeLessThanOrEqual(chunkOverlap);
        // the overlap starts at a sentence start
        expect(shared[0]).toMatch(/[A-Z]/);
      }
    }
    expect(overlapped).toBeGreaterThan(chunks.length / 3);
    // no overlap when none is asked for
    const flat = chunkText(text, count, { chunkSize: 64, chunkOverlap: 0 });
    for (let i = 1; i < flat.length; i++) expect(flat[i].start).toBeGreaterThanOrEqual(flat[i - 1].end);
  });

  it('prefers paragraph boundaries once a chunk is half full', () => {
    const para = (w: string, n: number): string => Array.from({ length: n }, (_, i) => `${w} sentence number ${i} is here.`).join(' ');
    // paragraph A ~ 60% of a chunk, paragraph B ~ 60%: B must not be split across the chunk boundary
    const a = para('Alpha', 6);
    const b = para('Beta', 6);
    const c = para('Gamma', 6);
    const text = [a, b, c].join('\n\n');
    const size = Math.ceil(count(a) / 0.6);
    const chunks = chunkText(text, count, { chunkSize: size, chunkOverlap: 0 });
    checkInvariants(text, chunks, size);
    expect(chunks.map((x) => x.text)).toEqual([a, b, c]);
  });

  it('splits an over-long sentence at word boundaries', () => {
    const sentence = Array.from({ length: 400 }, (_, i) => `word${i % 10}`).join(' ') + '.';
    const text = `Short intro. ${sentence} Short outro.`;
    const chunks = chunkText(text, count, { chunkSize: 50, chunkOverlap: 5 });
    checkInvariants(text, chunks, 50);
    checkCoverage(text, chunks);
    // cuts fall between words: no chunk starts or ends inside a word
    for (const c of chunks) {
      expect(c.start === 0 || /\s/.test(text[c.start - 1])).toBe(true);
      expect(c.end === text.length || /[\s.]/.test(text[c.end]) || /\.$/.test(c.text)).toBe(true);
    }
  });

  it('splits giant "words": a long URL and a base64 blob', () => {
    const url = 'https://example.com/' + Array.from({ length: 300 }, (_, i) => `seg${i}`).join('/') + '?q=' + 'x1'.repeat(200);
    const bytes = new Uint8Array(6000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) & 0xff;
    const b64 = Buffer.from(bytes).toString('base64');
    for (const word of [url, b64]) {
      const text = `See this: ${word} and more text after it.`;
      const chunks = chunkText(text, count, { chunkSize: 64, chunkOverlap: 8 });
      expect(chunks.length).toBeGreaterThan(3);
      checkInvariants(text, chunks, 64);
      checkCoverage(text, chunks);
    }
  });

  it('splits a giant run of letters the tokenizer reads as one [UNK] token', () => {
    // WordPiece maps any word over 100 characters to a single [UNK]: by tokens alone this 200 KB "word" would be one
    // tiny chunk too large to embed (embed.maxTextBytes is 256 KiB) and useless to show.
    const blob = 'A'.repeat(200_000);
    const text = `Header line. ${blob} Footer line.`;
    const chunks = chunkText(text, count, { chunkSize: 64, chunkOverlap: 8 });
    checkInvariants(text, chunks, 64);
    checkCoverage(text, chunks);
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(64 * 32);
  });

  it('handles unicode: accents, CJK, emoji and surrogate pairs keep their offsets', () => {
    const text = [
      'Café crème brûlée à la française. Ça coûte cher. Naïve façade, déjà vu.',
      '東京は日本の首都です。大阪は大きな都市です。京都には多くの寺があります。',
      'Emoji test 🍅🌶️👩‍👩‍👧 done. Mathematical 𝒜𝒷𝒸 letters here. Ελληνικά κείμενα εδώ. Русский текст тоже.',
    ]
      .join('\n\n')
      .repeat(6);
    const chunks = chunkText(text, count, { chunkSize: 24, chunkOverlap: 4 });
    expect(chunks.length).toBeGreaterThan(6);
    checkInvariants(text, chunks, 24);
    checkCoverage(text, chunks);
    for (const c of chunks) {
      // never cuts a surrogate pair in half
      expect(/[\uD800-\uDBFF]$/.test(c.text)).toBe(false);
      expect(/^[\uDC00-\uDFFF]/.test(c.text)).toBe(false);
      expect(Buffer.from(c.text, 'utf8').toString('utf8')).toBe(c.text);
    }
  });

  it('rejects bad options', () => {
    expect(() => validateChunking({ chunkSize: 4, chunkOverlap: 0 })).toThrow(/chunk size/);
    expect(() => validateChunking({ chunkSize: 64, chunkOverlap: 64 })).toThrow(/overlap/);
    expect(() => validateChunking({ chunkSize: 64, chunkOverlap: -1 })).toThrow(/overlap/);
    expect(() => chunkText('x', count, { chunkSize: 10.5, chunkOverlap: 0 })).toThrow(/chunk size/);
  });
});
