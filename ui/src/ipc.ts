/**
 * The one door to the desktop shell: `call` invokes a Tauri command (the typed functions in commands.ts,
 * generated from the Rust commands, go through it) and turns any rejection into an `ApiError`.
 *
 * Outside the desktop app (`npm run dev` in a browser) a development build answers from the preview's mock
 * module instead; a production build has no mock at all (`import.meta.env.DEV` is false there, so the
 * bundler drops the import), and a command called outside Tauri fails plainly.
 */
import { invoke } from "@tauri-apps/api/core";
import type { ApiError } from "./bindings/ApiError";
import type { ErrorCode } from "./bindings/ErrorCode";

export const inTauri = typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;

type MockModule = typeof import("./mock");
let mock: Promise<MockModule> | null = null;

/** The browser preview's mock module: only in a development build, and only outside Tauri. */
export function mockModule(): Promise<MockModule> | null {
  if (!import.meta.env.DEV || inTauri) return null;
  return (mock ??= import("./mock"));
}

export async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    if (inTauri) return await invoke<T>(cmd, args);
    const m = mockModule();
    if (!m) throw new Error(`${cmd}: Postroom's windows run inside the desktop app`);
    return (await (await m).mockInvoke(cmd, args ?? {})) as T;
  } catch (e) {
    throw toApiError(e);
  }
}

const CODES: readonly ErrorCode[] = ["invalid", "not_found", "conflict", "io", "internal"];

export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function toApiError(e: unknown): ApiError {
  if (isApiError(e)) {
    const code = CODES.includes(e.code) ? e.code : "internal";
    return { code, message: String(e.message), field: e.field ?? null, fields: Array.isArray(e.fields) ? e.fields : [] };
  }
  const message = e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e);
  return { code: "internal", message, field: null, fields: [] };
}
