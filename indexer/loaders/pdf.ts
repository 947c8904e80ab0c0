import { LoaderError, type LoadedDocument } from './types.ts';

/** PDF text, one section per page (1-based page numbers), through Mozilla's pdf.js. */
export async function loadPdf(bytes: Uint8Array, name: string): Promise<LoadedDocument[]> {
  // The legacy build is the one pdf.js supports on Node.
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  let doc;
  try {
    doc = await pdfjs.getDocument({ data: new Uint8Array(bytes), useSystemFonts: false, isEvalSupported: false, verbosity: 0 }).promise;
  } catch (err) {
    throw new LoaderError(`${name} is not a readable PDF: ${(err as Error).message}`, { cause: err });
  }
  try {
    const sections: { text: string; page: number }[] = [];
    for (let p = 1; p <= doc.numPages; p++) {
      const page = await doc.getPage(p);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items) {
        if (!('str' in item)) continue;
        text += item.str;
        if (item.hasEOL) text += '\n';
        else if (item.str && !item.str.endsWith(' ')) text += ' ';
      }
      sections.push({ text: text.trim(), page: p });
      page.cleanup();
    }
    const meta = (await doc.getMetadata().catch(() => null)) as { info?: { Title?: unknown; Author?: unknown } } | null;
    const title = typeof meta?.info?.Title === 'string' && meta.info.Title.trim() ? meta.info.Title.trim() : undefined;
    const metadata: LoadedDocument['metadata'] = { pages: doc.numPages };
    if (typeof meta?.info?.Author === 'string' && meta.info.Author.trim()) metadata.author = meta.info.Author.trim();
    return [{ key: '', kind: 'text', title, sections, metadata }];
  } finally {
    await doc.destroy();
  }
}
