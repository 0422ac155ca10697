/**
 * The one owner of everything the transparent demo creates. Each resource
 * registers how to undo it right after it exists; close() undoes them in
 * reverse order, once. A resource that appears after close() began (Ctrl-C
 * during the start) is undone at once, so a start cut short leaves nothing.
 */
import type { Logger } from "pino";

export class Teardown {
  readonly #steps: { name: string; undo: () => Promise<unknown> }[] = [];
  readonly #logger: Logger;
  #closing: Promise<void> | undefined;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Registers `undo`; after close() began, runs it now instead. */
  async add(name: string, undo: () => Promise<unknown>): Promise<void> {
    if (this.#closing !== undefined) {
      await this.#step({ name, undo });
      return;
    }
    this.#steps.push({ name, undo });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#steps.length > 0) await this.#step(this.#steps.pop()!);
    })();
    return this.#closing;
  }

  async #step(s: { name: string; undo: () => Promise<unknown> }): Promise<void> {
    // One failed step must not leave the later ones (namespaces) behind.
    try {
      await s.undo();
    } catch (err) {
      this.#logger.warn({ err, step: s.name }, "demo cleanup step failed");
    }
  }
}
