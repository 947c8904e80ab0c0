import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EmbedInputError,
  EmptyInputError,
  ImageTooLargeError,
  InputTooLargeError,
  InvalidImageError,
  InvalidUtf8Error,
  ModelNotFoundError,
  type EmbeddingService,
} from '../../src/embed/index.ts';
import { CLIP_DIR, cocoImages, makeService } from './helpers.ts';

/** Patch a JPEG's SOF0 frame header to claim w x h: the header says huge, the data is tiny. */
function jpegClaiming(src: Buffer, w: number, h: number): Buffer {
  const b = Buffer.from(src);
  for (let i = 2; i < b.length - 9; ) {
    if (b[i] !== 0xff) throw new Error('bad marker');
    const marker = b[i + 1]!;
    const len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      b.writeUInt16BE(h, i + 5);
      b.writeUInt16BE(w, i + 7);
      return b;
    }
    i += 2 + len;
  }
  throw new Error('no SOF marker');
}

describe('bad input gets a clear typed error and the runner keeps serving', () => {
  let svc: EmbeddingService;
  const jpeg = readFileSync(cocoImages(1)[0]!);

  beforeAll(async () => {
    svc = makeService();
    await svc.registry.importDir(CLIP_DIR, { name: 'clip' });
  });
  afterAll(() => svc.close());

  it('texts: empty, whitespace, 1 MB, invalid UTF-8', async () => {
    await expect(svc.embedTexts([''])).rejects.toBeInstanceOf(EmptyInputError);
    await expect(svc.embedTexts([' \n\t '])).rejects.toBeInstanceOf(EmptyInputError);
    await expect(svc.embedTexts(['x'.repeat(1 << 20)])).rejects.toBeInstanceOf(InputTooLargeError);
    await expect(svc.embedTexts([Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x80])])).rejects.toBeInstanceOf(InvalidUtf8Error);
    // Valid UTF-8 bytes are fine.
    const ok = await svc.embedTexts([Buffer.from('café ☕', 'utf8')]);
    expect(ok.count).toBe(1);
  });

  it('images: non-image bytes, truncated JPEG, empty, 20000x20000 refused from the header', async () => {
    const opt = { model: 'clip' };
    await expect(svc.embedImages([Buffer.from('this is not an image at all')], opt)).rejects.toBeInstanceOf(InvalidImageError);
    await expect(svc.embedImages([jpeg.subarray(0, Math.floor(jpeg.length / 2))], opt)).rejects.toBeInstanceOf(InvalidImageError);
    await expect(svc.embedImages([new Uint8Array(0)], opt)).rejects.toBeInstanceOf(InvalidImageError);
    const huge = jpegClaiming(jpeg, 20000, 20000);
    const t0 = performance.now();
    await expect(svc.embedImages([huge], opt)).rejects.toBeInstanceOf(ImageTooLargeError);
    await expect(svc.embedImages([huge], opt)).rejects.toThrow(/20000x20000 = 400000000 pixels, above the limit/);
    expect(performance.now() - t0).toBeLessThan(2000); // refused without decoding 400 M pixels
  });

  it('unknown model tag', async () => {
    await expect(svc.embedTexts(['hi'], { model: 'no-such-model:v1' })).rejects.toBeInstanceOf(ModelNotFoundError);
  });

  it('bad inputs mixed with concurrent good callers: only the bad calls fail', async () => {
    const bad: Promise<unknown>[] = [];
    const good: Promise<{ count: number }>[] = [];
    for (let i = 0; i < 20; i++) {
      good.push(svc.embedTexts([`good caller number ${i}`], { model: 'clip' }));
      if (i % 4 === 0) bad.push(svc.embedTexts([i % 8 === 0 ? '' : Buffer.from([0xc3, 0x28])], { model: 'clip' }));
      if (i % 5 === 0) bad.push(svc.embedImages([Buffer.from('garbage')], { model: 'clip' }));
      if (i % 6 === 0) good.push(svc.embedImages([jpeg], { model: 'clip' }));
    }
    const badResults = await Promise.allSettled(bad);
    expect(badResults.every((r) => r.status === 'rejected' && r.reason instanceof EmbedInputError)).toBe(true);
    const goodResults = await Promise.all(good);
    expect(goodResults.every((r) => r.count === 1)).toBe(true);
    const m = await svc.model('clip');
    expect(m.metrics().every((x) => x.failed === 0)).toBe(true);
  });
});
