import { extname } from 'node:path';
import { loadImage } from './image.ts';
import { loadPdf } from './pdf.ts';
import { loadCsv, loadJson } from './records.ts';
import { loadHtml, loadMarkdown, loadPlainText } from './text.ts';
import { LoaderError, type LoadedDocument, type LoaderOptions } from './types.ts';

export * from './types.ts';

/** File types by extension: what the loader reads and which kind of collection it belongs in. */
export const FILE_TYPES: Record<string, { type: string; kind: 'text' | 'image' }> = {
  '.txt': { type: 'txt', kind: 'text' },
  '.text': { type: 'txt', kind: 'text' },
  '.md': { type: 'md', kind: 'text' },
  '.markdown': { type: 'md', kind: 'text' },
  '.html': { type: 'html', kind: 'text' },
  '.htm': { type: 'html', kind: 'text' },
  '.pdf': { type: 'pdf', kind: 'text' },
  '.json': { type: 'json', kind: 'text' },
  '.jsonl': { type: 'jsonl', kind: 'text' },
  '.ndjson': { type: 'jsonl', kind: 'text' },
  '.csv': { type: 'csv', kind: 'text' },
  '.jpg': { type: 'image', kind: 'image' },
  '.jpeg': { type: 'image', kind: 'image' },
  '.png': { type: 'image', kind: 'image' },
  '.webp': { type: 'image', kind: 'image' },
  '.gif': { type: 'image', kind: 'image' },
};

export function fileType(path: string): { type: string; kind: 'text' | 'image' } | undefined {
  return FILE_TYPES[extname(path).toLowerCase()];
}

export async function loadFile(path: string, bytes: Uint8Array, opts: LoaderOptions = {}): Promise<LoadedDocument[]> {
  const t = fileType(path);
  if (!t) throw new LoaderError(`${path}: unsupported file type "${extname(path) || '(none)'}"`);
  switch (t.type) {
    case 'txt':
      return loadPlainText(bytes, path);
    case 'md':
      return loadMarkdown(bytes, path);
    case 'html':
      return loadHtml(bytes, path);
    case 'pdf':
      return loadPdf(bytes, path);
    case 'json':
      return loadJson(bytes, path, opts, false);
    case 'jsonl':
      return loadJson(bytes, path, opts, true);
    case 'csv':
      return loadCsv(bytes, path, opts);
    case 'image':
      return loadImage(bytes, path);
    default:
      throw new LoaderError(`${path}: no loader for ${t.type}`);
  }
}
