import type { Logger } from "pino";

/**
 * SIGINT/SIGTERM start a graceful close; a second signal, or a close that
 * outlives its budget, exits at once. After a clean close the process exits
 * by itself because nothing is left open. Returns a function that removes
 * the handlers (for a process that ends for another reason).
 */
export function closeOnSignals(close: () => Promise<unknown>, budgetMs: number, logger: Logger): () => void {
  let signals = 0;
  const release = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    logger.info({ signal }, "stopping");
    setTimeout(() => process.exit(1), budgetMs + 1000).unref();
    void close().then(release);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return release;
}
