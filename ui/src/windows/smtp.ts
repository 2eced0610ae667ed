import { api, errorText, fieldMessages } from "../api";
import { button } from "../widgets/buttons";
import { frame } from "../widgets/dom";
import { SettingsWindow } from "../widgets/settings-window";
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

/** The tab a field is on ("smtp.…" fields the window does not know go to Limits, "outbound.…" to Outbound). */
function tabOf(key: string): TabId | null {
  return FIELD_TABS[key] ?? (key.startsWith("outbound.") ? "outbound" : key.startsWith("smtp.") ? "limits" : null);
}

export function mountSmtp(app: HTMLElement): () => void {
  const f = frame("SMTP", "smtp-window");
  const sw = new SettingsWindow({
    frame: f,
    formId: "smtp-form",
    check: () => collect(c).local,
    save,
    applied: async () => {
      strip.info("Settings saved.");
      await reload();
    },
    tabs: { get: () => tabs, tabOf },
    errorText: ({ note, tabs: where, marked, unmatched }) =>
      `${note ?? "Nothing was saved."}${where.length ? ` Correct the marked field${marked.length === 1 ? "" : "s"} on: ${where.join(", ")}.` : ""}` +
      (unmatched.length ? ` ${unmatched.join("; ")}` : ""),
  });
  const { strip, errors } = sw;
  const c = smtpControls();
  registerFields(c, errors);
  const servicesBtn = button("Services…", {
    id: "btn-open-services",
    onClick: () => void api.openWindow("services").catch((e) => strip.error(`Cannot open the Services window: ${errorText(e)}`)),
  });

  const panels = buildPanels(c, servicesBtn);
  const tabs = new Tabs(TABS.map(([id, label]) => ({ id, label, panel: panels[id] })));
  sw.form.append(tabs.el);
  c.trusted.addEventListener("input", () => updateSmtpState(c));
  for (const el of [c.direct, c.smart, c.clearPassword, c.plaintextLogin]) el.addEventListener("change", () => updateOutboundState(c));
  f.body.append(sw.form);

  /**
   * Two commands: both are tried so that every bad field shows at once; a part that saves stays saved.
   * True when both saved; otherwise what was saved is read back (a new password becomes "unchanged"),
   * what was not stays as typed, and what went wrong is shown here.
   */
  async function save(): Promise<boolean> {
    const { smtp, outbound } = collect(c);
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
    if (smtpOk && outOk) return true;
    await reload(smtpOk, outOk);
    const saved = smtpOk ? "Only the SMTP settings were saved." : outOk ? "Only the outbound settings were saved." : "Nothing was saved.";
    if (messages.size) sw.showErrors(messages, saved + (problems.length ? ` Not saved: ${problems.join("; ")}.` : ""));
    else strip.error(`${saved} Not saved: ${problems.join("; ")}.`);
    return false;
  }

  async function reload(smtp = true, outbound = true): Promise<void> {
    try {
      const [s, o] = await Promise.all([smtp ? api.getSmtpSettings() : null, outbound ? api.getOutboundSettings() : null]);
      if (s) fillSmtp(c, s);
      if (o) fillOutbound(c, o);
      sw.ready();
    } catch (e) {
      if (!sw.isReady) strip.error(`Cannot read the SMTP settings: ${errorText(e)}`);
      else strip.error(`The settings were saved, but cannot be read back: ${errorText(e)}`);
    }
  }

  app.replaceChildren(f.root);
  void reload();
  return () => sw.stop();
}
