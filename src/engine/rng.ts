/** mulberry32: a small, fast, seedable PRNG. Level sampling must be reproducible for a given seed. */
export class Rng {
  constructor(private state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  get seedState(): number {
    return this.state;
  }

  set seedState(s: number) {
    this.state = s >>> 0;
  }
}

/** The same generator as a plain function of no arguments, for code that wants `() => number`. */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
