import { api, errorText } from "../api";
import { watch } from "../changes";
import type { ServiceId } from "../bindings/ServiceId";
import type { ServiceStatus } from "../bindings/ServiceStatus";
import type { MailboxAccess } from "../bindings/MailboxAccess";
import type { ServiceView } from "../bindings/ServiceView";
import type { TlsMode } from "../bindings/TlsMode";
import type { Throttle } from "../bindings/Throttle";
import type { ThrottleMode } from "../bindings/ThrottleMode";
import { formatAddress, formatNumber, plural, SERVICE_LABELS, stateBadge } from "../format";
import { frame, h, text } from "../widgets/dom";
import { SettingsWindow } from "../widgets/settings-window";
import { checkRow, grid, group, input, row, select, whole } from "../widgets/form";
import { Tabs } from "../widgets/tabs";
import type { AccessSettings } from "../bindings/AccessSettings";
import { accessEditor, type AccessEditor } from "./access-editor";
import { MAX_RATE, POOL_IDS, PoolNames } from "./pools";

const PURPOSE: Record<ServiceId, string> = {
  smtp: "Receives mail from other mail servers, and from mail programs on the office network.",
  submission: "Mail programs send outgoing mail here after logging in (usually port 587 with STARTTLS).",
  smtps: "Like Submission, but encrypted from the first byte (usually port 465).",
  pop3: "Mail programs download mail from the users' inboxes (usually port 110).",
  pop3s: "POP3 encrypted from the first byte (usually port 995).",
  imap: "Mail programs read and organise mail in folders kept on this server (usually port 143).",
  imaps: "IMAP4 encrypted from the first byte (usually port 993).",
  http: "Mail programs fetch their own settings here (Thunderbird, Outlook, Apple Mail) and other mail servers read the MTA-STS policy (usually port 80).",
  https: "The same, encrypted with this server's certificate (usually port 443). Outlook and MTA-STS need it.",
};

/** The POP3 and IMAP4 settings shown on the POP3 and IMAP4 tabs. */
function accessControls() {
  const num = (id: string) => input(id, { type: "number", min: 1, step: 1, class: "w-short" });
  return {
    pop3Plain: input("pop3-plaintext", { type: "checkbox" }),
    pop3PerAddress: num("pop3-per-address"),
    pop3Total: num("pop3-total"),
    pop3Idle: num("pop3-idle"),
    imapPlain: input("imap-plaintext", { type: "checkbox" }),
    imapIdle: input("imap-idle-enabled", { type: "checkbox" }),
    imapPerUser: num("imap-per-user"),
    imapPerAddress: num("imap-per-address"),
    imapTotal: num("imap-total"),
    imapTimeout: num("imap-timeout"),
    stsMode: select("web-mta-sts-mode", [
      ["none", "None (no policy)"],
      ["testing", "Testing (report problems, deliver anyway)"],
      ["enforce", "Enforce (no delivery without verified TLS)"],
    ]),
    stsDays: num("web-mta-sts-days"),
  };
}

const unit = (t: string) => h("span", { class: "unit" }, t);
const PLAIN_HINT = "Only for old mail programs on the office network: passwords would cross it unencrypted. Logins over TLS, and from this computer, are always allowed.";

/** A service's Bandwidth Throttling controls: No Limit, Custom (a rate per connection) or a Bandwidth Pool. */
interface BandwidthControls {
  mode: HTMLSelectElement;
  rate: HTMLInputElement;
  pool: HTMLSelectElement;
  rateRow: HTMLElement;
  poolRow: HTMLElement;
  /** The "Bandwidth Throttling" group. */
  el: HTMLElement;
}

interface Controls {
  enabled: HTMLInputElement;
  bind: HTMLInputElement;
  port: HTMLInputElement;
  tls: HTMLSelectElement;
  state: HTMLElement;
  detail: HTMLElement;
  bw: BandwidthControls;
}

function bandwidthControls(id: ServiceId, openPools: () => void): BandwidthControls {
  const mode = select(`svc-${id}-bw-mode`, [
    ["none", "No Limit"],
    ["custom", "Custom"],
    ["pool", "Bandwidth Pool"],
  ]);
  const rate = input(`svc-${id}-bw-rate`, { type: "number", min: 1, max: MAX_RATE, step: 1, class: "w-rate" });
  const pool = select(`svc-${id}-bw-pool`, POOL_IDS.map((p) => [String(p), String(p)]));
  pool.classList.add("w-pool");
  const poolsLink = h("button", { type: "button", class: "link", id: `btn-svc-${id}-bw-pools`, onclick: openPools }, "Bandwidth Pools…");
  const rateRow = row("Allowed:", rate, [unit("bytes per second for each connection")]);
  const poolRow = row("Pool:", pool, [poolsLink], "All connections of every service using this pool share its allowance.");
  const el = group("Bandwidth Throttling", grid(row("Limit:", mode), rateRow, poolRow));
  const c = { mode, rate, pool, rateRow, poolRow, el };
  mode.addEventListener("change", () => showBandwidthMode(c));
  return c;
}

/** Shows only the input the chosen mode needs. */
function showBandwidthMode(c: BandwidthControls): void {
  c.rateRow.hidden = c.mode.value !== "custom";
  c.poolRow.hidden = c.mode.value !== "pool";
}

function fillBandwidth(c: BandwidthControls, t: Throttle): void {
  c.mode.value = t.mode;
  c.rate.value = String(t.bytes_per_sec);
  c.pool.value = String(t.pool);
  showBandwidthMode(c);
}

/** The throttle as set; the rate and pool of the modes not chosen are kept as they were (or as typed, if valid). */
function collectBandwidth(id: ServiceId, c: BandwidthControls, loaded: Throttle, local: Map<string, string>): Throttle {
  const mode = c.mode.value as ThrottleMode;
  const rate = whole(c.rate.value, 1, MAX_RATE);
  if (mode === "custom" && typeof rate === "string") {
    const zero = c.rate.value.trim() === "0";
    local.set(`${id}.bandwidth.bytes_per_sec`, zero ? "at least 1 byte per second (choose No Limit for none)" : rate);
  }
  const pool = Number(c.pool.value);
  return {
    mode,
    bytes_per_sec: typeof rate === "number" ? rate : loaded.bytes_per_sec,
    pool: Number.isInteger(pool) && pool >= 1 ? pool : loaded.pool,
  };
}

/** Relabels the pool lists with the pools' names and allowances, touching only the options that changed. */
function labelPools(lists: HTMLSelectElement[], names: PoolNames): void {
  const labels = POOL_IDS.map((p) => names.label(p));
  for (const list of lists) {
    for (let i = 0; i < labels.length; i++) {
      const option = list.options[i];
      if (option && option.text !== labels[i]) option.text = labels[i];
    }
  }
}

export function mountServices(app: HTMLElement): () => void {
  const f = frame("Services", "services-window");
  const sw = new SettingsWindow({
    frame: f,
    formId: "services-form",
    enabledBeforeReady: true,
    check: () => collect().local,
    save: async () => {
      const { services, access: newAccess } = collect();
      await api.saveServices(services, newAccess);
      const rules = collectRestrictions();
      if (rules) await api.saveAccessSettings(rules);
    },
    applied: async () => {
      strip.info("Settings saved.");
      fill(await api.getServices());
      fillAccess(await api.getMailboxAccess());
      fillRestrictions(await api.getAccessSettings());
      await refreshState();
    },
    fieldPrefixes: ["services."],
    tabs: { get: () => tabs, tabOf: (k) => views.find((v) => keyIsFor(k, v.id))?.id },
    onErrorsChange: markSubTabs,
    errorText: ({ messages, tabs: where, unmatched }) =>
      `Nothing was saved. Correct the marked field${messages.size === 1 ? "" : "s"}${where.length ? ` on: ${where.join(", ")}` : ""}.` +
      (unmatched.length ? ` ${unmatched.join("; ")}` : ""),
    failureText: (message) => `The settings were not saved: ${message}`,
  });
  const { strip, errors, form } = sw;
  const controls = new Map<ServiceId, Controls>();
  let views: ServiceView[] = [];
  let tabs: Tabs | null = null;
  const a = accessControls();
  let access: MailboxAccess | null = null;
  let restrictions: AccessSettings | null = null;
  const editors = new Map<ServiceId, AccessEditor>();
  const subTabs = new Map<ServiceId, Tabs>();
  const exemptBoxes: HTMLInputElement[] = [];
  const openGeoIp = () => void api.openWindow("geoip").catch((e) => strip.error(`Cannot open the GeoIP window: ${errorText(e)}`));
  const openPools = () => void api.openWindow("bandwidth").catch((e) => strip.error(`Cannot open the Bandwidth Pools window: ${errorText(e)}`));
  const accessFields: [string, HTMLInputElement][] = [
    ["pop3.allow_plaintext_login", a.pop3Plain], ["pop3.max_connections_per_address", a.pop3PerAddress],
    ["pop3.max_connections", a.pop3Total], ["pop3.idle_timeout_secs", a.pop3Idle],
    ["imap.allow_plaintext_login", a.imapPlain], ["imap.idle_enabled", a.imapIdle],
    ["imap.max_connections_per_user", a.imapPerUser], ["imap.max_connections_per_address", a.imapPerAddress],
    ["imap.max_connections", a.imapTotal], ["imap.idle_timeout_secs", a.imapTimeout],
    ["web.mta_sts_max_age_days", a.stsDays],
  ];
  errors.register("web.mta_sts_mode", a.stsMode);
  for (const [key, control] of accessFields) errors.register(key, control);

  f.body.append(form);

  function buildTab(v: ServiceView): HTMLElement {
    const id = v.id;
    const c: Controls = {
      enabled: input(`svc-${id}-enabled`),
      bind: input(`svc-${id}-bind`, { class: "w-medium" }),
      port: input(`svc-${id}-port`, { type: "number", min: 1, max: 65535, step: 1, class: "w-short" }),
      // A web service has no STARTTLS: plain (http) or encrypted from the first byte (https).
      tls: select(
        `svc-${id}-tls`,
        id === "http" || id === "https"
          ? [["none", "None"], ["implicit", "Implicit TLS"]]
          : [["none", "None"], ["starttls", "STARTTLS"], ["implicit", "Implicit TLS"]],
      ),
      state: h("span", { id: `svc-${id}-state` }),
      detail: h("span", { class: "state-detail", id: `svc-${id}-state-detail` }),
      bw: bandwidthControls(id, openPools),
    };
    controls.set(id, c);
    errors.register(`${id}.enabled`, c.enabled);
    errors.register(`${id}.bind_address`, c.bind);
    errors.register(`${id}.port`, c.port);
    errors.register(`${id}.tls_mode`, c.tls);
    errors.register(`${id}.bandwidth.mode`, c.bw.mode);
    errors.register(`${id}.bandwidth.bytes_per_sec`, c.bw.rate);
    errors.register(`${id}.bandwidth.pool`, c.bw.pool);
    const exempt = input(`acc-${id}-exempt`, { type: "checkbox" });
    exempt.addEventListener("change", () => exemptBoxes.forEach((b) => (b.checked = exempt.checked)));
    exemptBoxes.push(exempt);
    const editor = accessEditor(
      id,
      errors,
      h("div", { class: "field-line check" }, exempt, h("label", { for: exempt.id }, "Never refuse this computer or the trusted networks (all services)")),
      openGeoIp,
    );
    editors.set(id, editor);
    const general = h(
      "div",
      null,
      h("p", { class: "purpose" }, h("strong", null, v.name), v.name.startsWith(v.protocol) ? "" : ` (${v.protocol})`, ` — ${PURPOSE[id] ?? ""}`),
      group("Status", h("div", { class: "live-state" }, c.state, c.detail)),
      group(
        "General",
        grid(
          checkRow("Enabled", c.enabled, "When off, Postroom does not listen for this service."),
          row("Bind address:", c.bind, [], "0.0.0.0 listens on every IPv4 address, :: on every IPv6 address."),
          row("Port:", c.port),
          row("TLS mode:", c.tls, [], id === "http" || id === "https"
            ? "Implicit TLS is HTTPS: encrypted from the start, with this server's certificate."
            : "STARTTLS upgrades a plain connection on request; implicit TLS encrypts from the start."),
        ),
      ),
      c.bw.el,
      protocolGroup(id),
    );
    const sub = new Tabs(
      [
        { id: `${id}-general`, label: "General", panel: general },
        { id: `${id}-access`, label: "Access Restrictions", panel: editor.el },
      ],
      "subtab-",
    );
    sub.el.classList.add("sub-tabs");
    subTabs.set(id, sub);
    return h("div", null, sub.el);
  }

  async function refreshPoolNames(): Promise<void> {
    try {
      const s = await api.getBandwidthSettings();
      labelPools([...controls.values()].map((c) => c.bw.pool), new PoolNames(s.pools));
    } catch (e) {
      strip.error(`Cannot read the bandwidth pools' names: ${errorText(e)}`);
    }
  }

  function fillRestrictions(x: AccessSettings): void {
    restrictions = x;
    for (const [id, editor] of editors) editor.fill(x[id]);
    exemptBoxes.forEach((b) => (b.checked = x.exempt_local));
  }

  function collectRestrictions(): AccessSettings | null {
    if (!restrictions) return null;
    const out = { ...restrictions, exempt_local: exemptBoxes[0]?.checked ?? restrictions.exempt_local };
    for (const [id, editor] of editors) out[id] = editor.collect();
    return out;
  }

  /** POP3's settings on the POP3 tab and IMAP4's on the IMAP4 tab; a pointer to them on POP3S and IMAPS. */
  function protocolGroup(id: ServiceId): HTMLElement | null {
    if (id === "pop3") {
      return group(
        "POP3 logins and limits (POP3 and POP3S)",
        grid(
          checkRow("Allow logging in without encryption", a.pop3Plain, PLAIN_HINT),
          row("Connections per address:", a.pop3PerAddress),
          row("Connections in all:", a.pop3Total),
          row("Disconnect after:", a.pop3Idle, [unit("seconds without a command")]),
        ),
      );
    }
    if (id === "imap") {
      return group(
        "IMAP4 logins and limits (IMAP4 and IMAPS)",
        grid(
          checkRow("Allow logging in without encryption", a.imapPlain, PLAIN_HINT),
          checkRow("Offer IDLE (new mail appears at once in waiting mail programs)", a.imapIdle),
          row("Sessions per user:", a.imapPerUser, [], "Each phone or computer keeps a few open."),
          row("Connections per address:", a.imapPerAddress),
          row("Connections in all:", a.imapTotal),
          row("Disconnect after:", a.imapTimeout, [unit("seconds without a command")]),
        ),
      );
    }
    if (id === "http") {
      return group(
        "What is served (HTTP and HTTPS)",
        h(
          "p",
          { class: "hint" },
          "Only these, for the local domains: Thunderbird's autoconfig, Outlook's Autodiscover, an Apple Mail profile per user, and the MTA-STS policy. Anything else gets “not found”.",
        ),
        grid(
          row("MTA-STS policy:", a.stsMode, [], "Testing is the safe start. Enforce only with a certificate from a public authority, or other servers will stop delivering."),
          row("Policy kept for:", a.stsDays, [unit("days by other servers")]),
        ),
      );
    }
    if (id === "pop3s" || id === "imaps" || id === "https") {
      const tab = id === "pop3s" ? "POP3" : id === "imaps" ? "IMAP4" : "HTTP";
      return h("p", { class: "hint" }, `Logins and limits for ${SERVICE_LABELS[id]} are set on the ${tab} tab.`);
    }
    return null;
  }

  function fillAccess(x: MailboxAccess): void {
    access = x;
    a.pop3Plain.checked = x.pop3.allow_plaintext_login;
    a.pop3PerAddress.value = String(x.pop3.max_connections_per_address);
    a.pop3Total.value = String(x.pop3.max_connections);
    a.pop3Idle.value = String(x.pop3.idle_timeout_secs);
    a.imapPlain.checked = x.imap.allow_plaintext_login;
    a.imapIdle.checked = x.imap.idle_enabled;
    a.imapPerUser.value = String(x.imap.max_connections_per_user);
    a.imapPerAddress.value = String(x.imap.max_connections_per_address);
    a.imapTotal.value = String(x.imap.max_connections);
    a.imapTimeout.value = String(x.imap.idle_timeout_secs);
    a.stsMode.value = x.web.mta_sts_mode;
    a.stsDays.value = String(x.web.mta_sts_max_age_days);
  }

  function collectAccess(local: Map<string, string>): MailboxAccess | null {
    if (!access) return null;
    const whole = (key: string, control: HTMLInputElement, min: number, unit = ""): number => {
      const raw = control.value.trim();
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n < min || n > 4294967295) local.set(key, `enter a whole number of at least ${min}${unit}`);
      return n;
    };
    return {
      pop3: {
        allow_plaintext_login: a.pop3Plain.checked,
        max_connections_per_address: whole("pop3.max_connections_per_address", a.pop3PerAddress, 1),
        max_connections: whole("pop3.max_connections", a.pop3Total, 1),
        idle_timeout_secs: whole("pop3.idle_timeout_secs", a.pop3Idle, 30, " seconds"),
      },
      imap: {
        allow_plaintext_login: a.imapPlain.checked,
        idle_enabled: a.imapIdle.checked,
        max_connections_per_user: whole("imap.max_connections_per_user", a.imapPerUser, 1),
        max_connections_per_address: whole("imap.max_connections_per_address", a.imapPerAddress, 1),
        max_connections: whole("imap.max_connections", a.imapTotal, 1),
        idle_timeout_secs: whole("imap.idle_timeout_secs", a.imapTimeout, 60, " seconds"),
      },
      web: {
        mta_sts_mode: a.stsMode.value as MailboxAccess["web"]["mta_sts_mode"],
        mta_sts_max_age_days: whole("web.mta_sts_max_age_days", a.stsDays, 1, " day"),
      },
    };
  }

  function fill(list: ServiceView[]): void {
    views = list;
    if (!tabs) {
      tabs = new Tabs(list.map((v) => ({ id: v.id, label: SERVICE_LABELS[v.id] ?? v.name, panel: buildTab(v) })));
      form.append(tabs.el);
    }
    for (const v of list) {
      const c = controls.get(v.id);
      if (!c) continue;
      c.enabled.checked = v.enabled;
      c.bind.value = v.bind_address;
      c.port.value = String(v.port);
      c.tls.value = v.tls_mode;
      fillBandwidth(c.bw, v.bandwidth);
    }
  }

  const keyIsFor = (k: string, id: ServiceId) =>
    k.startsWith(`${id}.`) || k.startsWith(`access.${id}.`) || (id === "http" && k.startsWith("web."));
  /** Marks the General and Access Restrictions sub-tabs (the widget marks the service tabs). */
  function markSubTabs(): void {
    for (const v of views) {
      const accessBad = errors.keys().some((k) => k.startsWith(`access.${v.id}.`));
      const generalBad = errors.keys().some((k) => k.startsWith(`${v.id}.`));
      const sub = subTabs.get(v.id);
      sub?.mark(`${v.id}-access`, accessBad);
      sub?.mark(`${v.id}-general`, generalBad);
      // Show the sub-tab with the errors, unless the one shown has some of its own.
      const shownBad = sub?.current === `${v.id}-general` ? generalBad : accessBad;
      if (tabs?.current === v.id && !shownBad && (accessBad || generalBad)) sub?.select(generalBad ? `${v.id}-general` : `${v.id}-access`);
    }
  }

  function collect(): { services: ServiceView[]; access: MailboxAccess | null; local: Map<string, string> } {
    const local = new Map<string, string>();
    const services = views.map((v) => {
      const c = controls.get(v.id)!;
      const raw = c.port.value.trim();
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port < 1 || port > 65535) {
        local.set(`${v.id}.port`, "the port must be between 1 and 65535");
      }
      const bandwidth = collectBandwidth(v.id, c.bw, v.bandwidth, local);
      return { ...v, enabled: c.enabled.checked, bind_address: c.bind.value.trim(), port, tls_mode: c.tls.value as TlsMode, bandwidth };
    });
    return { services, access: collectAccess(local), local };
  }

  function renderState(s: ServiceStatus): void {
    const c = controls.get(s.id);
    if (!c) return;
    const badge = stateBadge(s.state);
    if (c.state.firstElementChild?.className !== badge.className) c.state.replaceChildren(badge);
    let detail = "";
    if (s.state === "failed") detail = s.error ?? "The service could not start.";
    else if (s.state === "running") detail = `on ${formatAddress(s.bind_address, s.port)} · ${plural(s.connections, "connection")}`;
    else if (s.state === "paused") detail = "All services are paused from the main window.";
    else if (s.state === "disabled") detail = "Not listening.";
    c.detail.classList.toggle("problem", s.state === "failed");
    text(c.detail, detail);
    c.state.title = `${formatNumber(s.connections)} open connection(s)`;
  }

  let stateFailed = false;
  async function refreshState(): Promise<void> {
    try {
      const o = await api.getOverview();
      o.services.forEach(renderState);
      stateFailed = false;
    } catch (e) {
      if (!stateFailed) strip.error(`Cannot read the live state of the services: ${errorText(e)}`);
      stateFailed = true;
    }
  }

  app.replaceChildren(f.root);
  let stop = () => {};
  Promise.all([api.getServices(), api.getMailboxAccess(), api.getAccessSettings()])
    .then(([list, x, rules]) => {
      fill(list);
      fillAccess(x);
      fillRestrictions(rules);
      sw.ready();
      stop = watch(["services"], refreshState);
      void refreshPoolNames();
    })
    .catch((e) => strip.error(`Cannot read the service settings: ${errorText(e)}`));
  // Pools may have been renamed in the Bandwidth Pools window meanwhile.
  const onFocus = () => void (tabs && refreshPoolNames());
  window.addEventListener("focus", onFocus);
  return () => {
    stop();
    sw.stop();
    window.removeEventListener("focus", onFocus);
  };
}
