import { parse } from 'csv-parse/sync';
import { decodeUtf8 } from './text.ts';
import { LoaderError, type LoadedDocument, type LoaderOptions, type MetadataValue } from './types.ts';

const TEXT_FALLBACKS = ['text', 'content', 'body', 'abstract'];

/** JSON (an array of objects, or one object) and JSONL: one document per record. */
export function loadJson(bytes: Uint8Array, name: string, opts: LoaderOptions, lines: boolean): LoadedDocument[] {
  const raw = decodeUtf8(bytes, name);
  let records: unknown[];
  if (lines) {
    records = [];
    raw.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        records.push(JSON.parse(line));
      } catch (err) {
        throw new LoaderError(`${name} line ${i + 1} is not valid JSON: ${(err as Error).message}`);
      }
    });
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new LoaderError(`${name} is not valid JSON: ${(err as Error).message}`);
    }
    records = Array.isArray(parsed) ? parsed : [parsed];
  }
  return records.map((r, i) => fromRecord(r, i, name, opts));
}

/** CSV with a header row: one document per row. */
export function loadCsv(bytes: Uint8Array, name: string, opts: LoaderOptions): LoadedDocument[] {
  let rows: Record<string, string>[];
  try {
    rows = parse(decodeUtf8(bytes, name), { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[];
  } catch (err) {
    throw new LoaderError(`${name} is not valid CSV: ${(err as Error).message}`);
  }
  return rows.map((r, i) => fromRecord(r, i, name, opts));
}

function fromRecord(record: unknown, index: number, name: string, opts: LoaderOptions): LoadedDocument {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new LoaderError(`${name} record ${index + 1} is not an object`);
  }
  const r = record as Record<string, unknown>;
  const textField = opts.textField ?? TEXT_FALLBACKS.find((f) => typeof r[f] === 'string');
  if (!textField || typeof r[textField] !== 'string') {
    throw new LoaderError(`${name} record ${index + 1} has no text field ${opts.textField ? `"${opts.textField}"` : `(tried ${TEXT_FALLBACKS.join(', ')}; choose one with --text-field)`}`);
  }
  const metadata: Record<string, MetadataValue> = {};
  const fields = opts.metadataFields ?? Object.keys(r).filter((k) => k !== textField);
  for (const f of fields) {
    const v = toMetadata(r[f]);
    if (v !== undefined) metadata[f] = v;
  }
  const key = opts.idField !== undefined && r[opts.idField] !== undefined ? String(r[opts.idField]) : String(index + 1);
  const title = typeof r.title === 'string' ? r.title : undefined;
  return { key, kind: 'text', title, sections: [{ text: r[textField] as string }], metadata };
}

function toMetadata(v: unknown): MetadataValue | undefined {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return undefined;
}
