import type { ApiError } from "./bindings/ApiError";
import type { ErrorCode } from "./bindings/ErrorCode";

/** `?demo=<flag>` in the URL drives a window into a state worth a screenshot (mock only). */
export const demo = new URLSearchParams(location.search).get("demo") ?? "";

/** A canned failure, such as not_found for an id the preview does not have. */
export const fail = (code: ErrorCode, message: string): ApiError => ({ code, message, field: null, fields: [] });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T extends HTMLElement>(selector: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const el = document.querySelector<T>(selector);
    if (el) return el;
    await sleep(20);
  }
  throw new Error(`demo: ${selector} never appeared`);
}

export function setValue(id: string, value: string): void {
  const el = document.getElementById(id) as HTMLInputElement;
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}
