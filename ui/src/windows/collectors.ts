/**
 * Settings → Mail Collectors (VPOP3's Mail Connectors → Mail Collectors): the mailboxes at the ISP that
 * Postroom empties on a schedule and delivers to local users. The list shows each collector's server,
 * where its mail goes, its schedule, when it last succeeded and why it last failed; Add / Edit / Delete and
 * Run now (one download at once, its result in the strip). The editor has three tabs: General (protocol,
 * server, security, login, IMAP folder and where collected messages go there, leave on server, size
 * limit), Routing (everything to one user, or by the recipient headers with a fallback user) and Schedule
 * (every N minutes between two times on chosen days, or once a day; paused).
 */
import { api, closeWindow, errorText, fieldMessages } from "../api";
import type { CollectorForm } from "../bindings/CollectorForm";
import type { CollectorInfo } from "../bindings/CollectorInfo";
import type { RunReport } from "../bindings/RunReport";
import { watch } from "../changes";
import { formatUnixTime, plural } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog, openDialog } from "../widgets/dialog";
import { closeOnEscape, frame, h, text } from "../widgets/dom";
import { checkRow, choiceRow, errorSlot, FieldErrors, grid, group, input, row, select, textarea, whole } from "../widgets/form";
import { Table } from "../widgets/table";
import { Tabs } from "../widgets/tabs";

const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const SECURITY: [CollectorForm["security"], string][] = [
  ["starttls-if-available", "STARTTLS if available"],
  ["starttls", "STARTTLS (required)"],
  ["tls", "TLS from the start (SSL)"],
  ["none", "None (plain text)"],
];

function defaultPort(protocol: CollectorForm["protocol"], security: CollectorForm["security"]): number {
  if (protocol === "imap") return security === "tls" ? 993 : 143;
  return security === "tls" ? 995 : 110;
}

function deliversTo(f: CollectorForm): string {
  return f.deliver_to ? f.deliver_to : `by headers, else ${f.fallback}`;
}

function schedule(f: CollectorForm): string {
  const days = f.days.every((d: boolean) => d) ? "daily" : DAYS.filter((_, i) => f.days[i]).join(" ");
  const when = f.every_minutes === 0 ? `once at ${f.from}` : `every ${f.every_minutes} min${f.from === "00:00" && f.until === "24:00" ? "" : ` ${f.from}–${f.until}`}`;
  return `${when}, ${days}`;
}

function state(c: CollectorInfo): string {
  if (c.running) return "running";
  if (!c.form.enabled) return "off";
  if (c.form.paused) return "paused";
  return "";
}

export function reportText(r: RunReport): string {
  const parts = [`Collected ${plural(r.collected, "message")}`];
  if (r.deleted) parts.push(`${r.deleted} removed at the ISP`);
  if (r.too_large) parts.push(`${r.too_large} too large, left there`);
  if (r.deferred) parts.push(`${r.deferred} deferred`);
  return `${parts.join("; ")}.`;
}

export function mountCollectors(app: HTMLElement): () => void {
  const f = frame("Mail Collectors", "collectors-window");
  const strip = new Strip(f.strip);
  const summary = h("span", { class: "footer-info", id: "collectors-summary" });
  let list: CollectorInfo[] = [];
  let chosen: CollectorInfo | null = null;

  const addBtn = button("Add…", { id: "btn-add-collector", onClick: () => void edit(null) });
  const editBtn = button("Edit…", { id: "btn-edit-collector", disabled: true, onClick: () => chosen && void edit(chosen) });
  const deleteBtn = button("Delete", { id: "btn-delete-collector", disabled: true, onClick: () => void remove() });
  const runBtn = button("Run Now", { id: "btn-run-collector", primary: true, disabled: true, onClick: () => void runNow() });

  const table = new Table<CollectorInfo>({
    id: "collectors-table",
    label: "Mail collectors",
    selectable: true,
    rowKey: (c) => c.form.name,
    empty: "No collectors. Add one for each mailbox at your ISP whose mail should come here.",
    onSelect: (c) => {
      chosen = c;
      for (const b of [editBtn, deleteBtn, runBtn]) b.disabled = c === null;
    },
    onActivate: (c) => void edit(c),
    onDelete: () => void remove(),
    columns: [
      { key: "name", title: "Name", value: (c) => c.form.name, render: (c) => [c.form.name, state(c) ? h("span", { class: "muted" }, ` (${state(c)})`) : null], width: "150px" },
      { key: "protocol", title: "Protocol", value: (c) => c.form.protocol.toUpperCase(), width: "70px" },
      { key: "server", title: "Server", value: (c) => `${c.form.host}:${c.form.port}`, render: (c) => h("span", { class: "ellipsis", title: `${c.form.username} at ${c.form.host}:${c.form.port}` }, `${c.form.host}:${c.form.port}`), width: "170px" },
      { key: "to", title: "Delivers to", value: (c) => deliversTo(c.form), width: "150px" },
      { key: "schedule", title: "Schedule", value: (c) => schedule(c.form), width: "150px" },
      { key: "success", title: "Last success", value: (c) => c.last_success_at ?? 0, render: (c) => (c.last_success_at ? formatUnixTime(c.last_success_at) : "never"), width: "110px" },
      {
        key: "result",
        title: "Last result",
        value: (c) => c.last_error || String(c.last_collected),
        render: (c) =>
          c.last_error
            ? h("span", { class: "problem ellipsis", title: `${c.last_error} (${plural(c.failures, "failure")} in a row)` }, c.last_error)
            : c.last_success_at
              ? `${plural(c.last_collected, "message")}`
              : "—",
      },
    ],
  });
  table.el.classList.add("fill");

  f.body.append(
    h("p", { class: "explain" }, "Each collector downloads the mail waiting in one mailbox at your ISP and delivers it here: to one user, or to the users its recipient headers name. A message is removed at the ISP only after it is safely stored here."),
    h("div", { class: "list-area" }, table.el),
    h("div", { class: "list-buttons" }, addBtn, editBtn, deleteBtn, h("span", { class: "spacer" }), runBtn),
  );
  fillBar(f.bar, [summary], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);
  app.replaceChildren(f.root);
  const stopEscape = closeOnEscape(closeWindow);

  async function load(): Promise<void> {
    try {
      list = await api.listCollectors();
      table.setRows(list);
      const failing = list.filter((c) => c.last_error).length;
      text(summary, `${plural(list.length, "collector")}${failing ? `, ${failing} failing` : ""}`);
    } catch (e) {
      strip.error(`Cannot read the collectors: ${errorText(e)}`);
    }
  }

  async function edit(c: CollectorInfo | null): Promise<void> {
    const users = await api.listUsers().catch(() => []);
    const saved = await collectorEditor(c, users.map((u) => u.name));
    if (saved) {
      strip.info(`Collector ${saved} saved.`);
      await load();
    }
  }

  async function remove(): Promise<void> {
    if (!chosen) return;
    const name = chosen.form.name;
    const sure = await confirmDialog("Delete collector", [h("p", null, `Delete the collector ${name}? Mail it collected stays; mail still at the ISP stays there.`)], "Delete");
    if (!sure) return;
    try {
      await api.deleteCollector(name);
      strip.info(`Collector ${name} deleted.`);
    } catch (e) {
      strip.error(`Not deleted: ${errorText(e)}`);
    }
    await load();
  }

  async function runNow(): Promise<void> {
    if (!chosen) return;
    const name = chosen.form.name;
    strip.info(`Collecting ${name}…`);
    try {
      const report = await busy([runBtn], () => api.runCollector(name));
      strip.info(`${name}: ${reportText(report)}`);
    } catch (e) {
      // The engine's message names the collector already.
      strip.error(errorText(e));
    }
    await load();
  }

  const stopWatch = watch(["data"], load, { everyMs: 10_000 });
  return () => {
    stopWatch();
    stopEscape();
  };
}

/** The collector editor; the name saved, or null when cancelled. */
async function collectorEditor(c: CollectorInfo | null, users: string[]): Promise<string | null> {
  const form: CollectorForm = c?.form ?? {
    name: "", enabled: true, priority: 10, protocol: "pop3", host: "", port: 110, username: "", password: null,
    security: "starttls-if-available", login: "auto", verify_certificate: true, folder: "INBOX", move_to: "", max_size: 0, leave_days: 0,
    deliver_to: "", fallback: users.includes("postmaster") ? "postmaster" : users[0] ?? "", extra_headers: [], every_minutes: 15,
    from: "00:00", until: "24:00", days: [true, true, true, true, true, true, true], paused: false, forget_days: 30, bandwidth_pool: 0,
  };
  const errors = new FieldErrors();
  const field = <T extends HTMLElement>(key: string, control: T): T => {
    errors.register(key, control);
    return control;
  };
  const userList = h("datalist", { id: "collector-users" }, users.map((u) => h("option", { value: u })));
  const name = field("name", input("collector-name", { value: form.name, class: "w-medium", placeholder: "ISP mailbox" }));
  const enabled = input("collector-enabled", { type: "checkbox", checked: form.enabled });
  const priority = field("priority", input("collector-priority", { value: String(form.priority), class: "w-short num", inputmode: "numeric" }));
  const protocol = select("collector-protocol", [["pop3", "POP3"], ["imap", "IMAP (one folder)"]]);
  protocol.value = form.protocol;
  const host = field("host", input("collector-host", { value: form.host, class: "w-medium", placeholder: "pop.isp.example", spellcheck: false }));
  const port = field("port", input("collector-port", { value: String(form.port), class: "w-short num", inputmode: "numeric" }));
  const security = select("collector-security", SECURITY);
  security.value = form.security;
  const login = field("login", select("collector-login", [["auto", "Automatic (SASL PLAIN or USER/PASS)"], ["user", "USER/PASS (LOGIN for IMAP)"], ["plain", "SASL PLAIN"], ["apop", "APOP (POP3)"]]));
  login.value = form.login;
  const username = field("username", input("collector-username", { value: form.username, class: "w-medium", autocomplete: "off", spellcheck: false }));
  const password = field("password", input("collector-password", { type: "password", class: "w-medium", autocomplete: "new-password", placeholder: c ? "(unchanged)" : "" }));
  const verify = input("collector-verify", { type: "checkbox", checked: form.verify_certificate });
  const folder = field("folder", input("collector-folder", { value: form.folder, class: "w-medium", spellcheck: false }));
  const moveTo = field("move_to", input("collector-move-to", { value: form.move_to, class: "w-medium", placeholder: "(delete instead)", spellcheck: false }));
  const leaveDays = field("leave_days", input("collector-leave-days", { value: String(form.leave_days), class: "w-short num", inputmode: "numeric" }));
  const pool = field("bandwidth_pool", input("collector-pool", { value: String(form.bandwidth_pool), class: "w-short num", inputmode: "numeric" }));
  const maxSize = field("max_size", input("collector-max-size", { value: String(Math.round(Number(form.max_size) / 1024)), class: "w-short num", inputmode: "numeric" }));
  const imapRows = [
    row("Folder at the ISP:", folder, [], "The one folder collected from (INBOX unless you say otherwise)."),
    row("Afterwards, move to:", moveTo, [], "A folder at the ISP that collected messages go to instead of being deleted; empty deletes them."),
  ];
  const general = h(
    "div",
    null,
    grid(
      row("Name:", name),
      checkRow("Enabled", enabled),
      row("Priority:", priority, [h("span", { class: "unit" }, "lower runs first")]),
    ),
    group(
      "Server",
      grid(
        row("Protocol:", protocol),
        row("Server:", host, [h("span", { class: "unit" }, "port"), port, errorSlot(port)]),
        row("Security:", security),
        row("Login:", login),
        row("User name:", username),
        row("Password:", password),
        checkRow("Check the server's certificate (turn off only for a server with a self-signed one)", verify),
        ...imapRows,
      ),
    ),
    group(
      "Messages",
      grid(
        row("Leave on the server for:", leaveDays, [h("span", { class: "unit" }, "days")], "0 removes each message at the ISP once it is stored here."),
        row("Largest message:", maxSize, [h("span", { class: "unit" }, "KB")], "Larger messages stay at the ISP until the limit is raised (their recipients are told once); 0 takes any size up to the SMTP limit."),
        row("Bandwidth pool:", pool, [], "Downloads share this pool of the Bandwidth window (for a slow line); 0 for no limit."),
      ),
    ),
  );

  const toOne = input("collector-route-one", { type: "radio", name: "collector-route", checked: form.deliver_to !== "" });
  const byHeaders = input("collector-route-headers", { type: "radio", name: "collector-route", checked: form.deliver_to === "" });
  const deliverTo = field("deliver_to", input("collector-deliver-to", { value: form.deliver_to, class: "w-medium", list: "collector-users", spellcheck: false }));
  const fallback = field("fallback", input("collector-fallback", { value: form.fallback, class: "w-medium", list: "collector-users", spellcheck: false }));
  const extra = field("extra_headers", textarea("collector-extra-headers", { rows: 3, class: "w-medium", placeholder: "X-Envelope-To", spellcheck: false }));
  extra.value = form.extra_headers.join("\n");
  const routing = h(
    "div",
    null,
    userList,
    group("Send every message to one user", grid(choiceRow("Everything to one user or alias", toOne), row("User:", deliverTo))),
    group(
      "Route by the recipient headers (a catch-all mailbox)",
      grid(
        choiceRow("Deliver to the local users the message names", byHeaders, "Read: To, Cc, Delivered-To, X-Original-To and X-RCPTTO, plus the headers below. Only addresses at your local domains count, each user once."),
        row("More headers:", extra, [], "One per line."),
        row("Otherwise to:", fallback, [], "Who gets a message that names no local user."),
      ),
    ),
  );

  const everyMode = input("collector-every-mode", { type: "radio", name: "collector-when", checked: form.every_minutes !== 0 });
  const onceMode = input("collector-once-mode", { type: "radio", name: "collector-when", checked: form.every_minutes === 0 });
  const every = field("every_minutes", input("collector-every", { value: String(form.every_minutes || 15), class: "w-short num", inputmode: "numeric" }));
  const from = field("from", input("collector-from", { value: form.from, class: "w-short", placeholder: "08:00" }));
  const until = field("until", input("collector-until", { value: form.until, class: "w-short", placeholder: "18:00" }));
  const dayBoxes = DAYS.map((d, i) => input(`collector-day-${d.toLowerCase()}`, { type: "checkbox", checked: form.days[i], "aria-label": d }));
  const paused = input("collector-paused", { type: "checkbox", checked: form.paused });
  const forget = field("forget_days", input("collector-forget", { value: String(form.forget_days), class: "w-short num", inputmode: "numeric" }));
  const daysRow = h("div", { class: "day-boxes", id: "collector-days" }, dayBoxes.map((b, i) => h("label", { class: "day" }, b, DAYS[i])));
  errors.register("days", daysRow);
  const timing = h(
    "div",
    null,
    group(
      "When",
      grid(
        choiceRow("Every few minutes", everyMode),
        row("Every:", every, [h("span", { class: "unit" }, "minutes, between"), from, h("span", { class: "unit" }, "and"), until, errorSlot(from), errorSlot(until)], "The window cannot span midnight; 24:00 is the end of the day."),
        choiceRow("Once a day, at the first time above", onceMode),
        h("div", { class: "form-row" }, h("span", { class: "row-label" }, "On:"), h("div", { class: "row-field" }, daysRow, errorSlot(daysRow))),
        checkRow("Paused (Run Now still works)", paused),
      ),
    ),
    group("Memory", grid(row("Forget messages the ISP no longer lists after:", forget, [h("span", { class: "unit" }, "days")]))),
  );

  const tabs = new Tabs(
    [
      { id: "general", label: "General", panel: general },
      { id: "routing", label: "Routing", panel: routing },
      { id: "schedule", label: "Schedule", panel: timing },
    ],
    "collector-tab-",
  );

  const sync = () => {
    const imap = protocol.value === "imap";
    for (const r of imapRows) r.hidden = !imap;
    (login.querySelector('option[value="apop"]') as HTMLOptionElement).disabled = imap;
    deliverTo.disabled = !toOne.checked;
    fallback.disabled = extra.disabled = !byHeaders.checked;
    until.disabled = onceMode.checked;
    every.disabled = onceMode.checked;
  };
  // A port still at its protocol's usual value follows the protocol and security chosen.
  let usual = Number(port.value) === defaultPort(form.protocol, form.security);
  port.addEventListener("input", () => (usual = false));
  for (const control of [protocol, security]) {
    control.addEventListener("change", () => {
      if (usual) port.value = String(defaultPort(protocol.value as CollectorForm["protocol"], security.value as CollectorForm["security"]));
      sync();
    });
  }
  for (const control of [toOne, byHeaders, everyMode, onceMode]) control.addEventListener("change", sync);
  sync();

  let saved: string | null = null;
  const d = openDialog({
    id: "collector-editor",
    title: c ? `Mail Collector — ${c.form.name}` : "New Mail Collector",
    width: 640,
    body: [tabs.el],
    initialFocus: name,
    buttons: [
      { id: "btn-collector-ok", label: "OK", primary: true, action: () => submit() },
      { id: "btn-collector-cancel", label: "Cancel", cancel: true },
    ],
  });

  function number(control: HTMLInputElement, key: string, min: number, max: number, problems: Map<string, string>): number {
    const n = whole(control.value.trim() || "0", min, max);
    if (typeof n === "string") {
      problems.set(key, n);
      return 0;
    }
    return n;
  }

  async function submit(): Promise<boolean> {
    d.strip.clear();
    const problems = new Map<string, string>();
    const next: CollectorForm = {
      name: name.value.trim(),
      enabled: enabled.checked,
      priority: number(priority, "priority", 0, 1000, problems),
      protocol: protocol.value as CollectorForm["protocol"],
      host: host.value.trim(),
      port: number(port, "port", 1, 65535, problems),
      username: username.value,
      password: password.value === "" ? null : password.value,
      security: security.value as CollectorForm["security"],
      login: login.value as CollectorForm["login"],
      verify_certificate: verify.checked,
      folder: folder.value.trim() || "INBOX",
      move_to: moveTo.value.trim(),
      max_size: number(maxSize, "max_size", 0, 4_000_000, problems) * 1024,
      leave_days: number(leaveDays, "leave_days", 0, 3650, problems),
      deliver_to: toOne.checked ? deliverTo.value.trim() : "",
      fallback: fallback.value.trim(),
      extra_headers: extra.value.split("\n").map((s) => s.trim()).filter((s) => s !== ""),
      every_minutes: onceMode.checked ? 0 : number(every, "every_minutes", 1, 10080, problems),
      from: from.value.trim(),
      until: onceMode.checked ? "24:00" : until.value.trim(),
      days: dayBoxes.map((b) => b.checked) as CollectorForm["days"],
      paused: paused.checked,
      forget_days: number(forget, "forget_days", 0, 3650, problems),
      bandwidth_pool: number(pool, "bandwidth_pool", 0, 1000, problems),
    };
    if (toOne.checked && next.deliver_to === "") problems.set("deliver_to", "the user who gets everything");
    if (problems.size === 0) {
      try {
        if (c) await api.updateCollector(c.form.name, next);
        else await api.addCollector(next);
        saved = next.name;
        return true;
      } catch (e) {
        for (const [k, v] of fieldMessages(e)) problems.set(k, v);
        if (problems.size === 0) {
          d.strip.error(`The collector was not saved: ${errorText(e)}`);
          return false;
        }
      }
    }
    const unmatched = errors.show(problems);
    const on = (keys: string[]) => keys.some((k) => errors.has(k));
    if (on(["deliver_to", "fallback", "extra_headers"])) tabs.select("routing");
    else if (on(["every_minutes", "from", "until", "days", "forget_days"])) tabs.select("schedule");
    else tabs.select("general");
    errors.focusFirst();
    d.strip.error(unmatched.length ? `The collector was not saved: ${unmatched.join("; ")}` : "The collector was not saved. Correct the marked fields.");
    return false;
  }

  await d.closed;
  return saved;
}
