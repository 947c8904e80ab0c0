import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_NAME, cosine, type EmbeddingService } from '../../src/embed/index.ts';
import { makeService, row } from './helpers.ts';

/** The shipped default (data/models/trellis-static-wp256), registered on first use. */
describe('shipped static model', () => {
  let svc: EmbeddingService;
  beforeAll(() => {
    svc = makeService();
  });
  afterAll(() => svc.close());

  it('is registered on first use and embeds offline into unit vectors', async () => {
    const r = await svc.embedTexts(['A dog is running in the park.', 'A puppy plays on the grass.', 'The stock market fell sharply today.']);
    expect(r.model.startsWith(`${DEFAULT_MODEL_NAME}:`)).toBe(true);
    expect(r.dimension).toBe(256);
    for (let i = 0; i < 3; i++) {
      const v = row(r.vectors, 256, i);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    // SOURCE.md records these pair cosines for the same model (0.048 related, 0.015 unrelated).
    expect(cosine(row(r.vectors, 256, 0), row(r.vectors, 256, 1))).toBeCloseTo(0.048, 2);
    expect(cosine(row(r.vectors, 256, 0), row(r.vectors, 256, 2))).toBeCloseTo(0.015, 2);
    const listed = await svc.registry.list();
    expect(listed.map((m) => m.name)).toContain(DEFAULT_MODEL_NAME);
  });

  it("ignores tokenizer.json's 128-token truncation: texts up to 512 tokens count in full", async () => {
    const head = 'kernel scheduler assigns time to processes. ';
    const tail = 'The violin and the cello played music in the concert hall. ';
    const text = head.repeat(25) + tail.repeat(4); // ~ 200 + 50 tokens: the tail lies past token 128
    const [full, headOnly] = [text, head.repeat(25)];
    const r = await svc.embedTexts([full, headOnly]);
    expect(r.truncated).toEqual([false, false]);
    // If the text were cut at 128 tokens the two vectors would be identical.
    expect(cosine(row(r.vectors, 256, 0), row(r.vectors, 256, 1))).toBeLessThan(0.99);
    const m = await svc.model();
    expect(m.text.tokenizer.encode('word '.repeat(600)).ids.length).toBe(512);
    expect(m.text.tokenizer.encode('word '.repeat(600)).truncated).toBe(true);
  });
});
