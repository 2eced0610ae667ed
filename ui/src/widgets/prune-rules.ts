/**
 * The prune-rule table VPOP3 shows twice — Settings → Database → Message Store (global rules) and the user
 * editor's Prune Rules tab — with every column editable in place: Folder, Age (days), Size (minimum bytes,
 * empty for none), Read, Flagged, Deleted, Spam. Add Rule adds a row with VPOP3's defaults; nothing takes
 * effect until the window's OK/Submit saves `rows()`. Preview asks the engine what the table as edited would
 * take now and shows it under the table.
 *
 * Field errors from the engine name `rules.N.folder` / `rules.N.age_days` (N from 0, in table order);
 * `register` hands each row's fields to the window's FieldErrors under those names.
 */
import { api, errorText } from "../api";
import type { Either } from "../bindings/Either";
import type { NewRule } from "../bindings/NewRule";
import type { Preview } from "../bindings/Preview";
import type { Rule } from "../bindings/Rule";
import type { RuleRow } from "../bindings/RuleRow";
import { formatNumber, formatSize, plural } from "../format";
import { busy, button } from "./buttons";
import { h, text } from "./dom";
import { errorSlot, type FieldErrors, whole } from "./form";

/** How the engine numbers the rows of a preview that are not saved yet (row 1 is −PROPOSED_BASE). */
const PROPOSED_BASE = 1_000_000;

/** VPOP3's new row: Inbox, 365 days, no size, read either, flagged either, not only deleted, not only spam. */
export const NEW_RULE: NewRule = { folder: "Inbox", age_days: 365, min_size: null, read: "either", flagged: "either", deleted: false, spam: false };

interface RowFields {
  id: number | null;
  el: HTMLTableRowElement;
  folder: HTMLInputElement;
  age: HTMLInputElement;
  size: HTMLInputElement;
  read: HTMLSelectElement;
  flagged: HTMLSelectElement;
  deleted: HTMLInputElement;
  spam: HTMLInputElement;
}

const choice = (id: string, label: string, options: [Either, string][], value: Either): HTMLSelectElement =>
  h("select", { id, "aria-label": label }, options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));

/** One table of rules. `user` null: the global rules. */
export class PruneRulesTable {
  readonly el: HTMLElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly previewEl: HTMLElement;
  private readonly deleteBtn: HTMLButtonElement;
  private readonly previewBtn: HTMLButtonElement;
  private rowsNow: RowFields[] = [];
  private selectedRow: RowFields | null = null;
  private counter = 0;
  /** Set when a row changes after the rules were loaded or saved. */
  changed = false;

  constructor(
    private readonly prefix: string,
    private readonly user: () => string | null,
    private readonly errors: FieldErrors,
  ) {
    this.tbody = h("tbody");
    const head = ["Folder", "Age (days)", "Min. bytes", "Read", "Flagged", "Deleted", "Spam"];
    const table = h(
      "table",
      { class: "grid rule-grid", id: `${prefix}-rules`, "aria-label": "Prune rules" },
      h("thead", null, h("tr", null, head.map((t, i) => h("th", { class: i >= 5 ? "center" : i === 1 || i === 2 ? "right" : "" }, t)))),
      this.tbody,
    );
    this.deleteBtn = button("Delete Rule", { id: `btn-${prefix}-delete-rule`, disabled: true, onClick: () => this.removeSelected() });
    this.previewBtn = button("Preview", {
      id: `btn-${prefix}-preview`,
      onClick: () => void this.preview(),
      title: "Count what these rules, as edited here, would prune now — nothing is deleted",
    });
    this.previewEl = h("div", { class: "prune-preview", id: `${prefix}-preview`, "aria-live": "polite" });
    this.el = h(
      "div",
      { class: "prune-rules" },
      h("div", { class: "table-wrap rule-wrap" }, table),
      h(
        "div",
        { class: "list-buttons" },
        button("Add Rule", { id: `btn-${prefix}-add-rule`, onClick: () => this.add({ ...NEW_RULE }, null, true) }),
        this.deleteBtn,
        h("span", { class: "spacer" }),
        this.previewBtn,
      ),
      h(
        "div",
        { class: "hint" },
        "A message is pruned when every column of a rule matches it, under any rule. Folder: one folder (Inbox in any case) or * for every folder; patterns such as Inbox/* do not work. Age counts from when the server first received the message. Pruned mail waits in the Recycle Bin.",
      ),
      this.previewEl,
    );
    this.renderEmpty();
  }

  /** Shows these rules as saved (clears any preview). */
  setRules(rules: Rule[]): void {
    this.tbody.replaceChildren();
    this.rowsNow = [];
    this.selectedRow = null;
    this.deleteBtn.disabled = true;
    for (const r of rules) this.add(r, r.id, false);
    this.renderEmpty();
    this.previewEl.replaceChildren();
    this.changed = false;
  }

  /** The table as edited, for saving; a message by field for any cell that is not a number. */
  rows(): { rows: RuleRow[]; problems: Map<string, string> } {
    const problems = new Map<string, string>();
    const rows = this.rowsNow.map((r, i) => {
      const age = whole(r.age.value, 0, 36_500);
      if (typeof age === "string") problems.set(`rules.${i}.age_days`, age);
      const sizeText = r.size.value.trim();
      const size = sizeText === "" ? null : whole(sizeText, 0, Number.MAX_SAFE_INTEGER);
      if (typeof size === "string") problems.set(`rules.${i}.min_size`, size);
      return {
        id: r.id,
        folder: r.folder.value,
        age_days: typeof age === "number" ? age : 0,
        min_size: typeof size === "number" ? size : null,
        read: r.read.value as Either,
        flagged: r.flagged.value as Either,
        deleted: r.deleted.checked,
        spam: r.spam.checked,
      };
    });
    return { rows, problems };
  }

  /** Asks the engine what the table as edited would prune now, and shows it. */
  async preview(): Promise<void> {
    const { rows, problems } = this.rows();
    if (problems.size) {
      this.errors.show(problems);
      this.errors.focusFirst();
      return;
    }
    try {
      const p = await busy([this.previewBtn], () => api.previewPruneRules(this.user(), rows.map(({ id: _id, ...columns }) => columns)));
      this.showPreview(p);
    } catch (e) {
      this.previewEl.replaceChildren(h("div", { class: "error-message" }, `No preview: ${errorText(e)}`));
    }
  }

  private showPreview(p: Preview): void {
    // Unsaved rows come back numbered from −1,000,000 (row 1) upwards, in table order.
    const label = (rule: number) => (rule < 0 ? `row ${rule + PROPOSED_BASE + 1}` : this.rowsNow.some((r) => r.id === rule) ? `row ${this.rowsNow.findIndex((r) => r.id === rule) + 1}` : `rule ${rule}`);
    const scope = this.user() === null ? "every mailbox" : `${this.user()}'s mailbox (global rules included)`;
    const head = h(
      "div",
      { class: "preview-head", id: `${this.prefix}-preview-total` },
      p.messages === 0
        ? `Nothing in ${scope} would be pruned now.`
        : `These rules would prune ${plural(p.messages, "message")} (${formatSize(p.bytes)}) from ${scope} now.`,
    );
    const parts = p.per_rule.map(([rule, n, b]) => `${label(rule)}: ${formatNumber(n)} (${formatSize(b)})`);
    const list = p.first.length
      ? h(
          "table",
          { class: "grid compact", id: `${this.prefix}-preview-list` },
          h("thead", null, h("tr", null, ["User", "Folder", "UID", "Size", "Rule"].map((t) => h("th", null, t)))),
          h(
            "tbody",
            null,
            p.first.map((m) => h("tr", null, h("td", null, m.user), h("td", null, m.folder), h("td", { class: "right" }, String(m.uid)), h("td", { class: "right" }, formatSize(m.size)), h("td", null, label(m.rule)))),
          ),
        )
      : null;
    const more = p.messages > p.first.length ? h("div", { class: "hint" }, `The first ${p.first.length} are listed.`) : null;
    this.previewEl.replaceChildren(head, parts.length ? h("div", { class: "hint" }, parts.join(" · ")) : "", list ?? "", more ?? "");
  }

  private add(rule: NewRule, id: number | null, focus: boolean): void {
    const n = this.counter++;
    const pid = `${this.prefix}-r${n}`;
    const folder = h("input", { id: `${pid}-folder`, value: rule.folder, "aria-label": "Folder", class: "cell-input", spellcheck: false });
    const age = h("input", { id: `${pid}-age`, value: String(rule.age_days), "aria-label": "Age in days", inputmode: "numeric", class: "cell-input num" });
    const size = h("input", { id: `${pid}-size`, value: rule.min_size === null ? "" : String(rule.min_size), "aria-label": "Minimum size in bytes", inputmode: "numeric", class: "cell-input num", placeholder: "none" });
    const read = choice(`${pid}-read`, "Read", [["either", "Either"], ["yes", "Read"], ["no", "Unread"]], rule.read);
    const flagged = choice(`${pid}-flagged`, "Flagged", [["either", "Either"], ["yes", "Flagged"], ["no", "Unflagged"]], rule.flagged);
    const deleted = h("input", { type: "checkbox", id: `${pid}-deleted`, checked: rule.deleted, "aria-label": "Only messages marked deleted" });
    const spam = h("input", { type: "checkbox", id: `${pid}-spam`, checked: rule.spam, "aria-label": "Only messages marked as spam" });
    const cell = (control: HTMLElement, cls = "") => h("td", { class: cls }, control, cls === "center" ? null : errorSlot(control));
    const el = h("tr", { class: "rule-row" }, cell(folder), cell(age, "right"), cell(size, "right"), cell(read), cell(flagged), cell(deleted, "center"), cell(spam, "center"));
    const fields: RowFields = { id, el, folder, age, size, read, flagged, deleted, spam };
    el.addEventListener("focusin", () => this.selectRow(fields));
    el.addEventListener("click", () => this.selectRow(fields));
    el.addEventListener("input", () => {
      this.changed = true;
    });
    this.rowsNow.push(fields);
    this.tbody.querySelector(".empty-row")?.remove();
    this.tbody.append(el);
    this.reregister();
    if (focus) {
      this.changed = true;
      folder.focus();
      folder.select();
    }
  }

  private selectRow(r: RowFields): void {
    this.selectedRow?.el.classList.remove("selected");
    this.selectedRow = r;
    r.el.classList.add("selected");
    this.deleteBtn.disabled = false;
  }

  private removeSelected(): void {
    const r = this.selectedRow;
    if (!r) return;
    r.el.remove();
    this.rowsNow = this.rowsNow.filter((x) => x !== r);
    this.selectedRow = null;
    this.deleteBtn.disabled = true;
    this.changed = true;
    this.reregister();
    this.renderEmpty();
  }

  /** Rows are numbered by position, so the field names move when a row goes. */
  private reregister(): void {
    this.errors.clear();
    this.rowsNow.forEach((r, i) => {
      this.errors.register(`rules.${i}.folder`, r.folder);
      this.errors.register(`rules.${i}.age_days`, r.age);
      this.errors.register(`rules.${i}.min_size`, r.size);
    });
  }

  private renderEmpty(): void {
    if (this.rowsNow.length === 0 && !this.tbody.querySelector(".empty-row")) {
      const td = h("td", { colspan: 7, class: "empty" });
      text(td, "No rules: nothing is pruned. Click Add Rule to add one.");
      this.tbody.append(h("tr", { class: "empty-row" }, td));
    }
  }
}
