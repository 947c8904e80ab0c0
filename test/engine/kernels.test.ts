import { describe, expect, it } from 'vitest';
import { HnswIndex, wasmKernelsAvailable } from '../../src/engine/index.ts';
import { clustered } from '../helpers/siftsmall.ts';

// The kernels are reached through the index: a 1-NN search over a handful of vectors returns the kernel's
// distance for the nearest one, and an exact scan (filter) returns every distance, which we compare to a
// float64 reference computed here.
function distancesVia(kernels: 'wasm' | 'js', metric: 'l2' | 'ip', dim: number, rows: Float32Array, q: Float32Array): Map<number, number> {
  const n = rows.length / dim;
  const idx = new HnswIndex({ dim, metric, kernels });
  for (let i = 0; i < n; i++) idx.add(i, rows.subarray(i * dim, (i + 1) * dim));
  const all = { size: n, has: () => true };
  const r = idx.search(q, n, { filter: all });
  return new Map(Array.from(r.labels, (l, i) => [l, r.distances[i]]));
}

function reference(metric: 'l2' | 'ip', a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += metric === 'l2' ? (a[i] - b[i]) ** 2 : a[i] * b[i];
  return metric === 'l2' ? s : 1 - s;
}

describe('distance kernels', () => {
  it('the SIMD kernels are built and valid on this runtime', () => {
    expect(wasmKernelsAvailable()).toBe(true);
    expect(new HnswIndex({ dim: 4, metric: 'l2' }).kernels).toBe('wasm-simd');
    expect(new HnswIndex({ dim: 4, metric: 'l2', kernels: 'js' }).kernels).toBe('js');
  });

  for (const dim of [1, 3, 4, 7, 15, 16, 17, 33, 128, 384]) {
    for (const metric of ['l2', 'ip'] as const) {
      it(`${metric} at dim ${dim}: wasm and js agree with a float64 reference within 1e-5 relative`, () => {
        const rows = clustered(24, dim, dim * 7 + 1);
        const q = clustered(1, dim, dim * 13 + 5);
        for (const kernels of ['wasm', 'js'] as const) {
          const got = distancesVia(kernels, metric, dim, rows, q);
          expect(got.size).toBe(24);
          for (let i = 0; i < 24; i++) {
            const want = reference(metric, q, rows.subarray(i * dim, (i + 1) * dim));
            const have = got.get(i)!;
            // relative to the magnitude of the terms, so a dot product near zero is not held to 1e-5 of ~0
            let scale = 0;
            for (let j = 0; j < dim; j++) scale += metric === 'l2' ? (q[j] - rows[i * dim + j]) ** 2 : Math.abs(q[j] * rows[i * dim + j]);
            expect(Math.abs(have - want)).toBeLessThanOrEqual(1e-5 * Math.max(scale, 1));
          }
        }
      });
    }
  }
});
