import type { BandwidthPool } from "../bindings/BandwidthPool";
import type { LimitSource } from "../bindings/LimitSource";
import type { ScriptStatus } from "../bindings/ScriptStatus";
import { formatAllowance, formatNumber, formatUnixTime, plural } from "../format";
import { h } from "../widgets/dom";

/** How many bandwidth pools there are (VPOP3's 1000). */
export const POOL_COUNT = 1000;

/** The highest allowance, in bytes per second. */
export const MAX_RATE = 999_999_999;

/** Pool ids 1..1000. */
export const POOL_IDS = Array.from({ length: POOL_COUNT }, (_, i) => i + 1);

/** The pools' names and allowances by id; pools not listed have no name and no limit. */
export class PoolNames {
  private byId = new Map<number, BandwidthPool>();

  constructor(pools: BandwidthPool[] = []) {
    for (const p of pools) this.byId.set(p.id, p);
  }

  name(id: number): string {
    return this.byId.get(id)?.name.trim() ?? "";
  }

  allowed(id: number): number {
    return this.byId.get(id)?.allowed ?? 0;
  }

  /** A pool as the Services window's list shows it: "1 – Daytime (100,000 B/s)", "2 (no limit)", "4 – POP3 (shares pool 3)". */
  label(id: number): string {
    const name = this.name(id);
    return `${id}${name ? ` – ${name}` : ""} (${allowanceWords(this.allowed(id))})`;
  }
}

/** An allowance in the pool list's words: "no limit", "100,000 B/s", "shares pool 3". */
function allowanceWords(allowed: number): string {
  if (allowed === 0) return "no limit";
  return allowed > 0 ? formatAllowance(allowed) : `shares pool ${-allowed}`;
}

/** What a pool's allowed bandwidth means: "No limit", "100,000 B/s", "Shares pool 3 (VPOP3)". */
export function allowanceMeaning(allowed: number, nameOf: (id: number) => string): string {
  if (allowed >= 0) return allowed === 0 ? "No limit" : formatAllowance(allowed);
  const parent = -allowed;
  const name = nameOf(parent);
  return `Shares pool ${parent}${name ? ` (${name})` : ""}`;
}

/** A connection's limit: "No limit", "100,000 B/s", "Pool 2 – Evening". */
export function limitText(limit: LimitSource, names: PoolNames): string {
  if (limit.source === "none") return "No limit";
  if (limit.source === "custom") return formatAllowance(limit.value);
  const name = names.name(limit.value);
  return `Pool ${formatNumber(limit.value)}${name ? ` – ${name}` : ""}`;
}

interface StatusPart {
  text: string;
  tone: "muted" | "ok" | "problem";
}

/** bandwidth.lua's state in a few words, in `el`: whether it runs, why it does not compile, its latest failed call. */
export function showScriptStatus(el: HTMLElement, s: ScriptStatus): void {
  const parts = scriptStatusParts(s);
  const key = JSON.stringify(parts);
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  el.replaceChildren(...parts.map((p) => h("span", { class: `script-part ${p.tone}` }, p.text)));
}

function scriptStatusParts(s: ScriptStatus): StatusPart[] {
  const loaded = s.loaded_at ? formatUnixTime(s.loaded_at) : null;
  const parts: StatusPart[] = [];
  if (s.compile_error) {
    const keeping = !s.active ? "each service's own setting applies" : `the version loaded ${loaded ? `at ${loaded}` : "before"} keeps running`;
    parts.push({ text: `bandwidth.lua does not compile (${luaErrorText(s.compile_error)}); ${keeping}`, tone: "problem" });
  } else if (s.present && s.active) {
    parts.push({ text: `bandwidth.lua: running${loaded ? ` since ${loaded}` : ""}`, tone: "ok" });
  } else if (s.present) {
    parts.push({ text: "bandwidth.lua: not loaded yet", tone: "muted" });
  } else {
    parts.push({ text: "bandwidth.lua: not present — each service's own setting applies", tone: "muted" });
  }
  if (s.last_error) {
    const when = s.last_error_at ? ` at ${formatUnixTime(s.last_error_at)}` : "";
    const count = plural(s.failed_calls, "failed call");
    parts.push({ text: `Last failed call${when}: ${luaErrorText(s.last_error)} — ${count} since it was loaded; those connections get their service's own setting`, tone: "problem" });
  }
  return parts;
}

/** A Lua message such as `syntax error: bandwidth.lua:3: 'end' expected` split into the line it names and the rest. */
export function luaError(message: string): { line: number | null; text: string } {
  const m = /^(?:(?:syntax|runtime) error: )?bandwidth\.lua:(\d+):\s*/.exec(message);
  return m ? { line: Number(m[1]), text: message.slice(m[0].length) } : { line: null, text: message };
}

/** "line 3: 'end' expected", or the message as it is when it names no line. */
export function luaErrorText(message: string): string {
  const e = luaError(message);
  return e.line ? `line ${e.line}: ${e.text}` : e.text;
}
