// Small numeric helpers shared by the benchmarks' reports.

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** "1.23, 4.56, …" for the "all runs" column. */
export function list(values: number[], digits = 2): string {
  return values.map((v) => v.toFixed(digits)).join(', ');
}
