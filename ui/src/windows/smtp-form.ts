import type { OutboundForm } from "../bindings/OutboundForm";
import type { OutboundTls } from "../bindings/OutboundTls";
import type { OutboundView } from "../bindings/OutboundView";
import type { SmtpView } from "../bindings/SmtpView";
import { h, type Child } from "../widgets/dom";
import { checkRow, errorSlot, FieldErrors, grid, group, input, row, select, textarea, U32, whole } from "../widgets/form";

/* The SMTP window's controls: building the four tab panels, filling them from the engine's views and reading
   them back (with the checks the engine cannot make on a number it never receives). */

const MB = 1024 * 1024;

export type TabId = "general" | "relaying" | "limits" | "outbound";

/** Every engine field the window shows, the tab it is on, and the control its error goes next to. */
export const FIELD_TABS: Record<string, TabId> = {
  "general.server_name": "general",
  "smtp.max_message_size": "general",
  "smtp.trusted_networks": "relaying",
  "smtp.allow_plaintext_auth": "relaying",
  "smtp.max_recipients": "limits",
  "smtp.max_connections_per_address": "limits",
  "smtp.max_connections": "limits",
  "smtp.idle_timeout_secs": "limits",
  "outbound.smart_host": "outbound",
  "outbound.smart_host_port": "outbound",
  "outbound.username": "outbound",
  "outbound.password": "outbound",
  "outbound.tls": "outbound",
  "outbound.verify_certificate": "outbound",
  "outbound.allow_plaintext_auth": "outbound",
  "outbound.max_parallel": "outbound",
  "outbound.retry_minutes": "outbound",
  "outbound.max_age_hours": "outbound",
  "outbound.dns_server": "outbound",
};

const num = (id: string, cls = "w-short") => input(id, { type: "number", min: 0, step: 1, class: cls });
const unit = (text: string) => h("span", { class: "unit" }, text);

export function smtpControls() {
  return {
    serverName: input("smtp-server-name", { class: "w-medium", placeholder: "mail.example.com" }),
    maxSizeMb: input("smtp-max-size-mb", { type: "number", min: 0, step: "any", class: "w-short" }),
    trusted: textarea("smtp-trusted", { rows: 5, class: "w-long", placeholder: "192.168.1.0/24" }),
    trustedWarning: h("div", { class: "field-warning", id: "smtp-trusted-warning", hidden: true }),
    plaintext: input("smtp-plaintext-auth"),
    maxRecipients: num("smtp-max-recipients"),
    maxPerAddress: num("smtp-max-per-address"),
    maxConnections: num("smtp-max-connections"),
    idleTimeout: num("smtp-idle-timeout"),
    direct: h("input", { type: "radio", name: "out-mode", id: "out-direct", value: "direct" }),
    smart: h("input", { type: "radio", name: "out-mode", id: "out-smart", value: "smart" }),
    smartGroup: h("fieldset", { class: "group", id: "out-smart-group" }, h("legend", null, "Smart host settings")),
    host: input("out-host", { class: "w-medium", placeholder: "smtp.your-provider.com" }),
    port: num("out-port"),
    user: input("out-user", { class: "w-medium", placeholder: "leave blank if no login is needed" }),
    password: input("out-password", { type: "password", autocomplete: "new-password", class: "w-medium" }),
    clearPassword: h("input", { type: "checkbox", id: "out-clear-password", name: "out-clear-password" }),
    tls: select("out-tls", [
      ["required", "Required — never send without encryption"],
      ["opportunistic", "Opportunistic — encrypt when the server offers it"],
    ]),
    verify: input("out-verify"),
    plaintextLogin: input("out-plaintext-login"),
    plaintextWarning: h("div", { class: "field-warning", id: "out-plaintext-warning", hidden: true },
      "The smart host's password may now travel unencrypted, or to a server whose certificate is not checked: anyone on the way can read it. Use this only for a server on your own network."),
    parallel: num("out-parallel"),
    retry: input("out-retry", { class: "w-medium", placeholder: "5, 10, 30, 60" }),
    maxAge: num("out-max-age"),
    dnsServer: input("out-dns", { class: "w-medium", placeholder: "the computer's own" }),
  };
}

export type SmtpControls = ReturnType<typeof smtpControls>;

export function registerFields(c: SmtpControls, errors: FieldErrors): void {
  const pairs: [string, HTMLElement][] = [
    ["general.server_name", c.serverName], ["smtp.max_message_size", c.maxSizeMb], ["smtp.trusted_networks", c.trusted],
    ["smtp.allow_plaintext_auth", c.plaintext], ["smtp.max_recipients", c.maxRecipients],
    ["smtp.max_connections_per_address", c.maxPerAddress], ["smtp.max_connections", c.maxConnections],
    ["smtp.idle_timeout_secs", c.idleTimeout], ["outbound.smart_host", c.host], ["outbound.smart_host_port", c.port],
    ["outbound.username", c.user], ["outbound.password", c.password], ["outbound.tls", c.tls],
    ["outbound.verify_certificate", c.verify], ["outbound.allow_plaintext_auth", c.plaintextLogin], ["outbound.max_parallel", c.parallel],
    ["outbound.retry_minutes", c.retry], ["outbound.max_age_hours", c.maxAge],
    ["outbound.dns_server", c.dnsServer],
  ];
  for (const [key, control] of pairs) errors.register(key, control);
}

function radio(control: HTMLInputElement, label: string): HTMLElement {
  return h("div", { class: "field-line check choice" }, control, h("label", { for: control.id }, label));
}

export function buildPanels(c: SmtpControls, servicesButton: HTMLElement): Record<TabId, HTMLElement> {
  const panel = (...children: Child[]) => h("div", null, ...children);
  const general = panel(
    h("p", { class: "purpose" }, "How Postroom receives mail with SMTP, and how it sends mail on to other servers."),
    group(
      "Server",
      grid(
        row("Greeting name:", c.serverName, [], "The name this server gives when other servers connect and when it sends mail. Use its name in DNS, such as mail.example.com. A self-signed certificate is remade for a new name."),
        row("Maximum message size:", c.maxSizeMb, [unit("MB")], "Larger messages are refused."),
      ),
    ),
    group("Ports and encryption", h("div", { class: "split" }, h("p", { class: "hint" }, "The SMTP ports, the addresses they listen on and their TLS mode are set in the Services window."), servicesButton)),
  );
  const relaying = panel(
    h("p", { class: "purpose" }, "Relaying means sending mail on to addresses outside your local domains. Postroom relays only for users who log in and for the trusted networks below, so strangers cannot use it to send spam."),
    group(
      "Relaying without login",
      grid(
        row("Trusted networks:", c.trusted, [], "Computers at these addresses may send mail to any address without logging in, e.g. a copier that emails scans. One address or range per line (such as 192.168.1.0/24), or separated by commas."),
        h("div", { class: "form-row" }, h("span", { class: "row-label" }), h("div", { class: "row-field" }, c.trustedWarning)),
      ),
    ),
    group(
      "Logging in",
      grid(checkRow("Allow login without TLS on port 25 (passwords in clear text)", c.plaintext, "Only for old devices that cannot use encryption: anyone on the network path can read the password. Mail programs should send through Submission (port 587) instead.")),
    ),
  );
  const limits = panel(
    h("p", { class: "purpose" }, "Limits protect the server from overload and misuse. The defaults suit most offices."),
    group("Messages", grid(row("Recipients per message:", c.maxRecipients, [], "Recipients beyond this many are refused."))),
    group(
      "Connections",
      grid(
        row("From one address:", c.maxPerAddress, [unit("connections at once")], "Stops a single computer from taking every connection."),
        row("In all:", c.maxConnections, [unit("connections at once")]),
        row("Idle timeout:", c.idleTimeout, [unit("seconds")], "A client that sends nothing for this long is disconnected (at least 30)."),
      ),
    ),
  );
  c.smartGroup.append(
    grid(
      h(
        "div",
        { class: "form-row" },
        h("label", { for: c.host.id, class: "row-label" }, "Smart host:"),
        h(
          "div",
          { class: "row-field" },
          h("div", { class: "field-line" }, c.host, h("label", { for: c.port.id, class: "inline-label" }, "Port:"), c.port),
          errorSlot(c.host),
          errorSlot(c.port),
        ),
      ),
      row("User name:", c.user),
      h(
        "div",
        { class: "form-row" },
        h("label", { for: c.password.id, class: "row-label" }, "Password:"),
        h(
          "div",
          { class: "row-field" },
          h("div", { class: "field-line" }, c.password, h("span", { class: "field-line check" }, c.clearPassword, h("label", { for: c.clearPassword.id }, "Clear password"))),
          errorSlot(c.password),
        ),
      ),
      row("Encryption (TLS):", c.tls),
      checkRow("Check the server's certificate (turn off only if it is self-signed)", c.verify),
      checkRow("Allow the login without an encrypted, checked connection", c.plaintextLogin, "Off: the password is sent only over TLS whose certificate was checked. Turn on only for a server on your own network."),
      h("div", { class: "form-row" }, h("span", { class: "row-label" }), h("div", { class: "row-field" }, c.plaintextWarning)),
    ),
  );
  const outbound = panel(
    group(
      "Sending mail to other domains",
      radio(c.direct, "Send directly to each domain's mail server (MX)"),
      radio(c.smart, "Send everything through a smart host"),
      h("div", { class: "hint choice-hint" }, "Many internet providers block outgoing port 25: then send through their server as the smart host."),
      grid(row("Deliveries at once:", c.parallel, [unit("destinations")], "Mail for different domains goes out side by side, so one slow server holds up only its own mail.")),
    ),
    c.smartGroup,
    group(
      "When sending fails",
      grid(
        row("Retry after:", c.retry, [unit("minutes")], "Separated by commas: each failed attempt waits the next step; the last repeats."),
        row("Give up after:", c.maxAge, [unit("hours, then return it to the sender")]),
      ),
    ),
    group(
      "Finding mail servers",
      grid(row("DNS server:", c.dnsServer, [], "For looking up each domain's mail servers (MX). Blank: the computer's own; or an address such as 192.168.1.1.")),
    ),
  );
  return { general, relaying, limits, outbound };
}

export function splitNetworks(text: string): string[] {
  return text.split(/[\s,;]+/).filter(Boolean);
}

export function fillSmtp(c: SmtpControls, v: SmtpView): void {
  c.serverName.value = v.server_name;
  // Kept so that a size that is no round number of MB is saved unchanged unless the admin edits it.
  c.maxSizeMb.dataset.bytes = String(v.max_message_size);
  c.maxSizeMb.value = c.maxSizeMb.dataset.shown = String(Math.round((v.max_message_size / MB) * 1000) / 1000);
  c.trusted.value = splitNetworks(v.trusted_networks).join("\n");
  c.plaintext.checked = v.allow_plaintext_auth;
  c.maxRecipients.value = String(v.max_recipients);
  c.maxPerAddress.value = String(v.max_connections_per_address);
  c.maxConnections.value = String(v.max_connections);
  c.idleTimeout.value = String(v.idle_timeout_secs);
  c.serverName.dataset.loaded = "";
  updateSmtpState(c);
}

export function fillOutbound(c: SmtpControls, v: OutboundView): void {
  const smart = v.smart_host !== "";
  c.direct.checked = !smart;
  c.smart.checked = smart;
  c.host.value = v.smart_host;
  c.port.value = String(v.smart_host_port);
  c.user.value = v.username;
  c.password.value = "";
  c.clearPassword.checked = false;
  c.clearPassword.disabled = !v.password_set;
  c.clearPassword.dataset.passwordSet = String(v.password_set);
  c.tls.value = v.tls;
  c.verify.checked = v.verify_certificate;
  c.plaintextLogin.checked = v.allow_plaintext_auth;
  c.parallel.value = String(v.max_parallel);
  c.retry.value = v.retry_minutes;
  c.maxAge.value = String(v.max_age_hours);
  c.dnsServer.value = v.dns_server;
  updateOutboundState(c);
}

/** The warning under the trusted networks. */
export function updateSmtpState(c: SmtpControls): void {
  const nets = splitNetworks(c.trusted.value);
  let warning = "";
  if (!nets.length) warning = "The list is empty: only users who log in may send mail to other domains.";
  else if (nets.some((n) => n === "0.0.0.0/0" || n === "::/0")) warning = "This trusts every address on the internet: anyone could send spam through this server.";
  c.trustedWarning.textContent = warning;
  c.trustedWarning.hidden = warning === "";
}

/** Smart-host fields follow the radio buttons; "Clear password" empties and locks the password box. */
export function updateOutboundState(c: SmtpControls): void {
  c.smartGroup.disabled = !c.smart.checked;
  const passwordSet = c.clearPassword.dataset.passwordSet === "true";
  if (c.clearPassword.checked) c.password.value = "";
  c.password.disabled = c.clearPassword.checked;
  c.password.placeholder = c.clearPassword.checked ? "none" : passwordSet ? "unchanged" : "";
  c.password.title = passwordSet ? "Leave blank to keep the saved password" : "";
  c.plaintextWarning.hidden = !c.plaintextLogin.checked;
}


export interface Collected {
  smtp: SmtpView;
  outbound: OutboundForm;
  local: Map<string, string>;
}

export function collect(c: SmtpControls): Collected {
  const local = new Map<string, string>();
  const int = (key: string, control: HTMLInputElement, min: number, max = U32): number => {
    const v = whole(control.value, min, max);
    if (typeof v === "string") local.set(key, v);
    return typeof v === "number" ? v : 0;
  };
  const mbText = c.maxSizeMb.value.trim();
  let size = Number(c.maxSizeMb.dataset.bytes);
  if (mbText !== c.maxSizeMb.dataset.shown) {
    size = Math.round(Number(mbText) * MB);
    if (!/^\d*\.?\d+$/.test(mbText) || !Number.isSafeInteger(size)) local.set("smtp.max_message_size", "enter the size in MB, such as 25 or 10.5");
  }
  const smtp: SmtpView = {
    server_name: c.serverName.value.trim(),
    max_message_size: size,
    max_recipients: int("smtp.max_recipients", c.maxRecipients, 1),
    trusted_networks: splitNetworks(c.trusted.value).join(", "),
    allow_plaintext_auth: c.plaintext.checked,
    max_connections_per_address: int("smtp.max_connections_per_address", c.maxPerAddress, 1),
    max_connections: int("smtp.max_connections", c.maxConnections, 1),
    idle_timeout_secs: int("smtp.idle_timeout_secs", c.idleTimeout, 0),
  };
  const smart = c.smart.checked;
  const host = c.host.value.trim();
  if (smart && !host) local.set("outbound.smart_host", "enter the smart host's name, or choose to send directly");
  const port = smart ? int("outbound.smart_host_port", c.port, 1, 65535) : Number(c.port.value) || 25;
  const outbound: OutboundForm = {
    smart_host: smart ? host : "",
    smart_host_port: port >= 1 && port <= 65535 ? port : 25,
    username: c.user.value.trim(),
    password: c.clearPassword.checked ? "" : c.password.value === "" ? null : c.password.value,
    tls: c.tls.value as OutboundTls,
    verify_certificate: c.verify.checked,
    allow_plaintext_auth: c.plaintextLogin.checked,
    max_parallel: int("outbound.max_parallel", c.parallel, 1, 32),
    retry_minutes: c.retry.value.trim(),
    max_age_hours: int("outbound.max_age_hours", c.maxAge, 1),
    dns_server: c.dnsServer.value.trim(),
  };
  return { smtp, outbound, local };
}
