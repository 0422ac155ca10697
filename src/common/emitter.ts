/**
 * A minimal typed listener list. Components expose `on(event, fn)` returning
 * an unsubscribe function, so a consumer closed before its source never leaks
 * a listener.
 */
export class Listeners<T> {
  readonly #fns = new Set<(value: T) => void>();

  add(fn: (value: T) => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }

  emit(value: T): void {
    for (const fn of [...this.#fns]) fn(value);
  }

  get size(): number {
    return this.#fns.size;
  }
}
