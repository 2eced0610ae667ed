/**
 * What the windows use to talk to the shell: `api.<command>` (the typed functions generated from the Rust
 * commands into commands.ts), window helpers, and the reading of `ApiError`s.
 */
import { getCurrentWindow } from "@tauri-apps/api/window";
import { commands } from "./commands";
import { inTauri, toApiError } from "./ipc";

export { inTauri, isApiError, mockModule, toApiError } from "./ipc";
export type { WindowName } from "./commands";

export const api = commands;

export async function closeWindow(): Promise<void> {
  if (inTauri) {
    await getCurrentWindow().close();
  } else {
    location.hash = "#/main";
  }
}

/**
 * Guards the window's own close button (and any other close request): while `unsaved()` holds, the close
 * is stopped and `ask` runs instead (it may close the window itself afterwards). Returns the guard's removal.
 */
export function guardWindowClose(unsaved: () => boolean, ask: () => void): () => void {
  if (!inTauri) return () => {};
  const unlisten = getCurrentWindow().onCloseRequested((ev) => {
    if (!unsaved()) return;
    ev.preventDefault();
    ask();
  });
  return () => void unlisten.then((stop) => stop());
}

export function errorText(e: unknown): string {
  return toApiError(e).message;
}

/**
 * Per-field messages of an `invalid` error, keyed by field name with any of `stripPrefixes` removed
 * (the engine may qualify names, e.g. "services.pop3.port" for "pop3.port"). Several messages for one
 * field are joined.
 */
export function fieldMessages(e: unknown, stripPrefixes: string[] = []): Map<string, string> {
  const err = toApiError(e);
  const out = new Map<string, string>();
  const add = (field: string, message: string) => {
    let key = field;
    for (const p of stripPrefixes) if (key.startsWith(p)) key = key.slice(p.length);
    const prev = out.get(key);
    out.set(key, prev && prev !== message ? `${prev}; ${message}` : message);
  };
  for (const f of err.fields) add(f.field, f.message);
  if (err.field && err.fields.length === 0) add(err.field, err.message);
  return out;
}
