/**
 * Windows are told of the engine's changes instead of polling: the shell sends one `engine-changed` event
 * with the kinds of change (src-tauri/src/events.rs), and `watch` runs a window's refresh when a kind it
 * shows is among them. Refreshes never overlap: a change during one runs it once more afterwards.
 *
 * The browser preview (no shell) has no events: there the refresh runs every `previewMs`.
 */
import { listen } from "@tauri-apps/api/event";
import type { Change } from "./bindings/Change";
import { inTauri } from "./ipc";

export type { Change };

export interface WatchOptions {
  /** Also refresh on a timer, for what moves with time alone (a countdown, a graph's time axis). */
  everyMs?: number;
  /** The preview's polling interval (default 2 s). */
  previewMs?: number;
}

/** Runs `refresh` now and whenever one of `kinds` changes; returns the function that stops it. */
export function watch(kinds: Change[], refresh: () => Promise<void>, options: WatchOptions = {}): () => void {
  let stopped = false;
  let running = false;
  let again = false;
  const run = async () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        try {
          await refresh();
        } catch {
          // The window shows its own errors; the next change tries again.
        }
      } while (again && !stopped);
    } finally {
      running = false;
    }
  };
  void run();
  const timers: number[] = [];
  const every = inTauri ? options.everyMs : (options.previewMs ?? 2000);
  if (every) timers.push(window.setInterval(() => void run(), every));
  let unlisten: (() => void) | null = null;
  if (inTauri) {
    void listen<Change[]>("engine-changed", (event) => {
      if (event.payload.some((k) => kinds.includes(k))) void run();
    }).then((stop) => {
      if (stopped) stop();
      else unlisten = stop;
    });
  }
  return () => {
    stopped = true;
    timers.forEach((t) => window.clearInterval(t));
    unlisten?.();
  };
}
