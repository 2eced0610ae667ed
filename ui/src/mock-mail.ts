import type { Ban } from "./bindings/Ban";
import type { OutboundForm } from "./bindings/OutboundForm";
import type { OutboundView } from "./bindings/OutboundView";
import type { QueueEntry } from "./bindings/QueueEntry";
import type { SmtpView } from "./bindings/SmtpView";
import { demo, fail, setValue, sleep, waitFor } from "./mock-util";

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

const smart = demo === "smart" || demo.startsWith("local");
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
  ({ id: nextId++, message_id, sender, recipient, size, state, attempts, next_attempt: at(next), last_error, queued_at: at(-queuedAgo), kind: "internet", target: null });

let queue: QueueEntry[] = demo === "empty" ? [] : [
  entry(41, "alice@example.co.uk", "orders@northwind-traders.example", 48_213, "queued", 9, 26 * 60, "421 4.7.0 mx1.northwind-traders.example: greylisted, please try again later", 95),
  entry(44, "", "noreply@bulk-mailer.example", 3_120, "failed", 1, -50, "550 5.1.1 <noreply@bulk-mailer.example>: Recipient address rejected: User unknown in virtual mailbox table", 52),
  entry(47, "reception@example.co.uk", "bookings@harbourview-hotel.example", 1_284_551, "queued", 1, 4, "cannot connect to mail.harbourview-hotel.example:25: connection timed out", 14),
  entry(47, "reception@example.co.uk", "events@harbourview-hotel.example", 1_284_551, "queued", 1, 4, "cannot connect to mail.harbourview-hotel.example:25: connection timed out", 14),
  entry(52, "carol@example.co.uk", "j.smith@mailbox.example", 9_870, "queued", 0, 0, null, 0.2),
];

export const queuedCount = () => queue.filter((e) => e.state === "queued").length;

function findEntry(id: number): QueueEntry {
  const e = queue.find((x) => x.id === id);
  if (!e) throw fail("not_found", `no queued recipient with id ${id}`);
  return e;
}

export const mailHandlers: Record<string, (a: any) => unknown> = {
  get_smtp_settings: () => structuredClone(smtp),
  save_smtp_settings: (a: { smtp: SmtpView }) => void (smtp = structuredClone(a.smtp)),
  get_outbound_settings: (): OutboundView => {
    const { password, ...rest } = outbound;
    return { ...rest, password_set: password !== "" };
  },
  save_outbound_settings: (a: { outbound: OutboundForm }) => {
    // A null password keeps the saved one; "" clears it.
    const { password, ...rest } = a.outbound;
    outbound = { ...rest, password: password ?? outbound.password };
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
  if (what === "local") {
    // The window's own checks: nothing reaches the (mock) engine.
    setValue("smtp-max-recipients", "0");
    setValue("out-host", "");
    (await waitFor("#btn-apply")).click();
    await sleep(150);
  }
  const target = TABS.includes(what) ? what : TABS.includes(tab) ? tab : what === "smart" ? "outbound" : "";
  if (target) (await waitFor(`#tab-${target}`)).click();
}
