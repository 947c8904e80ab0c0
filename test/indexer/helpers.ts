import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { tokenCounter } from '../../indexer/ingest.ts';
import { DEFAULTS } from '../../src/config.ts';
import { openTrellis, type Trellis } from '../../src/context.ts';
import { EmbeddingService } from '../../src/embed/index.ts';
import { mulberry32 } from '../../src/engine/rng.ts';

export const SHARED = resolve(process.cwd(), '../shared');
export const COCO = join(SHARED, 'data/coco-mini');
export const CLIP_DIR = join(SHARED, 'models/fixtures/tiny-clip-random');

export function tempDir(prefix = 'trellis-ix-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function rmDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Writes files (relative path -> content) under dir. */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
}

/** A Trellis on a temp home: quiet, one intra-op thread (tests share 2 cores). */
export function openTemp(home = tempDir('trellis-home-')): Trellis {
  return openTrellis({ home, embed: { ...DEFAULTS.embed, intraOpThreads: 1 } }, { log: () => {} });
}

/** The default text model's real token counter, built exactly as indexer/ingest.ts builds it. */
export async function realCounter(): Promise<{ count: (s: string) => number; close: () => Promise<void> }> {
  const svc = new EmbeddingService({ home: tempDir('trellis-tok-'), embed: { ...DEFAULTS.embed, intraOpThreads: 1 } }, { log: () => {} });
  const model = await svc.model(DEFAULTS.embed.defaultTextModel);
  return { count: tokenCounter(model), close: () => svc.close() };
}

export { cocoImages } from '../embed/helpers.ts';

/** Deterministic PRNG: the engine's mulberry32, so every seeded sequence in the project is the same generator. */
export const rng = mulberry32;

const WORDS = 'garden tomato river mountain engine silver quantum harbor violin desert lantern orbit maple cobalt falcon meadow prism saddle tundra velvet'.split(' ');

/** Deterministic English-ish prose: sentences of 5-20 words, paragraphs of 2-6 sentences. */
export function prose(seed: number, paragraphs: number): string {
  const r = rng(seed);
  const ps: string[] = [];
  for (let p = 0; p < paragraphs; p++) {
    const ss: string[] = [];
    const n = 2 + Math.floor(r() * 5);
    for (let s = 0; s < n; s++) {
      const len = 5 + Math.floor(r() * 16);
      const w = Array.from({ length: len }, () => WORDS[Math.floor(r() * WORDS.length)]);
      w[0] = w[0][0].toUpperCase() + w[0].slice(1);
      ss.push(w.join(' ') + '.');
    }
    ps.push(ss.join(' '));
  }
  return ps.join('\n\n');
}

/** A real PDF: one page per entry, with a title in its info dictionary. */
export async function makePdf(pages: string[][], title?: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  if (title) pdf.setTitle(title);
  pdf.setAuthor('Test Author');
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage([595, 842]);
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 780 - i * 20, size: 12, font }));
  }
  return pdf.save();
}

