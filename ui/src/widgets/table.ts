import { h, type Child } from "./dom";

export interface Column<T> {
  key: string;
  title: string;
  value: (row: T) => string | number;
  render?: (row: T) => Child | Child[];
  align?: "right" | "center";
  width?: string;
  sortable?: boolean;
}

export interface TableOpts<T> {
  id: string;
  label: string;
  columns: Column<T>[];
  rowKey: (row: T) => string;
  selectable?: boolean;
  empty?: string;
  rowClass?: (row: T) => string;
  onSelect?: (row: T | null) => void;
  onActivate?: (row: T) => void;
  onDelete?: (row: T) => void;
}

/** A compact list view: click a header to sort, click a row to select, double-click or Enter to open. */
export class Table<T> {
  readonly el: HTMLElement;
  private tbody: HTMLTableSectionElement;
  private heads = new Map<string, HTMLTableCellElement>();
  private rows: T[] = [];
  private sortKey: string | null = null;
  private sortAsc = true;
  private selectedKey: string | null = null;

  constructor(private opts: TableOpts<T>) {
    const headRow = h("tr");
    for (const c of opts.columns) {
      const th = h(
        "th",
        { class: [c.align ?? "", c.sortable === false ? "" : "sortable"].join(" ").trim(), style: c.width ? `width:${c.width}` : null, scope: "col" },
        h("span", null, c.title),
        h("span", { class: "sort-arrow", "aria-hidden": "true" }),
      );
      if (c.sortable !== false) th.addEventListener("click", () => this.sortBy(c.key));
      this.heads.set(c.key, th);
      headRow.append(th);
    }
    this.tbody = h("tbody");
    const table = h("table", { class: "grid", id: opts.id, "aria-label": opts.label }, h("thead", null, headRow), this.tbody);
    this.el = h("div", { class: "table-wrap", tabindex: opts.selectable ? 0 : null, onkeydown: (ev: KeyboardEvent) => this.key(ev) }, table);
    this.tbody.addEventListener("click", (ev) => this.rowEvent(ev, false));
    this.tbody.addEventListener("dblclick", (ev) => this.rowEvent(ev, true));
  }

  setRows(rows: T[]): void {
    this.rows = rows;
    if (this.selectedKey !== null && !rows.some((r) => this.opts.rowKey(r) === this.selectedKey)) {
      this.selectedKey = null;
      this.opts.onSelect?.(null);
    }
    this.render();
  }

  selected(): T | null {
    return this.rows.find((r) => this.opts.rowKey(r) === this.selectedKey) ?? null;
  }

  select(key: string | null): void {
    this.selectedKey = key;
    this.render();
    this.opts.onSelect?.(this.selected());
    this.tbody.querySelector("tr.selected")?.scrollIntoView({ block: "nearest" });
  }

  sortBy(key: string, asc?: boolean): void {
    this.sortAsc = asc ?? (this.sortKey === key ? !this.sortAsc : true);
    this.sortKey = key;
    this.render();
  }

  private sorted(): T[] {
    const col = this.opts.columns.find((c) => c.key === this.sortKey);
    if (!col) return this.rows;
    const dir = this.sortAsc ? 1 : -1;
    return [...this.rows].sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { sensitivity: "base", numeric: true });
      return cmp * dir;
    });
  }

  private render(): void {
    for (const [key, th] of this.heads) {
      const on = key === this.sortKey;
      th.setAttribute("aria-sort", on ? (this.sortAsc ? "ascending" : "descending") : "none");
      th.querySelector(".sort-arrow")!.textContent = on ? (this.sortAsc ? "▲" : "▼") : "";
    }
    const rows = this.sorted();
    if (!rows.length) {
      const cell = h("td", { colspan: this.opts.columns.length, class: "empty" }, this.opts.empty ?? "Nothing to show");
      this.tbody.replaceChildren(h("tr", { class: "empty-row" }, cell));
      return;
    }
    this.tbody.replaceChildren(
      ...rows.map((r) => {
        const key = this.opts.rowKey(r);
        const selected = key === this.selectedKey;
        const tr = h(
          "tr",
          { "data-key": key, class: [selected ? "selected" : "", this.opts.rowClass?.(r) ?? ""].join(" ").trim() || null },
          this.opts.columns.map((c) => h("td", { class: c.align ?? null }, c.render ? c.render(r) : String(c.value(r)))),
        );
        if (this.opts.selectable) tr.setAttribute("aria-selected", String(selected));
        return tr;
      }),
    );
  }

  private rowEvent(ev: MouseEvent, activate: boolean): void {
    if (!this.opts.selectable) return;
    const tr = (ev.target as HTMLElement).closest("tr");
    const key = tr?.dataset.key;
    if (key === undefined) return;
    if (key !== this.selectedKey) this.select(key);
    this.el.focus();
    const row = this.selected();
    if (activate && row) this.opts.onActivate?.(row);
  }

  private key(ev: KeyboardEvent): void {
    if (!this.opts.selectable || ev.target !== this.el) return;
    const rows = this.sorted();
    if (!rows.length) return;
    const i = rows.findIndex((r) => this.opts.rowKey(r) === this.selectedKey);
    let next = -1;
    if (ev.key === "ArrowDown") next = Math.min(i + 1, rows.length - 1);
    else if (ev.key === "ArrowUp") next = Math.max(i - 1, 0);
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = rows.length - 1;
    else if (ev.key === "Enter" && i >= 0) {
      ev.preventDefault();
      this.opts.onActivate?.(rows[i]);
      return;
    } else if (ev.key === "Delete" && i >= 0) {
      ev.preventDefault();
      this.opts.onDelete?.(rows[i]);
      return;
    }
    if (next < 0) return;
    ev.preventDefault();
    this.select(this.opts.rowKey(rows[next]));
  }
}
