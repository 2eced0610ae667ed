/**
 * "Run the mail server as a system service": the checkbox in the main window's footer and the wizard's
 * last question. Turning it on moves this app's mail to the postroomd service (the administrator's
 * password is asked for by the system), and Postroom restarts attached to it; turning it off brings the
 * mail back into this app.
 */
import { api, errorText } from "../api";
import type { SystemService } from "../bindings/SystemService";
import type { Strip } from "./buttons";
import { confirmDialog } from "./dialog";
import { h } from "./dom";
import { input } from "./form";

export const SERVICE_LABEL = "Run the mail server as a system service";

/** The checkbox with its label; disabled, with the reason beside it, where the service cannot be used. */
export function systemServiceSwitch(id: string, onChange: (on: boolean, box: HTMLInputElement) => void): { line: HTMLElement; box: HTMLInputElement; show: (s: SystemService) => void } {
  const box = input(id, { type: "checkbox" });
  const label = h("label", { for: id }, SERVICE_LABEL);
  const line = h("span", { class: "field-line check", id: `${id}-line` }, box, label);
  box.addEventListener("change", () => onChange(box.checked, box));
  const show = (s: SystemService): void => {
    box.checked = s.enabled || s.active;
    box.disabled = !s.available;
    const why = s.why_not ? `Not available: ${s.why_not}` : s.active ? `Running: serving ${s.data_dir}` : "Starts with the computer, before anyone logs in";
    line.title = why;
    label.title = why;
  };
  return { line, box, show };
}

/** What turning it on or off does, for the confirmation. */
export function serviceExplanation(on: boolean, s: SystemService, folder: string): HTMLElement[] {
  return on
    ? [
        h("p", null, "The mail server moves out of this app into the system service ", h("strong", null, "postroomd"), ": it starts with the computer, before anyone logs in, and keeps serving when you log out."),
        h("p", null, `The mail, users and settings move to ${s.data_dir}. The system asks for the administrator's password; then Postroom restarts and manages the service from the same windows.`),
      ]
    : [
        h("p", null, "The system service stops and no longer starts with the computer."),
        h("p", null, `The mail, users and settings come back to ${folder || "this app's data folder"}, served by this app while you are logged in.`),
      ];
}

/** Asks, then turns the service on or off; false (and the box put back) if cancelled or refused. */
export async function changeSystemService(on: boolean, box: HTMLInputElement, strip: Strip, folder: string): Promise<boolean> {
  const state = await api.getSystemService();
  const ok = await confirmDialog(
    on ? "Run as a System Service" : "Stop the System Service",
    serviceExplanation(on, state, folder),
    on ? "Move to the service" : "Stop the service",
    "service-confirm",
  );
  if (!ok) {
    box.checked = !on;
    return false;
  }
  return applySystemService(on, box, strip);
}

/** Turns it on or off without asking (the wizard asked already). */
export async function applySystemService(on: boolean, box: HTMLInputElement | null, strip: Strip): Promise<boolean> {
  if (box) box.disabled = true;
  strip.info(on ? "Moving the mail server to the system service…" : "Stopping the system service…");
  try {
    strip.info(await api.setSystemService(on));
    return true;
  } catch (e) {
    if (box) {
      box.checked = !on;
      box.disabled = false;
    }
    strip.error(`${on ? "The mail server could not move to the system service" : "The system service could not be stopped"}: ${errorText(e)}`);
    return false;
  }
}
