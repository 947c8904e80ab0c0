import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

export const BIN = resolve(process.cwd(), 'bin/trellis.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(home: string): NodeJS.ProcessEnv {
  return { ...process.env, TRELLIS_HOME: home, TRELLIS_INTRA_OP_THREADS: '1', NO_COLOR: '1' };
}

/** Runs `node bin/trellis.mjs ...args` with TRELLIS_HOME=home and waits for it. */
export function cli(home: string, args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Like cli, but fails loudly (with stderr) unless the command exits 0; returns the parsed JSON stdout. */
export async function cliJson<T = any>(home: string, args: string[]): Promise<T> {
  const r = await cli(home, args);
  if (r.code !== 0) throw new Error(`trellis ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export { spawn, spawnSync };
