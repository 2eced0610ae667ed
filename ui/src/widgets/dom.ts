export type Child = Node | string | number | null | undefined | false;
type Handler = (ev: any) => void;
export type Attrs = Record<string, string | number | boolean | Handler | null | undefined>;

const PROPS = new Set(["value", "checked", "disabled", "selected", "readOnly", "tabIndex", "htmlFor"]);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, val] of Object.entries(attrs)) {
      if (val === undefined || val === null || val === false) continue;
      if (key.startsWith("on") && typeof val === "function") {
        el.addEventListener(key.slice(2).toLowerCase(), val as EventListener);
      } else if (key === "class") {
        el.className = String(val);
      } else if (PROPS.has(key)) {
        (el as any)[key] = val;
      } else {
        el.setAttribute(key, val === true ? "" : String(val));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function text(el: Element, value: string): void {
  if (el.textContent !== value) el.textContent = value;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el as T;
}

export interface Frame {
  root: HTMLElement;
  strip: HTMLElement;
  body: HTMLElement;
  bar: HTMLElement;
}

export function frame(title: string, windowClass: string): Frame {
  document.title = `${title} — Postroom`;
  const strip = h("div", { class: "strips" });
  const body = h("div", { class: "content" });
  const bar = h("div", { class: "button-bar" });
  const root = h("div", { class: `window ${windowClass}` }, strip, body, bar);
  return { root, strip, body, bar };
}

/** Escape closes a settings window (unless a dialog is open over it); returns the function that stops it. */
export function closeOnEscape(close: () => unknown): () => void {
  const onKey = (ev: KeyboardEvent) => {
    if (ev.key === "Escape" && !document.querySelector(".modal-backdrop")) {
      ev.preventDefault();
      void close();
    }
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
