import { api, closeWindow, errorText, fieldMessages } from "../api";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { closeOnEscape, frame, h } from "../widgets/dom";
import { FieldErrors } from "../widgets/form";
import { Tabs } from "../widgets/tabs";
import {
  buildPanels, collect, FIELD_TABS, fillOutbound, fillSmtp, registerFields, smtpControls,
  updateOutboundState, updateSmtpState, type TabId,
} from "./smtp-form";

const TABS: [TabId, string][] = [
  ["general", "General"],
  ["relaying", "Relaying"],
  ["limits", "Limits"],
  ["outbound", "Outbound"],
];
const TAB_LABELS = Object.fromEntries(TABS) as Record<TabId, string>;

/** The tab a field is on ("smtp.…" fields the window does not know go to Limits, "outbound.…" to Outbound). */
function tabOf(key: string): TabId | null {
  return FIELD_TABS[key] ?? (key.startsWith("outbound.") ? "outbound" : key.startsWith("smtp.") ? "limits" : null);
}

export function mountSmtp(app: HTMLElement): () => void {
  const f = frame("SMTP", "smtp-window");
  const strip = new Strip(f.strip);
  const errors = new FieldErrors();
  const c = smtpControls();
  registerFields(c, errors);
  let loaded = false;

  const okBtn = button("OK", { id: "btn-ok", primary: true, submit: true, disabled: true });
  const applyBtn = button("Apply", { id: "btn-apply", disabled: true, onClick: () => void save(false) });
  const cancelBtn = button("Cancel", { id: "btn-cancel", onClick: () => void closeWindow() });
  const servicesBtn = button("Services…", {
    id: "btn-open-services",
    onClick: () => void api.openWindow("services").catch((e) => strip.error(`Cannot open the Services window: ${errorText(e)}`)),
  });

  const panels = buildPanels(c, servicesBtn);
  const tabs = new Tabs(TABS.map(([id, label]) => ({ id, label, panel: panels[id] })));
  const form = h("form", { id: "smtp-form", novalidate: true }, tabs.el);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void save(true);
  });
  c.trusted.addEventListener("input", () => updateSmtpState(c));
  for (const el of [c.direct, c.smart, c.clearPassword, c.plaintextLogin]) el.addEventListener("change", () => updateOutboundState(c));

  const badTabs = (): TabId[] => {
    const bad = new Set(errors.keys().map(tabOf));
    return TABS.map(([id]) => id).filter((id) => bad.has(id));
  };
  errors.onChange = () => {
    const bad = badTabs();
    for (const [id] of TABS) tabs.mark(id, bad.includes(id));
  };

  const stopEscape = closeOnEscape(closeWindow);
  fillBar(f.bar, [], [okBtn, cancelBtn, applyBtn]);
  okBtn.setAttribute("form", "smtp-form");
  f.body.append(form);

  /** Shows the messages next to their fields, brings the first bad tab forward and says what was saved. */
  function showErrors(messages: Map<string, string>, saved: string): void {
    const unmatched = errors.show(messages);
    const bad = badTabs();
    if (bad.length && !bad.includes(tabs.current as TabId)) tabs.select(bad[0]);
    errors.focusFirst();
    const where = bad.map((t) => TAB_LABELS[t]).join(", ");
    const fix = where ? ` Correct the marked field${errors.keys().length === 1 ? "" : "s"} on: ${where}.` : "";
    strip.error(`${saved}${fix}${unmatched.length ? ` ${unmatched.join("; ")}` : ""}`);
  }

  async function save(close: boolean): Promise<void> {
    if (!loaded) return;
    const { smtp, outbound, local } = collect(c);
    if (local.size) {
      showErrors(local, "Nothing was saved.");
      return;
    }
    await busy([okBtn, applyBtn, cancelBtn], async () => {
      // Two commands: both are tried so that every bad field shows at once; a part that saves stays saved.
      const messages = new Map<string, string>();
      const problems: string[] = [];
      const attempt = async (what: string, run: () => Promise<void>): Promise<boolean> => {
        try {
          await run();
          return true;
        } catch (e) {
          const m = fieldMessages(e);
          if (m.size) m.forEach((v, k) => messages.set(k, v));
          else problems.push(`the ${what} settings: ${errorText(e)}`);
          return false;
        }
      };
      const smtpOk = await attempt("SMTP", () => api.saveSmtpSettings(smtp));
      const outOk = await attempt("outbound", () => api.saveOutboundSettings(outbound));
      if (smtpOk && outOk) {
        errors.clear();
        if (close) {
          await closeWindow();
          return;
        }
        strip.info("Settings saved.");
      }
      // Reload what was saved (a new password becomes "unchanged"); keep what was not, as typed.
      await reload(smtpOk, outOk);
      if (smtpOk && outOk) return;
      const saved = smtpOk ? "Only the SMTP settings were saved." : outOk ? "Only the outbound settings were saved." : "Nothing was saved.";
      if (messages.size) showErrors(messages, saved + (problems.length ? ` Not saved: ${problems.join("; ")}.` : ""));
      else strip.error(`${saved} Not saved: ${problems.join("; ")}.`);
    });
  }

  async function reload(smtp = true, outbound = true): Promise<void> {
    try {
      const [s, o] = await Promise.all([smtp ? api.getSmtpSettings() : null, outbound ? api.getOutboundSettings() : null]);
      if (s) fillSmtp(c, s);
      if (o) fillOutbound(c, o);
      loaded = true;
      okBtn.disabled = applyBtn.disabled = false;
    } catch (e) {
      if (!loaded) strip.error(`Cannot read the SMTP settings: ${errorText(e)}`);
      else strip.error(`The settings were saved, but cannot be read back: ${errorText(e)}`);
    }
  }

  app.replaceChildren(f.root);
  void reload();
  return stopEscape;
}
