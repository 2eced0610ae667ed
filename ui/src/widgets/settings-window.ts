//! The OK / Cancel / Apply of a settings window, written once.
//!
//! The window builds its frame and fields; `SettingsWindow` adds the form they go in (Enter in a field
//! presses OK), the button bar (OK btn-ok, Cancel btn-cancel, Apply btn-apply, on the right), the message
//! strip and the field errors (`errors`: register each field under its engine name). OK and Apply stay off
//! until `ready()` and all three while a save runs; OK and Apply check the form (`check`), save it (`save`),
//! clear the errors and then close (OK) or run `applied` (Apply: read the settings back, say so). An
//! `ApiError`'s field messages go next to their fields, the first tab with one comes forward and the strip
//! says what is wrong (`errorText`); any other error goes on the strip (`failureText`). Cancel and Escape
//! close the window.
//!
//!     const sw = new SettingsWindow({ frame: f, formId: "x-form", save: () => api.saveX(read()),
//!       applied: async () => { fill(await api.getX()); sw.strip.info("Settings saved."); } });
//!     sw.errors.register("x.port", portInput);   f.body.append(sw.form);
//!     …once the settings are in the form: sw.ready();   …when the window goes: sw.stop();
import { closeWindow, errorText, fieldMessages } from "../api";
import { busy, button, fillBar, Strip } from "./buttons";
import type { Child, Frame } from "./dom";
import { closeOnEscape, h } from "./dom";
import { FieldErrors } from "./form";
import type { Tabs } from "./tabs";

/** What the strip's text for field errors is made from. */
export interface ErrorReport {
  /** The messages shown, by field. */
  messages: Map<string, string>;
  /** The fields now marked. */
  marked: string[];
  /** Messages for fields the window does not have, as "field: message". */
  unmatched: string[];
  /** The labels of the tabs with a marked field, in tab order. */
  tabs: string[];
  /** What `showErrors` was given besides the messages (which part was saved, say). */
  note?: string;
}

export interface SettingsWindowOptions {
  frame: Frame;
  /** The form's id (the OK button submits it) and class. */
  formId: string;
  formClass?: string;
  /** Checks made in the window; a message for any field (field → message) stops the save and is shown. */
  check?: () => Map<string, string>;
  /**
   * Sends the settings. A rejection is shown (field errors next to their fields); `false` means the window
   * has shown what went wrong itself (a save in parts, say), so nothing more happens.
   */
  save: () => Promise<boolean | void>;
  /** After Apply saved: read the settings back and say so on the strip. A rejection is shown as for `save`. */
  applied?: () => Promise<void>;
  /** Field-name prefixes the engine adds and the window's fields do not have ("services."). */
  fieldPrefixes?: string[];
  /** The tabs fields are on: tabs with a marked field are marked, and the first comes forward. */
  tabs?: {
    /** The tabs (null while not built yet). */
    get: () => Tabs | null;
    tabOf: (field: string) => string | null | undefined;
  };
  /** Runs whenever the marked fields change, after the tabs are marked (for sub-tabs, say). */
  onErrorsChange?: () => void;
  /** Makes the fields of these messages visible before they are shown (rows a filter hides, say). */
  reveal?: (messages: Map<string, string>) => void;
  /** The strip's text for field errors (default: "Nothing was saved." and the tabs to correct). */
  errorText?: (report: ErrorReport) => string;
  /** The strip's text for any other error (default: "Nothing was saved: <message>"). */
  failureText?: (message: string) => string;
  /** OK and Apply look enabled before `ready()` (they still do nothing until then). */
  enabledBeforeReady?: boolean;
  /** Buttons on the left of the bar. */
  left?: Child[];
}

const defaultErrorText = (r: ErrorReport): string =>
  `${r.note ?? "Nothing was saved."}${r.tabs.length ? ` Correct the marked fields on: ${r.tabs.join(", ")}.` : ""}` +
  (r.unmatched.length ? ` ${r.unmatched.join("; ")}` : "");

export class SettingsWindow {
  readonly form: HTMLFormElement;
  readonly strip: Strip;
  readonly errors = new FieldErrors();
  /** The strip shows only what the marked fields say (it goes when they are all corrected). */
  private fieldStrip = false;
  readonly ok: HTMLButtonElement;
  readonly apply: HTMLButtonElement;
  readonly cancel: HTMLButtonElement;
  private loaded = false;
  private readonly stopEscape: () => void;

  constructor(private readonly o: SettingsWindowOptions) {
    this.strip = new Strip(o.frame.strip);
    const off = !o.enabledBeforeReady;
    this.ok = button("OK", { id: "btn-ok", primary: true, submit: true, disabled: off });
    this.apply = button("Apply", { id: "btn-apply", disabled: off, onClick: () => void this.run(false) });
    this.cancel = button("Cancel", { id: "btn-cancel", onClick: () => void closeWindow() });
    this.form = h("form", { id: o.formId, class: o.formClass, novalidate: true });
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.run(true);
    });
    this.ok.setAttribute("form", o.formId);
    fillBar(o.frame.bar, o.left ?? [], [this.ok, this.cancel, this.apply]);
    this.errors.onChange = () => {
      const tabs = o.tabs?.get();
      if (tabs) {
        const bad = this.badTabs();
        for (const id of tabs.ids()) tabs.mark(id, bad.includes(id));
      }
      o.onErrorsChange?.();
      // Every marked field corrected: the strip's "Nothing was saved. Correct the marked fields…" is stale.
      if (this.fieldStrip && this.errors.keys().length === 0) {
        this.fieldStrip = false;
        this.strip.clear();
      }
    };
    this.stopEscape = closeOnEscape(closeWindow);
  }

  /** The settings are in the form: OK and Apply work from now on. */
  ready(): void {
    this.loaded = true;
    this.ok.disabled = this.apply.disabled = false;
  }

  get isReady(): boolean {
    return this.loaded;
  }

  /** Ends what the window started outside itself (Escape). */
  stop(): void {
    this.stopEscape();
  }

  /** Shows messages next to their fields, brings the first tab with one forward and says so on the strip. */
  showErrors(messages: Map<string, string>, note?: string): void {
    this.o.reveal?.(messages);
    const unmatched = this.errors.show(messages);
    const tabs = this.o.tabs?.get();
    const bad = this.badTabs();
    if (tabs && bad.length && !bad.includes(tabs.current)) tabs.select(bad[0]);
    this.errors.focusFirst();
    const text = this.o.errorText ?? defaultErrorText;
    this.strip.error(text({ messages, marked: this.errors.keys(), unmatched, tabs: bad.map((id) => tabs!.label(id)), note }));
    this.fieldStrip = unmatched.length === 0 && this.errors.keys().length > 0;
  }

  /** OK (close) or Apply. */
  async run(close: boolean): Promise<void> {
    if (!this.loaded) return;
    const local = this.o.check?.();
    if (local?.size) return this.showErrors(local);
    await busy([this.ok, this.apply, this.cancel], async () => {
      try {
        if ((await this.o.save()) === false) return;
        this.errors.clear();
        if (close) return void (await closeWindow());
        await this.o.applied?.();
      } catch (e) {
        const messages = fieldMessages(e, this.o.fieldPrefixes);
        if (messages.size) this.showErrors(messages);
        else {
          this.fieldStrip = false;
          this.strip.error((this.o.failureText ?? ((m) => `Nothing was saved: ${m}`))(errorText(e)));
        }
      }
    });
  }

  /** The tabs with a marked field, in tab order. */
  private badTabs(): string[] {
    const tabs = this.o.tabs?.get();
    if (!tabs) return [];
    const tabOf = this.o.tabs!.tabOf;
    const bad = new Set(this.errors.keys().map((k) => tabOf(k)));
    return tabs.ids().filter((id) => bad.has(id));
  }
}
