/**
 * Runs async tasks one at a time, in call order. Used wherever a
 * read-modify-write or a reload must not interleave with another (a reload
 * racing the watcher's must not apply an older read after a newer one).
 * A failed task rejects its own promise and does not stop the queue.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
