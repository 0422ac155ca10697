/**
 * node:test runs `t.after` hooks in the order they were registered, so a
 * temp directory registered first would be removed while the processes
 * registered later still write into it (ENOTEMPTY, and leaked processes when
 * the failing hook stops the rest). `cleanupStack` runs its hooks last-in,
 * first-out, like `defer`: register the directory first, its users after.
 */
export function cleanupStack(t: { after: (fn: () => Promise<void>) => void }): (fn: () => unknown) => void {
  const hooks: Array<() => unknown> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const hook of hooks.reverse()) {
      try {
        await hook();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
  });
  return (fn) => hooks.push(fn);
}
