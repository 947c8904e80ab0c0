/**
 * Binary heaps of (id, distance) pairs on typed arrays, so that a search allocates nothing per query.
 * `MinHeap` pops the nearest candidate to expand next; `MaxHeap` keeps the best `ef` results with the
 * worst on top, so it can be evicted in O(log ef).
 */
abstract class PairHeap {
  ids: Uint32Array;
  dists: Float32Array;
  size = 0;

  constructor(capacity: number) {
    this.ids = new Uint32Array(Math.max(4, capacity));
    this.dists = new Float32Array(Math.max(4, capacity));
  }

  clear(): void {
    this.size = 0;
  }

  topId(): number {
    return this.ids[0];
  }

  topDist(): number {
    return this.dists[0];
  }

  protected grow(): void {
    const ids = new Uint32Array(this.ids.length * 2);
    ids.set(this.ids);
    const dists = new Float32Array(this.dists.length * 2);
    dists.set(this.dists);
    this.ids = ids;
    this.dists = dists;
  }
}

export class MinHeap extends PairHeap {
  push(id: number, dist: number): void {
    if (this.size === this.ids.length) this.grow();
    const ids = this.ids;
    const dists = this.dists;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pd = dists[parent];
      if (pd <= dist) break;
      ids[i] = ids[parent];
      dists[i] = pd;
      i = parent;
    }
    ids[i] = id;
    dists[i] = dist;
  }

  /** Removes the nearest pair; read it with topId()/topDist() first. */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const ids = this.ids;
    const dists = this.dists;
    const id = ids[n];
    const dist = dists[n];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && dists[child + 1] < dists[child]) child++;
      const cd = dists[child];
      if (cd >= dist) break;
      ids[i] = ids[child];
      dists[i] = cd;
      i = child;
    }
    ids[i] = id;
    dists[i] = dist;
  }
}

export class MaxHeap extends PairHeap {
  push(id: number, dist: number): void {
    if (this.size === this.ids.length) this.grow();
    const ids = this.ids;
    const dists = this.dists;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pd = dists[parent];
      if (pd >= dist) break;
      ids[i] = ids[parent];
      dists[i] = pd;
      i = parent;
    }
    ids[i] = id;
    dists[i] = dist;
  }

  /** Removes the farthest pair. */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const ids = this.ids;
    const dists = this.dists;
    const id = ids[n];
    const dist = dists[n];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && dists[child + 1] > dists[child]) child++;
      const cd = dists[child];
      if (cd <= dist) break;
      ids[i] = ids[child];
      dists[i] = cd;
      i = child;
    }
    ids[i] = id;
    dists[i] = dist;
  }

  /** Empties the heap into the given arrays, nearest first; returns the count. */
  drainAscending(outIds: Uint32Array, outDists: Float32Array): number {
    const n = this.size;
    for (let i = n - 1; i >= 0; i--) {
      outIds[i] = this.ids[0];
      outDists[i] = this.dists[0];
      this.pop();
    }
    return n;
  }
}
