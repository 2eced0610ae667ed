import { h, type Attrs, type Child } from "./dom";

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

const errorSlots = new WeakMap<HTMLElement, HTMLElement>();

export function input(id: string, attrs: Attrs = {}): HTMLInputElement {
  return h("input", { type: "text", id, name: id, autocomplete: "off", spellcheck: "false", ...attrs });
}

export function textarea(id: string, attrs: Attrs = {}): HTMLTextAreaElement {
  return h("textarea", { id, name: id, spellcheck: "false", ...attrs });
}

export function select(id: string, options: [value: string, label: string][]): HTMLSelectElement {
  return h("select", { id, name: id }, options.map(([value, label]) => h("option", { value }, label)));
}

/** The element a control's error message goes in (for rows built by hand); `FieldErrors` fills it. */
export function errorSlot(control: HTMLElement): HTMLElement {
  const slot = h("div", { class: "field-error", id: `${control.id}-error`, hidden: true });
  control.setAttribute("aria-describedby", slot.id);
  errorSlots.set(control, slot);
  return slot;
}

/** A label/field row of a form grid; the field's error message appears under it. */
export function row(label: string, control: Control, extra: Child[] = [], hint?: string): HTMLElement {
  return h(
    "div",
    { class: "form-row" },
    h("label", { for: control.id, class: "row-label" }, label),
    h(
      "div",
      { class: "row-field" },
      h("div", { class: "field-line" }, control, extra),
      errorSlot(control),
      hint ? h("div", { class: "hint" }, hint) : null,
    ),
  );
}

export function checkRow(label: string, control: HTMLInputElement, hint?: string): HTMLElement {
  control.type = "checkbox";
  return h(
    "div",
    { class: "form-row" },
    h("span", { class: "row-label" }),
    h(
      "div",
      { class: "row-field" },
      h("div", { class: "field-line check" }, control, h("label", { for: control.id }, label)),
      errorSlot(control),
      hint ? h("div", { class: "hint" }, hint) : null,
    ),
  );
}

/** A radio button with its label, laid out as a check row is. */
export function choiceRow(label: string, control: HTMLInputElement, hint?: string): HTMLElement {
  return h(
    "div",
    { class: "form-row" },
    h("span", { class: "row-label" }),
    h("div", { class: "row-field" }, h("div", { class: "field-line check" }, control, h("label", { for: control.id }, label)), hint ? h("div", { class: "hint" }, hint) : null),
  );
}

/** A read-only label/value row. */
export function infoRow(label: string, value: Child, id?: string): HTMLElement {
  return h(
    "div",
    { class: "form-row info" },
    h("span", { class: "row-label" }, label),
    h("div", { class: "row-field value", id }, value),
  );
}

export function group(title: string, ...children: Child[]): HTMLFieldSetElement {
  return h("fieldset", { class: "group" }, h("legend", null, title), ...children);
}

export function grid(...rows: Child[]): HTMLElement {
  return h("div", { class: "form-grid" }, ...rows);
}

/** Shows per-field error messages next to registered controls and clears them when the field is edited. */
export class FieldErrors {
  private controls = new Map<string, HTMLElement>();
  private shown = new Set<string>();
  onChange: () => void = () => {};

  register(key: string, control: HTMLElement): void {
    this.controls.set(key, control);
    const clearMe = () => {
      if (this.shown.has(key)) {
        this.set(key, null);
        this.onChange();
      }
    };
    control.addEventListener("input", clearMe);
    control.addEventListener("change", clearMe);
  }

  set(key: string, message: string | null): void {
    const control = this.controls.get(key);
    if (!control) return;
    const slot = errorSlots.get(control);
    control.classList.toggle("invalid", message !== null);
    if (message === null) {
      control.removeAttribute("aria-invalid");
      this.shown.delete(key);
    } else {
      control.setAttribute("aria-invalid", "true");
      this.shown.add(key);
    }
    if (slot) {
      slot.textContent = message ?? "";
      slot.hidden = message === null;
    }
  }

  /** Shows every message it has a field for; returns the others as "field: message" lines. */
  show(messages: Map<string, string>): string[] {
    this.clear();
    const unmatched: string[] = [];
    for (const [key, message] of messages) {
      if (this.controls.has(key)) this.set(key, message);
      else unmatched.push(`${key}: ${message}`);
    }
    this.onChange();
    return unmatched;
  }

  clear(): void {
    for (const key of [...this.shown]) this.set(key, null);
    this.onChange();
  }

  has(key: string): boolean {
    return this.shown.has(key);
  }

  keys(): string[] {
    return [...this.shown];
  }

  focusFirst(): void {
    for (const [key, control] of this.controls) {
      if (this.shown.has(key)) {
        control.focus();
        return;
      }
    }
  }
}

export const U32 = 4_294_967_295;

/** A whole number typed in a field, or the message saying what is wrong with it. */
export function whole(raw: string, min: number, max: number): number | string {
  const text = raw.trim();
  const n = Number(text);
  if (!/^\d+$/.test(text)) return max === U32 ? "enter a whole number" : `enter a whole number from ${min} to ${max}`;
  if (n < min) return `at least ${min}`;
  if (n > max) return max === U32 ? "this number is too large" : `at most ${max}`;
  return n;
}

/** A whole number that may be negative (a "−" counts as a minus sign), or the message saying what is wrong with it. */
export function integer(raw: string, min: number, max: number): number | string {
  const text = raw.trim().replace(/^\u2212/, "-");
  const huge = Math.max(-min, max) > U32;
  if (!/^-?\d+$/.test(text)) return huge ? "enter a whole number" : `enter a whole number from ${min} to ${max}`;
  const n = Number(text);
  if (n < min) return `at least ${min}`;
  if (n > max) return `at most ${max}`;
  return n;
}
