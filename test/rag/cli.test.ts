import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { setupCorpus, type RagFixture } from './helpers.ts';

let fx: RagFixture;
beforeAll(async () => {
  fx = await setupCorpus();
  await fx.t.close(); // the CLI opens the home itself
});
afterAll(async () => {
  await fx?.cleanup();
});

async function run(args: string[]): Promise<{ out: string; code: number | undefined }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (lines.push(String(s)), true));
  const before = process.exitCode;
  try {
    await main(['node', 'trellis', '--home', fx.home, ...args]);
    return { out: lines.join('\n'), code: process.exitCode as number | undefined };
  } finally {
    process.exitCode = before;
    log.mockRestore();
    err.mockRestore();
    write.mockRestore();
  }
}

describe('trellis ask', () => {
  it('prints the answer, then numbered citations', async () => {
    const { out, code } = await run(['ask', 'When was the lighthouse built?', '-c', 'kb', '-k', '3']);
    expect(code).toBeFalsy();
    expect(out).toMatch(/The harbour lighthouse was built in 1887 by the town council\. \[1\]/);
    expect(out).toMatch(/Sources:\n\[1\] .*lighthouse\.txt {2}\(score \d/);
  });

  it('--json prints the response; --stream prints the streamed answer', async () => {
    const j = await run(['ask', 'What is a violin bow strung with?', '-c', 'kb', '--json']);
    const r = JSON.parse(j.out);
    expect(r.answer).toContain('horsehair');
    expect(r.steps.map((s: { name: string }) => s.name)).toEqual(['retrieve', 'generate']);
    const s = await run(['ask', 'What is a violin bow strung with?', '-c', 'kb', '--stream']);
    expect(s.out.replace(/\n/g, '')).toContain(r.answer);
  });
});
