import { EngineError } from './errors.ts';
import type { LabelSetLike } from './types.ts';

/** A bitset over engine labels: the allow-set that filtered search takes. `size` is kept as a popcount. */
export class LabelSet implements LabelSetLike {
  words: Uint32Array;
  private count = 0;

  constructor(capacity = 1024) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(capacity / 32)));
  }

  static from(labels: Iterable<number>): LabelSet {
    const set = new LabelSet();
    for (const l of labels) set.add(l);
    return set;
  }

  get size(): number {
    return this.count;
  }

  add(label: number): void {
    if (!Number.isInteger(label) || label < 0 || label > 0xfffffffe) {
      throw new EngineError('INVALID_ARGUMENT', `label must be an integer in [0, 2^32-2], got ${label}`);
    }
    const w = label >>> 5;
    if (w >= this.words.length) {
      const words = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      words.set(this.words);
      this.words = words;
    }
    const bit = 1 << (label & 31);
    if ((this.words[w] & bit) === 0) {
      this.words[w] |= bit;
      this.count++;
    }
  }

  delete(label: number): void {
    const w = label >>> 5;
    if (w >= this.words.length) return;
    const bit = 1 << (label & 31);
    if ((this.words[w] & bit) !== 0) {
      this.words[w] &= ~bit;
      this.count--;
    }
  }

  has(label: number): boolean {
    const w = label >>> 5;
    return w < this.words.length && (this.words[w] & (1 << (label & 31))) !== 0;
  }

  /** Calls fn for each member in ascending order, walking set bits only. */
  forEach(fn: (label: number) => void): void {
    const words = this.words;
    for (let w = 0; w < words.length; w++) {
      let bits = words[w];
      while (bits !== 0) {
        const low = bits & -bits;
        fn((w << 5) + (31 - Math.clz32(low)));
        bits ^= low;
      }
    }
  }
}
