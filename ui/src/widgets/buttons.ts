import { h, type Child } from "./dom";

export interface ButtonOpts {
  id?: string;
  primary?: boolean;
  submit?: boolean;
  disabled?: boolean;
  title?: string;
  onClick?: (ev: MouseEvent) => void;
}

export function button(label: string, opts: ButtonOpts = {}): HTMLButtonElement {
  return h(
    "button",
    {
      id: opts.id,
      name: opts.id,
      type: opts.submit ? "submit" : "button",
      class: opts.primary ? "btn primary" : "btn",
      disabled: opts.disabled,
      title: opts.title,
      onclick: opts.onClick,
    },
    label,
  );
}

export function fillBar(bar: HTMLElement, left: Child[], right: Child[]): void {
  bar.replaceChildren(h("div", { class: "bar-left" }, left), h("div", { class: "bar-right" }, right));
}

/** Disables the buttons while `work` runs, so a slow command cannot be started twice. */
export async function busy<T>(buttons: HTMLButtonElement[], work: () => Promise<T>): Promise<T> {
  const before = buttons.map((b) => b.disabled);
  buttons.forEach((b) => (b.disabled = true));
  document.body.classList.add("busy");
  try {
    return await work();
  } finally {
    buttons.forEach((b, i) => (b.disabled = before[i]));
    document.body.classList.remove("busy");
  }
}

export class Strip {
  readonly el: HTMLElement;

  constructor(host?: HTMLElement) {
    this.el = host ?? h("div", { class: "strips" });
    this.el.setAttribute("aria-live", "polite");
  }

  error(message: string): void {
    this.show("error", "!", message);
  }

  info(message: string): void {
    this.show("info", "i", message);
  }

  clear(): void {
    this.el.replaceChildren();
  }

  private show(kind: "error" | "info", icon: string, message: string): void {
    const close = h("button", { type: "button", class: "strip-close", title: "Dismiss", "aria-label": "Dismiss" }, "×");
    const strip = h(
      "div",
      { class: `strip strip-${kind}`, role: kind === "error" ? "alert" : "status", id: `strip-${kind}` },
      h("span", { class: "strip-icon", "aria-hidden": "true" }, icon),
      h("span", { class: "strip-text" }, message),
      close,
    );
    close.addEventListener("click", () => strip.remove());
    this.el.replaceChildren(strip);
  }
}
