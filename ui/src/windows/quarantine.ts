/**
 * The Quarantine window: strangers' messages whose spam score reached the quarantine threshold (Spam Filter
 * → Score and Actions), held out of every mailbox — when, score, from, to, subject and the rules that
 * fired. Choose some and Release them to their recipients (each exactly once), Delete them, or Allow
 * Sender (the sender goes on the global allow list and the message is released).
 */
import { api, closeWindow, errorText } from "../api";
import type { HeldMessage } from "../bindings/HeldMessage";
import { watch } from "../changes";
import { formatSize, formatUnixTime, plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog } from "../widgets/dialog";
import { closeOnEscape, frame, h, text } from "../widgets/dom";

/** Column widths; the subject and the reasons share the rest. */
const WIDTHS = ["28px", "96px", "52px", "170px", "140px", "", "230px", "76px"];

export function mountQuarantine(app: HTMLElement): () => void {
  const f = frame("Quarantine", "quarantine-window");
  const strip = new Strip(f.strip);
  const summary = h("span", { class: "footer-info", id: "quarantine-summary" });
  const releaseBtn = button("Release", { id: "btn-release", primary: true, disabled: true, onClick: () => void act("release") });
  const allowBtn = button("Allow Sender", { id: "btn-allow-sender", disabled: true, onClick: () => void act("allow") });
  const deleteBtn = button("Delete", { id: "btn-delete", disabled: true, onClick: () => void act("delete") });
  const refreshBtn = button("Refresh", { id: "btn-refresh", onClick: () => void load() });
  const all = h("input", { type: "checkbox", id: "quarantine-all", "aria-label": "Choose every message listed" });
  const tbody = h("tbody");
  const chosen = new Set<number>();
  let held: HeldMessage[] = [];

  const head = ["", "Received", "Score", "From", "To", "Subject", "Why", "Size"];
  const table = h(
    "table",
    { class: "grid", id: "quarantine-table", "aria-label": "Held messages" },
    h("thead", null, h("tr", null, head.map((t, i) => h("th", { class: i === 2 || i === 7 ? "right" : i === 0 ? "check" : "", style: WIDTHS[i] ? `width:${WIDTHS[i]}` : null }, i === 0 ? all : t)))),
    tbody,
  );
  all.addEventListener("change", () => {
    for (const m of held) (all.checked ? chosen.add(m.id) : chosen.delete(m.id));
    render();
  });

  f.body.append(
    h("p", { class: "explain" }, "Messages from strangers that scored high enough to be held. They expire after the days set in the Spam Filter window. Releasing delivers a message to its recipients as if the filter had let it through."),
    h("div", { class: "list-area" }, h("div", { class: "table-wrap fill" }, table)),
    h("div", { class: "list-buttons" }, releaseBtn, allowBtn, deleteBtn, refreshBtn),
  );
  fillBar(f.bar, [summary], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);
  app.replaceChildren(f.root);
  const stopEscape = closeOnEscape(closeWindow);

  function render(): void {
    tbody.replaceChildren(
      ...(held.length
        ? held.map((m) => {
            const box = h("input", { type: "checkbox", class: "quarantine-check", "aria-label": `Choose ${m.subject || "(no subject)"}`, checked: chosen.has(m.id), "data-id": String(m.id) });
            box.addEventListener("change", () => {
              if (box.checked) chosen.add(m.id);
              else chosen.delete(m.id);
              update();
            });
            const from = m.from || m.sender || "(none)";
            const reasons = m.reasons.split(",").join(", ");
            const tr = h(
              "tr",
              { class: chosen.has(m.id) ? "selected" : "", "data-id": String(m.id) },
              h("td", { class: "check" }, box),
              h("td", null, formatUnixTime(m.received_at)),
              h("td", { class: "right" }, String(m.score)),
              h("td", { title: m.sender && m.sender !== m.from ? `${from} (envelope: ${m.sender}, from ${m.peer})` : `${from} (from ${m.peer})` }, from),
              h("td", { title: m.recipients.join(", ") }, m.recipients.join(", ")),
              h("td", { title: m.subject }, m.subject || "(no subject)"),
              h("td", { title: reasons, class: "wrap" }, reasons),
              h("td", { class: "right" }, formatSize(m.size)),
            );
            tr.addEventListener("click", (ev) => {
              if ((ev.target as HTMLElement).tagName !== "INPUT") box.click();
            });
            return tr;
          })
        : [h("tr", null, h("td", { colspan: 8, class: "empty" }, "Nothing is held. Mail that scores high enough to be quarantined waits here."))]),
    );
    update();
  }

  function update(): void {
    const n = held.filter((m) => chosen.has(m.id)).length;
    for (const b of [releaseBtn, allowBtn, deleteBtn]) b.disabled = n === 0;
    text(releaseBtn, n > 1 ? `Release ${n}` : "Release");
    text(deleteBtn, n > 1 ? `Delete ${n}` : "Delete");
    all.checked = n > 0 && n === held.length;
    for (const tr of tbody.querySelectorAll<HTMLElement>("tr[data-id]")) tr.classList.toggle("selected", chosen.has(Number(tr.dataset.id)));
  }

  async function load(): Promise<void> {
    try {
      held = await api.listQuarantine();
      for (const id of [...chosen]) if (!held.some((m) => m.id === id)) chosen.delete(id);
      render();
      const bytes = held.reduce((a, m) => a + Number(m.size), 0);
      text(summary, `${plural(held.length, "message")} held, ${formatSize(bytes)}`);
    } catch (e) {
      strip.error(`Cannot read the quarantine: ${errorText(e)}`);
    }
  }

  async function act(what: "release" | "delete" | "allow"): Promise<void> {
    const ids = held.filter((m) => chosen.has(m.id)).map((m) => m.id);
    if (!ids.length) return;
    try {
      if (what === "delete") {
        const sure = await confirmDialog("Delete held messages", [h("p", null, `Delete ${plural(ids.length, "message")} for good? Their recipients never see them.`)], "Delete");
        if (!sure) return;
        await busy([deleteBtn], () => api.deleteQuarantined(ids));
        strip.info(`${plural(ids.length, "message")} deleted.`);
      } else if (what === "release") {
        const copies = await busy([releaseBtn], () => api.releaseQuarantined(ids));
        strip.info(`${plural(ids.length, "message")} released: ${plural(copies, "copy", "copies")} delivered.`);
      } else {
        const added = await busy([allowBtn], () => api.allowQuarantinedSenders(ids));
        strip.info(`Allowed from now on: ${[...new Set(added)].join(", ")}; ${plural(ids.length, "message")} released.`);
      }
      chosen.clear();
    } catch (e) {
      strip.error(`${what === "delete" ? "Not deleted" : "Not released"}: ${errorText(e)}`);
    }
    await load();
  }

  const stopWatch = watch(["data"], load, { everyMs: 30_000 });
  return () => {
    stopWatch();
    stopEscape();
  };
}
