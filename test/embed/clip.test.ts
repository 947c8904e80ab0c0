import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIP_DEFAULT_PREPROCESS, cosine, preprocessImage, type EmbeddingService } from '../../src/embed/index.ts';
import { CLIP_DIR, COCO, cocoImages, makeService, readJson, row, transformersJs } from './helpers.ts';

describe('CLIP (tiny-clip-random) matches transformers.js', () => {
  let svc: EmbeddingService;
  const ref = readJson(`${CLIP_DIR}/reference.json`);
  const D = 16;

  beforeAll(async () => {
    svc = makeService();
    await svc.registry.importDir(CLIP_DIR, { name: 'tiny-clip' });
  });
  afterAll(() => svc.close());

  it('is detected as clip with both towers and 77 max tokens', async () => {
    const m = await svc.model('tiny-clip');
    expect(m.manifest.kind).toBe('clip');
    expect(m.manifest.maxTokens).toBe(77);
    expect(m.manifest.graphs.text.inputs.map((i) => i.name)).toEqual(['input_ids']);
    expect(m.manifest.graphs.vision?.output).toBe('image_embeds');
  });

  it('text: golden token ids and cosine >= 0.999 with the recorded text_embeds', async () => {
    const m = await svc.model('tiny-clip');
    ref.text.texts.forEach((t: string, i: number) => {
      const unpadded = (ref.text.input_ids[i] as number[]).slice(0, (ref.text.attention_mask[i] as number[]).reduce((a, b) => a + b, 0));
      expect(m.text.tokenizer.encode(t).ids).toEqual(unpadded);
    });
    const r = await svc.embedTexts(ref.text.texts, { model: 'tiny-clip' });
    ref.text.texts.forEach((_: string, i: number) => expect(cosine(row(r.vectors, D, i), ref.text.text_embeds[i])).toBeGreaterThanOrEqual(0.999));
  });

  it('text over 77 tokens is cut at 77, keeping <|endoftext|> (the graph pools at it)', async () => {
    const m = await svc.model('tiny-clip');
    const e = m.text.tokenizer.encode('horse '.repeat(100));
    expect(e.ids.length).toBe(77);
    expect(e.truncated).toBe(true);
    expect(e.ids[76]).toBe(49407);
  });

  it('images: preprocessing reproduces the golden pixel values, embeddings cosine >= 0.999', async () => {
    const files: string[] = ref.image.image_files.map((f: string) => `${COCO}/${f}`);
    for (const [i, f] of files.entries()) {
      const px = await preprocessImage(readFileSync(f), CLIP_DEFAULT_PREPROCESS, 1e8);
      const golden = ref.image.per_image[i];
      for (let k = 0; k < 20; k++) expect(px[k]).toBeCloseTo(golden.first20[k], 5);
      expect(px.reduce((a, b) => a + b, 0) / px.length).toBeCloseTo(golden.mean, 5);
    }
    const r = await svc.embedImages(files.map((f) => readFileSync(f)), { model: 'tiny-clip' });
    files.forEach((_, i) => expect(cosine(row(r.vectors, D, i), ref.image.image_embeds[i])).toBeGreaterThanOrEqual(0.999));
    // The image x text cosine matrix also matches the recorded one.
    const t = await svc.embedTexts(ref.text.texts, { model: 'tiny-clip' });
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(cosine(row(r.vectors, D, i), row(t.vectors, D, j))).toBeCloseTo(ref.cosine_image_x_text[i][j], 4);
  });

  it('more COCO images against the live transformers.js processor + vision model', async () => {
    const { AutoProcessor, CLIPVisionModelWithProjection, RawImage } = await transformersJs();
    const processor = await AutoProcessor.from_pretrained('tiny-clip-random');
    const vision = await CLIPVisionModelWithProjection.from_pretrained('tiny-clip-random', { dtype: 'fp32' });
    const files = cocoImages(6);
    const images = await Promise.all(files.map((f) => RawImage.read(f)));
    const { image_embeds } = await vision(await processor(images));
    const peer = image_embeds.data as Float32Array;
    const ours = await svc.embedImages(files.map((f) => readFileSync(f)), { model: 'tiny-clip' });
    files.forEach((_, i) => expect(cosine(row(ours.vectors, D, i), row(peer, D, i))).toBeGreaterThanOrEqual(0.999));
  });

  it('a text-only model refuses images with a clear error', async () => {
    await expect(svc.embedImages([readFileSync(cocoImages(1)[0]!)])).rejects.toMatchObject({ code: 'WRONG_MODALITY' });
  });
});
