/**
 * Update counters per network group: how many times each group's update (its
 * `beforeOptimizerStep`) has run. Schedules count in these units: RLx2's separate actor and
 * critic sparsifier steps (docs/methods.md §1.b.5), RNM-TD3's and GST's per-group mask intervals
 * (§9.4.4, §9.2), and — as the largest count, since the critic is updated every iteration in TD3
 * and SAC — the gradient-iteration clock of gradual pruning and GST (§5.4).
 */
export class GroupCounters {
  private readonly counts = new Map<string, number>();

  /** Sets the count of `group` to 0 (called from `initialize`; groups keep their first-start order). */
  start(group: string): void {
    this.counts.set(group, 0);
  }

  /** Counts one update of `group`. @returns its new count (1 after the first update) */
  increment(group: string): number {
    const next = this.get(group) + 1;
    this.counts.set(group, next);
    return next;
  }

  /** The count of `group`; 0 for a group never started nor incremented. */
  get(group: string): number {
    return this.counts.get(group) ?? 0;
  }

  /** The largest count over all groups; 0 when there are none. */
  max(): number {
    return Math.max(0, ...this.counts.values());
  }

  /** `{ group: count }` in start order, for `Sparsifier.state()`. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Restores `toJSON()`: sets every count it names (others are kept). */
  load(saved: Readonly<Record<string, number>>): void {
    for (const [group, count] of Object.entries(saved)) this.counts.set(group, count);
  }
}
