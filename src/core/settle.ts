// Waiting for work that runs side by side without leaving any of it behind.

/**
 * Waits until every promise has settled, then throws the first rejection (in the array's order),
 * if any. Unlike Promise.all, nothing is still running when it throws: pipelined writes and
 * restore workers never touch a handle after their caller closed it.
 */
export async function allSettledOrThrow(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
