import type { BandwidthLive } from "./bindings/BandwidthLive";
import type { BandwidthPool } from "./bindings/BandwidthPool";
import type { BandwidthSettings } from "./bindings/BandwidthSettings";
import type { ConnectionLive } from "./bindings/ConnectionLive";
import type { PoolLive } from "./bindings/PoolLive";
import type { ScriptCheck } from "./bindings/ScriptCheck";
import type { ScriptStatus } from "./bindings/ScriptStatus";
import type { ScriptTestResult } from "./bindings/ScriptTestResult";
import type { ServiceId } from "./bindings/ServiceId";
import type { ServiceView } from "./bindings/ServiceView";
import type { Throttle } from "./bindings/Throttle";
import { demo, setValue, sleep, waitFor } from "./mock-util";
import { EXAMPLES } from "./windows/bandwidth-examples";

/*
 * The bandwidth commands for the browser preview: VPOP3's example pools, a few connections whose figures wander,
 * and a bandwidth.lua that is stored as given (every check passes; a test run gives a canned answer).
 * ?demo=noscript, scriptbroken, usedpools, scripttest drive the windows.
 */

const POOLS = 1000;
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

function saveScript(text: string) {
  scriptText = text;
  status = { ...status, present: true, active: true, loaded_at: now(), compile_error: null, last_error: null, last_error_at: null, failed_calls: 0 };
  return { text, status: structuredClone(status) };
}

export function bandwidthHandlers(services: () => ServiceView[]): Record<string, (args: any) => unknown> {
  return {
    get_bandwidth_settings: (): BandwidthSettings => {
      const own = Object.fromEntries(services().map((s) => [s.id, structuredClone(s.bandwidth)])) as Record<ServiceId, Throttle>;
      return { ...own, pools: structuredClone(pools) };
    },
    save_bandwidth_pools: (a: { pools: BandwidthPool[] }) => void (pools = structuredClone(a.pools)),
    get_bandwidth_live: (): BandwidthLive => ({ pools: livePools(), connections: structuredClone(connections), script: structuredClone(status) }),
    get_bandwidth_script: () => ({ text: scriptText, status: structuredClone(status) }),
    save_bandwidth_script: (a: { text: string }) => saveScript(a.text),
    check_bandwidth_script: (): ScriptCheck => ({ ok: true, error: null, line: null }),
    test_bandwidth_script: (): ScriptTestResult => ({ value: -1, meaning: 'Bandwidth Pool 1 "Daytime" (100000 bytes per second)', error: null, line: null, micros: 12 }),
  };
}

export async function bandwidthDemo(window: string): Promise<void> {
  if (window === "bandwidth" && demo === "usedpools") {
    const filter = await waitFor<HTMLSelectElement>("#pool-filter");
    await waitFor("#btn-apply:not([disabled])");
    filter.value = "used";
    filter.dispatchEvent(new Event("change"));
  } else if (window === "bandwidthscript" && demo === "scripttest") {
    await waitFor("#btn-save:not([disabled])");
    await sleep(50);
    setValue("test-at", "2026-11-27T19:15");
    (await waitFor("#btn-run-test")).click();
  }
}
