/** What a loader makes of one file: one or more documents (a CSV or JSONL file holds many). */
export interface LoadedDocument {
  /** Stable key within the file: '' for single-document files, the row/line number for tabular ones. */
  key: string;
  kind: 'text' | 'image';
  title?: string;
  /** Text sections; PDFs give one per page (1-based `page`). Empty for images. */
  sections: { text: string; page?: number }[];
  /** Image bytes, for kind 'image'. */
  image?: Uint8Array;
  /** Metadata from the file itself (json/csv fields, image size, PDF info). */
  metadata: Record<string, MetadataValue>;
}

export type MetadataValue = string | number | boolean | string[];

export interface LoaderOptions {
  /** json/jsonl/csv: the field holding the text (default: "text", else the first of content/body/abstract). */
  textField?: string;
  /** json/jsonl/csv: fields copied into metadata (default: every scalar field but the text). */
  metadataFields?: string[];
  /** json/jsonl/csv: field used as the document key (default: row number). */
  idField?: string;
}

/** A file a loader could not read: the run reports it and goes on. */
export class LoaderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoaderError';
  }
}
