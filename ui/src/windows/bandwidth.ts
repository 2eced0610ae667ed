import { api, errorText } from "../api";
import { watch } from "../changes";
import type { BandwidthPool } from "../bindings/BandwidthPool";
import type { BandwidthSettings } from "../bindings/BandwidthSettings";
import type { ConnectionLive } from "../bindings/ConnectionLive";
import type { LimitOrigin } from "../bindings/LimitOrigin";
import type { PoolLive } from "../bindings/PoolLive";
import { formatNumber, formatRate, formatUnixTime, plural, SERVICE_LABELS } from "../format";
import { button } from "../widgets/buttons";
import { frame, h, text } from "../widgets/dom";
import { SettingsWindow } from "../widgets/settings-window";
import { errorSlot, group, input, integer, select } from "../widgets/form";
import { Table } from "../widgets/table";
import { allowanceMeaning, limitText, MAX_RATE, POOL_COUNT, POOL_IDS, PoolNames, showScriptStatus } from "./pools";

const ORIGIN_TEXT: Record<LimitOrigin, string> = { service: "service setting", user: "user setting", script: "bandwidth.lua" };

const SERVICE_IDS = Object.keys(SERVICE_LABELS) as (keyof typeof SERVICE_LABELS)[];

interface PoolRow {
  id: number;
  tr: HTMLTableRowElement;
  name: HTMLInputElement;
  allowed: HTMLInputElement;
  meaning: HTMLElement;
  connections: HTMLElement;
  sending: HTMLElement;
  receiving: HTMLElement;
}

/** One pool's row; its inputs look like plain text until hovered or focused. */
function poolRow(id: number): PoolRow {
  const name = input(`pool-${id}-name`, { class: "cell-input", "aria-label": `Pool ${id}: name` });
  const allowed = input(`pool-${id}-allowed`, { class: "cell-input num", inputmode: "numeric", "aria-label": `Pool ${id}: allowed bandwidth, bytes per second` });
  const meaning = h("span", { class: "meaning-text", id: `pool-${id}-meaning` });
  const live = (what: string) => h("td", { class: "right live", id: `pool-${id}-${what}` });
  const r = { id, name, allowed, meaning, connections: live("connections"), sending: live("sending"), receiving: live("receiving") };
  const tr = h(
    "tr",
    { id: `pool-${id}`, "data-pool": id },
    h("td", { class: "right pool-id" }, String(id)),
    h("td", null, name),
    h("td", null, allowed),
    h("td", { class: "meaning" }, errorSlot(allowed), meaning),
    r.connections,
    r.sending,
    r.receiving,
  );
  return { ...r, tr };
}

/** A pool's allowed bandwidth as typed: bytes per second, 0 (or nothing) for no limit, −K to share pool K; or what is wrong. */
function parseAllowed(raw: string, id: number): number | string {
  if (raw.trim() === "") return 0;
  const v = integer(raw, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (typeof v === "string") return "enter bytes per second, 0 for no limit, or −K to share pool K";
  if (v > MAX_RATE) return `at most ${formatNumber(MAX_RATE)} bytes per second`;
  if (v < -POOL_COUNT) return `there is no pool ${-v} to share (pools go from 1 to ${POOL_COUNT})`;
  if (v === -id) return "a pool cannot share itself";
  return v;
}

const POOL_COLUMNS: [title: string, tip: string, right: boolean][] = [
  ["Pool", "", true],
  ["Name", "", false],
  ["Allowed bandwidth", "Bytes per second; 0 = no limit; −K = share pool K's allowance", true],
  ["Meaning", "", false],
  ["Connections", "Connections in this pool itself, not in the pools that share it", true],
  ["Sending", "Bytes per second sent to clients by this pool and the pools that share it, over the last few seconds", true],
  ["Receiving", "Bytes per second received from clients by this pool and the pools that share it", true],
];

const headCell = ([title, tip, right]: (typeof POOL_COLUMNS)[number]) => h("th", { class: right ? "right" : null, scope: "col", title: tip || null }, title);

function connectionsTable(names: () => PoolNames): Table<ConnectionLive> {
  return new Table<ConnectionLive>({
    id: "connections-table",
    label: "Connections now",
    rowKey: (c) => String(c.session),
    empty: "No connections at the moment.",
    columns: [
      { key: "session", title: "Session", value: (c) => c.session, render: (c) => `#${c.session}`, align: "right", width: "70px" },
      { key: "service", title: "Service", value: (c) => SERVICE_LABELS[c.service] ?? c.service, width: "84px" },
      { key: "client", title: "Client", value: (c) => c.client, width: "130px" },
      { key: "user", title: "User", value: (c) => c.user, render: (c) => c.user || h("span", { class: "muted" }, "not logged in") },
      { key: "limit", title: "Limit", value: (c) => limitText(c.limit, names()) },
      { key: "origin", title: "Source", value: (c) => ORIGIN_TEXT[c.origin], width: "112px" },
      { key: "since", title: "Connected", value: (c) => c.connected_at, render: (c) => formatUnixTime(c.connected_at), align: "right", width: "96px" },
    ],
  });
}

/** The Bandwidth Pools window (VPOP3's Settings → Misc Settings → Bandwidth Pools), with the live use of each pool. */
export function mountBandwidth(app: HTMLElement): () => void {
  const f = frame("Bandwidth Pools", "bandwidth-window");
  const sw = new SettingsWindow({
    frame: f,
    formId: "pools-form",
    formClass: "pools-group",
    check: () => collect().local,
    save: () => api.saveBandwidthPools(collect().pools),
    applied: async () => {
      fill(await api.getBandwidthSettings());
      strip.info("Pools saved. Their connections follow the new allowances at once.");
    },
    // A row the filter hides is shown again, so that its field can be marked and focused.
    reveal: (messages) => {
      for (const key of messages.keys()) shown.add(Number(key.split(".").pop()));
      applyFilter();
    },
    errorText: ({ messages, unmatched }) => {
      const all = [...messages.values()];
      const listed = all.slice(0, 3).join("; ") + (all.length > 3 ? `; and ${all.length - 3} more` : "");
      return `Nothing was saved: ${listed}.${unmatched.length ? "" : " The pools are marked in the table."}`;
    },
  });
  const { strip, errors } = sw;
  const rows = POOL_IDS.map(poolRow);
  for (const r of rows) errors.register(`bandwidth.pools.${r.id}`, r.allowed);
  let settings: BandwidthSettings | null = null;
  let names = new PoolNames();
  let live = new Map<number, PoolLive>();
  const nameOf = (id: number) => rows[id - 1]?.name.value.trim() ?? "";

  const filter = select("pool-filter", [["all", "All pools"], ["used", "Pools in use or named"]]);
  const summary = h("span", { class: "pool-summary", id: "pool-summary" });
  const status = h("span", { class: "script-status", id: "script-status" });
  const tbody = h("tbody", null, rows.map((r) => r.tr));
  const table = h("table", { class: "grid pools", id: "pools-table", "aria-label": "Bandwidth pools" }, h("thead", null, h("tr", null, POOL_COLUMNS.map(headCell))), tbody);
  const connections = connectionsTable(() => names);
  const connectionsTitle = h("span", { id: "connections-title" }, "Connections now");

  const editBtn = button("Edit bandwidth.lua…", {
    id: "btn-edit-script",
    onClick: () => void api.openWindow("bandwidthscript").catch((e) => strip.error(`Cannot open the script editor: ${errorText(e)}`)),
  });
  sw.form.append(
    group(
      "Pools",
      h("div", { class: "pools-toolbar" }, h("label", { for: filter.id }, "Show:"), filter, summary),
      h("p", { class: "hint top" }, "Allowed bandwidth: bytes per second; 0 = no limit; −K = share pool K's allowance (together never more than pool K allows)."),
      h("div", { class: "table-wrap pools-wrap", id: "pools-wrap" }, table),
    ),
  );
  f.body.append(
    h("p", { class: "purpose" }, "All connections in a pool share its allowance. Services choose a pool under Services → Bandwidth Throttling."),
    h("div", { class: "script-line" }, status, editBtn),
    sw.form,
    h("fieldset", { class: "group connections-group" }, h("legend", null, connectionsTitle), connections.el),
  );

  function showMeaning(r: PoolRow): void {
    const v = parseAllowed(r.allowed.value, r.id);
    const words = typeof v === "string" ? v : allowanceMeaning(v, nameOf);
    text(r.meaning, words);
    r.meaning.className = `meaning-text${typeof v === "string" ? " problem" : v === 0 ? " muted" : ""}`;
  }

  /** After pool `id` is renamed, the pools sharing it say so with its new name. */
  function showSharersOf(id: number): void {
    for (const r of rows) if (parseAllowed(r.allowed.value, r.id) === -id) showMeaning(r);
  }

  function fill(s: BandwidthSettings): void {
    settings = s;
    names = new PoolNames(s.pools);
    for (const r of rows) {
      r.name.value = names.name(r.id);
      r.allowed.value = String(names.allowed(r.id));
    }
    rows.forEach(showMeaning);
    applyFilter(true);
  }

  /** A pool with a name or an allowance, as typed. */
  const isSet = (r: PoolRow) => r.name.value.trim() !== "" || parseAllowed(r.allowed.value, r.id) !== 0;

  /** Pools named, limited, in use, chosen by a service, or shared by one of those. */
  function usedPools(): Set<number> {
    const used = new Set<number>(live.keys());
    for (const id of SERVICE_IDS) if (settings?.[id].mode === "pool") used.add(settings[id].pool);
    for (const r of rows) if (isSet(r) || r.tr.contains(document.activeElement)) used.add(r.id);
    for (const id of [...used]) {
      let at = id;
      for (let hops = 0; hops < POOL_COUNT; hops++) {
        const v = parseAllowed(rows[at - 1]?.allowed.value ?? "", at);
        if (typeof v !== "number" || v >= 0 || used.has(-v)) break;
        at = -v;
        used.add(at);
      }
    }
    return used;
  }

  // Rows shown under "in use or named" stay shown until the filter changes, so nothing jumps while typing.
  let shown = new Set<number>();
  function applyFilter(reset = false): void {
    if (reset) shown = new Set();
    const all = filter.value === "all";
    if (!all) for (const id of usedPools()) shown.add(id);
    for (const r of rows) {
      const hide = !all && !shown.has(r.id);
      if (r.tr.hidden !== hide) r.tr.hidden = hide;
    }
    const limited = rows.filter(isSet).length;
    text(summary, `${plural(limited, "pool")} named or limited · ${plural(live.size, "pool")} in use now`);
  }

  function renderLive(pools: PoolLive[]): void {
    const next = new Map(pools.map((p) => [p.id, p]));
    for (const id of new Set([...live.keys(), ...next.keys()])) {
      const a = live.get(id);
      const b = next.get(id);
      const r = rows[id - 1];
      if (!r || (a && b && a.connections === b.connections && a.sending === b.sending && a.receiving === b.receiving)) continue;
      text(r.connections, b ? formatNumber(b.connections) : "");
      text(r.sending, b ? formatRate(b.sending) : "");
      text(r.receiving, b ? formatRate(b.receiving) : "");
      r.tr.classList.toggle("in-use", b !== undefined);
    }
    live = next;
  }

  let liveFailing = false;
  async function refreshLive(): Promise<void> {
    try {
      const l = await api.getBandwidthLive();
      renderLive(l.pools);
      connections.setRows(l.connections);
      text(connectionsTitle, `Connections now: ${formatNumber(l.connections.length)}`);
      showScriptStatus(status, l.script);
      if (settings) applyFilter();
      liveFailing = false;
    } catch (e) {
      if (!liveFailing) strip.error(`Cannot read the live figures: ${errorText(e)}`);
      liveFailing = true;
    }
  }

  function collect(): { pools: BandwidthPool[]; local: Map<string, string> } {
    const pools: BandwidthPool[] = [];
    const local = new Map<string, string>();
    for (const r of rows) {
      const name = r.name.value.trim();
      const allowed = parseAllowed(r.allowed.value, r.id);
      if (typeof allowed === "string") local.set(`bandwidth.pools.${r.id}`, `pool ${r.id}: ${allowed}`);
      else if (name || allowed !== 0) pools.push({ id: r.id, name, allowed });
    }
    return { pools, local };
  }

  /** Enter and the up and down arrows move to the same column of the next or previous row shown. */
  function moveInColumn(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement;
    if (!(target instanceof HTMLInputElement) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const down = ev.key === "ArrowDown" || (ev.key === "Enter" && !ev.shiftKey);
    const up = ev.key === "ArrowUp" || (ev.key === "Enter" && ev.shiftKey);
    if (!down && !up) return;
    ev.preventDefault();
    const column = target.id.endsWith("-name") ? "name" : "allowed";
    let i = Number(target.closest("tr")!.dataset.pool) - 1;
    do i += down ? 1 : -1;
    while (rows[i]?.tr.hidden);
    const next = rows[i]?.[column];
    if (next) {
      next.focus();
      next.select();
    }
  }

  tbody.addEventListener("keydown", moveInColumn);
  tbody.addEventListener("input", (ev) => {
    const r = rows[Number((ev.target as HTMLElement).closest("tr")?.dataset.pool) - 1];
    if (!r) return;
    showMeaning(r);
    if (ev.target === r.name) showSharersOf(r.id);
  });
  filter.addEventListener("change", () => applyFilter(true));

  let stopWatch = () => {};
  app.replaceChildren(f.root);
  api
    .getBandwidthSettings()
    .then((s) => {
      fill(s);
      sw.ready();
      stopWatch = watch(["bandwidth", "services"], refreshLive);
    })
    .catch((e) => strip.error(`Cannot read the bandwidth settings: ${errorText(e)}`));
  return () => {
    sw.stop();
    stopWatch();
  };
}
