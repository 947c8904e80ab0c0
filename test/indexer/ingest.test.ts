import { readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chunkText } from '../../indexer/chunker.ts';
import { ingest, tokenCounter } from '../../indexer/ingest.ts';
import type { Trellis } from '../../src/context.ts';
import { retrieve } from '../../src/rag/retrieve.ts';
import { cocoImages, makePdf, openTemp, prose, rmDir, tempDir, writeFiles } from './helpers.ts';

const open: Trellis[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const d of dirs.splice(0)) rmDir(d);
});

async function setup(collection = 'docs'): Promise<{ t: Trellis; dir: string }> {
  const home = tempDir('trellis-home-');
  const dir = tempDir('trellis-files-');
  dirs.push(home, dir);
  const t = openTemp(home);
  open.push(t);
  const model = await t.embed.model(t.config.embed.defaultTextModel);
  await t.indexes.createCollection({ name: collection, model: model.tag, dim: model.dimension });
  return { t, dir };
}

async function mixedCorpus(dir: string): Promise<void> {
  const files: Record<string, string | Uint8Array> = {};
  for (let i = 0; i < 12; i++) files[`txt/note${String(i).padStart(2, '0')}.txt`] = prose(100 + i, 3 + (i % 5));
  files['guide.md'] = '# Gardening Guide\n\nTomatoes like *full* sun.\n\n## Water\n\nPeppers need regular watering.\n';
  files['page.html'] = '<html><head><title>Orchard Page</title><script>evil()</script></head><body><nav>MENU</nav><p>Apple trees bloom in spring.</p></body></html>';
  files['records.jsonl'] = [
    { id: 'r1', text: 'Quinoa grows at altitude.', year: 1999, crop: 'quinoa' },
    { id: 'r2', text: 'Barley is an ancient grain.', year: 2005, crop: 'barley' },
    { id: 'r3', text: 'Sorghum tolerates drought.', year: 2012, crop: 'sorghum' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n');
  files['table.csv'] = 'id,body,region\n1,Rice paddies flood in summer.,asia\n2,Maize was domesticated in Mexico.,americas\n';
  files['book.pdf'] = await makePdf([['Chapter one on soil acidity.'], ['Chapter two on compost heaps.'], ['Chapter three on crop rotation.']], 'Soil Book');
  writeFiles(dir, files);
}

describe('ingest pipeline (real model, real SQLite)', () => {
  it('ingests a mixed folder; counts and stats agree; a rerun skips everything and embeds nothing', async () => {
    const { t, dir } = await setup();
    await mixedCorpus(dir);
    writeFiles(dir, { '.hidden/secret.txt': 'hidden file', 'photo.jpg': readFileSync(cocoImages(1)[0]), 'notes.docx': 'unsupported' });
    const progress: number[] = [];
    const s = await ingest(t, { collection: 'docs', paths: [dir], concurrency: 3, onProgress: (p) => progress.push(p.filesDone) });
    expect(s.failed).toEqual([]);
    expect(s.files).toBe(17); // 12 txt + md + html + jsonl + csv + pdf; hidden, .docx and the image are not taken
    expect(s.ignored).toBe(1); // the image, in a text collection
    expect(s.documents).toBe(12 + 1 + 1 + 3 + 2 + 1);
    expect(s.skipped).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(progress.at(-1)).toBe(17);
    const stats = await t.indexes.stats('docs');
    expect(stats).toEqual({ documents: s.documents, chunks: s.chunks, vectors: s.chunks, indexed: s.chunks });
    expect(s.chunks).toBeGreaterThan(s.documents); // the longer notes need several chunks at the default size
    const runs = t.store.listIngestRuns('docs', {});
    expect(runs.map((r) => r.status)).toEqual(['done']);

    const again = await ingest(t, { collection: 'docs', paths: [dir] });
    expect(again.documents).toBe(0);
    expect(again.chunks).toBe(0);
    expect(again.skipped).toBe(s.documents);
    expect(again.embedSeconds).toBe(0);
    expect(again.seconds).toBeLessThan(5);
    expect(await t.indexes.stats('docs')).toEqual(stats);
  });

  it('chunks each text with the model tokenizer and the chunking options; offsets point into the loaded text', async () => {
    const { t, dir } = await setup();
    const text = prose(5, 12);
    writeFiles(dir, { 'long.txt': text });
    const s = await ingest(t, { collection: 'docs', paths: [dir], chunking: { chunkSize: 48, chunkOverlap: 8 } });
    const count = tokenCounter(await t.modelFor('docs'));
    const expected = chunkText(text, count, { chunkSize: 48, chunkOverlap: 8 });
    const stored = t.store.listChunks('docs', join(dir, 'long.txt'));
    expect(s.chunks).toBe(expected.length);
    expect(stored.map((c) => [c.text, c.start, c.end])).toEqual(expected.map((c) => [c.text, c.start, c.end]));
    await expect(ingest(t, { collection: 'docs', paths: [dir], chunking: { chunkSize: 48, chunkOverlap: 48 } })).rejects.toThrow(/overlap/);
  });

  it('a changed file replaces its chunks: the old text is gone from search, the new one found', async () => {
    const { t, dir } = await setup();
    const file = join(dir, 'animals.txt');
    writeFiles(dir, { 'animals.txt': 'The zebra grazes on the savanna. ' + prose(1, 8), 'other.txt': prose(2, 2) });
    await ingest(t, { collection: 'docs', paths: [dir], chunking: { chunkSize: 32, chunkOverlap: 0 } });
    expect((await retrieve(t, 'docs', { text: 'zebra', k: 5, mode: 'keyword' })).hits.map((h) => h.documentId)).toEqual([file]);
    const before = await t.indexes.stats('docs');

    const newText = 'The giraffe browses acacia leaves. Short now.';
    writeFileSync(file, newText);
    const s = await ingest(t, { collection: 'docs', paths: [dir], chunking: { chunkSize: 32, chunkOverlap: 0 } });
    expect(s).toMatchObject({ documents: 1, skipped: 1, chunks: 1 });
    expect((await retrieve(t, 'docs', { text: 'zebra', k: 5, mode: 'keyword' })).hits).toEqual([]);
    const hits = (await retrieve(t, 'docs', { text: 'giraffe acacia', k: 1, mode: 'hybrid' })).hits;
    expect(hits[0].documentId).toBe(file);
    expect(hits[0].text).toBe(newText);
    const chunks = t.store.listChunks('docs', file);
    expect(chunks.map((c) => c.text)).toEqual([newText]);
    const after = await t.indexes.stats('docs');
    const otherChunks = t.store.listChunks('docs', join(dir, 'other.txt')).length;
    expect(after).toEqual({ documents: 2, chunks: 1 + otherChunks, vectors: 1 + otherChunks, indexed: 1 + otherChunks });
    expect(before.chunks).toBeGreaterThan(after.chunks);
    // the vector index no longer returns the old chunks
    const vec = await retrieve(t, 'docs', { text: 'zebra savanna', k: 50 });
    expect(vec.hits.every((h) => !h.text.includes('zebra'))).toBe(true);
  });

  it('a changed file whose new content copies another file drops its old content', async () => {
    const { t, dir } = await setup();
    writeFiles(dir, { 'a.txt': 'Alpha content stays.', 'b.txt': 'Bravo content will vanish.' });
    await ingest(t, { collection: 'docs', paths: [dir] });
    writeFileSync(join(dir, 'b.txt'), 'Alpha content stays.');
    const s = await ingest(t, { collection: 'docs', paths: [dir] });
    expect(s).toMatchObject({ documents: 0, duplicates: 1, skipped: 1 });
    expect((await retrieve(t, 'docs', { text: 'bravo vanish', k: 5, mode: 'keyword' })).hits).toEqual([]);
    expect(await t.indexes.stats('docs')).toEqual({ documents: 1, chunks: 1, vectors: 1, indexed: 1 });
  });

  it('records removed from a changed jsonl/csv file are removed; unchanged records are skipped', async () => {
    const { t, dir } = await setup();
    const rows = (ids: string[]): string => ids.map((id) => JSON.stringify({ id, text: `Record ${id} mentions the word ${id}zz.` })).join('\n');
    writeFiles(dir, { 'r.jsonl': rows(['a', 'b', 'c']), 't.csv': 'id,text\n1,one row\n2,two row\n' });
    const first = await ingest(t, { collection: 'docs', paths: [dir], loader: { idField: 'id' } });
    expect(first.documents).toBe(5);
    writeFiles(dir, { 'r.jsonl': rows(['a', 'c', 'd']) });
    const s = await ingest(t, { collection: 'docs', paths: [dir], loader: { idField: 'id' } });
    expect(s).toMatchObject({ documents: 1, skipped: 4, pruned: 1 });
    expect((await retrieve(t, 'docs', { text: 'bzz', k: 5, mode: 'keyword' })).hits).toEqual([]);
    expect((await retrieve(t, 'docs', { text: 'dzz', k: 5, mode: 'keyword' })).hits.map((h) => h.documentId)).toEqual([`${join(dir, 'r.jsonl')}#d`]);
    expect(await t.indexes.stats('docs')).toEqual({ documents: 5, chunks: 5, vectors: 5, indexed: 5 });
  });

  it('an unchanged file that was touched (new mtime, same bytes) is skipped', async () => {
    const { t, dir } = await setup();
    writeFiles(dir, { 'a.txt': 'Same content forever.' });
    await ingest(t, { collection: 'docs', paths: [dir] });
    utimesSync(join(dir, 'a.txt'), new Date(), new Date(Date.now() + 60_000));
    expect(await ingest(t, { collection: 'docs', paths: [dir] })).toMatchObject({ documents: 0, skipped: 1 });
  });

  it('--prune removes documents of deleted files, only under the given roots', async () => {
    const { t, dir } = await setup();
    writeFiles(dir, {
      'a/keep.txt': 'Keep me around.',
      'a/gone.txt': 'Delete me soon.',
      'a/rows.jsonl': '{"text":"row one"}\n{"text":"row two"}\n',
      'b/gone-too.txt': 'Deleted outside the pruned root.',
    });
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await ingest(t, { collection: 'docs', paths: [a, b] });
    expect((await t.indexes.stats('docs')).documents).toBe(5);
    rmSync(join(a, 'gone.txt'));
    rmSync(join(a, 'rows.jsonl'));
    rmSync(join(b, 'gone-too.txt'));
    // without --prune nothing is removed
    expect((await ingest(t, { collection: 'docs', paths: [a] })).pruned).toBe(0);
    expect((await t.indexes.stats('docs')).documents).toBe(5);
    const s = await ingest(t, { collection: 'docs', paths: [a], prune: true });
    expect(s.pruned).toBe(3);
    const sources = t.store.listSources('docs').map((x) => x.source);
    expect(sources.sort()).toEqual([join(a, 'keep.txt'), join(b, 'gone-too.txt')].sort());
    const st = await t.indexes.stats('docs');
    expect(st).toEqual({ documents: 2, chunks: 2, vectors: 2, indexed: 2 });
    expect((await retrieve(t, 'docs', { text: 'soon', k: 5, mode: 'keyword' })).hits).toEqual([]);
    // a root that is a prefix of another folder's name does not prune that folder ("a" vs "a2")
    writeFiles(dir, { 'a2/x.txt': 'Sibling folder file.' });
    await ingest(t, { collection: 'docs', paths: [join(dir, 'a2')] });
    rmSync(join(dir, 'a2/x.txt'));
    expect((await ingest(t, { collection: 'docs', paths: [a], prune: true })).pruned).toBe(0);
  });

  it('identical content in several files is stored once, also with files in flight at once', async () => {
    const { t, dir } = await setup();
    const same = 'Exactly the same words in every copy. ' + prose(9, 2);
    const files: Record<string, string> = { 'unique.txt': 'Something else entirely.' };
    for (let i = 0; i < 8; i++) files[`copy${i}.txt`] = same;
    writeFiles(dir, files);
    const s = await ingest(t, { collection: 'docs', paths: [dir], concurrency: 4 });
    expect(s).toMatchObject({ files: 9, documents: 2, duplicates: 7, failed: [] });
    expect((await t.indexes.stats('docs')).documents).toBe(2);
    const hits = (await retrieve(t, 'docs', { text: 'exactly the same words', k: 10, mode: 'keyword' })).hits;
    expect(new Set(hits.map((h) => h.documentId)).size).toBe(1);
    // rerun: nothing written, the copies are still recognised as duplicates
    const again = await ingest(t, { collection: 'docs', paths: [dir], concurrency: 4 });
    expect(again).toMatchObject({ documents: 0, chunks: 0 });
    expect(again.skipped + again.duplicates).toBe(9);
  });

  it('one bad file is reported in failed and the rest still ingest', async () => {
    const { t, dir } = await setup();
    writeFiles(dir, {
      'good1.txt': 'Good file one.',
      'good2.md': '# Good\n\nGood file two.',
      'bad.jsonl': '{"text":"fine"}\nnot json at all\n',
      'latin1.txt': new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]),
      'broken.pdf': 'not a pdf',
      'nofield.csv': 'a,b\n1,2\n',
    });
    const s = await ingest(t, { collection: 'docs', paths: [dir] });
    expect(s.documents).toBe(2);
    expect(s.failed.map((f) => f.path).sort()).toEqual(['bad.jsonl', 'broken.pdf', 'latin1.txt', 'nofield.csv'].map((f) => join(dir, f)).sort());
    const reason = (name: string): string => s.failed.find((f) => f.path.endsWith(name))!.reason;
    expect(reason('bad.jsonl')).toMatch(/line 2/);
    expect(reason('latin1.txt')).toMatch(/UTF-8/);
    expect(reason('nofield.csv')).toMatch(/record 1.*text field/);
    const files = t.store.listIngestFiles(s.runId, { state: 'failed' });
    expect(files.map((f) => f.path).sort()).toEqual(s.failed.map((f) => f.path).sort());
    // a rerun retries the failed files (and they still fail), the good ones are skipped
    const again = await ingest(t, { collection: 'docs', paths: [dir] });
    expect(again).toMatchObject({ documents: 0, skipped: 2 });
    expect(again.failed).toHaveLength(4);
  });

  it('a missing path is refused before anything is written', async () => {
    const { t, dir } = await setup();
    await expect(ingest(t, { collection: 'docs', paths: [join(dir, 'nope')] })).rejects.toThrow(/does not exist/);
    await expect(ingest(t, { collection: 'nope', paths: [dir] })).rejects.toThrow(/nope/);
  });

  it('stores metadata (source, type, title, page, mtime, --metadata, json/csv fields), filterable in every mode', async () => {
    const { t, dir } = await setup();
    await mixedCorpus(dir);
    const s = await ingest(t, { collection: 'docs', paths: [dir], metadata: { team: 'agri', batch: 2020, reviewed: true }, loader: { idField: 'id' } });
    expect(s.failed).toEqual([]);
    const pdfPath = join(dir, 'book.pdf');

    const pdfHits = (await retrieve(t, 'docs', { text: 'compost heaps', k: 10, filter: { type: 'pdf' } })).hits;
    expect(pdfHits.length).toBe(3);
    expect(pdfHits.every((h) => h.source === pdfPath && h.metadata.title === 'Soil Book')).toBe(true);
    expect(pdfHits.map((h) => h.page).sort()).toEqual([1, 2, 3]);
    const page2 = (await retrieve(t, 'docs', { text: 'chapter', k: 10, filter: { type: 'pdf', page: { $gte: 2 } }, mode: 'keyword' })).hits;
    expect(page2.map((h) => h.page).sort()).toEqual([2, 3]);
    expect(page2.find((h) => h.page === 2)!.text).toContain('compost');

    const md = (await retrieve(t, 'docs', { text: 'tomatoes', k: 3, filter: { type: 'md' } })).hits[0];
    expect(md.metadata).toMatchObject({ type: 'md', title: 'Gardening Guide', source: join(dir, 'guide.md'), team: 'agri', batch: 2020, reviewed: true });
    expect(typeof md.metadata.mtime).toBe('number');
    expect(Math.abs((md.metadata.mtime as number) - Date.now())).toBeLessThan(10 * 60_000);
    const html = (await retrieve(t, 'docs', { text: 'apple', k: 3, filter: { title: 'Orchard Page' } })).hits;
    expect(html).toHaveLength(1);
    expect(html[0].text).not.toMatch(/MENU|evil/);

    // json fields: typed numbers filter with $gt; --id-field names the record
    const recent = (await retrieve(t, 'docs', { text: 'grain crop', k: 10, filter: { type: 'jsonl', year: { $gt: 2000 } } })).hits;
    expect(recent.map((h) => h.metadata.crop).sort()).toEqual(['barley', 'sorghum']);
    expect(recent.map((h) => h.documentId).sort()).toEqual([`${join(dir, 'records.jsonl')}#r2`, `${join(dir, 'records.jsonl')}#r3`]);
    const csv = (await retrieve(t, 'docs', { text: 'rice', k: 10, filter: { region: { $in: ['asia'] } }, mode: 'hybrid' })).hits;
    expect(csv).toHaveLength(1);
    expect(csv[0].text).toBe('Rice paddies flood in summer.');
    expect(csv[0].metadata).toMatchObject({ type: 'csv', region: 'asia', team: 'agri' });

    // --metadata values are typed: numbers and booleans filter as such
    const all = await t.indexes.stats('docs');
    const typed = (await retrieve(t, 'docs', { text: 'x', k: 1000, filter: { team: 'agri', reviewed: true }, mode: 'vector' })).hits;
    expect(typed.length).toBe(all.chunks);
    expect((await retrieve(t, 'docs', { text: 'x', k: 10, filter: { reviewed: 'true' } })).hits).toEqual([]);
  });
});
