import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf, prose, rmDir, tempDir, writeFiles } from '../indexer/helpers.ts';
import { cli, cliJson } from './helpers.ts';

let home: string;
let files: string;

beforeAll(async () => {
  home = tempDir('trellis-cli-home-');
  files = tempDir('trellis-cli-files-');
  writeFiles(files, {
    'notes/garden.txt': 'Tomatoes need full sun and steady watering. ' + prose(1, 3),
    'notes/kitchen.md': '# Kitchen Notes\n\nBasil pesto needs pine nuts and garlic.\n',
    'notes/site.html': '<html><head><title>Orchard</title></head><body><nav>NAVTEXT</nav><p>Pear trees need pollinators.</p></body></html>',
    'data/crops.jsonl': ['{"name":"rice","body":"Rice grows in flooded paddies.","year":1990}', '{"name":"maize","body":"Maize came from teosinte.","year":2010}'].join('\n'),
    'manual.pdf': await makePdf([['Manual page one about pruning shears.'], ['Manual page two about grafting knives.']], 'Tool Manual'),
  });
});
afterAll(() => {
  rmDir(home);
  rmDir(files);
});

describe('trellis CLI (spawned)', () => {
  it('collections create | list | stats --json | delete', async () => {
    const created = await cli(home, ['collections', 'create', 'empty', '--metric', 'cosine', '--m', '8']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created collection empty .*m=8/);
    const list = await cliJson<{ name: string; m: number; kind: string }[]>(home, ['collections', 'list', '--json']);
    expect(list.map((c) => [c.name, c.m, c.kind])).toEqual([['empty', 8, 'text']]);
    const stats = await cliJson(home, ['collections', 'stats', 'empty', '--json']);
    expect(stats).toMatchObject({ documents: 0, chunks: 0, vectors: 0, indexed: 0, collection: 'empty', dim: 256, metric: 'cosine' });

    const again = await cli(home, ['collections', 'create', 'empty']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    const bad = await cli(home, ['collections', 'create', 'bad name!']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/name/);

    const del = await cli(home, ['collections', 'delete', 'empty']);
    expect(del.code).toBe(0);
    expect(await cliJson(home, ['collections', 'list', '--json'])).toEqual([]);
    const gone = await cli(home, ['collections', 'stats', 'empty', '--json']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no collection named "empty"/);
    expect(gone.stdout).toBe('');
  });

  it('ingest --json prints the summary; search --json with --filter and --mode keyword/hybrid', async () => {
    const s = await cliJson(home, ['ingest', files, '-c', 'docs', '--json', '--text-field', 'body', '--id-field', 'name', '--metadata', 'team=green', 'batch=7', '--chunk-size', '64', '--chunk-overlap', '8']);
    expect(s).toMatchObject({ collection: 'docs', files: 5, documents: 6, skipped: 0, duplicates: 0, failed: [], pruned: 0 });
    expect(s.chunks).toBeGreaterThanOrEqual(6);
    const stats = await cliJson(home, ['collections', 'stats', 'docs', '--json']);
    expect(stats).toMatchObject({ documents: 6, chunks: s.chunks, vectors: s.chunks, indexed: s.chunks });

    const v = await cliJson(home, ['search', 'tomatoes sun watering', '-c', 'docs', '--json', '--k', '3']);
    expect(v.mode).toBe('vector');
    expect(v.hits.length).toBe(3);
    // (the shipped static model is weak, so only the shape and the order are checked here; keyword mode checks content)
    for (const h of v.hits) expect(h.source.startsWith(files)).toBe(true);
    for (let i = 1; i < v.hits.length; i++) expect(v.hits[i - 1].score).toBeGreaterThanOrEqual(v.hits[i].score);

    const kw = await cliJson(home, ['search', 'grafting knives', '-c', 'docs', '--json', '--mode', 'keyword', '--filter', '{"type":"pdf","page":{"$gte":2}}']);
    expect(kw.hits.map((h: any) => [h.page, h.metadata.title])).toEqual([[2, 'Tool Manual']]);

    const hy = await cliJson(home, ['search', 'paddies', '-c', 'docs', '--json', '--mode', 'hybrid', '--filter', '{"year":{"$lt":2000},"team":"green","batch":7}', '--ef', '32']);
    expect(hy.hits.length).toBe(1);
    expect(hy.hits[0]).toMatchObject({ documentId: `${join(files, 'data/crops.jsonl')}#rice`, text: 'Rice grows in flooded paddies.' });
    expect(hy.hits[0].rrf).toBeGreaterThan(0);

    const none = await cliJson(home, ['search', 'pesto', '-c', 'docs', '--json', '--filter', '{"type":{"$in":["pdf","html"]}}', '--mode', 'keyword']);
    expect(none.hits).toEqual([]);

    const human = await cli(home, ['search', 'basil pesto', '-c', 'docs', '-k', '1']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('kitchen.md');

    const rerun = await cliJson(home, ['ingest', files, '-c', 'docs', '--json', '--text-field', 'body', '--id-field', 'name', '--metadata', 'team=green', 'batch=7', '--chunk-size', '64', '--chunk-overlap', '8']);
    expect(rerun).toMatchObject({ documents: 0, chunks: 0, skipped: 6 });

    const text = await cli(home, ['ingest', files, '-c', 'docs', '--text-field', 'body']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/5 files, .*failed/);
  });

  it('errors exit non-zero with a clear message on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [['search', 'x', '-c', 'nope'], /no collection named "nope"/],
      [['search', 'x', '-c', 'docs', '--filter', '{"type": pdf}'], /--filter is not valid JSON/],
      [['search', 'x', '-c', 'docs', '--filter', '{"year":{"$regex":"19"}}'], /unknown operator "\$regex" at filter\.year/],
      [['search', '-c', 'docs'], /give either query text or --image/],
      [['search', 'x', '-c', 'docs', '--mode', 'fuzzy'], /--mode must be vector, keyword or hybrid/],
      [['ingest', join(files, 'does-not-exist'), '-c', 'fresh'], /does-not-exist does not exist/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(home, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at .*\.ts:\d+/); // a message, not a stack trace
    }
    // the failed ingest did not leave a new collection behind
    const list = await cliJson<{ name: string }[]>(home, ['collections', 'list', '--json']);
    expect(list.map((c) => c.name)).not.toContain('fresh');
  });

  it('exit code 2 when some files failed; the good ones are ingested and the bad listed', async () => {
    const dir = tempDir('trellis-cli-bad-');
    try {
      writeFiles(dir, { 'ok.txt': 'A perfectly good file.', 'bad.jsonl': '{"text":"ok"}\n{oops\n', 'bad.txt': new Uint8Array([0xff, 0xfe, 0x00, 0x41]) });
      const r = await cli(home, ['ingest', dir, '-c', 'mixed']);
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/1 documents written/);
      expect(r.stdout).toMatch(/failed: .*bad\.jsonl: .*line 2/);
      expect(r.stdout).toMatch(/failed: .*bad\.txt: .*UTF-8/);
      const j = await cli(home, ['ingest', dir, '-c', 'mixed', '--json']);
      expect(j.code).toBe(2);
      const s = JSON.parse(j.stdout);
      expect(s.failed.map((f: any) => f.path).sort()).toEqual([join(dir, 'bad.jsonl'), join(dir, 'bad.txt')]);
      expect(s.skipped).toBe(1);
    } finally {
      rmDir(dir);
    }
  });
});
