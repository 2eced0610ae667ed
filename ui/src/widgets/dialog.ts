import { button, Strip } from "./buttons";
import { h, type Child } from "./dom";

export interface DialogButton {
  id?: string;
  label: string;
  primary?: boolean;
  cancel?: boolean;
  /** Runs when pressed; return false to keep the dialog open. */
  action?: () => boolean | void | Promise<boolean | void>;
}

export interface DialogOpts {
  id: string;
  title: string;
  body: Child[];
  buttons: DialogButton[];
  width?: number;
  initialFocus?: HTMLElement;
}

export interface Dialog {
  el: HTMLElement;
  strip: Strip;
  close: () => void;
  closed: Promise<void>;
}

const FOCUSABLE = "button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

/** A modal dialog. Enter presses the primary button, Escape the cancel button; Tab stays inside. */
export function openDialog(opts: DialogOpts): Dialog {
  const previous = document.activeElement as HTMLElement | null;
  const strip = new Strip();
  const titleId = `${opts.id}-title`;
  const btns = opts.buttons.map((b) => ({ spec: b, el: button(b.label, { id: b.id, primary: b.primary, submit: b.primary }) }));
  const form = h(
    "form",
    { class: "dialog", id: opts.id, role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, novalidate: true, style: opts.width ? `width:${opts.width}px` : null },
    h("div", { class: "dialog-title", id: titleId }, opts.title),
    strip.el,
    h("div", { class: "dialog-body" }, opts.body),
    h("div", { class: "dialog-buttons" }, btns.map((b) => b.el)),
  );
  const backdrop = h("div", { class: "modal-backdrop" }, form);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let running = false;

  const close = () => {
    if (!backdrop.isConnected) return;
    backdrop.remove();
    document.removeEventListener("keydown", onKey, true);
    previous?.focus?.();
    resolveClosed();
  };

  const press = async (b: DialogButton) => {
    if (running) return;
    running = true;
    const states = btns.map((x) => x.el.disabled);
    btns.forEach((x) => (x.el.disabled = true));
    try {
      const keep = b.action ? (await b.action()) === false : false;
      if (!keep) close();
    } catch (e) {
      strip.error(e instanceof Error ? e.message : String(e));
    } finally {
      running = false;
      btns.forEach((x, i) => (x.el.disabled = states[i]));
    }
  };

  for (const b of btns) {
    if (!b.spec.primary) b.el.addEventListener("click", () => void press(b.spec));
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const primary = opts.buttons.find((b) => b.primary);
    if (primary) void press(primary);
  });

  const onKey = (ev: KeyboardEvent) => {
    const backdrops = document.querySelectorAll(".modal-backdrop");
    if (backdrops[backdrops.length - 1] !== backdrop) return;
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      const cancel = opts.buttons.find((b) => b.cancel);
      if (cancel) void press(cancel);
      else if (!running) close();
    } else if (ev.key === "Tab") {
      const items = [...form.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((e) => e.offsetParent !== null);
      if (!items.length) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (ev.shiftKey && document.activeElement === first) {
        ev.preventDefault();
        last.focus();
      } else if (!ev.shiftKey && (document.activeElement === last || !form.contains(document.activeElement))) {
        ev.preventDefault();
        first.focus();
      }
    }
  };
  document.addEventListener("keydown", onKey, true);

  document.body.append(backdrop);
  const focusTarget = opts.initialFocus ?? form.querySelector<HTMLElement>("input, select, textarea") ?? btns.find((b) => b.spec.primary)?.el;
  focusTarget?.focus();
  return { el: form, strip, close, closed };
}

export async function confirmDialog(title: string, message: Child[], okLabel: string, id = "confirm-dialog"): Promise<boolean> {
  let ok = false;
  const d = openDialog({
    id,
    title,
    width: 420,
    body: [h("div", { class: "message" }, h("div", { class: "message-icon warn", "aria-hidden": "true" }, "?"), h("div", null, message))],
    buttons: [
      { id: "btn-confirm-ok", label: okLabel, primary: true, action: () => void (ok = true) },
      { id: "btn-confirm-cancel", label: "Cancel", cancel: true },
    ],
  });
  await d.closed;
  return ok;
}

export async function messageDialog(title: string, body: Child[], id = "message-dialog", width = 440): Promise<void> {
  const d = openDialog({ id, title, width, body, buttons: [{ id: "btn-message-ok", label: "OK", primary: true, cancel: true }] });
  await d.closed;
}
