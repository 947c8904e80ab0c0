import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosine, type EmbeddingService } from '../../src/embed/index.ts';
import { BERT_DIR, makeService, readJson, row, transformersJs } from './helpers.ts';
import { VARIED_SENTENCES } from './sentences.ts';

/**
 * Trellis vs transformers.js (the peer) on the BERT fixture: same files, mean pooling + L2 norm.
 * Over-length texts: Trellis keeps the closing [SEP] (like Python tokenizers); transformers.js cuts it. The test holds
 * both to the same 0.9999 bound, so the difference has to stay that small.
 */
describe('text embeddings match transformers.js (tiny-bert-random)', () => {
  let svc: EmbeddingService;
  const ref = readJson(`${BERT_DIR}/reference.json`);

  beforeAll(async () => {
    svc = makeService();
    await svc.registry.importDir(BERT_DIR, { name: 'tiny-bert' });
  });
  afterAll(() => svc.close());

  it('golden sentences: same token ids and cosine >= 0.9999 with the recorded embeddings', async () => {
    const m = await svc.model('tiny-bert');
    ref.sentences.forEach((s: string, i: number) => expect(m.text.tokenizer.encode(s).ids).toEqual(ref.input_ids_unpadded[i]));
    const r = await svc.embedTexts(ref.sentences, { model: 'tiny-bert' });
    expect(r.dimension).toBe(32);
    for (let i = 0; i < ref.sentences.length; i++) {
      expect(cosine(row(r.vectors, 32, i), ref.embeddings[i])).toBeGreaterThanOrEqual(0.9999);
    }
  });

  it(`${VARIED_SENTENCES.length} varied sentences (long, unicode, near-empty, over max length): cosine >= 0.9999 vs the live pipeline`, async () => {
    expect(VARIED_SENTENCES.length).toBeGreaterThanOrEqual(100);
    const { pipeline } = await transformersJs();
    const extractor = await pipeline('feature-extraction', 'tiny-bert-random', { dtype: 'fp32' });
    const ours = await svc.embedTexts(VARIED_SENTENCES, { model: 'tiny-bert' });
    // Peer in batches of 8 (its own padding), so both sides exercise padded batches.
    const worst: { i: number; c: number }[] = [];
    for (let s = 0; s < VARIED_SENTENCES.length; s += 8) {
      const chunk = VARIED_SENTENCES.slice(s, s + 8);
      const peer = await extractor(chunk, { pooling: 'mean', normalize: true });
      const data = peer.data as Float32Array;
      chunk.forEach((_, j) => worst.push({ i: s + j, c: cosine(row(ours.vectors, 32, s + j), row(data, 32, j)) }));
    }
    const bad = worst.filter((w) => !(w.c >= 0.9999)).map((w) => `${w.c.toFixed(6)} ${JSON.stringify(VARIED_SENTENCES[w.i]!.slice(0, 40))}`);
    expect(bad).toEqual([]);
    // The long texts are really cut at 512 tokens, and reported as such.
    const m = await svc.model('tiny-bert');
    VARIED_SENTENCES.forEach((s, i) => expect(ours.truncated[i]).toBe(m.text.tokenizer.countTokens(s) > 512));
    expect(ours.truncated.filter(Boolean).length).toBeGreaterThanOrEqual(5);
  });

  it('a text alone and the same text inside a padded batch give the same vector', async () => {
    const a = await svc.embedTexts(['short one'], { model: 'tiny-bert' });
    const b = await svc.embedTexts(['short one', 'a considerably longer sentence that forces padding of the first row'], { model: 'tiny-bert' });
    expect(cosine(row(a.vectors, 32, 0), row(b.vectors, 32, 0))).toBeGreaterThan(0.999999);
  });
});
