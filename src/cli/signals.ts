import type { Logger } from "pino";

/**
 * SIGINT/SIGTERM start a graceful close; a second signal, or a close that
 * outlives its budget, exits at once. After a clean close the process exits
 * by itself because nothing is left open.
 */
export function closeOnSignals(close: () => Promise<void>, budgetMs: number, logger: Logger): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    logger.info({ signal }, "stopping");
    setTimeout(() => process.exit(1), budgetMs + 1000).unref();
    void close().then(() => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
