import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../eval/ann/dataset.ts';
import { DatasetError, readFvecs, readIvecs, writeFvecs, writeIvecs } from '../../eval/ann/vecs.ts';

const dir = mkdtempSync(join(tmpdir(), 'trellis-vecs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SIFT = join(import.meta.dirname, '../../../shared/data/siftsmall');

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('fvecs / ivecs', () => {
  it('round-trips floats and ints bit for bit, in the TEXMEX layout', () => {
    const f = new Float32Array([1.5, -2.25, 3e-7, 4e10, 0, -0, 7, 8, 9]);
    writeFvecs(join(dir, 'a.fvecs'), f, 3, 3);
    const bytes = readFileSync(join(dir, 'a.fvecs'));
    expect(bytes.length).toBe(3 * (4 + 12));
    expect(bytes.readInt32LE(0)).toBe(3);
    expect(bytes.readFloatLE(4)).toBe(1.5);
    expect(bytes.readInt32LE(16)).toBe(3);
    const back = readFvecs(join(dir, 'a.fvecs'));
    expect(back.rows).toBe(3);
    expect(back.dim).toBe(3);
    expect([...back.data]).toEqual([...f]);
    expect(readFvecs(join(dir, 'a.fvecs'), 2).rows).toBe(2);

    const i = new Int32Array([0, 1, -1, 2147483647, -2147483648, 42]);
    writeIvecs(join(dir, 'a.ivecs'), i, 2, 3);
    const ib = readIvecs(join(dir, 'a.ivecs'));
    expect([ib.rows, ib.dim]).toEqual([2, 3]);
    expect([...ib.data]).toEqual([...i]);
  });

  it('refuses missing, truncated, ragged and non-finite files with the file named', () => {
    const missing = thrown(() => readFvecs(join(dir, 'missing.fvecs')));
    expect(missing).toBeInstanceOf(DatasetError);
    expect(missing.message).toContain('missing.fvecs');
    expect(missing.message).toMatch(/not found/);

    writeFvecs(join(dir, 'ok.fvecs'), new Float32Array(8).fill(1), 2, 4);
    const full = readFileSync(join(dir, 'ok.fvecs'));
    writeFileSync(join(dir, 'trunc.fvecs'), full.subarray(0, full.length - 3));
    const t = thrown(() => readFvecs(join(dir, 'trunc.fvecs')));
    expect(t.message).toContain('trunc.fvecs');
    expect(t.message).toMatch(/truncated/);

    const ragged = Buffer.from(full);
    ragged.writeInt32LE(5, 20); // second row claims dimension 5
    writeFileSync(join(dir, 'ragged.fvecs'), ragged);
    expect(thrown(() => readFvecs(join(dir, 'ragged.fvecs'))).message).toMatch(/ragged\.fvecs: row 1 declares dimension 5/);

    const nan = Buffer.from(full);
    nan.writeFloatLE(NaN, 8);
    writeFileSync(join(dir, 'nan.fvecs'), nan);
    expect(thrown(() => readFvecs(join(dir, 'nan.fvecs'))).message).toMatch(/nan\.fvecs: row 0 has a non-finite value/);

    writeFileSync(join(dir, 'junk.fvecs'), Buffer.from('hello world, not vectors'));
    expect(thrown(() => readFvecs(join(dir, 'junk.fvecs'))).message).toContain('junk.fvecs');
    writeFileSync(join(dir, 'empty.ivecs'), Buffer.alloc(0));
    expect(thrown(() => readIvecs(join(dir, 'empty.ivecs'))).message).toMatch(/empty\.ivecs: too short/);
  });

  it('loads a dataset folder and checks it', () => {
    const ds = join(dir, 'ds');
    const bad = (name: string, fn: () => void, pattern: RegExp) => {
      const e = thrown(fn);
      expect(e.message, name).toMatch(pattern);
    };
    bad('no folder', () => loadDataset(ds), /ds: dataset folder not found/);
    mkdirSync(ds);
    writeFvecs(join(ds, 'base.fvecs'), new Float32Array(5 * 4).map((_, i) => i), 5, 4);
    bad('no query', () => loadDataset(ds), /query\.fvecs: file not found/);
    writeFvecs(join(ds, 'query.fvecs'), new Float32Array(3 * 2), 3, 2);
    bad('dim mismatch', () => loadDataset(ds), /query\.fvecs: dimension 2 differs from base\.fvecs \(4\)/);
    writeFvecs(join(ds, 'query.fvecs'), new Float32Array(2 * 4), 2, 4);
    bad('no groundtruth', () => loadDataset(ds), /groundtruth\.ivecs: file not found/);
    writeIvecs(join(ds, 'groundtruth.ivecs'), new Int32Array([0, 1, 2, 9]), 2, 2);
    bad('id out of range', () => loadDataset(ds), /groundtruth\.ivecs: row 1 names base id 9/);
    writeIvecs(join(ds, 'groundtruth.ivecs'), new Int32Array([0, 1, 2, 3]), 2, 2);
    writeFileSync(join(ds, 'dataset.json'), '{"metric": "manhattan"}');
    bad('bad metric', () => loadDataset(ds), /dataset\.json: unknown metric "manhattan"/);
    writeFileSync(join(ds, 'dataset.json'), '{metric');
    bad('bad json', () => loadDataset(ds), /dataset\.json: not valid JSON/);
    writeFileSync(join(ds, 'dataset.json'), '{"metric": "ip"}');
    const ok = loadDataset(ds);
    expect(ok).toMatchObject({ name: 'ds', metric: 'ip', n: 5, dim: 4, nq: 2 });
    expect(ok.groundTruth?.width).toBe(2);
    // --limit cuts the base, so the file's ground truth no longer applies.
    const cut = loadDataset(ds, { limit: 3, queries: 1 });
    expect([cut.n, cut.nq, cut.groundTruth]).toEqual([3, 1, undefined]);
    expect(cut.base.length).toBe(12);
  });

  it.skipIf(!existsSync(join(SIFT, 'base.fvecs')))('reads the shared siftsmall set', () => {
    const ds = loadDataset(SIFT, { queries: 10 });
    expect(ds).toMatchObject({ name: 'siftsmall', metric: 'l2', n: 10000, dim: 128, nq: 10 });
    expect(ds.groundTruth?.width).toBe(100);
    // SIFT values are whole numbers in [0, 180].
    expect(ds.base.every((x) => Number.isInteger(x) && x >= 0 && x <= 180)).toBe(true);
  });
});
