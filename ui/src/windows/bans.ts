import { api, closeWindow, errorText, toApiError } from "../api";
import type { Ban } from "../bindings/Ban";
import { formatDateTime, formatShortTime, plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog } from "../widgets/dialog";
import { watch } from "../changes";
import { frame, h, text } from "../widgets/dom";
import { Table } from "../widgets/table";

/** Addresses and logins banned after repeated failed logins, with Unban. */
export function mountBans(app: HTMLElement): () => void {
  const f = frame("Bans", "bans-window");
  const strip = new Strip(f.strip);
  const summary = h("span", { class: "footer-info", id: "bans-summary" });
  let failures = 0;
  let lastKey = "";

  const unbanBtn = button("Unban", { id: "btn-unban", disabled: true, onClick: () => void unban(), title: "Let this address or login in again now" });
  const table = new Table<Ban>({
    id: "bans-table",
    label: "Current bans",
    selectable: true,
    rowKey: (b) => `${b.kind} ${b.value}`,
    empty: "Nobody is banned.",
    onSelect: (b) => (unbanBtn.disabled = b === null),
    onDelete: () => void unban(),
    columns: [
      { key: "kind", title: "Kind", value: (b) => (b.kind === "address" ? "Address" : "Login"), width: "90px" },
      { key: "value", title: "Address or login", value: (b) => b.value, width: "30%" },
      { key: "until", title: "Banned until", value: (b) => Date.parse(b.until) || 0, render: (b) => h("span", { title: formatDateTime(b.until) }, formatShortTime(b.until)), width: "120px" },
      { key: "reason", title: "Reason", value: (b) => b.reason, render: (b) => h("span", { class: "ellipsis", title: b.reason }, b.reason) },
    ],
  });
  table.el.classList.add("fill");

  f.body.append(
    h("p", { class: "explain" }, "After five failed logins within 15 minutes, the address and the login name are turned away by every service for 30 minutes. Unban lets one in again at once."),
    h("div", { class: "list-area" }, table.el),
    h("div", { class: "list-buttons" }, unbanBtn),
  );
  fillBar(f.bar, [summary], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  async function load(): Promise<void> {
    try {
      const bans = await api.listBans();
      const key = JSON.stringify(bans);
      if (key !== lastKey) table.setRows(bans);
      lastKey = key;
      text(summary, bans.length ? `${plural(bans.length, "ban")} in force` : "No bans");
      if (failures > 0) strip.clear();
      failures = 0;
    } catch (e) {
      if (failures++ === 0) strip.error(`Cannot read the bans: ${errorText(e)}`);
    }
  }

  async function unban(): Promise<void> {
    const b = table.selected();
    if (!b) return;
    const ok = await confirmDialog("Unban", [h("p", null, "Let ", h("strong", null, b.value), " log in and connect again now?")], "Unban");
    if (!ok) return;
    await busy([unbanBtn], async () => {
      try {
        await api.clearBan(b.value);
        strip.info(`${b.value} is no longer banned.`);
      } catch (err) {
        strip.error(toApiError(err).code === "not_found" ? `${b.value} was no longer banned.` : `Cannot unban ${b.value}: ${errorText(err)}`);
      }
      await load();
    });
  }

  app.replaceChildren(f.root);
  // Bans end by themselves: the list is read again every half minute besides the changes.
  return watch(["data"], load, { everyMs: 30_000 });
}
