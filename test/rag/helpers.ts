import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ingest } from '../../indexer/ingest.ts';
import { createCollection } from '../../src/cli/collections.ts';
import { DEFAULTS } from '../../src/config.ts';
import { openTrellis, type Trellis } from '../../src/context.ts';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A small corpus whose facts are easy to ask about, plus filler. */
export const CORPUS: Record<string, string> = {
  'garden/tomatoes.txt':
    'Growing tomatoes\n\nTomatoes need at least six hours of direct sunlight every day. Water tomato plants deeply twice a week, at the base of the stem. ' +
    'A layer of straw mulch keeps the soil moist and cool in summer. Pinch out the side shoots so the plant puts its energy into fruit.',
  'garden/peppers.txt':
    'Peppers grow best when the soil is warmer than eighteen degrees. Sweet peppers turn red when they are fully ripe. ' +
    'Chilli peppers get hotter when the plants are kept slightly dry.',
  'town/lighthouse.txt':
    'The harbour lighthouse was built in 1887 by the town council. Its lamp can be seen from twenty kilometres out at sea. ' +
    "The keeper's cottage beside the lighthouse is now a small museum about shipwrecks.",
  'music/violin.txt':
    'A violin has four strings tuned in perfect fifths. The bow is strung with horsehair from the tail of a horse. ' +
    'Players rub rosin on the bow hair so that it grips the strings.',
  'notes/long.txt': Array.from(
    { length: 30 },
    (_, i) => `Maintenance note ${i + 1} says the orchard gate was painted green and the fence posts were checked for rot in week ${i + 1}.`,
  ).join(' '),
};

export interface RagFixture {
  t: Trellis;
  home: string;
  dir: string;
  cleanup(): Promise<void>;
}

/** A Trellis on a temp home with the corpus ingested into collection `kb` (real model, real SQLite). */
export async function setupCorpus(collection = 'kb'): Promise<RagFixture> {
  const home = tempDir('trellis-rag-home-');
  const dir = tempDir('trellis-rag-files-');
  for (const [rel, text] of Object.entries(CORPUS)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  const t = openTrellis({ home, embed: { ...DEFAULTS.embed, intraOpThreads: 1 } }, { log: () => {} });
  await createCollection(t, collection, {});
  const s = await ingest(t, { collection, paths: [dir] });
  if (s.failed.length > 0) throw new Error(`ingest failed: ${JSON.stringify(s.failed)}`);
  return {
    t,
    home,
    dir,
    async cleanup() {
      await t.close();
      rmSync(home, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Splits an extractive answer into its (sentence, source number) pieces: `S1 [n] S2 [m] ...`. */
export function answerPieces(answer: string): { sentence: string; n: number }[] {
  return [...answer.matchAll(/\s*(.+?) \[(\d+)\](?=\s|$)/g)].map((m) => ({ sentence: m[1], n: Number(m[2]) }));
}
