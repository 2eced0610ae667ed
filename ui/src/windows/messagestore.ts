/**
 * Settings → Database → Message Store (VPOP3's page): the Global Prune Rules, the Message Recycle Bin
 * (retention in hours, its size, Purge Recycle Bin, the Recycle Bin window) and the store's growth: its size
 * today and what was pruned on each of the last 30 days. OK/Apply save the retention and the rule table
 * together; nothing in the table takes effect before.
 */
import { api, errorText } from "../api";
import type { MessageStoreView } from "../bindings/MessageStoreView";
import type { PrunedDay } from "../bindings/PrunedDay";
import { formatSize, plural } from "../format";
import { busy, button } from "../widgets/buttons";
import { confirmDialog } from "../widgets/dialog";
import { frame, h, text } from "../widgets/dom";
import { grid, group, infoRow, input, row, whole } from "../widgets/form";
import { PruneRulesTable } from "../widgets/prune-rules";
import { SettingsWindow } from "../widgets/settings-window";

const MAX_HOURS = 24 * 366;

export function mountMessageStore(app: HTMLElement): () => void {
  const f = frame("Message Store", "messagestore-window");
  const hours = input("recycle-hours", { class: "w-short num", inputmode: "numeric" });
  const binSize = h("span", { id: "recycle-size" }, "–");
  const storeSize = h("span", { id: "store-size" }, "–");
  const growth = h("div", { class: "growth", id: "pruned-daily", role: "img" });
  const growthNote = h("div", { class: "hint", id: "pruned-daily-note" });
  const growthFrom = h("span", null);
  const growthAxis = h("div", { class: "growth-axis hint" }, growthFrom, h("span", null, "today"));

  const sw: SettingsWindow = new SettingsWindow({
    frame: f,
    formId: "messagestore-form",
    check: () => {
      const m = new Map<string, string>();
      const hrs = whole(hours.value, 0, MAX_HOURS);
      if (typeof hrs === "string") m.set("store.recycle_hours", hrs);
      for (const [k, v] of rules.rows().problems) m.set(k, v);
      return m;
    },
    save: async () => {
      await api.saveRecycleHours(Number(hours.value.trim()));
      const saved = await api.savePruneRules(null, rules.rows().rows);
      rules.setRules(saved);
    },
    applied: async () => {
      await load();
      sw.strip.info("Saved. The rules run in the background from now on.");
    },
  });
  sw.errors.register("store.recycle_hours", hours);
  const rules = new PruneRulesTable("global", () => null, sw.errors);

  const purgeBtn = button("Purge Recycle Bin…", { id: "btn-purge-recycle", onClick: () => void purge(), title: "Delete everything in the Recycle Bin for good, now" });
  const openBinBtn = button("Open Recycle Bin…", {
    id: "btn-open-recyclebin",
    onClick: () => void api.openWindow("recyclebin").catch((e) => sw.strip.error(`Cannot open the Recycle Bin: ${errorText(e)}`)),
  });

  sw.form.append(
    group("Global Prune Rules", rules.el),
    h(
      "div",
      { class: "columns" },
      group(
        "Message Recycle Bin",
        grid(
          row("Keep deleted messages for:", hours, [h("span", { class: "unit" }, "hours")], "Everything deleted — by a prune rule, a mail program or you — waits here and can be restored. 0 turns the Recycle Bin off."),
          infoRow("The Recycle Bin holds:", binSize),
        ),
        h("div", { class: "list-buttons" }, openBinBtn, purgeBtn),
      ),
      group("Growth", grid(infoRow("Mail stored now:", storeSize)), h("div", { class: "hint" }, "Bytes pruned per day:"), growth, growthAxis, growthNote),
    ),
  );
  f.body.append(sw.form);
  app.replaceChildren(f.root);

  function show(v: MessageStoreView): void {
    hours.value = String(v.recycle_hours);
    const users = v.bin.users.length ? `, and ${plural(v.bin.users.length, "deleted user")}` : "";
    text(binSize, `${plural(v.bin.messages, "message")} (${formatSize(v.bin.bytes)})${users}`);
    purgeBtn.disabled = v.bin.messages === 0 && v.bin.users.length === 0;
    text(storeSize, `${plural(v.messages, "message")} (${formatSize(v.bytes)})`);
    drawGrowth(v.pruned_daily);
  }

  function drawGrowth(days: PrunedDay[]): void {
    const most = Math.max(1, ...days.map((d) => d.bytes));
    growth.replaceChildren(
      ...days.map((d) =>
        h("div", {
          class: "growth-bar",
          title: `${d.day}: ${plural(d.messages, "message")} pruned (${formatSize(d.bytes)})`,
          style: `height:${Math.max(d.bytes > 0 ? 4 : 1, Math.round((d.bytes / most) * 100))}%`,
        }),
      ),
    );
    const total = days.reduce((a, d) => ({ m: a.m + d.messages, b: a.b + d.bytes }), { m: 0, b: 0 });
    growth.setAttribute("aria-label", "Bytes pruned per day over the last 30 days");
    text(growthNote, total.m ? `Pruned over the last 30 days: ${plural(total.m, "message")}, ${formatSize(total.b)}.` : "Nothing was pruned in the last 30 days.");
    text(growthFrom, days.length ? days[0].day : "");
  }

  async function load(): Promise<void> {
    try {
      const v = await api.getMessageStore();
      show(v);
      rules.setRules(v.rules);
      sw.ready();
    } catch (e) {
      sw.strip.error(`Cannot read the Message Store settings: ${errorText(e)}`);
    }
  }

  async function purge(): Promise<void> {
    const sure = await confirmDialog(
      "Purge Recycle Bin",
      [`Everything in the Recycle Bin (${binSize.textContent}) will be deleted for good. It cannot be restored afterwards.`],
      "Purge",
    );
    if (!sure) return;
    try {
      const p = await busy([purgeBtn], () => api.purgeRecycleBin());
      sw.strip.info(`Purged ${plural(p.messages, "message")} (${formatSize(p.bytes)}).`);
      show(await api.getMessageStore());
    } catch (e) {
      sw.strip.error(`The Recycle Bin was not purged: ${errorText(e)}`);
    }
  }

  void load();
  return () => sw.stop();
}
