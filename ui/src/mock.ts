import type { AccessSettings } from "./bindings/AccessSettings";
import type { BulkAddReport } from "./bindings/BulkAddReport";
import type { CertificateInfo } from "./bindings/CertificateInfo";
import type { CollectorForm } from "./bindings/CollectorForm";
import type { CollectorInfo } from "./bindings/CollectorInfo";
import type { FolderInfo } from "./bindings/FolderInfo";
import type { MailboxAccess } from "./bindings/MailboxAccess";
import type { Overview } from "./bindings/Overview";
import type { ServiceId } from "./bindings/ServiceId";
import type { ServiceView } from "./bindings/ServiceView";
import type { UserForm } from "./bindings/UserForm";
import type { UserSummary } from "./bindings/UserSummary";
import { bandwidthDemo, bandwidthHandlers, mockThrottle } from "./mock-bandwidth";
import { logHandlers } from "./mock-logs";
import { mailDemo, mailHandlers, queuedCount } from "./mock-mail";
import { demo, fail, waitFor } from "./mock-util";

/*
 * In-memory stand-in for the Tauri commands, loaded only by a development build in a plain browser (no
 * __TAURI_INTERNALS__) so the windows can be previewed. It checks nothing: a save stores what it is given and a
 * read returns it, over canned sample data; refusals and their messages come from the engine alone.
 * `?demo=<flag>` in the URL drives a window into a state worth a screenshot.
 */

const KB = 1024;
const MB = 1024 * KB;
const names: Record<ServiceId, [string, string]> = {
  smtp: ["SMTP", "SMTP"],
  submission: ["SMTP Submission", "SMTP"],
  smtps: ["SMTPS", "SMTP"],
  pop3: ["POP3", "POP3"],
  pop3s: ["POP3S", "POP3"],
  imap: ["IMAP4", "IMAP4"],
  imaps: ["IMAPS", "IMAP4"],
  http: ["HTTP", "HTTP"],
  https: ["HTTPS", "HTTP"],
};
const defaults: [ServiceId, number, ServiceView["tls_mode"]][] = [
  ["smtp", 25, "starttls"],
  ["submission", 587, "starttls"],
  ["smtps", 465, "implicit"],
  ["pop3", 110, "starttls"],
  ["pop3s", 995, "implicit"],
  ["imap", 143, "starttls"],
  ["imaps", 993, "implicit"],
  ["http", 80, "none"],
  ["https", 443, "implicit"],
];

let services: ServiceView[] = defaults.map(([id, port, tls_mode]) => ({
  id, name: names[id][0], protocol: names[id][1], enabled: id !== "pop3" && id !== "http", bind_address: "0.0.0.0", port, tls_mode, bandwidth: mockThrottle(id),
}));
let paused = demo === "paused";
let autostartOn = false;
let spam = {
  spf: true, dkim: true, dmarc: true, arc: true, iprev: true, dmarc_reject: true, content: true, bayes: true,
  mark_score: 5, junk_score: 5, quarantine_score: 10, refuse_score: 15, quarantine_days: 30,
  blocklists: [] as { zone: string; points: number }[], domain_blocklists: [] as { zone: string; points: number }[], allowlists: [] as { zone: string; points: number }[],
  allow_senders: [] as string[], deny_senders: ["pest.example"],
  greylist: false, greylist_delay: 300, rspamd_url: "", rspamd_only: false, rspamd_timeout: 10, rspamd_fail_open: true,
};
let held = [
  { id: 7, received_at: Math.floor(Date.now() / 1000) - 3600, sender: "bounce@mailer.cheap-watches.example", from: "offers@cheap-watches.example", subject: "Replica watches 90% off", peer: "203.0.113.45", score: 12, reasons: "SPF_SOFTFAIL(1),DNSBL_ZEN_SPAMHAUS_ORG(10),MISSING_DATE(1)", size: 14_320, recipients: ["alice@example.com"] },
  { id: 8, received_at: Math.floor(Date.now() / 1000) - 600, sender: "", from: "invoice@billing-dept.example", subject: "Your invoice", peer: "198.51.100.7", score: 11, reasons: "IPREV_FAIL(1),HELO_NO_DOT(1),MISSING_MESSAGE_ID(1),EXECUTABLE_IN_ARCHIVE(5),BAYES_95(3)", size: 88_004, recipients: ["alice@example.com", "bob@example.com"] },
];
const userSpam = new Map<string, { allow: string[]; deny: string[] }>();
const now = () => Math.floor(Date.now() / 1000);
const collectorForm = (name: string, protocol: "pop3" | "imap", host: string, port: number, username: string, more: Partial<CollectorForm>): CollectorForm => ({
  name, enabled: true, priority: 10, protocol, host, port, username, password: null, security: "tls", login: "auto", verify_certificate: true, folder: "INBOX",
  move_to: "", max_size: 0, leave_days: 0, deliver_to: "", fallback: "reception", extra_headers: [], every_minutes: 15, from: "00:00", until: "24:00",
  days: [true, true, true, true, true, true, true], paused: false, forget_days: 30, bandwidth_pool: 0, ...more,
});
let collectors: CollectorInfo[] = [
  { id: 1, form: collectorForm("ISP mailbox", "pop3", "pop.isp.example", 995, "office@isp.example", { leave_days: 3 }), last_run_at: now() - 300, last_success_at: now() - 300, last_error: "", failures: 0, last_collected: 12, running: false, interrupted: false },
  { id: 2, form: collectorForm("Old webmail", "imap", "imap.webhost.example", 993, "sales", { deliver_to: "carol", move_to: "Collected", every_minutes: 60, from: "08:00", until: "18:00", days: [true, true, true, true, true, false, false] }), last_run_at: now() - 1200, last_success_at: now() - 86_400 * 2, last_error: "login refused: the server said: [AUTHENTICATIONFAILED] Authentication failed.", failures: 3, last_collected: 0, running: false, interrupted: false },
];
const failedId: ServiceId | null = demo === "failed" ? "smtp" : null;

let nextId = 1;
const user = (name: string, real_name: string, aliases: string[], message_count: number, mailbox_bytes: number, enabled = true): UserSummary =>
  ({ id: nextId++, name, real_name, enabled, aliases, message_count, mailbox_bytes, bandwidth: 0 });
let users: UserSummary[] = [
  user("alice", "Alice Moreton", ["accounts", "invoices"], 1284, 86.4 * MB),
  user("bob", "Bob Fairweather", [], 312, 12.9 * MB),
  user("carol", "Carol Nguyen", ["sales"], 4077, 412.3 * MB),
  user("dave", "Dave Ostrowski", [], 0, 0, false),
  user("reception", "Front Desk", ["info", "enquiries", "bookings"], 9650, 1.62 * 1024 * MB),
];
let domains = ["example.co.uk", "mail.example.co.uk"];

let cert: CertificateInfo = {
  source: "self_signed",
  cert_file: "/var/lib/postroom/selfsigned.pem",
  key_file: "/var/lib/postroom/selfsigned.key",
  subject: "CN=office-server",
  names: ["office-server", "localhost"],
  not_before: "2025-01-06T09:12:00Z",
  not_after: "2027-01-06T09:12:00Z",
  sha256: "3f7a9c02d4e1b85a6c0f2e9d7b3a1c4e5f60718293a4b5c6d7e8f90112233445",
};

const startedAt = Date.now();
const recentErrors = [
  { time: new Date(startedAt - 47 * 60_000).toISOString(), message: "SMTP: 203.0.113.9 rejected: relaying denied for unknown@elsewhere.example" },
  { time: new Date(startedAt - 12 * 60_000).toISOString(), message: "POP3: login failed for bob from 192.168.1.23 (wrong password)" },
];
if (failedId) recentErrors.push({ time: new Date().toISOString(), message: "SMTP: cannot listen on 0.0.0.0:25: address already in use" });

function overview(): Overview {
  const tick = Math.floor((Date.now() - startedAt) / 1000);
  const statuses = services.map((s, i) => {
    const failed = s.enabled && s.id === failedId;
    const state = !s.enabled ? "disabled" : paused ? "paused" : failed ? "failed" : "running";
    const connections = state === "running" ? [2, 1, 0, 0, 0, 4, 3][i] + (i === 5 ? tick % 3 : 0) : 0;
    const error = failed ? `cannot listen on ${s.bind_address}:${s.port}: address already in use` : null;
    return { id: s.id, name: s.name, protocol: s.protocol, state, bind_address: s.bind_address, port: s.port, tls_mode: s.tls_mode, error, connections } as const;
  });
  return {
    version: "0.1.0",
    data_dir: "/var/lib/postroom",
    paused,
    services: statuses,
    connections: statuses.reduce((a, s) => a + s.connections, 0),
    received_today: 1482 + Math.floor(tick / 5),
    sent_today: 391,
    queue_size: queuedCount(),
    recent_errors: recentErrors,
    log_problem: demo === "logproblem" ? "Cannot write log files (security.log: No space left on device (os error 28)); the lines are kept and retried" : null,
    user_count: users.length,
    forwarding: demo === "forwarddown"
      ? [{ target: "exchange.office.lan:25", waiting: 37, since: new Date(Date.now() - 47 * 60000).toISOString(), unreachable: true, refused: 0,
          last_error: "4.4.1 cannot connect to exchange.office.lan (192.168.1.20:25): Connection refused (os error 111)" }]
      : [],
    collectors: collectors.filter((c) => c.failures >= 3).map((c) => ({ name: c.form.name, failures: c.failures, last_error: c.last_error, last_success_at: c.last_success_at })),
  };
}

function folders(u: UserSummary): FolderInfo[] {
  const split = [0.62, 0.21, 0.09, 0.05, 0.03];
  return ["INBOX", "Sent", "Archive/2024", "Drafts", "Junk"].map((path, i) => ({
    path, message_count: Math.round(u.message_count * split[i]), bytes: Math.round(u.mailbox_bytes * split[i]),
  }));
}

function findUser(name: string): UserSummary {
  const u = users.find((x) => x.name === name);
  if (!u) throw fail("not_found", `no user called ${name}`);
  return u;
}

/** A canned report: two users added (once), two lines skipped. */
function bulkAdd(): BulkAddReport {
  for (const [name, real_name] of [["erin", "Erin Blake"], ["greg", "Greg Ito"]]) {
    if (!users.some((u) => u.name === name)) users.push(user(name, real_name, [], 0, 0));
  }
  return {
    added: ["erin", "greg"],
    errors: [
      { line: 3, message: "password for 'frank': at least 6 characters" },
      { line: 5, message: "name 'alice': alice is already a user or an alias" },
    ],
  };
}

let access: MailboxAccess = {
  pop3: { allow_plaintext_login: false, max_connections_per_address: 20, max_connections: 400, idle_timeout_secs: 600 },
  imap: { allow_plaintext_login: false, idle_enabled: true, max_connections_per_user: 20, max_connections_per_address: 50, max_connections: 400, idle_timeout_secs: 1800 },
  web: { mta_sts_mode: "testing", mta_sts_max_age_days: 7 },
};

/** The Services window's Access Restrictions: everyone allowed, no rules. */
let restrictions = {
  exempt_local: true,
  ...Object.fromEntries(defaults.map(([id]) => [id, { default_action: "allow", rules: [] }])),
} as AccessSettings;

const handlers: Record<string, (a: any) => unknown> = {
  get_overview: () => overview(),
  set_paused: (a: { paused: boolean }) => void (paused = a.paused),
  get_services: () => structuredClone(services),
  save_services: (a: { services: ServiceView[]; access: MailboxAccess | null }) => {
    services = structuredClone(a.services);
    if (a.access) access = structuredClone(a.access);
  },
  get_mailbox_access: () => structuredClone(access),
  get_access_settings: () => structuredClone(restrictions),
  save_access_settings: (a: { access: AccessSettings }) => void (restrictions = structuredClone(a.access)),
  list_users: () => structuredClone([...users].sort((x, y) => x.name.localeCompare(y.name))),
  get_autostart: () => autostartOn,
  get_system_service: () => ({ available: true, why_not: null, enabled: false, active: false, data_dir: "/var/lib/postroom", socket: "/run/postroomd/admin.sock" }),
  set_system_service: (a: { on: boolean }) => (a.on ? "the mail server runs as the system service (pid 4243). Postroom restarts now." : "the system service is off. Postroom restarts now."),
  get_engine_link: () => ({ socket: null, program: "postroom", pid: 4242, version: "0.1.0 (preview)", data_dir: "/home/office/.local/share/postroom" }),
  set_autostart: (a: { enabled: boolean }) => (autostartOn = a.enabled),
  get_mail_program_settings: (a: { name: string }) => {
    const on = (id: ServiceId) => services.find((s) => s.id === id && s.enabled && s.tls_mode !== "none");
    const way = (protocol: string, id: ServiceId) => {
      const s = on(id);
      return s ? [{ protocol, service: id, host: "mail.example.com", port: s.port, security: s.tls_mode === "implicit" ? "tls" : "starttls", running: true }] : [];
    };
    return {
      address: `${a.name}@example.com`, login: a.name, real_name: findUser(a.name).real_name,
      incoming: [...way("IMAP", "imaps"), ...way("IMAP", "imap"), ...way("POP3", "pop3s"), ...way("POP3", "pop3")],
      outgoing: [...way("SMTP", "smtps"), ...way("SMTP", "submission")],
      autoconfig_urls: on("https") ? ["https://autoconfig.example.com/mail/config-v1.1.xml"] : [],
    };
  },
  save_mail_profile: (a: { name: string }) => `/home/office/${a.name}.mobileconfig`,
  get_user: (a: { name: string }) => {
    const u = findUser(a.name);
    const sf = u.name === "alice" && demo === "forwarddown";
    return {
      user: structuredClone(u), folders: folders(u), warnings: [],
      forwarding: { store_forward_target: sf ? "alice@exchange.office.lan" : "", store_forward_server: sf ? "exchange.office.lan" : "", forward: "", keep_copy: true },
      waiting_to_forward: sf ? 12 : 0,
      spam: structuredClone(userSpam.get(u.name) ?? { allow: [], deny: [] }),
    };
  },
  create_user: (a: { form: UserForm }) => void users.push({ ...user(a.form.name, a.form.real_name, a.form.aliases, 0, 0, a.form.enabled), bandwidth: a.form.bandwidth }),
  update_user: (a: { name: string; form: UserForm }) =>
    void Object.assign(findUser(a.name), { name: a.form.name, real_name: a.form.real_name, enabled: a.form.enabled, aliases: a.form.aliases, bandwidth: a.form.bandwidth }),
  delete_user: (a: { name: string }) => {
    findUser(a.name);
    users = users.filter((u) => u.name !== a.name);
  },
  bulk_add_users: () => bulkAdd(),
  bulk_add_users_from: () => bulkAdd(),
  list_domains: () => [...domains].sort(),
  domain_dns_records: (a: { name: string }) => [
    { kind: "mx", name: `${a.name}.`, record_type: "MX", value: "10 mail.example.com.", status: "published", found: [] },
    { kind: "spf", name: `${a.name}.`, record_type: "TXT", value: "v=spf1 mx a:mail.example.com ~all", status: "different", found: ["v=spf1 include:_spf.isp.example ~all"] },
    { kind: "dkim", name: `pr20261204r._domainkey.${a.name}.`, record_type: "TXT", value: `v=DKIM1; k=rsa; p=${"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".repeat(8)}`, status: "missing", found: [] },
    { kind: "dkim", name: `pr20261204e._domainkey.${a.name}.`, record_type: "TXT", value: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", status: "missing", found: [] },
    { kind: "dmarc", name: `_dmarc.${a.name}.`, record_type: "TXT", value: `v=DMARC1; p=none; rua=mailto:postmaster@${a.name}`, status: "missing", found: [] },
  ],
  rotate_dkim: () => undefined,
  get_spam_settings: () => structuredClone(spam),
  save_spam_settings: (a: { spam: typeof spam }) => void (spam = structuredClone(a.spam)),
  bayes_status: () => ({ spam_learnt: 14, ham_learnt: 6, tokens: 2_318, waiting: 0, active: false }),
  list_quarantine: () => structuredClone(held),
  list_collectors: () => structuredClone(collectors),
  add_collector: (a: { form: CollectorForm }) => {
    const c: CollectorInfo = { id: collectors.length + 1, form: { ...a.form, password: null }, last_run_at: null, last_success_at: null, last_error: "", failures: 0, last_collected: 0, running: false, interrupted: false };
    collectors.push(c);
    return c;
  },
  update_collector: (a: { name: string; form: CollectorForm }) => {
    const c = collectors.find((x) => x.form.name === a.name)!;
    c.form = { ...a.form, password: null };
    return c;
  },
  delete_collector: (a: { name: string }) => void (collectors = collectors.filter((x) => x.form.name !== a.name)),
  run_collector: (a: { name: string }) => {
    const c = collectors.find((x) => x.form.name === a.name)!;
    if (c.last_error) throw fail("io", `collector '${a.name}': ${c.last_error}`);
    c.last_run_at = c.last_success_at = now();
    c.last_collected = 4;
    return { listed: 7, collected: 4, too_large: 0, deferred: 0, deleted: 4 };
  },
  release_quarantined: (a: { ids: number[] }) => {
    const copies = held.filter((m) => a.ids.includes(m.id)).reduce((n, m) => n + m.recipients.length, 0);
    held = held.filter((m) => !a.ids.includes(m.id));
    return copies;
  },
  delete_quarantined: (a: { ids: number[] }) => void (held = held.filter((m) => !a.ids.includes(m.id))),
  allow_quarantined_senders: (a: { ids: number[] }) => {
    const added = held.filter((m) => a.ids.includes(m.id)).map((m) => m.from || m.sender);
    spam.allow_senders.push(...added);
    held = held.filter((m) => !a.ids.includes(m.id));
    return added;
  },
  set_user_spam_lists: (a: { name: string; lists: { allow: string[]; deny: string[] } }) => {
    userSpam.set(a.name, structuredClone(a.lists));
    return structuredClone(a.lists);
  },
  add_domain: (a: { name: string }) => {
    if (!domains.includes(a.name)) domains.push(a.name);
    return a.name;
  },
  delete_domain: (a: { name: string }) => void (domains = domains.filter((d) => d !== a.name)),
  get_certificate: () => structuredClone(cert),
  pick_file: (a: { title: string }) => (/key/i.test(a.title) ? "/etc/letsencrypt/live/mail.example.co.uk/privkey.pem" : "/etc/letsencrypt/live/mail.example.co.uk/fullchain.pem"),
  set_certificate: (a: { certFile: string; keyFile: string }) => {
    cert = { ...cert, source: "custom", cert_file: a.certFile, key_file: a.keyFile, subject: "CN=mail.example.co.uk", names: ["mail.example.co.uk", "example.co.uk"], not_before: "2025-10-01T00:00:00Z", not_after: "2025-12-30T23:59:59Z" };
    return structuredClone(cert);
  },
  use_self_signed_certificate: () => (cert = { ...cert, source: "self_signed", cert_file: "/var/lib/postroom/selfsigned.pem", key_file: "/var/lib/postroom/selfsigned.key", subject: "CN=office-server", names: ["office-server", "localhost"] }),
  open_window: (a: { window: string }) => void (location.hash = `#/${a.window}`),
  ...mailHandlers,
  ...logHandlers,
  ...bandwidthHandlers(() => services),
};

export async function mockInvoke(cmd: string, args: Record<string, unknown>): Promise<unknown> {
  await new Promise((r) => setTimeout(r, 20));
  const handler = handlers[cmd];
  if (!handler) throw fail("internal", `the mock has no command ${cmd}`);
  return handler(args);
}

export async function afterMount(window: string): Promise<void> {
  if (!demo) return;
  if (window === "smtp" || window === "queue") return mailDemo(window);
  if (window === "bandwidth" || window === "bandwidthscript") return bandwidthDemo(window);
  if (window === "users" && (demo === "editor" || demo === "delete")) {
    (await waitFor("#users-table tr[data-key='alice']")).dispatchEvent(new MouseEvent(demo === "editor" ? "dblclick" : "click", { bubbles: true }));
    if (demo === "delete") (await waitFor("#btn-delete-user:not([disabled])")).click();
  } else if (window === "users" && demo === "bulk") {
    (await waitFor("#users-table tr[data-key]")).click();
    (await waitFor("#btn-bulk-add")).click();
  } else if (window === "services" && demo === "bwpool") {
    (await waitFor("#tab-pop3")).click();
  } else if (window === "certificate" && demo === "certok") {
    (await waitFor("#btn-browse-cert")).click();
    (await waitFor("#btn-browse-key")).click();
    await new Promise((r) => setTimeout(r, 100));
    (await waitFor("#btn-use-cert")).click();
  }
}
