import { h } from "./dom";

export interface TabSpec {
  id: string;
  label: string;
  panel: HTMLElement;
}

/** A tab strip over panels, like a native property sheet. Arrow keys move between tabs. */
export class Tabs {
  readonly el: HTMLElement;
  private buttons = new Map<string, HTMLButtonElement>();
  private panels = new Map<string, HTMLElement>();
  private order: string[] = [];
  private labels = new Map<string, string>();
  current = "";
  onSelect: (id: string) => void = () => {};

  constructor(tabs: TabSpec[], idPrefix = "tab-") {
    const strip = h("div", { class: "tab-strip", role: "tablist" });
    const panels = h("div", { class: "tab-panels" });
    for (const t of tabs) {
      const btn = h(
        "button",
        {
          type: "button",
          class: "tab",
          id: `${idPrefix}${t.id}`,
          name: `${idPrefix}${t.id}`,
          role: "tab",
          "aria-controls": `panel-${t.id}`,
          onclick: () => this.select(t.id),
          onkeydown: (ev: KeyboardEvent) => this.key(ev),
        },
        h("span", { class: "tab-label" }, t.label),
        h("span", { class: "tab-mark", "aria-hidden": "true" }, "!"),
      );
      t.panel.id = `panel-${t.id}`;
      t.panel.classList.add("tab-panel");
      t.panel.setAttribute("role", "tabpanel");
      t.panel.setAttribute("aria-labelledby", btn.id);
      this.buttons.set(t.id, btn);
      this.panels.set(t.id, t.panel);
      this.order.push(t.id);
      this.labels.set(t.id, t.label);
      strip.append(btn);
      panels.append(t.panel);
    }
    this.el = h("div", { class: "tabs" }, strip, panels);
    if (tabs.length) this.select(tabs[0].id);
  }

  select(id: string, focus = false): void {
    if (!this.buttons.has(id)) return;
    this.current = id;
    for (const [tid, btn] of this.buttons) {
      const on = tid === id;
      btn.classList.toggle("selected", on);
      btn.setAttribute("aria-selected", String(on));
      btn.tabIndex = on ? 0 : -1;
      this.panels.get(tid)!.hidden = !on;
    }
    if (focus) this.buttons.get(id)!.focus();
    this.onSelect(id);
  }

  /** The tabs' ids, in order. */
  ids(): string[] {
    return [...this.order];
  }

  label(id: string): string {
    return this.labels.get(id) ?? id;
  }

  mark(id: string, hasError: boolean): void {
    const btn = this.buttons.get(id);
    if (!btn) return;
    btn.classList.toggle("has-error", hasError);
    btn.title = hasError ? "This tab has fields to correct" : "";
  }

  private key(ev: KeyboardEvent): void {
    const i = this.order.indexOf(this.current);
    let next = -1;
    if (ev.key === "ArrowRight") next = (i + 1) % this.order.length;
    else if (ev.key === "ArrowLeft") next = (i - 1 + this.order.length) % this.order.length;
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = this.order.length - 1;
    if (next < 0) return;
    ev.preventDefault();
    this.select(this.order[next], true);
  }
}
