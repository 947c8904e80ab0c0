// Compiles the engine's AssemblyScript kernels to build/kernels.wasm (SIMD on).
// Runs on `npm ci` (prepare), before `npm test`, and by `npm run build:wasm`; skips work when up to date.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/engine/wasm/kernels.as.ts');
const out = join(root, 'build/kernels.wasm');

if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) process.exit(0);

let asc;
try {
  asc = await import('assemblyscript/asc');
} catch {
  console.error('build-wasm: assemblyscript is not installed (dev dependency); the engine will use its TypeScript kernels.');
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
const { error, stderr } = await asc.main([
  source,
  '--outFile', out,
  '-O3', '--noAssert',
  '--runtime', 'stub',
  '--enable', 'simd',
  '--importMemory',
  '--use', 'abort=',
]);
if (error) {
  console.error(stderr.toString());
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
console.log(`build-wasm: wrote ${out}`);
