// Distance kernels in AssemblyScript, compiled to WebAssembly with SIMD (f32x4) by scripts/build-wasm.mjs.
// They work on raw addresses in the memory the TypeScript side owns (imported as env.memory), so vectors
// are never copied across the JS/WASM boundary. The batch forms exist because one call per candidate
// costs more in call overhead than a 128-d distance costs in arithmetic: HNSW scores a node's whole
// neighbour list at once.

// Squared L2 distance between two dim-length float32 vectors at addresses a and b.
@inline
function l2At(a: usize, b: usize, dim: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let acc3 = f32x4.splat(0);
  const end16 = dim & ~15;
  let i: i32 = 0;
  for (; i < end16; i += 16) {
    const off = <usize>(i << 2);
    const d0 = f32x4.sub(v128.load(a + off), v128.load(b + off));
    const d1 = f32x4.sub(v128.load(a + off, 16), v128.load(b + off, 16));
    const d2 = f32x4.sub(v128.load(a + off, 32), v128.load(b + off, 32));
    const d3 = f32x4.sub(v128.load(a + off, 48), v128.load(b + off, 48));
    acc0 = f32x4.add(acc0, f32x4.mul(d0, d0));
    acc1 = f32x4.add(acc1, f32x4.mul(d1, d1));
    acc2 = f32x4.add(acc2, f32x4.mul(d2, d2));
    acc3 = f32x4.add(acc3, f32x4.mul(d3, d3));
  }
  const end4 = dim & ~3;
  for (; i < end4; i += 4) {
    const off = <usize>(i << 2);
    const d = f32x4.sub(v128.load(a + off), v128.load(b + off));
    acc0 = f32x4.add(acc0, f32x4.mul(d, d));
  }
  const acc = f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3));
  let sum: f32 =
    f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < dim; i++) {
    const off = <usize>(i << 2);
    const d: f32 = load<f32>(a + off) - load<f32>(b + off);
    sum += d * d;
  }
  return sum;
}

// Dot product of two dim-length float32 vectors at addresses a and b.
@inline
function dotAt(a: usize, b: usize, dim: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let acc3 = f32x4.splat(0);
  const end16 = dim & ~15;
  let i: i32 = 0;
  for (; i < end16; i += 16) {
    const off = <usize>(i << 2);
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + off), v128.load(b + off)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + off, 16), v128.load(b + off, 16)));
    acc2 = f32x4.add(acc2, f32x4.mul(v128.load(a + off, 32), v128.load(b + off, 32)));
    acc3 = f32x4.add(acc3, f32x4.mul(v128.load(a + off, 48), v128.load(b + off, 48)));
  }
  const end4 = dim & ~3;
  for (; i < end4; i += 4) {
    const off = <usize>(i << 2);
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  const acc = f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3));
  let sum: f32 =
    f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < dim; i++) {
    const off = <usize>(i << 2);
    sum += load<f32>(a + off) * load<f32>(b + off);
  }
  return sum;
}

export function l2(a: usize, b: usize, dim: i32): f32 {
  return l2At(a, b, dim);
}

export function dot(a: usize, b: usize, dim: i32): f32 {
  return dotAt(a, b, dim);
}

// out[j] = squaredL2(query, base[ids[j]]) for j < count; rows of base are dim float32s.
export function l2Batch(query: usize, base: usize, dim: i32, ids: usize, count: i32, out: usize): void {
  const rowBytes = <usize>(dim << 2);
  for (let j: i32 = 0; j < count; j++) {
    const id = <usize>load<u32>(ids + (<usize>j << 2));
    store<f32>(out + (<usize>j << 2), l2At(query, base + id * rowBytes, dim));
  }
}

// out[j] = 1 - dot(query, base[ids[j]]): the inner-product distance (and cosine distance on unit vectors).
export function ipBatch(query: usize, base: usize, dim: i32, ids: usize, count: i32, out: usize): void {
  const rowBytes = <usize>(dim << 2);
  for (let j: i32 = 0; j < count; j++) {
    const id = <usize>load<u32>(ids + (<usize>j << 2));
    store<f32>(out + (<usize>j << 2), <f32>1.0 - dotAt(query, base + id * rowBytes, dim));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Beam search on layer 0, the loop where an HNSW search or insert spends its time. It runs here rather than
// in TypeScript so that heap operations, the visited check and the distance calls stay inside one compiled
// function. The TypeScript engine (src/engine/hnsw.ts) holds the same algorithm as its portable fallback;
// the two must stay in step.
//
// Heaps are arrays of 8-byte (u32 id, f32 dist) pairs. The candidate heap is a min-heap (nearest on top),
// the result heap a max-heap (farthest on top) bounded by ef.

@inline function pairId(heap: usize, i: i32): u32 {
  return load<u32>(heap + (<usize>i << 3));
}
@inline function pairDist(heap: usize, i: i32): f32 {
  return load<f32>(heap + (<usize>i << 3), 4);
}
@inline function setPair(heap: usize, i: i32, id: u32, d: f32): void {
  const p = heap + (<usize>i << 3);
  store<u32>(p, id);
  store<f32>(p, d, 4);
}

function minPush(heap: usize, size: i32, id: u32, d: f32): void {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pd = pairDist(heap, parent);
    if (pd <= d) break;
    setPair(heap, i, pairId(heap, parent), pd);
    i = parent;
  }
  setPair(heap, i, id, d);
}

// Removes the top of a min-heap of `size` pairs (size counts the pair being removed).
function minPop(heap: usize, size: i32): void {
  const n = size - 1;
  if (n == 0) return;
  const id = pairId(heap, n);
  const d = pairDist(heap, n);
  let i = 0;
  while (true) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && pairDist(heap, child + 1) < pairDist(heap, child)) child++;
    const cd = pairDist(heap, child);
    if (cd >= d) break;
    setPair(heap, i, pairId(heap, child), cd);
    i = child;
  }
  setPair(heap, i, id, d);
}

function maxPush(heap: usize, size: i32, id: u32, d: f32): void {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pd = pairDist(heap, parent);
    if (pd >= d) break;
    setPair(heap, i, pairId(heap, parent), pd);
    i = parent;
  }
  setPair(heap, i, id, d);
}

function maxPop(heap: usize, size: i32): void {
  const n = size - 1;
  if (n == 0) return;
  const id = pairId(heap, n);
  const d = pairDist(heap, n);
  let i = 0;
  while (true) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && pairDist(heap, child + 1) > pairDist(heap, child)) child++;
    const cd = pairDist(heap, child);
    if (cd <= d) break;
    setPair(heap, i, pairId(heap, child), cd);
    i = child;
  }
  setPair(heap, i, id, d);
}

@inline function admitted(id: u32, state: usize, filter: usize): bool {
  if (load<u8>(state + <usize>id) != 1) return false;
  if (filter == 0) return true;
  return (load<u32>(filter + (<usize>(id >> 5) << 2)) & (<u32>1 << (id & 31))) != 0;
}

// Searches layer 0 from the (id, dist) pairs at `io` (nEntries of them) with beam width ef. When `check` is
// set, only live labels (state == 1) that are in the `filter` bitset (0 = no filter) enter the results,
// but every node is traversed. Writes the results nearest first as pairs to `io` and returns their count,
// or -1 once more than `budget` distances were scored (budget < 0: unlimited).
export function searchLayer0(
  q: usize, vectors: usize, dim: i32, metricIp: i32,
  links: usize, stride0: i32, state: usize, visited: usize, stamp: u32,
  cand: usize, res: usize, io: usize, nEntries: i32, ef: i32,
  filter: usize, check: i32, budget: i32, pending: usize,
): i32 {
  let touch: u32 = 0;
  const rowBytes = <usize>(dim << 2);
  const listBytes = <usize>(stride0 << 2);
  let candSize: i32 = 0;
  let resSize: i32 = 0;
  for (let i: i32 = 0; i < nEntries; i++) {
    const e = pairId(io, i);
    const d = pairDist(io, i);
    store<u32>(visited + (<usize>e << 2), stamp);
    minPush(cand, candSize++, e, d);
    if (check == 0 || admitted(e, state, filter)) {
      maxPush(res, resSize++, e, d);
      if (resSize > ef) maxPop(res, resSize--);
    }
  }
  let scored: i32 = 0;
  while (candSize > 0) {
    if (resSize >= ef && pairDist(cand, 0) > pairDist(res, 0)) break;
    const c = pairId(cand, 0);
    minPop(cand, candSize--);
    const list = links + <usize>c * listBytes;
    const cnt = <i32>load<u32>(list);
    // Collect the unvisited neighbours first and touch each row once, so that their cache misses overlap
    // instead of being paid one after another (WebAssembly has no prefetch instruction).
    let m: i32 = 0;
    for (let j: i32 = 1; j <= cnt; j++) {
      const e = load<u32>(list + (<usize>j << 2));
      const vp = visited + (<usize>e << 2);
      if (load<u32>(vp) == stamp) continue;
      store<u32>(vp, stamp);
      store<u32>(pending + (<usize>m << 2), e);
      touch ^= load<u32>(vectors + <usize>e * rowBytes);
      m++;
    }
    for (let j: i32 = 0; j < m; j++) {
      const e = load<u32>(pending + (<usize>j << 2));
      const row = vectors + <usize>e * rowBytes;
      const d: f32 = metricIp != 0 ? <f32>1.0 - dotAt(q, row, dim) : l2At(q, row, dim);
      scored++;
      if (resSize < ef || d < pairDist(res, 0)) {
        minPush(cand, candSize++, e, d);
        if (check == 0 || admitted(e, state, filter)) {
          maxPush(res, resSize++, e, d);
          if (resSize > ef) maxPop(res, resSize--);
        }
      }
    }
    if (budget >= 0 && scored > budget) return -1;
  }
  const n = resSize;
  for (let i = n - 1; i >= 0; i--) {
    setPair(io, i, pairId(res, 0), pairDist(res, 0));
    maxPop(res, resSize--);
  }
  store<u32>(pending, touch); // keeps the touching loads alive
  return n;
}

// Filtered layer-0 search in the manner of ACORN-1 (Patel et al., SIGMOD 2024) on an ordinary HNSW graph:
// only nodes that pass the filter (live, and in the `filter` bitset) are scored or become candidates.
// A neighbour that fails the filter is not scored; instead its own neighbours that pass are taken (a
// two-hop step), so the search walks the allowed subgraph through the nodes it may not return. At most
// `maxPerHop` nodes are scored per expansion, as ACORN truncates the expanded list. Entry points are
// expanded whether or not they pass. Same I/O and return convention as searchLayer0.
export function searchLayer0Filtered(
  q: usize, vectors: usize, dim: i32, metricIp: i32,
  links: usize, stride0: i32, state: usize, visited: usize, stamp: u32,
  cand: usize, res: usize, io: usize, nEntries: i32, ef: i32,
  filter: usize, maxPerHop: i32, budget: i32,
): i32 {
  const rowBytes = <usize>(dim << 2);
  const listBytes = <usize>(stride0 << 2);
  let candSize: i32 = 0;
  let resSize: i32 = 0;
  for (let i: i32 = 0; i < nEntries; i++) {
    const e = pairId(io, i);
    const d = pairDist(io, i);
    store<u32>(visited + (<usize>e << 2), stamp);
    minPush(cand, candSize++, e, d);
    if (admitted(e, state, filter)) {
      maxPush(res, resSize++, e, d);
      if (resSize > ef) maxPop(res, resSize--);
    }
  }
  let scored: i32 = 0;
  while (candSize > 0) {
    if (resSize >= ef && pairDist(cand, 0) > pairDist(res, 0)) break;
    const c = pairId(cand, 0);
    minPop(cand, candSize--);
    const list = links + <usize>c * listBytes;
    const cnt = <i32>load<u32>(list);
    let taken: i32 = 0;
    for (let j: i32 = 1; j <= cnt && taken < maxPerHop; j++) {
      const e = load<u32>(list + (<usize>j << 2));
      const vp = visited + (<usize>e << 2);
      if (load<u32>(vp) == stamp) continue;
      store<u32>(vp, stamp);
      if (admitted(e, state, filter)) {
        taken++;
        const d: f32 = metricIp != 0 ? <f32>1.0 - dotAt(q, vectors + <usize>e * rowBytes, dim) : l2At(q, vectors + <usize>e * rowBytes, dim);
        scored++;
        if (resSize < ef || d < pairDist(res, 0)) {
          minPush(cand, candSize++, e, d);
          maxPush(res, resSize++, e, d);
          if (resSize > ef) maxPop(res, resSize--);
        }
        continue;
      }
      const list2 = links + <usize>e * listBytes;
      const cnt2 = <i32>load<u32>(list2);
      for (let t: i32 = 1; t <= cnt2 && taken < maxPerHop; t++) {
        const w = load<u32>(list2 + (<usize>t << 2));
        const wp = visited + (<usize>w << 2);
        if (load<u32>(wp) == stamp || !admitted(w, state, filter)) continue;
        store<u32>(wp, stamp);
        taken++;
        const d: f32 = metricIp != 0 ? <f32>1.0 - dotAt(q, vectors + <usize>w * rowBytes, dim) : l2At(q, vectors + <usize>w * rowBytes, dim);
        scored++;
        if (resSize < ef || d < pairDist(res, 0)) {
          minPush(cand, candSize++, w, d);
          maxPush(res, resSize++, w, d);
          if (resSize > ef) maxPop(res, resSize--);
        }
      }
    }
    if (budget >= 0 && scored > budget) return -1;
  }
  const n = resSize;
  for (let i = n - 1; i >= 0; i--) {
    setPair(io, i, pairId(res, 0), pairDist(res, 0));
    maxPop(res, resSize--);
  }
  return n;
}
