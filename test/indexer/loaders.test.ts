import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fileType, loadFile, LoaderError } from '../../indexer/loaders/index.ts';
import { cocoImages, makePdf } from './helpers.ts';

const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');

async function expectLoaderError(p: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LoaderError);
  for (const re of patterns) expect((err as Error).message).toMatch(re);
}

describe('loaders', () => {
  it('knows file types by extension, case-insensitively', () => {
    expect(fileType('/a/B.MD')).toEqual({ type: 'md', kind: 'text' });
    expect(fileType('x.jpeg')).toEqual({ type: 'image', kind: 'image' });
    expect(fileType('x.docx')).toBeUndefined();
    expect(fileType('Makefile')).toBeUndefined();
  });

  it('txt: text as is (BOM dropped), title from the first non-empty line', async () => {
    const [doc] = await loadFile('/d/a.txt', enc('\uFEFF\n\n  First line here  \nSecond line.\n'));
    expect(doc.kind).toBe('text');
    expect(doc.title).toBe('First line here');
    expect(doc.sections).toEqual([{ text: '\n\n  First line here  \nSecond line.\n' }]);
  });

  it('md: title from the first heading, no markup in the text', async () => {
    const md = [
      'Intro paragraph before any heading.',
      '',
      '# The **Real** Title',
      '',
      'Some *emphasis*, `code`, a [link text](https://example.com/page) and ![alt](img.png).',
      '',
      '## Section',
      '',
      '- item one',
      '- item two',
      '',
      '```js',
      'const x = 1;',
      '```',
      '',
      '> quoted words',
      '',
      '<script>alert("x")</script>',
    ].join('\n');
    const [doc] = await loadFile('/d/readme.md', enc(md));
    expect(doc.title).toBe('The Real Title');
    expect(doc.title).not.toMatch(/\*/);
    const text = doc.sections[0].text;
    for (const s of ['Intro paragraph', 'emphasis', 'code', 'link text', 'Section', 'item one', 'const x = 1;', 'quoted words']) expect(text).toContain(s);
    expect(text).not.toMatch(/[*#`>]|\]\(|https:\/\/example\.com|alert/);
  });

  it('html: title, main text; scripts, styles and navigation removed', async () => {
    const html = `<!doctype html><html><head><title> Page Title </title><style>body { color: red }</style>
      <script>var secret = "SCRIPTTEXT";</script></head>
      <body><nav><a href="/">NAVLINK</a></nav><header>HEADERTEXT</header>
      <main><h1>Main Heading</h1><p>First &amp; <b>bold</b> paragraph.</p><ul><li>list item</li></ul>
      <script>document.write("INLINESCRIPT")</script><noscript>NOSCRIPT</noscript></main>
      <footer>FOOTERTEXT</footer></body></html>`;
    const [doc] = await loadFile('/d/page.html', enc(html));
    expect(doc.title).toBe('Page Title');
    const text = doc.sections[0].text;
    expect(text).toContain('Main Heading');
    expect(text).toContain('First & bold paragraph.');
    expect(text).toContain('list item');
    for (const bad of ['SCRIPTTEXT', 'INLINESCRIPT', 'NOSCRIPT', 'NAVLINK', 'HEADERTEXT', 'FOOTERTEXT', 'color: red', '<', '>']) expect(text).not.toContain(bad);
  });

  it('html without <main> reads <body>; title falls back to <h1>', async () => {
    const [doc] = await loadFile('/d/p.htm', enc('<body><h1>Only H1</h1><p>Body text.</p><script>x()</script></body>'));
    expect(doc.title).toBe('Only H1');
    expect(doc.sections[0].text).toContain('Body text.');
    expect(doc.sections[0].text).not.toContain('x()');
  });

  it('pdf: one section per page with 1-based page numbers, title and page count', async () => {
    const bytes = await makePdf(
      [
        ['Page one talks about tomatoes.', 'Second line on page one.'],
        ['Page two talks about peppers.'],
        ['Page three talks about cucumbers.'],
      ],
      'Vegetable Handbook',
    );
    const [doc] = await loadFile('/d/book.pdf', bytes);
    expect(doc.title).toBe('Vegetable Handbook');
    expect(doc.metadata.pages).toBe(3);
    expect(doc.metadata.author).toBe('Test Author');
    expect(doc.sections.map((s) => s.page)).toEqual([1, 2, 3]);
    expect(doc.sections[0].text).toContain('Page one talks about tomatoes.');
    expect(doc.sections[0].text).toContain('Second line on page one.');
    expect(doc.sections[1].text).toContain('peppers');
    expect(doc.sections[1].text).not.toContain('tomatoes');
    expect(doc.sections[2].text).toContain('cucumbers');
  });

  it('pdf: garbage bytes are a LoaderError naming the file', async () => {
    await expectLoaderError(loadFile('/d/broken.pdf', enc('%PDF-1.7 this is not really a pdf')), /broken\.pdf/, /PDF/);
  });

  it('jsonl: --text-field, --metadata-fields, --id-field', async () => {
    const lines = [
      { id: 'a1', body: 'first body', year: 2001, tags: ['x', 'y'], draft: false, nested: { no: 1 } },
      { id: 'a2', body: 'second body', year: 2002, tags: [], draft: true },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n');
    const all = await loadFile('/d/r.jsonl', enc(lines + '\n\n'), { textField: 'body', idField: 'id' });
    expect(all.map((d) => d.key)).toEqual(['a1', 'a2']);
    expect(all[0].sections).toEqual([{ text: 'first body' }]);
    // default metadata: every scalar (or string-list) field but the text
    expect(all[0].metadata).toEqual({ id: 'a1', year: 2001, tags: ['x', 'y'], draft: false });
    const some = await loadFile('/d/r.jsonl', enc(lines), { textField: 'body', metadataFields: ['year'] });
    expect(some.map((d) => d.key)).toEqual(['1', '2']);
    expect(some[1].metadata).toEqual({ year: 2002 });
  });

  it('json: an array of records or one record; the text field defaults to text/content/body/abstract', async () => {
    const arr = await loadFile('/d/a.json', enc(JSON.stringify([{ content: 'c1', title: 'T1' }, { content: 'c2' }])));
    expect(arr.map((d) => d.sections[0].text)).toEqual(['c1', 'c2']);
    expect(arr[0].title).toBe('T1');
    const one = await loadFile('/d/o.json', enc(JSON.stringify({ abstract: 'abs', n: 3 })));
    expect(one).toHaveLength(1);
    expect(one[0].metadata).toEqual({ n: 3 });
  });

  it('csv: header row, typed choice of fields, quoted commas and newlines', async () => {
    const csv = 'id,text,lang,score\n7,"Hello, world",en,0.5\n8,"multi\nline",fr,1\n';
    const docs = await loadFile('/d/t.csv', enc(csv), { idField: 'id', metadataFields: ['lang', 'score'] });
    expect(docs.map((d) => d.key)).toEqual(['7', '8']);
    expect(docs[0].sections[0].text).toBe('Hello, world');
    expect(docs[1].sections[0].text).toBe('multi\nline');
    expect(docs[0].metadata).toEqual({ lang: 'en', score: '0.5' }); // csv cells are strings
  });

  it('bad json line / bad json / bad csv / missing text field: LoaderError naming the file and the record', async () => {
    await expectLoaderError(loadFile('/d/bad.jsonl', enc('{"text":"ok"}\n{"text": broken}\n')), /bad\.jsonl/, /line 2/);
    await expectLoaderError(loadFile('/d/bad.json', enc('[{"text":"ok"},')), /bad\.json/, /not valid JSON/);
    await expectLoaderError(loadFile('/d/bad.csv', enc('a,text\n1,"unclosed\n2,x\n')), /bad\.csv/, /CSV/);
    await expectLoaderError(loadFile('/d/ragged.csv', enc('a,text\n1,x\n2,y,extra\n')), /ragged\.csv/);
    await expectLoaderError(loadFile('/d/m.jsonl', enc('{"text":"a"}\n{"text":"b"}\n{"other":"c"}\n')), /m\.jsonl/, /record 3/, /text field/);
    await expectLoaderError(loadFile('/d/m.csv', enc('a,body\n1,x\n'), { textField: 'text' }), /m\.csv/, /record 1/, /"text"/);
    await expectLoaderError(loadFile('/d/n.jsonl', enc('{"text":"a"}\n[1,2]\n')), /n\.jsonl/, /record 2/, /not an object/);
  });

  it('invalid UTF-8 is a LoaderError naming the file, for every text type', async () => {
    const bad = new Uint8Array([0x48, 0x69, 0xff, 0xfe, 0xc3, 0x28]);
    for (const name of ['/d/x.txt', '/d/x.md', '/d/x.html', '/d/x.jsonl', '/d/x.csv', '/d/x.json']) {
      await expectLoaderError(loadFile(name, bad), new RegExp(name.replace(/[./]/g, '\\$&')), /UTF-8/);
    }
  });

  it('images: a real JPEG is described; non-image bytes named .jpg are a LoaderError', async () => {
    const [file] = cocoImages(1);
    const [doc] = await loadFile(file, readFileSync(file));
    expect(doc.kind).toBe('image');
    expect(doc.image!.byteLength).toBeGreaterThan(1000);
    expect(doc.metadata.format).toBe('jpeg');
    expect(doc.metadata.width).toBeGreaterThan(0);
    expect(doc.metadata.height).toBeGreaterThan(0);
    await expectLoaderError(loadFile('/d/fake.jpg', enc('this is plain text, not a JPEG')), /fake\.jpg/, /not a readable image/);
  });

  it('unsupported extension is a LoaderError', async () => {
    await expectLoaderError(loadFile('/d/x.docx', enc('x')), /unsupported/);
  });
});
