/**
 * The Recycle Bin window (beyond VPOP3, which only offers Undelete-since): every deleted message, newest
 * first — user, folder, subject, from, when, why, size — with a search, check boxes to choose a few and
 * Restore (optionally marking them \Flagged so that an age rule does not take them again at once); and the
 * deleted users, each with Restore user.
 */
import { api, closeWindow, errorText } from "../api";
import type { Recycled } from "../bindings/Recycled";
import type { Restored } from "../bindings/Restored";
import { formatDateTime, formatSize, plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { closeOnEscape, frame, h, text } from "../widgets/dom";
import { group, input } from "../widgets/form";

/** Column widths; the subject takes the rest. */
const WIDTHS = ["28px", "80px", "100px", "", "180px", "150px", "110px", "84px"];

export function mountRecycleBin(app: HTMLElement): () => void {
  const f = frame("Recycle Bin", "recyclebin-window");
  const strip = new Strip(f.strip);
  const summary = h("span", { class: "footer-info", id: "recycle-summary" });
  const search = input("recycle-search", { type: "search", placeholder: "Search user, folder, subject, sender, reason", class: "w-long" });
  const mark = input("recycle-mark", { type: "checkbox" });
  const restoreBtn = button("Restore", { id: "btn-restore", primary: true, disabled: true, onClick: () => void restore() });
  const refreshBtn = button("Refresh", { id: "btn-refresh", onClick: () => void load() });
  const all = h("input", { type: "checkbox", id: "recycle-all", "aria-label": "Choose every message listed" });
  const tbody = h("tbody");
  const users = h("div", { id: "deleted-users" });
  const chosen = new Set<number>();
  let entries: Recycled[] = [];

  const head = ["", "User", "Folder", "Subject", "From", "Deleted", "Why", "Size"];
  const table = h(
    "table",
    { class: "grid", id: "recycle-table", "aria-label": "Deleted messages" },
    h("thead", null, h("tr", null, head.map((t, i) => h("th", { class: i === 7 ? "right" : i === 0 ? "check" : "", style: WIDTHS[i] ? `width:${WIDTHS[i]}` : null }, i === 0 ? all : t)))),
    tbody,
  );
  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void load(), 250);
  });
  all.addEventListener("change", () => {
    for (const e of entries) (all.checked ? chosen.add(e.id) : chosen.delete(e.id));
    render();
  });

  f.body.append(
    h("div", { class: "toolbar" }, search, refreshBtn),
    h("div", { class: "list-area" }, h("div", { class: "table-wrap fill" }, table)),
    h(
      "div",
      { class: "list-buttons" },
      restoreBtn,
      h("label", { class: "check-label", for: "recycle-mark" }, mark, " Mark restored messages as flagged (rules for unflagged mail then leave them alone)"),
    ),
    group("Deleted users", users),
  );
  fillBar(f.bar, [summary], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);
  app.replaceChildren(f.root);
  const stopEscape = closeOnEscape(closeWindow);

  function render(): void {
    tbody.replaceChildren(
      ...(entries.length
        ? entries.map((e) => {
            const box = h("input", { type: "checkbox", class: "recycle-check", "aria-label": `Choose ${e.subject || "(no subject)"}`, checked: chosen.has(e.id), "data-id": String(e.id) });
            box.addEventListener("change", () => {
              if (box.checked) chosen.add(e.id);
              else chosen.delete(e.id);
              update();
            });
            const tr = h(
              "tr",
              { class: chosen.has(e.id) ? "selected" : "", "data-id": String(e.id) },
              h("td", { class: "check" }, box),
              h("td", null, e.user),
              h("td", null, e.folder),
              h("td", { title: e.subject }, e.subject || "(no subject)"),
              h("td", { title: e.from }, e.from),
              h("td", { title: formatDateTime(e.deleted_at) }, formatDateTime(e.deleted_at)),
              h("td", null, e.reason),
              h("td", { class: "right" }, formatSize(e.size)),
            );
            tr.addEventListener("click", (ev) => {
              if ((ev.target as HTMLElement).tagName !== "INPUT") box.click();
            });
            return tr;
          })
        : [h("tr", null, h("td", { colspan: 8, class: "empty" }, search.value.trim() ? "Nothing deleted matches the search." : "The Recycle Bin is empty."))]),
    );
    update();
  }

  function update(): void {
    const n = entries.filter((e) => chosen.has(e.id)).length;
    restoreBtn.disabled = n === 0;
    text(restoreBtn, n ? `Restore ${plural(n, "message")}` : "Restore");
    all.checked = n > 0 && n === entries.length;
    for (const tr of tbody.querySelectorAll<HTMLElement>("tr[data-id]")) tr.classList.toggle("selected", chosen.has(Number(tr.dataset.id)));
  }

  async function load(): Promise<void> {
    try {
      const [list, store] = await Promise.all([api.listRecycleBin({ user: null, search: search.value }), api.getMessageStore()]);
      entries = list;
      for (const id of [...chosen]) if (!entries.some((e) => e.id === id)) chosen.delete(id);
      render();
      const listed = list.length < store.bin.messages ? ` (${list.length} listed)` : "";
      text(summary, `${plural(store.bin.messages, "message")}, ${formatSize(store.bin.bytes)}${listed} · kept ${store.recycle_hours} hours`);
      users.replaceChildren(
        ...(store.bin.users.length
          ? store.bin.users.map((u) =>
              h(
                "div",
                { class: "deleted-user" },
                h("span", null, h("strong", null, u.name), ` — deleted ${formatDateTime(u.deleted_at)}, ${plural(u.messages, "message")} (${formatSize(u.bytes)})`),
                button("Restore user", { id: `btn-restore-user-${u.name}`, onClick: () => void restoreUser(u.name) }),
              ),
            )
          : [h("div", { class: "hint" }, "No deleted users are waiting.")]),
      );
    } catch (e) {
      strip.error(`Cannot read the Recycle Bin: ${errorText(e)}`);
    }
  }

  async function restore(): Promise<void> {
    const ids = entries.filter((e) => chosen.has(e.id)).map((e) => e.id);
    try {
      const done = await busy([restoreBtn], () => api.restoreRecycled(ids, mark.checked));
      report(done);
      chosen.clear();
      await load();
    } catch (e) {
      strip.error(`Nothing was restored: ${errorText(e)}`);
    }
  }

  function report(done: Restored[]): void {
    const ok = done.filter((r) => r.error === null);
    const failed = done.filter((r) => r.error !== null);
    const where = [...new Set(ok.map((r) => `${r.user}'s ${r.folder}`))].join(", ");
    if (failed.length) strip.error(`${plural(ok.length, "message")} restored; not restored: ${failed.map((r) => r.error).join("; ")}`);
    else strip.info(`${plural(ok.length, "message")} restored to ${where}.`);
  }

  async function restoreUser(name: string): Promise<void> {
    try {
      const lost = await api.restoreUser(name);
      strip.info(`User ${name} was restored with their mail.${lost.length ? ` These aliases belong to others now and were not restored: ${lost.join(", ")}.` : ""}`);
      await load();
    } catch (e) {
      strip.error(`User ${name} was not restored: ${errorText(e)}`);
    }
  }

  void load();
  return () => {
    clearTimeout(timer);
    stopEscape();
  };
}
