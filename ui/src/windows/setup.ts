import { api, closeWindow, errorText, fieldMessages } from "../api";
import type { FieldError } from "../bindings/FieldError";
import type { ServiceId } from "../bindings/ServiceId";
import type { SystemService } from "../bindings/SystemService";
import type { ServiceView } from "../bindings/ServiceView";
import type { SetupDone } from "../bindings/SetupDone";
import type { SetupPage } from "../bindings/SetupPage";
import type { SetupPlan } from "../bindings/SetupPlan";
import type { SetupUser } from "../bindings/SetupUser";
import { plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { frame, h, text } from "../widgets/dom";
import { checkRow, choiceRow, errorSlot, FieldErrors, grid, group, infoRow, input, row, select, textarea } from "../widgets/form";
import { recordRow } from "./dns-records";
import { mailProgramText } from "./user-editor";
import { applySystemService, systemServiceSwitch } from "../widgets/system-service";

/** The wizard's pages: the five the engine checks, then a summary before Finish. */
const PAGES: { key: SetupPage | "summary"; title: string }[] = [
  { key: "domains", title: "Domain and server name" },
  { key: "users", title: "Users" },
  { key: "sending", title: "Sending mail" },
  { key: "certificate", title: "Certificate" },
  { key: "services", title: "Services" },
  { key: "summary", title: "Ready" },
];

const SERVICE_PURPOSE: Record<ServiceId, string> = {
  smtp: "mail from other servers on the Internet",
  submission: "mail programs sending (STARTTLS)",
  smtps: "mail programs sending (SSL/TLS)",
  pop3: "mail programs downloading (STARTTLS)",
  pop3s: "mail programs downloading (SSL/TLS)",
  imap: "mail programs reading on the server (STARTTLS)",
  imaps: "mail programs reading on the server (SSL/TLS)",
  http: "mail programs finding their settings",
  https: "mail programs finding their settings (HTTPS)",
};

/**
 * The first-run wizard. What is typed lives in `plan` until Finish, so Back keeps it and Cancel leaves
 * the server exactly as it was; each Next asks the engine to check that page.
 */
export function mountSetup(app: HTMLElement): () => void {
  const f = frame("Set Up Postroom", "setup-window");
  const strip = new Strip(f.strip);
  const steps = h("ol", { class: "setup-steps", id: "setup-steps" });
  const page = h("div", { class: "setup-page", id: "setup-page" });
  f.body.append(h("div", { class: "setup-layout" }, steps, page));
  const position = h("span", { class: "footer-info", id: "setup-position" });
  const cancelBtn = button("Cancel", { id: "btn-setup-cancel", onClick: () => void closeWindow() });
  const backBtn = button("< Back", { id: "btn-setup-back", onClick: () => void go(current - 1) });
  const nextBtn = button("Next >", { id: "btn-setup-next", primary: true, onClick: () => void next() });
  fillBar(f.bar, [position], [cancelBtn, backBtn, nextBtn]);

  let plan: SetupPlan | null = null;
  let services: ServiceView[] = [];
  let current = 0;
  let errors: FieldErrors;
  let lookedUp = "";
  let asService = false;
  let serviceState: SystemService | null = null;

  async function start(): Promise<void> {
    try {
      const [s, views] = await Promise.all([api.getSetupStart(), api.getServices()]);
      plan = s.plan;
      services = views;
      serviceState = await api.getSystemService().catch(() => null);
      if (!s.needed) strip.info("This server already has users or domains: what you add here comes on top of them.");
      if (plan.users.length === 0) plan.users.push({ name: "", real_name: "", password: "" });
      render();
    } catch (e) {
      strip.error(`Cannot start the wizard: ${errorText(e)}`);
    }
  }

  function render(): void {
    if (!plan) return;
    steps.replaceChildren(...PAGES.map((p, i) => h("li", { class: i === current ? "current" : i < current ? "done" : "" }, p.title)));
    text(position, `Step ${current + 1} of ${PAGES.length}`);
    backBtn.disabled = current === 0;
    text(nextBtn, current === PAGES.length - 1 ? "Finish" : "Next >");
    errors = fieldErrors();
    const key = PAGES[current].key;
    const body =
      key === "domains" ? domainsPage(plan) : key === "users" ? usersPage(plan) : key === "sending" ? sendingPage(plan) : key === "certificate" ? certificatePage(plan) : key === "services" ? servicesPage(plan) : summaryPage(plan);
    page.replaceChildren(h("h2", { class: "setup-title" }, PAGES[current].title), ...body);
    const first = page.querySelector<HTMLElement>("input:not([type=radio]):not([type=checkbox]), textarea");
    first?.focus();
  }

  /** A page's field errors; the strip's "correct the marked fields" goes once none is left. */
  function fieldErrors(): FieldErrors {
    const made = new FieldErrors();
    made.onChange = () => {
      if (made.keys().length === 0) strip.clear();
    };
    return made;
  }

  function go(to: number): void {
    current = Math.max(0, Math.min(PAGES.length - 1, to));
    strip.clear();
    render();
  }

  /** Shows the engine's problems next to their fields; false when there were any. */
  function showProblems(found: FieldError[] | Map<string, string>): boolean {
    const messages = found instanceof Map ? found : new Map(found.map((e) => [e.field, e.message] as [string, string]));
    if (messages.size === 0) return true;
    const unmatched = errors.show(messages);
    if (unmatched.length) strip.error(unmatched.join("; "));
    else strip.error(`Please correct the ${plural(messages.size, "marked field")} first.`);
    errors.focusFirst();
    return false;
  }

  async function next(): Promise<void> {
    if (!plan) return;
    const key = PAGES[current].key;
    if (key === "summary") return finish();
    // The page moves after busy() has given the buttons back their state (it restores what it found).
    const good = await busy([nextBtn, backBtn], async () => {
      try {
        return showProblems(await api.checkSetup(plan!, key));
      } catch (e) {
        strip.error(errorText(e));
        return false;
      }
    });
    if (good) go(current + 1);
  }

  async function finish(): Promise<void> {
    let done: SetupDone | null = null;
    await busy([nextBtn, backBtn, cancelBtn], async () => {
      try {
        done = await api.finishSetup(plan!);
      } catch (e) {
        // A page that was fine when left may not be now (a name taken meanwhile): go back to it.
        const messages = fieldMessages(e);
        const field = [...messages.keys()][0] ?? "";
        const at = PAGES.findIndex((p) => pageOwns(p.key, field));
        if (at >= 0 && at !== current) go(at);
        if (!showProblems(messages)) return;
        strip.error(`Nothing was changed: ${errorText(e)}`);
      }
    });
    if (done) showDone(done);
  }

  // ----- the pages -----

  function domainsPage(p: SetupPlan): HTMLElement[] {
    const domains = textarea("setup-domains", { rows: 3, class: "w-medium", placeholder: "example.com" });
    domains.value = p.domains.join("\n");
    domains.addEventListener("input", () => (p.domains = domains.value.split(/[\s,;]+/).filter((d) => d)));
    errors.register("domains", domains);
    const name = input("setup-server-name", { class: "w-medium", placeholder: "mail.example.com" });
    name.value = p.server_name;
    errors.register("server_name", name);
    const result = h("div", { class: "hint", id: "setup-lookup-result" });
    const lookup = button("Look Up", { id: "btn-setup-lookup", onClick: () => void lookUp() });
    name.addEventListener("input", () => {
      p.server_name = name.value.trim();
      text(result, "");
    });
    async function lookUp(): Promise<void> {
      if (!p.server_name) return;
      await busy([lookup], async () => {
        text(result, "Asking DNS…");
        result.className = "hint";
        try {
          const found = await api.lookUpServerName(p.server_name);
          lookedUp = found.name;
          if (found.addresses.length) {
            text(result, `${found.name} is ${found.addresses.join(", ")} in DNS.`);
          } else {
            text(result, `${found.problem ?? "No address in DNS"}. Mail programs outside the office and other mail servers will not find this server until its name has an address record (A) at your DNS host.`);
            result.className = "hint warn-text";
          }
        } catch (e) {
          text(result, errorText(e));
        }
      });
    }
    if (p.server_name && lookedUp !== p.server_name) void lookUp();
    return [
      h("p", { class: "explain" }, "A few questions and Postroom is ready to take the office's mail. Nothing is saved until you click Finish; Cancel leaves everything as it is."),
      grid(
        row("Mail domains:", domains, [], "The part after the @ in your office's addresses, one per line, such as example.com."),
        row("This server's name:", name, [lookup], "The name mail programs and other servers use to reach this computer; it should have an address in DNS."),
      ),
      result,
    ];
  }

  function usersPage(p: SetupPlan): HTMLElement[] {
    const rows = h("div", { class: "setup-users", id: "setup-users" });
    const count = h("span", { class: "hint", id: "setup-users-count" });
    const draw = (): void => {
      errors = fieldErrors();
      rows.replaceChildren(
        h("div", { class: "setup-user head" }, h("span", null, "User name"), h("span", null, "Real name"), h("span", null, "Password"), h("span", null, "")),
        ...p.users.map((u, i) => userRow(u, i)),
      );
      text(count, plural(p.users.filter((u) => u.name.trim()).length, "user"));
    };
    const userRow = (u: SetupUser, i: number): HTMLElement => {
      const field = (key: keyof SetupUser, attrs: Record<string, string>) => {
        const el = input(`setup-user-${i}-${key}`, attrs);
        el.value = u[key];
        el.addEventListener("input", () => {
          u[key] = el.value;
          if (key === "name") text(count, plural(p.users.filter((x) => x.name.trim()).length, "user"));
        });
        errors.register(`users.${i}.${key}`, el);
        return h("div", { class: "cell" }, el, errorSlot(el));
      };
      const remove = button("Remove", {
        id: `btn-setup-user-${i}-remove`,
        disabled: p.users.length === 1,
        onClick: () => {
          p.users.splice(i, 1);
          draw();
        },
      });
      return h(
        "div",
        { class: "setup-user" },
        field("name", { placeholder: "ann", autocomplete: "off" }),
        field("real_name", { placeholder: "Ann Smith", autocomplete: "off" }),
        field("password", { type: "password", placeholder: "at least 6 characters", autocomplete: "new-password" }),
        remove,
      );
    };
    const add = button("Add User", {
      id: "btn-setup-add-user",
      onClick: () => {
        p.users.push({ name: "", real_name: "", password: "" });
        draw();
        document.getElementById(`setup-user-${p.users.length - 1}-name`)?.focus();
      },
    });
    const importBtn = button("Import CSV…", { id: "btn-setup-import", onClick: () => void importCsv() });
    async function importCsv(): Promise<void> {
      await busy([importBtn], async () => {
        try {
          const read = await api.readUsersCsv();
          if (!read) return;
          // The rows typed so far stay; empty ones make room for the file's.
          p.users = [...p.users.filter((u) => u.name.trim() || u.password), ...read.users];
          if (p.users.length === 0) p.users.push({ name: "", real_name: "", password: "" });
          draw();
          const bad = read.errors.map((e) => `line ${e.line}: ${e.message}`);
          if (bad.length) strip.error(`${plural(read.users.length, "user")} read; left out ${bad.join("; ")}`);
          else strip.info(`${plural(read.users.length, "user")} read from the file. They are added when you click Finish.`);
        } catch (e) {
          strip.error(`Cannot read the file: ${errorText(e)}`);
        }
      });
    }
    draw();
    return [
      h("p", { class: "explain" }, "The people who get a mailbox. Each logs in with the user name (or the address) and password. More can be added later in the Users window."),
      rows,
      h("div", { class: "list-buttons" }, add, importBtn, h("span", { class: "spacer" }), count),
      h("p", { class: "hint" }, "A CSV file has one user per line: name, password, real name."),
    ];
  }

  function sendingPage(p: SetupPlan): HTMLElement[] {
    const direct = input("setup-send-direct", { type: "radio", name: "setup-send", checked: p.smart_host === "" });
    const relay = input("setup-send-relay", { type: "radio", name: "setup-send", checked: p.smart_host !== "" });
    const host = input("setup-smart-host", { class: "w-medium", placeholder: "smtp.your-provider.example" });
    host.value = p.smart_host;
    const port = input("setup-smart-port", { class: "w-short", inputmode: "numeric" });
    port.value = String(p.smart_host_port);
    const tls = select("setup-smart-tls", [
      ["required", "STARTTLS, required"],
      ["opportunistic", "STARTTLS when offered"],
    ]);
    tls.value = p.smart_host_tls;
    const verify = input("setup-smart-verify", { type: "checkbox", checked: p.smart_host_verify_certificate });
    const user = input("setup-smart-user", { class: "w-medium", autocomplete: "off" });
    user.value = p.smart_host_username;
    const password = input("setup-smart-password", { type: "password", class: "w-medium", autocomplete: "new-password" });
    password.value = p.smart_host_password;
    errors.register("smart_host", host);
    errors.register("smart_host_port", port);
    errors.register("smart_host_username", user);
    errors.register("smart_host_password", password);
    errors.register("smart_host_verify_certificate", verify);
    const result = h("div", { class: "hint", id: "setup-test-result" });
    const test = button("Test", { id: "btn-setup-test", onClick: () => void tryIt() });
    const relayFields = grid(
      row("Smart host:", host, [h("label", { for: port.id }, "Port:"), port]),
      row("Security:", tls),
      checkRow("Check the server's certificate", verify, "Leave on for a provider on the Internet; turn off only for a server on your own network (given by its address)."),
      row("User name:", user, [], "Leave empty if the provider needs no login."),
      row("Password:", password),
      h("div", { class: "form-row" }, h("span", { class: "row-label" }), h("div", { class: "row-field" }, test)),
    );
    const sync = (): void => {
      const on = relay.checked;
      p.smart_host = on ? host.value.trim() : "";
      const n = Number(port.value.trim());
      p.smart_host_port = Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0;
      p.smart_host_tls = tls.value as SetupPlan["smart_host_tls"];
      p.smart_host_verify_certificate = verify.checked;
      p.smart_host_username = user.value.trim();
      p.smart_host_password = password.value;
      relayFields.classList.toggle("disabled", !on);
      for (const el of [host, port, tls, verify, user, password, test]) el.disabled = !on;
    };
    for (const el of [direct, relay, host, port, tls, verify, user, password]) {
      el.addEventListener("input", sync);
      el.addEventListener("change", sync);
    }
    sync();
    async function tryIt(): Promise<void> {
      sync();
      await busy([test], async () => {
        text(result, "Connecting…");
        result.className = "hint";
        try {
          text(result, await api.testSmartHost(p));
          result.className = "hint ok-text";
        } catch (e) {
          const fields = fieldMessages(e);
          if (fields.size) {
            showProblems(fields);
            text(result, "");
          } else {
            text(result, errorText(e));
            result.className = "hint problem";
          }
        }
      });
    }
    return [
      h("p", { class: "explain" }, "How mail for people outside the office leaves this server."),
      choiceRow("Through my Internet provider's mail server (smart host)", relay, "Best for most offices: many providers block direct sending, and big mail services distrust mail from ordinary connections."),
      h("div", { class: "setup-indent" }, relayFields, result),
      choiceRow("Directly to each recipient's mail server", direct, "Needs outgoing port 25 open, a fixed address and a reverse DNS name for it."),
    ];
  }

  function certificatePage(p: SetupPlan): HTMLElement[] {
    const own = p.cert_file !== "" || p.key_file !== "";
    const selfSigned = input("setup-cert-self", { type: "radio", name: "setup-cert", checked: !own });
    const files = input("setup-cert-own", { type: "radio", name: "setup-cert", checked: own });
    const cert = input("setup-cert-file", { class: "w-path", placeholder: "/path/to/fullchain.pem" });
    cert.value = p.cert_file;
    const key = input("setup-key-file", { class: "w-path", placeholder: "/path/to/privkey.pem" });
    key.value = p.key_file;
    errors.register("cert_file", cert);
    errors.register("key_file", key);
    const sync = (): void => {
      p.cert_file = files.checked ? cert.value.trim() : "";
      p.key_file = files.checked ? key.value.trim() : "";
      cert.disabled = key.disabled = !files.checked;
    };
    for (const el of [selfSigned, files, cert, key]) {
      el.addEventListener("input", sync);
      el.addEventListener("change", sync);
    }
    sync();
    return [
      h("p", { class: "explain" }, "Encryption for mail programs and other servers needs a certificate."),
      choiceRow("The certificate Postroom made (self-signed)", selfSigned, "Works at once; mail programs ask once whether to trust it."),
      choiceRow("My own certificate files (PEM)", files, "From your certificate provider or Let's Encrypt: the certificate chain and its private key."),
      h("div", { class: "setup-indent" }, grid(row("Certificate:", cert), row("Private key:", key))),
    ];
  }

  function servicesPage(p: SetupPlan): HTMLElement[] {
    const list = h("div", { class: "setup-services", id: "setup-services" });
    for (const s of services) {
      const box = input(`setup-svc-${s.id}`, { type: "checkbox", checked: p.services.includes(s.id) });
      box.addEventListener("change", () => {
        p.services = services.filter((v) => (document.getElementById(`setup-svc-${v.id}`) as HTMLInputElement).checked).map((v) => v.id);
        errors.set("services", null);
      });
      list.append(
        h("div", { class: "field-line check" }, box, h("label", { for: box.id }, h("strong", null, s.name), ` — port ${s.port}, ${SERVICE_PURPOSE[s.id]}`)),
      );
    }
    errors.register("services", list);
    const listSlot = errorSlot(list);
    // How it runs: in this app, or as the system service (done after Finish, from the last page).
    const service = systemServiceSwitch("setup-system-service", (on) => (asService = on));
    const why = h("p", { class: "hint", id: "setup-system-service-why" });
    if (serviceState) {
      service.show(serviceState);
      const already = serviceState.active;
      service.box.checked = already || (asService && serviceState.available);
      service.box.disabled ||= already;
      text(
        why,
        already
          ? "It runs as the system service already."
          : serviceState.available
            ? "The mail server then starts with the computer, before anyone logs in, and keeps serving when you log out; this app manages it. The administrator's password is asked for after Finish."
            : `Not available here: ${serviceState.why_not}.`,
      );
    }
    return [
      h("p", { class: "explain" }, "Which ways in to open. Each can be changed later in the Services window."),
      list,
      listSlot,
      group("How it runs", h("div", null, service.line, why)),
    ];
  }

  function summaryPage(p: SetupPlan): HTMLElement[] {
    const names = p.users.map((u) => u.name.trim()).filter((n) => n);
    return [
      h("p", { class: "explain" }, "Click Finish to set the server up like this. Until then nothing has changed."),
      h(
        "div",
        { class: "form-grid", id: "setup-summary" },
        infoRow("Mail domains:", p.domains.join(", ")),
        infoRow("Server name:", p.server_name),
        infoRow("Users:", `${plural(names.length, "user")}: ${names.join(", ")}`),
        infoRow("Sending:", p.smart_host ? `through ${p.smart_host}:${p.smart_host_port}${p.smart_host_username ? ` as ${p.smart_host_username}` : ""}` : "directly"),
        infoRow("Certificate:", p.cert_file ? p.cert_file : "self-signed"),
        infoRow("Services:", services.filter((s) => p.services.includes(s.id)).map((s) => s.name).join(", ")),
        infoRow("Runs:", asService ? "as the system service (starts with the computer; asked for after Finish)" : "in this app, while you are logged in"),
      ),
    ];
  }

  function showDone(done: SetupDone): void {
    strip.clear();
    steps.replaceChildren(...PAGES.map((p) => h("li", { class: "done" }, p.title)));
    let n = 0;
    const records = done.domains.map((d) => group(`DNS records for ${d.domain}`, h("div", { class: "dns-records" }, d.records.map((r) => recordRow(r, n++)))));
    const accounts = done.accounts.map((a) => h("pre", { class: "setup-account", "data-user": a.login }, mailProgramText(a)));
    page.replaceChildren(
      h("h2", { class: "setup-title" }, "Postroom is set up"),
      h("p", { class: "explain", id: "setup-done" }, "Publish these records at the company that hosts your domain's DNS, then give each person their settings."),
      ...records,
      group("Settings for each person's mail program", h("div", { class: "setup-accounts", id: "setup-accounts" }, accounts)),
    );
    text(position, "Done");
    const close = button("Close", { id: "btn-setup-close", primary: !asService, onClick: () => void closeWindow() });
    if (!asService) {
      fillBar(f.bar, [position], [close]);
      return;
    }
    // The last step asked for: the mail server moves to the system service (Postroom restarts attached).
    page.append(
      group(
        "System service",
        h("p", { class: "explain", id: "setup-service-step" }, "Last step: move the mail server to the system service. The system asks for the administrator's password; Postroom then restarts and manages the service from the same windows."),
      ),
    );
    const move = button("Move to the system service", {
      id: "btn-setup-service",
      primary: true,
      onClick: () => void applySystemService(true, null, strip).then((ok) => (move.disabled = ok)),
    });
    fillBar(f.bar, [position], [close, move]);
  }

  app.replaceChildren(f.root);
  void start();
  return () => {};
}

/** Whether an error's field is on this page. */
function pageOwns(page: SetupPage | "summary", field: string): boolean {
  if (page === "domains") return field === "domains" || field === "server_name";
  if (page === "users") return field === "users" || field.startsWith("users.");
  if (page === "sending") return field.startsWith("smart_host");
  if (page === "certificate") return field === "cert_file" || field === "key_file";
  if (page === "services") return field === "services";
  return false;
}
