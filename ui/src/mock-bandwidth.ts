import type { BandwidthLive } from "./bindings/BandwidthLive";
import type { BandwidthPool } from "./bindings/BandwidthPool";
import type { BandwidthSettings } from "./bindings/BandwidthSettings";
import type { ConnectionLive } from "./bindings/ConnectionLive";
import type { FieldError } from "./bindings/FieldError";
import type { PoolLive } from "./bindings/PoolLive";
import type { ScriptCheck } from "./bindings/ScriptCheck";
import type { ScriptStatus } from "./bindings/ScriptStatus";
import type { ScriptTestRequest } from "./bindings/ScriptTestRequest";
import type { ScriptTestResult } from "./bindings/ScriptTestResult";
import type { ServiceId } from "./bindings/ServiceId";
import type { ServiceView } from "./bindings/ServiceView";
import type { Throttle } from "./bindings/Throttle";
import { tokenizeLua } from "./lua";
import { demo, invalid, setValue, sleep, waitFor } from "./mock-util";
import { EXAMPLES } from "./windows/bandwidth-examples";

/*
 * The bandwidth commands for the browser preview: VPOP3's example pools, a few connections whose figures wander,
 * and a pretend bandwidth.lua (a bracket-counting "compiler" and a tester that knows VPOP3's three examples).
 * ?demo=noscript, scriptbroken, poolerror, usedpools, scripterror, scripttest drive the windows.
 */

const POOLS = 1000;
const MAX_RATE = 999_999_999;
const now = () => Math.floor(Date.now() / 1000);

let pools: BandwidthPool[] = [
  { id: 1, name: "Daytime", allowed: 100000 },
  { id: 2, name: "Evening", allowed: 50000 },
  { id: 3, name: "VPOP3", allowed: 100000 },
  { id: 4, name: "POP3", allowed: -3 },
  { id: 5, name: "IMAP4", allowed: -3 },
];
const allowed = (id: number) => pools.find((p) => p.id === id)?.allowed ?? 0;

/** The mock services' Bandwidth Throttling: POP3 in pool 4, IMAP4 in pool 5 (both share pool 3), SMTP 100,000 B/s each. */
export function mockThrottle(id: ServiceId): Throttle {
  if (id.startsWith("pop3")) return { mode: "pool", bytes_per_sec: 100000, pool: 4 };
  if (id.startsWith("imap")) return { mode: "pool", bytes_per_sec: 100000, pool: 5 };
  return { mode: id === "smtp" ? "custom" : "none", bytes_per_sec: 100000, pool: 1 };
}

export function validateThrottle(s: ServiceView): FieldError[] {
  const t = s.bandwidth;
  const field = (name: string, message: string) => ({ field: `${s.id}.bandwidth.${name}`, message });
  if (t.mode === "custom" && !(t.bytes_per_sec >= 1)) return [field("bytes_per_sec", "at least 1 byte per second (choose No Limit for none)")];
  if (t.mode === "custom" && t.bytes_per_sec > MAX_RATE) return [field("bytes_per_sec", `at most ${MAX_RATE} bytes per second`)];
  if (t.mode === "pool" && !(t.pool >= 1 && t.pool <= POOLS)) return [field("pool", `a pool from 1 to ${POOLS}`)];
  return [];
}

/** The engine's checks on the pools, with its messages. */
function validatePools(list: BandwidthPool[]): FieldError[] {
  const errors: FieldError[] = [];
  const byId = new Map(list.map((p) => [p.id, p.allowed]));
  const seen = new Set<number>();
  for (const p of list) {
    const field = `bandwidth.pools.${p.id}`;
    if (!(p.id >= 1 && p.id <= POOLS)) errors.push({ field, message: `pool numbers go from 1 to ${POOLS}` });
    else if (seen.has(p.id)) errors.push({ field, message: `pool ${p.id} is listed twice` });
    else if (p.allowed > MAX_RATE) errors.push({ field, message: `pool ${p.id}: at most ${MAX_RATE} bytes per second` });
    else if (-p.allowed > POOLS) errors.push({ field, message: `pool ${p.id}: there is no pool ${-p.allowed} to share (pools go from 1 to ${POOLS})` });
    else {
      const path = [p.id];
      for (let at = byId.get(p.id) ?? 0; at < 0 && path.length <= POOLS; at = byId.get(-at) ?? 0) {
        path.push(-at);
        if (path.indexOf(-at) < path.length - 1) {
          errors.push({ field, message: `pool ${p.id}: the pools share each other's allowance in a circle (${path.join(" → ")})` });
          break;
        }
      }
    }
    seen.add(p.id);
  }
  return errors;
}

const started = now();
const connections: ConnectionLive[] = [
  { session: 1041, service: "pop3", client: "203.0.113.77", user: "alice", limit: { source: "pool", value: 4 }, origin: "service", connected_at: started - 95 },
  { session: 1042, service: "imap", client: "81.2.69.142", user: "carol", limit: { source: "pool", value: 1 }, origin: "script", connected_at: started - 1260 },
  { session: 1043, service: "imaps", client: "192.168.1.23", user: "bob", limit: { source: "none" }, origin: "script", connected_at: started - 3605 },
  { session: 1044, service: "smtp", client: "198.51.100.20", user: "", limit: { source: "custom", value: 100000 }, origin: "service", connected_at: started - 4 },
  { session: 1045, service: "imaps", client: "81.2.69.160", user: "reception", limit: { source: "pool", value: 2 }, origin: "script", connected_at: started - 540 },
  { session: 1046, service: "pop3s", client: "203.0.113.90", user: "dave", limit: { source: "pool", value: 4 }, origin: "service", connected_at: started - 30 },
];

/** Each pooled connection's wandering rate, added to its pool and every pool that one shares. */
function livePools(): PoolLive[] {
  const t = Date.now() / 1000;
  const out = new Map<number, PoolLive>();
  connections.forEach((c, i) => {
    if (c.limit.source !== "pool") return;
    const sending = Math.round(42000 + 6000 * Math.sin(t / 3 + i));
    const receiving = Math.round(900 + 300 * Math.cos(t / 2 + i));
    let id = c.limit.value;
    for (let hops = 0; id >= 1 && id <= POOLS && hops < POOLS; hops++) {
      const p = out.get(id) ?? { id, connections: 0, sending: 0, receiving: 0 };
      if (hops === 0) p.connections++;
      p.sending += sending;
      p.receiving += receiving;
      out.set(id, p);
      if (allowed(id) >= 0) break;
      id = -allowed(id);
    }
  });
  return [...out.values()].sort((a, b) => a.id - b.id);
}

let scriptText = demo === "noscript" ? "" : EXAMPLES[2].text;
let status: ScriptStatus = {
  path: "/home/office/.local/share/postroom/bandwidth.lua",
  present: demo !== "noscript",
  active: demo !== "noscript",
  loaded_at: demo === "noscript" ? null : started - 3 * 3600,
  compile_error: demo === "scriptbroken" ? "syntax error: bandwidth.lua:9: 'then' expected near 'return'" : null,
  last_error: demo === "scriptbroken" ? "GetBandwidth returned 5000000000: use 0 (no limit), 1 to 999999999 (bytes per second) or -1 to -1000 (a pool)" : null,
  last_error_at: demo === "scriptbroken" ? started - 600 : null,
  failed_calls: demo === "scriptbroken" ? 3 : 0,
  loads: demo === "noscript" ? 0 : 1,
};

/** A pretend compiler: block keywords must pair with `end`/`until`, and GetBandwidth must be there. */
function fakeCheck(source: string): ScriptCheck {
  const fail = (error: string, line: number | null): ScriptCheck => ({ ok: false, error, line });
  const open: number[] = [];
  let line = 1;
  for (const t of tokenizeLua(source)) {
    if (t.kind === "keyword" && ["function", "if", "do", "repeat"].includes(t.text)) open.push(line);
    if (t.kind === "keyword" && (t.text === "end" || t.text === "until") && open.pop() === undefined) {
      return fail(`syntax error: bandwidth.lua:${line}: '<eof>' expected near '${t.text}'`, line);
    }
    line += t.text.split("\n").length - 1;
  }
  if (open.length) return fail(`syntax error: bandwidth.lua:${line}: 'end' expected (to close the block at line ${open[open.length - 1]}) near <eof>`, line);
  if (!/function\s+GetBandwidth\s*\(/.test(source)) return fail("bandwidth.lua does not define a function GetBandwidth(params)", null);
  return { ok: true, error: null, line: null };
}

function poolMeaning(p: number): string {
  const name = pools.find((x) => x.id === p)?.name;
  const a = allowed(p);
  const words = a === 0 ? "no limit" : a < 0 ? `shares pool ${-a}` : `${a} bytes per second`;
  return `Bandwidth Pool ${p}${name ? ` "${name}"` : ""} (${words})`;
}

/** Plays VPOP3's examples (local network, the boss, time of day); anything else returns its last `return`. */
function fakeRun(req: ScriptTestRequest): ScriptTestResult {
  const check = fakeCheck(req.source);
  if (!check.ok) return { value: null, meaning: null, error: check.error, line: check.line, micros: 0 };
  const { source, params } = req;
  const exempt = (source.includes("^192%.168%.") && params.clientip.startsWith("192.168.")) || (source.includes('"theboss"') && params.username === "theboss");
  let value: number;
  if (exempt) value = 0;
  else if (source.includes("os.date")) {
    const d = req.at === null ? new Date() : new Date(req.at * 1000);
    const [hour, min, wday] = [d.getHours(), d.getMinutes(), d.getDay()];
    value = hour >= 18 || (hour === 17 && min >= 30) || hour < 8 || wday === 6 || wday === 0 ? -2 : -1;
  } else value = Number([...source.matchAll(/return\s+(-?\d+)/g)].pop()?.[1] ?? 0);
  const micros = 8 + Math.random() * 12;
  if (value > MAX_RATE || value < -POOLS) {
    return { value: null, meaning: null, line: null, micros, error: `GetBandwidth returned ${value}: use 0 (no limit), 1 to ${MAX_RATE} (bytes per second) or -1 to -${POOLS} (a pool)` };
  }
  const meaning = value === 0 ? "no limit" : value > 0 ? `${value} bytes per second for this connection` : poolMeaning(-value);
  return { value, meaning, error: null, line: null, micros };
}

function saveScript(text: string) {
  scriptText = text;
  const check = fakeCheck(text);
  status = { ...status, present: true };
  if (check.ok) status = { ...status, active: true, loaded_at: now(), compile_error: null, last_error: null, last_error_at: null, failed_calls: 0 };
  else status = { ...status, compile_error: check.error };
  return { text, status: structuredClone(status) };
}

export function bandwidthHandlers(services: () => ServiceView[]): Record<string, (args: any) => unknown> {
  return {
    get_bandwidth_settings: (): BandwidthSettings => {
      const own = Object.fromEntries(services().map((s) => [s.id, structuredClone(s.bandwidth)])) as Record<ServiceId, Throttle>;
      return { ...own, pools: structuredClone(pools) };
    },
    save_bandwidth_pools: (a: { pools: BandwidthPool[] }) => {
      const errors = validatePools(a.pools);
      if (errors.length) throw invalid(errors);
      pools = a.pools.map((p) => ({ ...p, name: p.name.trim() })).filter((p) => p.name || p.allowed !== 0);
    },
    get_bandwidth_live: (): BandwidthLive => ({ pools: livePools(), connections: structuredClone(connections), script: structuredClone(status) }),
    get_bandwidth_script: () => ({ text: scriptText, status: structuredClone(status) }),
    save_bandwidth_script: (a: { text: string }) => saveScript(a.text),
    check_bandwidth_script: (a: { source: string }) => fakeCheck(a.source),
    test_bandwidth_script: (a: { request: ScriptTestRequest }) => fakeRun(a.request),
  };
}

export async function bandwidthDemo(window: string): Promise<void> {
  if (window === "bandwidth" && demo === "poolerror") {
    await waitFor("#btn-apply:not([disabled])");
    setValue("pool-7-name", "Loop A");
    setValue("pool-7-allowed", "-8");
    setValue("pool-8-allowed", "-7");
    (await waitFor("#btn-apply")).click();
  } else if (window === "bandwidth" && demo === "usedpools") {
    const filter = await waitFor<HTMLSelectElement>("#pool-filter");
    await waitFor("#btn-apply:not([disabled])");
    filter.value = "used";
    filter.dispatchEvent(new Event("change"));
  } else if (window === "bandwidthscript" && demo === "scripterror") {
    await waitFor("#btn-save:not([disabled])");
    setValue("script-text", EXAMPLES[0].text.replace("  else\n", "  else\n    if params[\"username\"] == \"\" then\n"));
    (await waitFor("#btn-check")).click();
  } else if (window === "bandwidthscript" && demo === "scripttest") {
    await waitFor("#btn-save:not([disabled])");
    await sleep(50);
    setValue("test-at", "2026-11-27T19:15");
    (await waitFor("#btn-run-test")).click();
  }
}
