import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdaptiveBatcher, CancelledError, OverloadError, cosine, type EmbeddingService } from '../../src/embed/index.ts';
import { makeService, row } from './helpers.ts';

/** A batcher around a real run function that records the batches it was given (timing from a real timer). */
function recordingBatcher(opts: Partial<ConstructorParameters<typeof AdaptiveBatcher<string, number>>[0]> = {}) {
  const batches: string[][] = [];
  const b = new AdaptiveBatcher<string, number>({
    run: async (xs) => {
      batches.push([...xs]);
      await new Promise((r) => setTimeout(r, 10));
      return xs.map((x) => x.length);
    },
    cost: (x) => x.length,
    maxBatchSize: 8,
    maxLatencyMs: 5,
    maxQueue: 64,
    ...opts,
  });
  return { b, batches };
}

describe('adaptive batcher', () => {
  it('groups concurrent callers up to maxBatchSize and returns each caller its own result', async () => {
    // Costs 1..20 differ a lot; this test is about maxBatchSize, so the padding cap is lifted (tested below).
    const { b, batches } = recordingBatcher({ maxPaddingRatio: Infinity });
    const inputs = Array.from({ length: 20 }, (_, i) => 'x'.repeat(i + 1));
    const out = await Promise.all(inputs.map((x) => b.submit(x)));
    expect(out).toEqual(inputs.map((x) => x.length));
    expect(Math.max(...batches.map((x) => x.length))).toBe(8);
    expect(batches.length).toBeLessThanOrEqual(4);
    const m = b.getMetrics();
    expect(m.completed).toBe(20);
    expect(Object.values(m.batchSizes).reduce((a, c) => a + c, 0)).toBe(batches.length);
    expect(m.queueWaitMs.count).toBe(20);
    expect(m.inferenceMs.count).toBe(batches.length);
  });

  it('respects the token budget and groups by length (short texts are not padded to long ones)', async () => {
    const { b, batches } = recordingBatcher({ maxBatchTokens: 400, maxBatchSize: 32 });
    const shorts = Array.from({ length: 12 }, (_, i) => 's'.repeat(5 + (i % 3)));
    const longs = Array.from({ length: 4 }, () => 'L'.repeat(100));
    const mixed = shorts.flatMap((s, i) => (i % 3 === 0 ? [s, longs[i / 3]!] : [s]));
    await Promise.all(mixed.map((x) => b.submit(x)));
    for (const batch of batches) {
      expect(batch.length * Math.max(...batch.map((x) => x.length))).toBeLessThanOrEqual(400);
    }
    // The short texts travelled together, not alongside a 100-token one.
    const withShort = batches.filter((bb) => bb.some((x) => x.length < 10));
    expect(withShort.some((bb) => bb.length >= 8 && bb.every((x) => x.length < 10))).toBe(true);
  });

  it('caps padding at 15% of the real tokens by default (a padded token costs as much as a real one on CPU)', async () => {
    const { b, batches } = recordingBatcher({ maxBatchSize: 32 });
    // 10- and 11-token items may share a batch (+5% padding); a 20-token item may not join them (+60%).
    const xs = [...Array.from({ length: 6 }, () => 'a'.repeat(10)), ...Array.from({ length: 6 }, () => 'b'.repeat(11)), ...Array.from({ length: 4 }, () => 'c'.repeat(20))];
    await Promise.all(xs.map((x) => b.submit(x)));
    for (const batch of batches) {
      const real = batch.reduce((a, x) => a + x.length, 0);
      expect(batch.length * Math.max(...batch.map((x) => x.length))).toBeLessThanOrEqual(real * 1.15);
    }
    expect(batches.some((bb) => bb.length >= 12)).toBe(true);
  });

  it('refuses at once with OverloadError when the queue is full', async () => {
    const { b } = recordingBatcher({ maxQueue: 4, maxBatchSize: 2 });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => b.submit(`item${i}`)));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(OverloadError);
      expect((r as PromiseRejectedResult).reason.retryAfterMs).toBeGreaterThan(0);
    }
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(4);
    expect(b.getMetrics().rejectedOverload).toBe(refused.length);
  });

  it('cancels queued work through an AbortSignal; the rest still completes', async () => {
    const { b, batches } = recordingBatcher({ maxBatchSize: 1, maxLatencyMs: 0 });
    const ac = new AbortController();
    const first = b.submit('first');
    const doomed = b.submit('doomed', ac.signal);
    const after = b.submit('after');
    ac.abort();
    await expect(doomed).rejects.toBeInstanceOf(CancelledError);
    expect(await first).toBe(5);
    expect(await after).toBe(5);
    expect(batches.flat()).not.toContain('doomed');
    expect(b.getMetrics().cancelled).toBe(1);
    const pre = new AbortController();
    pre.abort();
    await expect(b.submit('late', pre.signal)).rejects.toBeInstanceOf(CancelledError);
  });

  it('a failing item inside a batch fails only its own caller', async () => {
    const b = new AdaptiveBatcher<string, string>({
      run: async (xs) => {
        if (xs.includes('poison')) throw new Error('boom');
        return xs.map((x) => x.toUpperCase());
      },
      maxBatchSize: 8,
      maxLatencyMs: 5,
      maxQueue: 64,
    });
    const r = await Promise.allSettled(['a', 'poison', 'b'].map((x) => b.submit(x)));
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((r[1] as PromiseRejectedResult).reason.code).toBe('INFERENCE_FAILED');
  });
});

describe('batching with a real model (static default)', () => {
  let on: EmbeddingService;
  let off: EmbeddingService;
  beforeAll(() => {
    on = makeService(undefined, { maxLatencyMs: 5, maxBatchSize: 32 });
    off = makeService(undefined, {}, { batching: false });
  });
  afterAll(async () => {
    await on.close();
    await off.close();
  });

  it('32 concurrent single-text callers are served in few batches, with the same vectors as unbatched runs', async () => {
    const texts = Array.from({ length: 32 }, (_, i) => `caller ${i} asks about ${['graphs', 'kernels', 'rivers', 'music'][i % 4]} and ${'more '.repeat(i % 7)}`);
    const batched = await Promise.all(texts.map((t) => on.embedTexts([t])));
    const single = await Promise.all(texts.map((t) => off.embedTexts([t])));
    batched.forEach((r, i) => expect(cosine(row(r.vectors, 256, 0), row(single[i]!.vectors, 256, 0))).toBeGreaterThan(0.99999));
    const [mOn] = (await on.model()).metrics();
    const [mOff] = (await off.model()).metrics();
    expect(mOn!.batches).toBeLessThanOrEqual(4);
    expect(mOff!.batches).toBe(32);
    expect(Object.keys(mOff!.batchSizes)).toEqual(['1']);
  });
});
