/** A small typed event emitter: `on` returns a function that removes the listener. */
export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  #listeners = new Map<keyof Events, Set<(event: never) => void>>();

  /** Calls `listener` for every `type` event until the returned function is called. */
  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener as (event: never) => void);
    this.listenersChanged(1);
    return () => this.off(type, listener);
  }

  /** Calls `listener` for the next `type` event only. */
  once<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void {
    const off = this.on(type, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): void {
    if (this.#listeners.get(type)?.delete(listener as (event: never) => void)) this.listenersChanged(-1);
  }

  /** Whether anyone listens to `type`. */
  protected hasListeners(type: keyof Events): boolean {
    return (this.#listeners.get(type)?.size ?? 0) > 0;
  }

  /** Tells subclasses how many listeners came or went (elements count them per model). */
  protected listenersChanged(_delta: number): void {}

  /** Calls every listener of `type`; a listener that throws does not stop the others. */
  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (event: Events[K]) => void)(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
