import * as ort from 'onnxruntime-node';
import { UnsupportedModelError } from './errors.ts';

export type Logger = (line: string) => void;
export const stderrLogger: Logger = (line) => process.stderr.write(`${line}\n`);

export interface SessionOptions {
  /** Preference order, e.g. ["cuda", "cpu"]; the first that loads wins. */
  executionProviders: string[];
  /** 0 = onnxruntime's default (one thread per physical core). */
  intraOpThreads: number;
  log?: Logger;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  provider: string;
}

export const ORT_VERSION: string = ort.env.versions?.node ?? 'unknown';

/**
 * Create an onnxruntime session, trying execution providers in the configured order and falling back to the next
 * when one is not available in this build (e.g. "cuda" on a machine without CUDA). One log line says which one runs,
 * because a silent CPU fallback is the usual reason a "GPU" deployment is slow.
 */
export async function createSession(file: string, opts: SessionOptions, label = file): Promise<LoadedSession> {
  const log = opts.log ?? stderrLogger;
  const providers = opts.executionProviders.length > 0 ? opts.executionProviders : ['cpu'];
  const failures: string[] = [];
  for (const ep of providers) {
    try {
      const session = await ort.InferenceSession.create(file, {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        ...(opts.intraOpThreads > 0 ? { intraOpNumThreads: opts.intraOpThreads } : {}),
        // Inter-op parallelism only helps graphs with independent branches; these are sequential.
        executionMode: 'sequential',
        // Batch shapes change every run (batch size x longest text); a memory plan per shape only costs re-planning.
        enableMemPattern: false,
      });
      const why = failures.length > 0 ? ` (fallback: ${failures.join('; ')})` : '';
      log(`embed: ${label} runs on execution provider "${ep}", intra-op threads ${opts.intraOpThreads || 'default'}${why}`);
      return { session, provider: ep };
    } catch (err) {
      failures.push(`${ep}: ${firstLine((err as Error).message)}`);
    }
  }
  throw new UnsupportedModelError(`cannot load ${label} with any execution provider: ${failures.join('; ')}`);
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? s;
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

export interface GraphIO {
  name: string;
  type: string;
  shape: (number | string)[];
}

/** Declared inputs/outputs of a session, as plain data for model.json. */
export function describeGraph(session: ort.InferenceSession): { inputs: GraphIO[]; outputs: GraphIO[] } {
  const conv = (m: ort.InferenceSession.ValueMetadata): GraphIO =>
    m.isTensor ? { name: m.name, type: String(m.type), shape: m.shape.map((d) => (typeof d === 'number' ? d : String(d))) } : { name: m.name, type: 'non-tensor', shape: [] };
  return { inputs: session.inputMetadata.map(conv), outputs: session.outputMetadata.map(conv) };
}
