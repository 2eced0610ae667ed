import type { Ban } from "./bindings/Ban";
import type { FieldError } from "./bindings/FieldError";
import type { OutboundForm } from "./bindings/OutboundForm";
import type { OutboundView } from "./bindings/OutboundView";
import type { QueueEntry } from "./bindings/QueueEntry";
import type { SmtpView } from "./bindings/SmtpView";
import { demo, fail, invalid, setValue, sleep, waitFor } from "./mock-util";

let bans: Ban[] = [
  { kind: "address", value: "203.0.113.45", failures: 5, reason: "5 failed logins within 15 minutes (SMTP)", banned_at: new Date(Date.now() - 6e5).toISOString(), until: new Date(Date.now() + 12e5).toISOString() },
  { kind: "login", value: "admin", failures: 5, reason: "5 failed logins within 15 minutes (SMTP)", banned_at: new Date(Date.now() - 6e5).toISOString(), until: new Date(Date.now() + 12e5).toISOString() },
];


/* The mock's SMTP settings, outbound settings and outbound queue (see mock.ts). */

const MB = 1024 * 1024;

let smtp: SmtpView = {
  server_name: "mail.example.co.uk",
  max_message_size: 25 * MB,
  max_recipients: 100,
  trusted_networks: "127.0.0.0/8, ::1/128, 192.168.1.0/24",
  allow_plaintext_auth: false,
  max_connections_per_address: 20,
  max_connections: 400,
  idle_timeout_secs: 300,
};
if (demo === "relaying-empty") smtp.trusted_networks = "";

const smart = demo === "smart" || /^(errors|partial|local)/.test(demo);
let outbound = {
  smart_host: smart ? "smtp.isp-provider.example" : "",
  smart_host_port: smart ? 587 : 25,
  username: smart ? "office@example.co.uk" : "",
  password: smart ? "isp-secret" : "",
  tls: (smart ? "required" : "opportunistic") as OutboundView["tls"],
  verify_certificate: true,
  allow_plaintext_auth: false,
  max_parallel: 4,
  retry_minutes: "5, 10, 30, 60, 120, 240",
  max_age_hours: 120,
  dns_server: "",
};

const now = Date.now();
const at = (minutes: number) => new Date(now + minutes * 60_000).toISOString();
let nextId = 101;
const entry = (message_id: number, sender: string, recipient: string, size: number, state: string, attempts: number, next: number, last_error: string | null, queuedAgo: number): QueueEntry =>
  ({ id: nextId++, message_id, sender, recipient, size, state, attempts, next_attempt: at(next), last_error, queued_at: at(-queuedAgo) });

let queue: QueueEntry[] = demo === "empty" ? [] : [
  entry(41, "alice@example.co.uk", "orders@northwind-traders.example", 48_213, "queued", 9, 26 * 60, "421 4.7.0 mx1.northwind-traders.example: greylisted, please try again later", 95),
  entry(44, "", "noreply@bulk-mailer.example", 3_120, "failed", 1, -50, "550 5.1.1 <noreply@bulk-mailer.example>: Recipient address rejected: User unknown in virtual mailbox table", 52),
  entry(47, "reception@example.co.uk", "bookings@harbourview-hotel.example", 1_284_551, "queued", 1, 4, "cannot connect to mail.harbourview-hotel.example:25: connection timed out", 14),
  entry(47, "reception@example.co.uk", "events@harbourview-hotel.example", 1_284_551, "queued", 1, 4, "cannot connect to mail.harbourview-hotel.example:25: connection timed out", 14),
  entry(52, "carol@example.co.uk", "j.smith@mailbox.example", 9_870, "queued", 0, 0, null, 0.2),
];

export const queuedCount = () => queue.filter((e) => e.state === "queued").length;

function validateSmtp(s: SmtpView): FieldError[] {
  const errors: FieldError[] = [];
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(s.server_name.trim())) {
    errors.push({ field: "general.server_name", message: `'${s.server_name}' is not a valid host name (use the host name in ASCII, e.g. mail.example.com)` });
  }
  const cidr = /^((\d{1,3}\.){3}\d{1,3}(\/([0-9]|[12][0-9]|3[0-2]))?|[0-9a-fA-F:]*:[0-9a-fA-F:]*(\/\d{1,3})?)$/;
  for (const net of s.trusted_networks.split(/[,;\s]+/).filter(Boolean)) {
    const octetsOk = !net.includes(".") || net.split("/")[0].split(".").every((o) => Number(o) <= 255);
    if (!cidr.test(net) || !octetsOk) errors.push({ field: "smtp.trusted_networks", message: `'${net}' is not an address or range like 192.168.1.0/24` });
  }
  if (s.max_message_size < 1024) errors.push({ field: "smtp.max_message_size", message: "at least 1024 bytes" });
  if (s.max_recipients === 0) errors.push({ field: "smtp.max_recipients", message: "at least 1" });
  if (s.max_connections === 0 || s.max_connections_per_address === 0) errors.push({ field: "smtp.max_connections", message: "at least 1" });
  if (s.idle_timeout_secs < 30) errors.push({ field: "smtp.idle_timeout_secs", message: "at least 30 seconds (RFC 5321 asks for 5 minutes)" });
  return errors;
}

function validateOutbound(o: OutboundForm): FieldError[] {
  const errors: FieldError[] = [];
  const steps = o.retry_minutes.split(/[,;\s]+/).filter(Boolean);
  if (!steps.length || steps.some((m) => !/^\d+$/.test(m) || Number(m) === 0)) {
    errors.push({ field: "outbound.retry_minutes", message: "minutes as whole numbers above 0, separated by commas (e.g. 5, 30, 60)" });
  }
  if (o.max_age_hours === 0) errors.push({ field: "outbound.max_age_hours", message: "at least 1 hour" });
  if (o.max_parallel < 1 || o.max_parallel > 32) errors.push({ field: "outbound.max_parallel", message: "between 1 and 32" });
  if (/\s/.test(o.smart_host.trim())) errors.push({ field: "outbound.smart_host", message: "a host name without spaces" });
  if (o.smart_host.trim() && o.smart_host_port === 0) errors.push({ field: "outbound.smart_host_port", message: "a port between 1 and 65535" });
  return errors;
}

function findEntry(id: number): QueueEntry {
  const e = queue.find((x) => x.id === id);
  if (!e) throw fail("not_found", `no queued recipient with id ${id}`);
  return e;
}

export const mailHandlers: Record<string, (a: any) => unknown> = {
  get_smtp_settings: () => structuredClone(smtp),
  save_smtp_settings: (a: { smtp: SmtpView }) => {
    const errors = validateSmtp(a.smtp);
    if (errors.length) throw invalid(errors);
    smtp = { ...a.smtp, server_name: a.smtp.server_name.trim(), trusted_networks: a.smtp.trusted_networks.trim() };
  },
  get_outbound_settings: (): OutboundView => {
    const { password, ...rest } = outbound;
    return { ...rest, password_set: password !== "" };
  },
  save_outbound_settings: (a: { outbound: OutboundForm }) => {
    const errors = validateOutbound(a.outbound);
    if (errors.length) throw invalid(errors);
    const { password, ...rest } = a.outbound;
    outbound = { ...rest, smart_host: rest.smart_host.trim(), username: rest.username.trim(), retry_minutes: rest.retry_minutes.trim(), password: password ?? outbound.password };
  },
  list_queue: () => structuredClone(queue),
  list_bans: () => structuredClone(bans),
  clear_ban: (a: { value: string }) => {
    const before = bans.length;
    bans = bans.filter((b) => b.value !== a.value);
    if (bans.length === before) throw Object.assign(new Error(), { code: "not_found", message: `${a.value} is not banned`, field: null, fields: [] });
  },
  retry_queue_entry: (a: { id: number }) => {
    const e = findEntry(a.id);
    Object.assign(e, { state: "queued", next_attempt: new Date().toISOString() });
  },
  delete_queue_entry: (a: { id: number }) => {
    findEntry(a.id);
    queue = queue.filter((e) => e.id !== a.id);
  },
};

const TABS = ["general", "relaying", "limits", "outbound"];

export async function mailDemo(window: "smtp" | "queue"): Promise<void> {
  if (window === "queue") {
    if (demo !== "delete" && demo !== "select") return;
    (await waitFor<HTMLElement>("#queue-table tr[data-key]")).dispatchEvent(new MouseEvent("click", { bubbles: true }));
    if (demo === "delete") (await waitFor("#btn-delete-entry:not([disabled])")).click();
    return;
  }
  const [what, tab] = demo.split("-");
  await waitFor("#smtp-server-name[data-loaded]");
  if (what === "errors") {
    setValue("smtp-server-name", "mail server");
    setValue("smtp-max-size-mb", "0.0005");
    setValue("smtp-trusted", "192.168.1.0/24\n192.168.1.300/24\nlan");
    setValue("out-retry", "5, soon");
    (await waitFor("#btn-apply")).click();
    await sleep(150);
  }
  if (what === "partial" || what === "local") {
    if (what === "partial") setValue("out-retry", "5, soon");
    else setValue("smtp-max-recipients", "0");
    if (what === "local") setValue("out-host", "");
    (await waitFor("#btn-apply")).click();
    await sleep(150);
  }
  const target = TABS.includes(what) ? what : TABS.includes(tab) ? tab : what === "smart" ? "outbound" : "";
  if (target) (await waitFor(`#tab-${target}`)).click();
}
