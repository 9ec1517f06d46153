/**
 * llama2.c's BPE merge loop, in O(n log n): repeatedly replace the adjacent pair whose merged token
 * has the highest score (ties: the leftmost pair; only scores above -1e10, llama2.c's starting best)
 * by that token, until no pair merges. A max-heap of candidate pairs over a doubly linked list gives
 * exactly the merges of llama2.c's rescan-everything loop: merging only changes the two pairs
 * around the merged token, and list order never changes, so "leftmost" is the smallest node index.
 */

/** Heap entry: a candidate merge of nodes (left, right) into `id` with `score`, valid while both are unchanged. */
interface Candidate {
  score: number;
  left: number;
  right: number;
  leftVersion: number;
  rightVersion: number;
  id: number;
}

const before = (a: Candidate, b: Candidate) => a.score > b.score || (a.score === b.score && a.left < b.left);

class CandidateHeap {
  readonly #items: Candidate[] = [];

  push(c: Candidate): void {
    const h = this.#items;
    let i = h.push(c) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): Candidate | undefined {
    const h = this.#items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let best = i;
        if (l < h.length && before(h[l]!, h[best]!)) best = l;
        if (r < h.length && before(h[r]!, h[best]!)) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best]!, h[i]!];
        i = best;
      }
    }
    return top;
  }
}

/** Lowest score llama2.c's loop can pick: its best score starts at -1e10 and must be beaten. */
const NO_MERGE = -1e10;

/**
 * The tokens after llama2.c's merges: `merged(a, b)` is the id of the token spelled a then b, or -1;
 * `score(id)` its merge score.
 */
export function mergeByScore(tokens: readonly number[], merged: (a: number, b: number) => number, score: (id: number) => number): number[] {
  const n = tokens.length;
  const ids = Int32Array.from(tokens);
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const version = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  const heap = new CandidateHeap();
  const consider = (left: number) => {
    const right = left < 0 ? -1 : next[left]!;
    if (right < 0) return;
    const id = merged(ids[left]!, ids[right]!);
    if (id >= 0 && score(id) > NO_MERGE) {
      heap.push({ score: score(id), left, right, leftVersion: version[left]!, rightVersion: version[right]!, id });
    }
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  for (let c = heap.pop(); c !== undefined; c = heap.pop()) {
    const { left, right } = c;
    if (!alive[left] || !alive[right] || next[left] !== right || version[left] !== c.leftVersion || version[right] !== c.rightVersion) continue;
    ids[left] = c.id;
    version[left]!++;
    alive[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    consider(prev[left]!);
    consider(left);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]!) out.push(ids[i]!);
  return out;
}
