import { api, errorText, fieldMessages } from "../api";
import type { Endpoint } from "../bindings/Endpoint";
import type { FolderInfo } from "../bindings/FolderInfo";
import type { MailProgramSettings } from "../bindings/MailProgramSettings";
import type { UserDetail } from "../bindings/UserDetail";
import type { UserForm } from "../bindings/UserForm";
import { formatNumber, formatSize, plural } from "../format";
import { busy, button } from "../widgets/buttons";
import { messageDialog, openDialog } from "../widgets/dialog";
import { h } from "../widgets/dom";
import { checkRow, FieldErrors, grid, group, infoRow, input, integer, row, textarea } from "../widgets/form";
import { PruneRulesTable } from "../widgets/prune-rules";
import { Table } from "../widgets/table";
import { Tabs } from "../widgets/tabs";

/** The settings as lines of text, to paste into a note or an e-mail for the person. */
export function mailProgramText(m: MailProgramSettings): string {
  const way = (e: Endpoint) => `${e.protocol}: server ${e.host}, port ${e.port}, ${SECURITY_LABELS[e.security]}`;
  return [
    `E-mail address: ${m.address}`,
    `User name (for incoming and outgoing mail): ${m.login}`,
    "Password: the one set for this user",
    "Incoming mail:",
    ...m.incoming.map((e) => `  ${way(e)}`),
    "Outgoing mail (SMTP, with the same user name and password):",
    ...m.outgoing.map((e) => `  ${way(e)}`),
  ].join("\n");
}

const SECURITY_LABELS: Record<Endpoint["security"], string> = { tls: "SSL/TLS", starttls: "STARTTLS" };

/** The Mail Program tab: what the person types into their mail program, a copy button and the Apple profile. */
async function mailProgramPanel(name: string, dialog: () => { strip: { info(t: string): void; error(t: string): void } }): Promise<HTMLElement> {
  let m: MailProgramSettings;
  try {
    m = await api.getMailProgramSettings(name);
  } catch (e) {
    return h("p", { class: "problem" }, `The mail program settings cannot be read: ${errorText(e)}`);
  }
  const table = new Table<Endpoint>({
    id: "mail-program-table",
    label: "Servers for the mail program",
    columns: [
      { key: "use", title: "For", value: (e) => (m.outgoing.includes(e) ? "Outgoing" : "Incoming"), sortable: false },
      { key: "protocol", title: "Protocol", value: (e) => e.protocol, sortable: false },
      { key: "host", title: "Server", value: (e) => e.host, sortable: false },
      { key: "port", title: "Port", value: (e) => e.port, align: "right", sortable: false },
      { key: "security", title: "Security", value: (e) => SECURITY_LABELS[e.security], sortable: false },
      { key: "state", title: "", value: (e) => (e.running ? "" : "not running now"), sortable: false },
    ],
    rowKey: (e) => e.service,
    empty: "No encrypted IMAP, POP3 or SMTP service is on: turn them on in the Services window.",
  });
  table.setRows([...m.incoming, ...m.outgoing]);
  const copy = button("Copy as Text", {
    id: "btn-mail-program-copy",
    onClick: () =>
      void navigator.clipboard
        .writeText(mailProgramText(m))
        .then(() => dialog().strip.info("Copied: paste it into a note or an e-mail for the person."))
        .catch((e) => dialog().strip.error(`Cannot copy: ${errorText(e)}`)),
  });
  const profile = button("Save Apple Mail Profile…", {
    id: "btn-mail-program-profile",
    onClick: () =>
      void busy([profile], async () => {
        try {
          const path = await api.saveMailProfile(name);
          if (path) dialog().strip.info(`Saved ${path}. Open it on the Mac, iPhone or iPad to add the account.`);
        } catch (e) {
          dialog().strip.error(errorText(e));
        }
      }),
  });
  const auto = m.autoconfig_urls.length
    ? h("p", { class: "hint", id: "mail-program-auto" }, "Thunderbird, Outlook and Apple Mail can find these settings themselves from the address and password: the web service is on.")
    : h("p", { class: "hint", id: "mail-program-auto" }, "Turn on the HTTP or HTTPS service (Services window) and mail programs find these settings themselves from the address and password.");
  return h(
    "div",
    null,
    grid(infoRow("E-mail address:", m.address, "mail-program-address"), infoRow("User name:", m.login, "mail-program-login"), infoRow("Password:", "the one set on the General tab")),
    group("Servers", table.el),
    auto,
    h("div", { class: "group-buttons" }, copy, profile),
  );
}

export function parseAliases(raw: string): string[] {
  const seen = new Set<string>();
  for (const part of raw.split(/[\n,;]/)) {
    const alias = part.trim();
    if (alias) seen.add(alias);
  }
  return [...seen];
}

const lines = (raw: string) => raw.split("\n").map((l) => l.trim()).filter((l) => l);

/** Opens the user editor; resolves with the saved user's name, or null if cancelled. */
export async function editUser(existing: UserDetail | null): Promise<string | null> {
  const editing = existing !== null;
  const u = existing?.user;
  const errors = new FieldErrors();
  const name = input("user-name", { value: u?.name ?? "", maxlength: 64, class: "w-medium" });
  const realName = input("user-real-name", { value: u?.real_name ?? "", class: "w-long" });
  const password = input("user-password", { type: "password", autocomplete: "new-password", class: "w-medium" });
  const password2 = input("user-password2", { type: "password", autocomplete: "new-password", class: "w-medium" });
  const enabled = input("user-enabled", { checked: u?.enabled ?? true });
  const aliases = textarea("user-aliases", { rows: 3, class: "w-long", value: (u?.aliases ?? []).join("\n") });
  errors.register("name", name);
  errors.register("real_name", realName);
  errors.register("password", password);
  errors.register("password2", password2);
  errors.register("enabled", enabled);
  errors.register("aliases", aliases);
  const bandwidth = input("user-bandwidth", { value: String(u?.bandwidth ?? 0), inputmode: "numeric", class: "w-short num" });
  errors.register("bandwidth", bandwidth);
  const fw = existing?.forwarding;
  const sfTarget = input("user-sf-target", { value: fw?.store_forward_target ?? "", class: "w-long", placeholder: "name@main-server.example", spellcheck: false });
  const sfServer = input("user-sf-server", { value: fw?.store_forward_server ?? "", class: "w-long", placeholder: "[user:password@]host[:port]", spellcheck: false });
  const forwardTo = input("user-forward", { value: fw?.forward ?? "", class: "w-long", placeholder: "SMTP:name@example.com@server", spellcheck: false });
  const keepCopy = input("user-keep-copy", { type: "checkbox", checked: fw?.keep_copy ?? true });
  errors.register("store_forward_target", sfTarget);
  errors.register("store_forward_server", sfServer);
  errors.register("forward", forwardTo);
  const spamAllow = textarea("user-spam-allow", { rows: 5, class: "w-long", value: (existing?.spam.allow ?? []).join("\n"), placeholder: "partner.example\nboss@supplier.example", spellcheck: false });
  const spamDeny = textarea("user-spam-deny", { rows: 5, class: "w-long", value: (existing?.spam.deny ?? []).join("\n"), placeholder: "newsletter.example", spellcheck: false });
  errors.register("allow", spamAllow);
  errors.register("deny", spamDeny);
  const spamLists = () => ({ allow: lines(spamAllow.value), deny: lines(spamDeny.value) });
  const listsChanged = () => JSON.stringify(spamLists()) !== JSON.stringify({ allow: existing?.spam.allow ?? [], deny: existing?.spam.deny ?? [] });
  const warningBox = (id: string) =>
    existing?.warnings.length
      ? h("div", { class: "strip strip-warn inline-warning", id, role: "note" }, h("span", { class: "strip-icon", "aria-hidden": "true" }, "!"), h("span", { class: "strip-text" }, existing.warnings.join(" ")))
      : null;

  const general = h(
    "div",
    null,
    grid(
      row("User name:", name, [], "Used to log in, and as the mailbox name: name@your-domain."),
      row("Real name:", realName),
      row("Password:", password, [], editing ? "Leave both blank to keep the current password." : "At least 6 characters."),
      row("Confirm password:", password2),
      checkRow("Enabled (a disabled user cannot log in and receives no mail)", enabled),
      row("Aliases:", aliases, [], "Other names for this mailbox, one per line or separated by commas."),
    ),
    existing ? folderGroup(existing.folders) : null,
  );
  // The user's own prune rules (existing users only: a rule needs the user).
  const rules = editing ? new PruneRulesTable("user", () => u!.name, errors) : null;
  let rulesProblem: string | null = null;
  if (rules) {
    try {
      rules.setRules(await api.getUserPruneRules(u!.name));
    } catch (e) {
      rulesProblem = `The user's prune rules cannot be read: ${errorText(e)}`;
    }
  }
  const advanced = h(
    "div",
    null,
    group(
      "Bandwidth",
      grid(
        row("Bandwidth limit:", bandwidth, [h("span", { class: "unit" }, "bytes per second, or −K for pool K")],
          "0: none of the user's own (the service's Bandwidth Throttling applies). N: each of this user's connections is limited to N bytes per second once logged in. −K: the user's connections share Bandwidth Pool K. When bandwidth.lua is in use, it decides, and sees this as userbandwidth."),
      ),
    ),
    editing ? warningBox("sf-warning") : null,
    group(
      "Store and Forward",
      grid(
        row("Store and Fwd email target:", sfTarget, [], "The user's address on the main mail server. Mail is kept here, readable, and also sent there; once the main server takes a message, the copy here goes to the Recycle Bin. A message deleted here first is never sent."),
        row("Store and Fwd target server:", sfServer, [], "Host name or IP address, :port if not 25, and user:password@ in front if the server wants a login. STARTTLS is used when offered, never port 465. Leave both empty to switch it off."),
        existing && (fw?.store_forward_server || existing.waiting_to_forward > 0)
          ? infoRow("Waiting to be forwarded:",
              existing.waiting_to_forward ? `${plural(existing.waiting_to_forward, "message")} (kept here until the main server takes them)` : "none", "user-sf-waiting")
          : null,
      ),
    ),
    editing ? undeleteGroup(u!.name, () => d) : null,
  );
  const routing = h(
    "div",
    null,
    editing ? warningBox("routing-warning") : null,
    group(
      "Forwarding",
      grid(
        row("Forward to:", forwardTo, [], "SMTP:address@server sends this user's mail to that address through that server (user:password@server:port allowed). Empty: no forward."),
        checkRow("Keep a copy in this mailbox too", keepCopy),
      ),
    ),
  );
  const spam = h(
    "div",
    null,
    h("p", { class: "explain" }, "This user's own lists, besides the Spam Filter window's. One per line: an address (someone@example.com) or a domain (example.com, with its subdomains), matched against the envelope sender and the From: address."),
    group("Always let through", grid(row("Senders:", spamAllow, [], "Their mail reaches the Inbox unmarked, whatever it scores — unless SPF or DMARC shows the address forged."))),
    group("Always junk", grid(row("Senders:", spamDeny, [], "Their mail goes to this user's Junk folder."))),
  );
  const mailProgram = editing ? await mailProgramPanel(u!.name, () => d) : null;
  const tabs = new Tabs(
    [
      { id: "general", label: "General", panel: general },
      ...(rules ? [{ id: "prune", label: "Prune Rules", panel: h("div", null, rules.el) }] : []),
      { id: "routing", label: "Routing", panel: routing },
      { id: "spam", label: "Spam", panel: spam },
      { id: "advanced", label: "Advanced", panel: advanced },
      ...(mailProgram ? [{ id: "mail-program", label: "Mail Program", panel: mailProgram }] : []),
    ],
    "user-tab-",
  );

  let saved: string | null = null;
  let warnings: string[] = [];
  const d = openDialog({
    id: "user-editor",
    title: editing ? `User Properties — ${u!.name}` : "New User",
    width: editing ? 760 : 600,
    body: [tabs.el],
    initialFocus: name,
    buttons: [
      { id: "btn-user-ok", label: "OK", primary: true, action: () => submit() },
      { id: "btn-user-cancel", label: "Cancel", cancel: true },
    ],
  });

  async function submit(): Promise<boolean> {
    d.strip.clear();
    const pw = password.value;
    if (pw !== password2.value) {
      errors.show(new Map([["password2", "the two passwords do not match"]]));
      password2.focus();
      return false;
    }
    const limit = integer(bandwidth.value || "0", -1000, 999_999_999);
    if (typeof limit === "string") {
      tabs.select("advanced");
      errors.show(new Map([["bandwidth", `${limit} (0, bytes per second, or −1 to −1000 for a pool)`]]));
      bandwidth.focus();
      return false;
    }
    const ruleRows = rules?.rows();
    if (ruleRows?.problems.size) {
      tabs.select("prune");
      errors.show(ruleRows.problems);
      errors.focusFirst();
      return false;
    }
    const form: UserForm = {
      name: name.value.trim(),
      real_name: realName.value.trim(),
      enabled: enabled.checked,
      aliases: parseAliases(aliases.value),
      password: pw === "" ? null : pw,
      bandwidth: limit,
    };
    try {
      // The lists are checked (and saved) first, so a bad entry leaves the user as it was.
      if (editing && listsChanged()) await api.setUserSpamLists(u!.name, spamLists());
      if (editing) await api.updateUser(u!.name, form);
      else await api.createUser(form);
      saved = form.name;
      const change = {
        store_forward_target: sfTarget.value.trim(),
        store_forward_server: sfServer.value.trim(),
        forward: forwardTo.value.trim(),
        keep_copy: keepCopy.checked,
      };
      const before = { store_forward_target: fw?.store_forward_target ?? "", store_forward_server: fw?.store_forward_server ?? "", forward: fw?.forward ?? "", keep_copy: fw?.keep_copy ?? true };
      if (JSON.stringify(change) !== JSON.stringify(before)) {
        warnings = await api.setUserForwarding(form.name, change);
      }
      if (!editing && listsChanged()) await api.setUserSpamLists(form.name, spamLists());
      if (rules && ruleRows && rules.changed) {
        rules.setRules(await api.savePruneRules(form.name, ruleRows.rows));
      }
      return true;
    } catch (e) {
      const unmatched = errors.show(fieldMessages(e));
      if (errors.keys().length) {
        if (errors.keys().some((k) => k.startsWith("rules."))) tabs.select("prune");
        else if (errors.has("forward")) tabs.select("routing");
        else if (errors.has("allow") || errors.has("deny")) tabs.select("spam");
        else if (errors.has("store_forward_target") || errors.has("store_forward_server")) tabs.select("advanced");
        errors.focusFirst();
        d.strip.error(unmatched.length ? `The user was not saved: ${unmatched.join("; ")}` : "The user was not saved. Correct the marked fields.");
      } else {
        d.strip.error(`The user was not saved: ${errorText(e)}`);
      }
      return false;
    }
  }

  if (rulesProblem) d.strip.error(rulesProblem);
  await d.closed;
  if (warnings.length) await messageDialog(`User ${saved} — forwarding`, warnings.map((w) => h("p", null, w)), "forwarding-warning");
  return saved;
}

/** VPOP3's Undelete: everything of this user's deleted since a time comes back from the Recycle Bin. */
function undeleteGroup(user: string, dialog: () => { strip: { info: (m: string) => void; error: (m: string) => void } }): HTMLElement {
  const yesterday = new Date(Date.now() - 24 * 3600 * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const local = `${yesterday.getFullYear()}-${pad(yesterday.getMonth() + 1)}-${pad(yesterday.getDate())}T${pad(yesterday.getHours())}:${pad(yesterday.getMinutes())}`;
  const since = input("undelete-since", { type: "datetime-local", value: local });
  const mark = input("undelete-mark", { type: "checkbox" });
  const go = button("Undelete", { id: "btn-undelete" });
  go.addEventListener("click", () => {
    void (async () => {
      try {
        const done = await busy([go], () => api.undeleteSince(user, since.value.replace("T", " "), mark.checked));
        const ok = done.filter((r) => r.error === null).length;
        dialog().strip.info(ok ? `${plural(ok, "message")} restored to ${user}'s folders.` : "Nothing of this user's was deleted since then.");
      } catch (e) {
        dialog().strip.error(`Nothing was restored: ${errorText(e)}`);
      }
    })();
  });
  return group(
    "Undelete",
    grid(
      row("Everything deleted since:", since, [go], "Brings back every message of this user's that is still in the Recycle Bin and was deleted after this time, to the folder it was in. Their age for the prune rules starts again."),
      checkRow("Mark the restored messages as flagged (rules for unflagged mail then leave them alone)", mark),
    ),
  );
}

function folderGroup(folders: FolderInfo[]): HTMLElement {
  const table = new Table<FolderInfo>({
    id: "user-folders",
    label: "Folders",
    rowKey: (f) => f.path,
    empty: "No folders",
    columns: [
      { key: "path", title: "Folder", value: (f) => f.path },
      { key: "count", title: "Messages", value: (f) => f.message_count, render: (f) => formatNumber(f.message_count), align: "right", width: "90px" },
      { key: "bytes", title: "Size", value: (f) => f.bytes, render: (f) => formatSize(f.bytes), align: "right", width: "90px" },
    ],
  });
  table.setRows(folders);
  const total = folders.reduce((a, f) => ({ n: a.n + f.message_count, b: a.b + f.bytes }), { n: 0, b: 0 });
  table.el.classList.add("folders");
  return group(
    "Mailbox",
    table.el,
    h("div", { class: "hint" }, `${formatNumber(total.n)} message(s), ${formatSize(total.b)} in ${folders.length} folder(s).`),
  );
}
