/**
 * Settings → Local Mail → LAN Forwarding: the ordered rules that send mail for listed addresses on to
 * another server on the office's network (an Exchange, the main server of a backup MX). Rules are tried
 * from the top; Move up / Move down reorder them. Each: Addresses (one per line, * and ?; ~@domain for the
 * rest of a domain once users and aliases are tried), target server and port (25, or 587; 465 refused:
 * forwarding uses STARTTLS when offered, never implicit TLS), an optional login (sent only inside verified
 * TLS unless plain-text login on the LAN is allowed), and a rewrite (*@newdomain keeps the local part).
 * Each rule shows as one line (its addresses and target) and opens to its fields. Nothing takes effect
 * before OK/Apply.
 */
import { api, errorText } from "../api";
import type { LanRule } from "../bindings/LanRule";
import type { RelayDomain } from "../bindings/RelayDomain";
import { plural } from "../format";
import { button } from "../widgets/buttons";
import { frame, h, text } from "../widgets/dom";
import { checkRow, errorSlot, grid, group, input, row, textarea, whole } from "../widgets/form";
import { SettingsWindow } from "../widgets/settings-window";

interface RuleFields {
  id: number;
  el: HTMLDetailsElement;
  title: HTMLElement;
  brief: HTMLElement;
  addresses: HTMLTextAreaElement;
  host: HTMLInputElement;
  port: HTMLInputElement;
  username: HTMLInputElement;
  password: HTMLInputElement;
  plainAuth: HTMLInputElement;
  rewrite: HTMLInputElement;
  up: HTMLButtonElement;
  down: HTMLButtonElement;
}

interface RelayFields {
  el: HTMLElement;
  domain: HTMLInputElement;
  any: HTMLInputElement;
  recipients: HTMLTextAreaElement;
}

export function mountLanForward(app: HTMLElement): () => void {
  const f = frame("LAN Forwarding", "lanforward-window");
  const list = h("div", { class: "lan-rules", id: "lan-rules" });
  const relayList = h("div", { class: "lan-rules", id: "relay-domains" });
  const summary = h("span", { class: "footer-info", id: "lan-summary" });
  let rules: RuleFields[] = [];
  let relays: RelayFields[] = [];
  let counter = 0;

  const sw: SettingsWindow = new SettingsWindow({
    frame: f,
    formId: "lanforward-form",
    left: [summary],
    // A rule with a field to correct opens.
    reveal: (messages) => {
      for (const key of messages.keys()) {
        const m = /^rules\.(\d+)\./.exec(key);
        if (m && rules[Number(m[1])]) rules[Number(m[1])].el.open = true;
      }
    },
    check: () => {
      const m = new Map<string, string>();
      rules.forEach((r, i) => {
        const port = whole(r.port.value, 1, 65535);
        if (typeof port === "string") m.set(`rules.${i}.port`, port);
        else if (port === 465) m.set(`rules.${i}.port`, "port 465 is implicit TLS, which forwarding does not use: use 25 or 587");
      });
      return m;
    },
    save: async () => {
      show(await api.saveLanRules(rules.map(read)));
      await api.saveRelaySettings({ domains: relays.map(readRelay) });
    },
    applied: async () => {
      sw.strip.info("Saved. New mail for these addresses is forwarded from now on.");
    },
  });

  const addBtn = button("Add Rule", { id: "btn-add-lan-rule", onClick: () => add(null, true) });
  const addRelayBtn = button("Add Relay Domain", { id: "btn-add-relay-domain", onClick: () => addRelay(null, true) });
  sw.form.append(
    h(
      "p",
      { class: "explain" },
      "Mail for the addresses of a rule is sent on to its server instead of (or, for ~@domain, after trying) a local mailbox. Rules are tried from the top; the first that matches is used.",
    ),
    list,
    h("div", { class: "list-buttons" }, addBtn),
    group(
      "Relay domains (backup MX)",
      h(
        "p",
        { class: "hint top" },
        "Mail for a relay domain is accepted here and passed on to the domain's primary server by a rule above with ~@domain. Without such a rule it is refused for now, so the sender keeps it; while the primary is down it waits here.",
      ),
      relayList,
      h("div", { class: "list-buttons" }, addRelayBtn),
    ),
  );
  f.body.append(sw.form);
  app.replaceChildren(f.root);

  function read(r: RuleFields): LanRule {
    return {
      id: r.id,
      addresses: r.addresses.value.split("\n").map((a) => a.trim()).filter((a) => a !== ""),
      target: { host: r.host.value.trim(), port: Number(r.port.value.trim()) || 0, username: r.username.value.trim(), password: r.password.value, plain_auth: r.plainAuth.checked },
      rewrite: r.rewrite.value.trim(),
    };
  }

  function add(rule: LanRule | null, focus: boolean): void {
    const n = counter++;
    const id = (s: string) => `lan-r${n}-${s}`;
    const addresses = textarea(id("addresses"), { rows: 3, class: "w-long", placeholder: "sales@example.com\n*@branch.example.com\n~@example.com", spellcheck: false });
    addresses.value = rule?.addresses.join("\n") ?? "";
    const host = input(id("host"), { value: rule?.target.host ?? "", class: "w-medium", placeholder: "exchange.office.lan or 192.168.1.10", spellcheck: false });
    const port = input(id("port"), { value: String(rule?.target.port ?? 25), class: "w-short num", inputmode: "numeric" });
    const username = input(id("username"), { value: rule?.target.username ?? "", class: "w-medium", autocomplete: "off" });
    const password = input(id("password"), { type: "password", value: rule?.target.password ?? "", class: "w-medium", autocomplete: "new-password" });
    const plainAuth = input(id("plain-auth"), { type: "checkbox", checked: rule?.target.plain_auth ?? false });
    const rewrite = input(id("rewrite"), { value: rule?.rewrite ?? "", class: "w-medium", placeholder: "*@newdomain.example", spellcheck: false });
    const title = h("span", { class: "lan-rule-title" }, "");
    const brief = h("span", { class: "lan-rule-brief", id: id("brief") }, "");
    const up = button("Move up", { id: id("up"), onClick: () => move(fields, -1) });
    const down = button("Move down", { id: id("down"), onClick: () => move(fields, 1) });
    const remove = button("Delete", { id: id("delete"), onClick: () => drop(fields) });
    // Closed, a rule is one line (what it catches, where it goes); opened, its fields.
    const el = h(
      "details",
      { class: "group lan-rule", id: id("rule") },
      h("summary", { class: "lan-rule-summary" }, title, brief),
      grid(
        row("Addresses:", addresses, [], "One per line. * and ? match any text or one character; ~@domain takes what is left of a domain after users and aliases."),
        row("Target SMTP server:", host, [h("span", { class: "unit" }, "port"), port, errorSlot(port)], "Port 25, or 587. STARTTLS is used when the server offers it; port 465 (implicit TLS) is not used for forwarding."),
        row("User name:", username, [], "Only if the server wants a login."),
        row("Password:", password),
        checkRow("Allow the login without verified TLS (only for a server on this office's own network)", plainAuth),
        row("Rewrite address:", rewrite, [], "*@newdomain keeps the part before the @; a whole address sends everything to it; empty keeps the address."),
      ),
      h("div", { class: "list-buttons" }, up, down, h("span", { class: "spacer" }), remove),
    );
    el.open = focus;
    const fields: RuleFields = { id: rule?.id ?? 0, el, title, brief, addresses, host, port, username, password, plainAuth, rewrite, up, down };
    for (const control of [addresses, host, port, username, rewrite]) control.addEventListener("input", () => describe(fields));
    describe(fields);
    rules.push(fields);
    list.append(el);
    renumber();
    if (focus) {
      el.scrollIntoView({ block: "nearest" });
      addresses.focus();
    }
  }

  /** The closed rule's line: "sales@office.test, ~@office.test → exchange.office.lan:587, as *@main.example". */
  function describe(r: RuleFields): void {
    const v = read(r);
    const shown = v.addresses.slice(0, 3).join(", ") + (v.addresses.length > 3 ? ` and ${v.addresses.length - 3} more` : "");
    const target = v.target.host ? `${v.target.host}:${r.port.value.trim() || "25"}` : "(no server yet)";
    const extra = [v.target.username ? `login ${v.target.username}` : "", v.rewrite ? `as ${v.rewrite}` : ""].filter((x) => x).join(", ");
    text(r.brief, `${shown || "(no addresses yet)"} → ${target}${extra ? `, ${extra}` : ""}`);
  }

  function readRelay(r: RelayFields): RelayDomain {
    return { domain: r.domain.value.trim(), any_recipient: r.any.checked, recipients: r.recipients.value.split("\n").map((x) => x.trim()).filter((x) => x !== "") };
  }

  function addRelay(d: RelayDomain | null, focus: boolean): void {
    const n = counter++;
    const domain = input(`relay-${n}-domain`, { value: d?.domain ?? "", class: "w-medium", placeholder: "partner.example", spellcheck: false });
    const any = input(`relay-${n}-any`, { type: "checkbox", checked: d?.any_recipient ?? true });
    const recipients = textarea(`relay-${n}-recipients`, { rows: 2, class: "w-long", placeholder: "orders\nsales", spellcheck: false });
    recipients.value = d?.recipients.join("\n") ?? "";
    recipients.disabled = any.checked;
    any.addEventListener("change", () => (recipients.disabled = any.checked));
    const remove = button("Delete", { id: `relay-${n}-delete`, onClick: () => {
      relays = relays.filter((x) => x !== fields);
      el.remove();
      renumber();
    } });
    const el = h(
      "div",
      { class: "relay-domain" },
      grid(
        row("Domain:", domain, [remove]),
        checkRow("Accept any recipient (the primary server decides who exists)", any),
        row("Only these recipients:", recipients, [], "One per line, the part before the @."),
      ),
    );
    const fields: RelayFields = { el, domain, any, recipients };
    relays.push(fields);
    relayList.append(el);
    renumber();
    if (focus) domain.focus();
  }

  function move(r: RuleFields, by: number): void {
    const i = rules.indexOf(r);
    const j = i + by;
    if (j < 0 || j >= rules.length) return;
    [rules[i], rules[j]] = [rules[j], rules[i]];
    list.replaceChildren(...rules.map((x) => x.el));
    renumber();
    (by < 0 ? r.up : r.down).focus();
  }

  function drop(r: RuleFields): void {
    rules = rules.filter((x) => x !== r);
    r.el.remove();
    renumber();
  }

  /** Titles and field names follow the order (errors come back as rules.N.field). */
  function renumber(): void {
    sw.errors.clear();
    rules.forEach((r, i) => {
      text(r.title, `Rule ${i + 1}${i === 0 ? " (tried first)" : ""}:`);
      r.up.disabled = i === 0;
      r.down.disabled = i === rules.length - 1;
      sw.errors.register(`rules.${i}.addresses`, r.addresses);
      sw.errors.register(`rules.${i}.host`, r.host);
      sw.errors.register(`rules.${i}.port`, r.port);
      sw.errors.register(`rules.${i}.username`, r.username);
      sw.errors.register(`rules.${i}.rewrite`, r.rewrite);
    });
    relays.forEach((r, i) => {
      sw.errors.register(`relay.domains.${i}.domain`, r.domain);
      sw.errors.register(`relay.domains.${i}.recipients`, r.recipients);
    });
    text(summary, rules.length ? plural(rules.length, "rule") : "No rules: no mail is forwarded on the LAN.");
  }

  function show(saved: LanRule[]): void {
    rules = [];
    list.replaceChildren();
    for (const r of saved) add(r, false);
    renumber();
  }

  void (async () => {
    try {
      show(await api.listLanRules());
      for (const d of (await api.getRelaySettings()).domains) addRelay(d, false);
      sw.ready();
    } catch (e) {
      sw.strip.error(`Cannot read the LAN forwarding rules: ${errorText(e)}`);
    }
  })();
  return () => sw.stop();
}
