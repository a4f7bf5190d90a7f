// How an action runs its per-item CPU work: inline (a small request), or in slices that let other
// requests in between (a bulk request; see bulk_gate.ts).
export interface Slicer {
  /** Runs `step` for each item, in order. */
  eachSliced<T>(items: readonly T[], step: (item: T, index: number) => void): Promise<void>;
  /** Runs `fn` as one unit of work (for a bulk request: one at a time in the instance, then a pause). */
  slice<R>(fn: () => R | Promise<R>): Promise<R>;
}

export const inline: Slicer = {
  eachSliced(items, step) {
    items.forEach(step);
    return Promise.resolve();
  },
  slice: async (fn) => await fn(),
};
