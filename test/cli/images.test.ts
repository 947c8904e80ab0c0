import { copyFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLIP_DIR, cocoImages, rmDir, tempDir, writeFiles } from '../indexer/helpers.ts';
import { cli, cliJson } from './helpers.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(rmDir));

describe('image collection through the CLI (tiny CLIP fixture, COCO-mini images)', () => {
  it('ingests images, finds an image by itself (image-to-image) and runs text-to-image', async () => {
    const home = tempDir('trellis-img-home-');
    const pics = tempDir('trellis-img-files-');
    dirs.push(home, pics);
    const images = cocoImages(8);
    mkdirSync(join(pics, 'sub'));
    images.forEach((f, i) => copyFileSync(f, join(pics, i % 2 ? 'sub' : '', basename(f))));
    writeFiles(pics, { 'caption.txt': 'a text file is not for an image collection', 'fake.jpg': 'not really a jpeg' });

    const imp = await cli(home, ['models', 'import', CLIP_DIR, '--name', 'tiny-clip']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/imported tiny-clip:\w+ \(clip/);
    const created = await cli(home, ['collections', 'create', 'pics', '--kind', 'image', '--model', 'tiny-clip']);
    expect(created.code, created.stderr).toBe(0);
    // a CLIP model is required for an image collection
    const wrong = await cli(home, ['collections', 'create', 'bad', '--kind', 'image']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/needs a CLIP model/);

    const run = await cli(home, ['ingest', pics, '-c', 'pics', '--json']);
    expect(run.code).toBe(2); // fake.jpg failed
    const s = JSON.parse(run.stdout);
    expect(s).toMatchObject({ files: 9, documents: 8, chunks: 8, ignored: 1 });
    expect(s.failed.map((f: any) => basename(f.path))).toEqual(['fake.jpg']);
    expect(s.failed[0].reason).toMatch(/not a readable image/);
    expect(await cliJson(home, ['collections', 'stats', 'pics', '--json'])).toMatchObject({ kind: 'image', documents: 8, chunks: 8, vectors: 8, indexed: 8 });

    const query = join(pics, 'sub', basename(images[3]));
    const byImage = await cliJson(home, ['search', '--image', query, '-c', 'pics', '-k', '3', '--json']);
    expect(byImage.hits).toHaveLength(3);
    expect(byImage.hits[0].source).toBe(query);
    expect(byImage.hits[0].score).toBeGreaterThan(0.999);
    expect(byImage.hits[0].metadata).toMatchObject({ type: 'image', format: 'jpeg' });
    // random weights: text-to-image only has to run and return k images of this collection
    const byText = await cliJson(home, ['search', 'a dog playing in the snow', '-c', 'pics', '-k', '5', '--json']);
    expect(byText.hits).toHaveLength(5);
    for (const h of byText.hits) expect(h.source.startsWith(pics) && h.source.endsWith('.jpg')).toBe(true);
    // a filter on image metadata applies
    const wide = await cliJson(home, ['search', '--image', query, '-c', 'pics', '-k', '8', '--json', '--filter', '{"width":{"$gte":1}}']);
    expect(wide.hits).toHaveLength(8);
  });
});
