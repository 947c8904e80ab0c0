import type { Command } from 'commander';
import { openTrellis, type Trellis } from '../context.ts';

/** Opens Trellis with the program's --home, runs fn, and always closes (saving indexes). */
export async function withTrellis<T>(program: Command, fn: (t: Trellis) => Promise<T>): Promise<T> {
  const t = openTrellis({ home: program.opts<{ home?: string }>().home });
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

export function parseIntOption(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
}

export function parseJsonOption(name: string): (v: string) => unknown {
  return (v) => {
    try {
      return JSON.parse(v);
    } catch (err) {
      throw new Error(`${name} is not valid JSON: ${(err as Error).message}`);
    }
  };
}

/** `k=v` pairs; numbers and true/false become typed values so filters like {"year": {"$gt": 2000}} work. */
export function parseKeyValues(pairs: string[] = []): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const p of pairs) {
    const at = p.indexOf('=');
    if (at <= 0) throw new Error(`--metadata expects key=value, got "${p}"`);
    const key = p.slice(0, at);
    const raw = p.slice(at + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}
