/**
 * Settings → Spam Filter: what happens to mail from strangers (never to logged-in users or the SMTP
 * window's trusted networks) before it is accepted. Tabs: Checks (SPF, DKIM, DMARC, ARC, reverse DNS, the
 * DMARC policy), Score and Actions (the content filter, the classifier's status, the thresholds for marking,
 * the Junk folder, the quarantine and refusal), DNS Lists (blocklists of the sending address and of the
 * message's domains, allowlists), Senders (the global allow and deny lists), Greylisting and rspamd.
 */
import { api, errorText } from "../api";
import type { Blocklist } from "../bindings/Blocklist";
import type { SpamSettings } from "../bindings/SpamSettings";
import { formatNumber, plural } from "../format";
import { frame, h, text } from "../widgets/dom";
import { button } from "../widgets/buttons";
import { checkRow, grid, group, infoRow, input, row, textarea, whole } from "../widgets/form";
import { SettingsWindow } from "../widgets/settings-window";
import { Tabs } from "../widgets/tabs";

/** A "zone points" list box with its parser. */
function zoneList(id: string, placeholder: string) {
  const el = textarea(id, { rows: 4, class: "w-long", placeholder, spellcheck: false });
  const read = (): Blocklist[] =>
    el.value.split("\n").map((l) => l.trim()).filter((l) => l).map((l) => {
      const [zone, points] = l.split(/\s+/);
      return { zone, points: points === undefined ? 5 : Number(points) };
    });
  const fill = (lists: Blocklist[]) => (el.value = lists.map((b) => `${b.zone} ${b.points}`).join("\n"));
  const bad = () => read().some((b) => !Number.isInteger(b.points) || b.points < 0 || b.points > 1000);
  /** Adds the lines whose zone is not there yet. */
  const offer = (lines: string[]) => {
    const have = new Set(read().map((b) => b.zone));
    el.value = [el.value.trim(), ...lines.filter((l) => !have.has(l.split(" ")[0]))].filter((l) => l).join("\n");
  };
  return { el, read, fill, bad, offer };
}

const lines = (el: HTMLTextAreaElement) => el.value.split("\n").map((l) => l.trim()).filter((l) => l);

export function mountSpamFilter(app: HTMLElement): () => void {
  const f = frame("Spam Filter", "spamfilter-window");
  const box = (id: string) => input(id, { type: "checkbox" });
  const num = (id: string) => input(id, { class: "w-short num", inputmode: "numeric" });
  const spf = box("spam-spf");
  const dkim = box("spam-dkim");
  const dmarc = box("spam-dmarc");
  const arc = box("spam-arc");
  const iprev = box("spam-iprev");
  const reject = box("spam-dmarc-reject");
  const content = box("spam-content");
  const bayes = box("spam-bayes");
  const markScore = num("spam-mark-score");
  const junkScore = num("spam-junk-score");
  const quarantineScore = num("spam-quarantine-score");
  const refuseScore = num("spam-refuse-score");
  const quarantineDays = num("spam-quarantine-days");
  const bayesStatus = h("span", { id: "bayes-status" }, "…");
  const blocklists = zoneList("spam-blocklists", "zen.spamhaus.org 10");
  const domainLists = zoneList("spam-domain-blocklists", "dbl.spamhaus.org 5");
  const allowlists = zoneList("spam-allowlists", "list.dnswl.org 3");
  // Widely used lists, free for a small office's volume (Spamhaus refuses queries sent through public resolvers).
  const usual = button("Add the Usual Ones", { id: "btn-usual-blocklists", onClick: () => blocklists.offer(["zen.spamhaus.org 10", "bl.spamcop.net 5", "b.barracudacentral.org 5", "psbl.surriel.com 3"]) });
  const usualDomains = button("Add the Usual Ones", { id: "btn-usual-domain-lists", onClick: () => domainLists.offer(["dbl.spamhaus.org 5", "multi.surbl.org 4"]) });
  const usualAllow = button("Add the Usual Ones", { id: "btn-usual-allowlists", onClick: () => allowlists.offer(["list.dnswl.org 3"]) });
  const allowSenders = textarea("spam-allow-senders", { rows: 6, class: "w-long", placeholder: "partner.example\nboss@supplier.example", spellcheck: false });
  const denySenders = textarea("spam-deny-senders", { rows: 6, class: "w-long", placeholder: "pest.example", spellcheck: false });
  const greylist = box("spam-greylist");
  const greylistDelay = num("spam-greylist-delay");
  const rspamdUrl = input("spam-rspamd-url", { class: "w-long", placeholder: "http://127.0.0.1:11333", spellcheck: false });
  const rspamdOnly = box("spam-rspamd-only");
  const rspamdTimeout = num("spam-rspamd-timeout");
  const rspamdFailOpen = box("spam-rspamd-fail-open");

  const read = (): SpamSettings => ({
    spf: spf.checked, dkim: dkim.checked, dmarc: dmarc.checked, arc: arc.checked, iprev: iprev.checked, dmarc_reject: reject.checked,
    content: content.checked, bayes: bayes.checked,
    mark_score: Number(markScore.value.trim()), junk_score: Number(junkScore.value.trim()),
    quarantine_score: Number(quarantineScore.value.trim()), refuse_score: Number(refuseScore.value.trim()),
    quarantine_days: Number(quarantineDays.value.trim()),
    blocklists: blocklists.read(), domain_blocklists: domainLists.read(), allowlists: allowlists.read(),
    allow_senders: lines(allowSenders), deny_senders: lines(denySenders),
    greylist: greylist.checked, greylist_delay: Number(greylistDelay.value.trim()),
    rspamd_url: rspamdUrl.value.trim(), rspamd_only: rspamdOnly.checked, rspamd_timeout: Number(rspamdTimeout.value.trim()), rspamd_fail_open: rspamdFailOpen.checked,
  });
  const fill = (s: SpamSettings) => {
    spf.checked = s.spf;
    dkim.checked = s.dkim;
    dmarc.checked = s.dmarc;
    arc.checked = s.arc;
    iprev.checked = s.iprev;
    reject.checked = s.dmarc_reject;
    content.checked = s.content;
    bayes.checked = s.bayes;
    markScore.value = String(s.mark_score);
    junkScore.value = String(s.junk_score);
    quarantineScore.value = String(s.quarantine_score);
    refuseScore.value = String(s.refuse_score);
    quarantineDays.value = String(s.quarantine_days);
    blocklists.fill(s.blocklists);
    domainLists.fill(s.domain_blocklists);
    allowlists.fill(s.allowlists);
    allowSenders.value = s.allow_senders.join("\n");
    denySenders.value = s.deny_senders.join("\n");
    greylist.checked = s.greylist;
    greylistDelay.value = String(s.greylist_delay);
    rspamdUrl.value = s.rspamd_url;
    rspamdOnly.checked = s.rspamd_only;
    rspamdTimeout.value = String(s.rspamd_timeout);
    rspamdFailOpen.checked = s.rspamd_fail_open;
    enable();
  };
  /** Options that mean nothing while what they depend on is off are greyed. */
  const enable = () => {
    reject.disabled = !dmarc.checked;
    greylistDelay.disabled = !greylist.checked;
    const noRspamd = rspamdUrl.value.trim() === "";
    rspamdOnly.disabled = rspamdTimeout.disabled = rspamdFailOpen.disabled = noRspamd;
  };
  for (const el of [dmarc, greylist]) el.addEventListener("change", enable);
  rspamdUrl.addEventListener("input", enable);

  const numbers: [string, HTMLInputElement, number, number][] = [
    ["spam.mark_score", markScore, 0, 10000],
    ["spam.junk_score", junkScore, 0, 10000],
    ["spam.quarantine_score", quarantineScore, 0, 10000],
    ["spam.refuse_score", refuseScore, 0, 10000],
    ["spam.quarantine_days", quarantineDays, 1, 3650],
    ["spam.greylist_delay", greylistDelay, 0, 86400],
    ["spam.rspamd_timeout", rspamdTimeout, 1, 120],
  ];
  const tabOf: Record<string, string> = {
    "spam.mark_score": "score", "spam.junk_score": "score", "spam.quarantine_score": "score", "spam.refuse_score": "score", "spam.quarantine_days": "score",
    "spam.blocklists": "lists", "spam.domain_blocklists": "lists", "spam.allowlists": "lists",
    "spam.allow_senders": "senders", "spam.deny_senders": "senders",
    "spam.greylist_delay": "more", "spam.rspamd_url": "more", "spam.rspamd_timeout": "more",
  };

  const checks = h(
    "div",
    null,
    h("p", { class: "explain" }, "These checks run while a stranger's server is still connected, so mail can be refused instead of bounced later. Logged-in users and the trusted networks of the SMTP window are not checked: list your own backup mail server there."),
    group(
      "Sender authentication",
      grid(
        checkRow("SPF: the sending server is allowed to send for the HELO name and the MAIL FROM domain", spf),
        checkRow("DKIM: the message's signatures verify against the signing domain's keys", dkim),
        checkRow("DMARC: SPF or DKIM aligns with the From: address, as the From: domain's policy asks", dmarc),
        checkRow("ARC: the chain of a message forwarded by a mailing list or another server verifies", arc),
        checkRow("Reverse DNS: the sending server's address has a name that points back to it", iprev),
      ),
    ),
    group(
      "DMARC policy",
      grid(
        checkRow(
          "Refuse mail failing DMARC when its domain publishes p=reject",
          reject,
          "Refused with 550 5.7.1 before the message is accepted; the sender's server tells the sender. Off: such mail is delivered marked as spam. p=quarantine always marks it as spam.",
        ),
      ),
    ),
  );
  const score = h(
    "div",
    null,
    group(
      "Content filter",
      grid(
        checkRow("Score each message", content, "Points for failed SPF (3), DMARC (3) or DKIM (1), no reverse DNS (1), a HELO name without a dot (1), a missing Date or Message-ID (1 each) or From (3), a subject in capitals (1), a program attached or inside a zip (5), the DNS lists' points, the GTUBE test string (1000). The score and the rules are in the message's X-Spam-Status header and in postroom.log."),
        checkRow("Learn from the users' Junk folders (Bayesian classifier)", bayes, "Moving a message into Junk, or marking it as junk in the mail program, teaches spam; moving it out, or marking it as not junk, teaches good mail. Up to 4 points more, or 2 fewer, once it has learnt enough."),
        infoRow("Learnt so far:", bayesStatus),
      ),
    ),
    group(
      "What the score leads to",
      grid(
        row("Mark as spam from:", markScore, [h("span", { class: "unit" }, "points (0: never)")], "Delivered with X-Spam-Flag: YES and the spam mark (the prune rules' Spam column)."),
        row("Into the Junk folder from:", junkScore, [h("span", { class: "unit" }, "points (0: never)")], "Delivered to the recipient's Junk folder instead of the Inbox."),
        row("Quarantine from:", quarantineScore, [h("span", { class: "unit" }, "points (0: never)")], "Held out of every mailbox until you release or delete it in the Quarantine window."),
        row("Refuse from:", refuseScore, [h("span", { class: "unit" }, "points (0: never)")], "Refused with 550 5.7.1 while the sender is connected: never accepted and bounced later."),
        row("Keep quarantined mail:", quarantineDays, [h("span", { class: "unit" }, "days")]),
      ),
    ),
  );
  const dnsLists = h(
    "div",
    null,
    h("p", { class: "explain" }, "One list per line: its zone and the points a listing adds (or, for allowlists, takes off). None is used until you add it; check each list's terms (most are free for small volumes)."),
    group("Blocklists of the sending server's address", grid(row("Zones:", blocklists.el, [usual]))),
    group("Domain blocklists (links in the message, the sender's domain)", grid(row("Zones:", domainLists.el, [usualDomains]))),
    group("Allowlists of the sending server's address", grid(row("Zones:", allowlists.el, [usualAllow]))),
  );
  const senders = h(
    "div",
    null,
    h("p", { class: "explain" }, "One per line: an address (someone@example.com) or a domain (example.com, which includes its subdomains). The sender is the envelope sender or the From: address. Each user can keep their own lists too (Users → user → Spam)."),
    group("Always allowed", grid(row("Senders:", allowSenders, [], "Never scored as spam — unless SPF or DMARC shows the address forged."))),
    group("Always refused", grid(row("Senders:", denySenders, [], "Refused with 550 5.7.1 before the message is accepted."))),
  );
  const more = h(
    "div",
    null,
    group(
      "Greylisting",
      grid(
        checkRow("Defer a stranger's first attempt (451) and accept the retry", greylist, "Spam engines rarely try again; real mail servers do, within minutes. After one retry the sending network passes at once for 36 days. Mail from new senders arrives a few minutes late."),
        row("Accept the retry after:", greylistDelay, [h("span", { class: "unit" }, "seconds")]),
      ),
    ),
    group(
      "rspamd",
      grid(
        row("Address:", rspamdUrl, [], "An rspamd you already run, asked about each stranger's message (its normal worker, usually port 11333). Empty: not used."),
        checkRow("Use rspamd's score instead of the built-in content filter's (off: added to it)", rspamdOnly),
        row("Wait at most:", rspamdTimeout, [h("span", { class: "unit" }, "seconds")]),
        checkRow("When rspamd does not answer, accept the message anyway", rspamdFailOpen, "Off: the message is deferred with 451 and the sender's server tries again later."),
      ),
    ),
  );
  const tabs = new Tabs(
    [
      { id: "checks", label: "Checks", panel: checks },
      { id: "score", label: "Score and Actions", panel: score },
      { id: "lists", label: "DNS Lists", panel: dnsLists },
      { id: "senders", label: "Senders", panel: senders },
      { id: "more", label: "Greylisting and rspamd", panel: more },
    ],
    "spam-tab-",
  );

  const sw: SettingsWindow = new SettingsWindow({
    frame: f,
    formId: "spamfilter-form",
    tabs: { get: () => tabs, tabOf: (field: string) => tabOf[field] ?? null },
    check: () => {
      const m = new Map<string, string>();
      for (const [key, el, min, max] of numbers) {
        const v = whole(el.value, min, max);
        if (typeof v === "string") m.set(key, v);
      }
      for (const [key, list] of [["spam.blocklists", blocklists], ["spam.domain_blocklists", domainLists], ["spam.allowlists", allowlists]] as const) {
        if (list.bad()) m.set(key, "one zone per line, then its points (0 to 1000), e.g. bl.spamcop.net 5");
      }
      return m;
    },
    save: async () => api.saveSpamSettings(read()),
    applied: async () => {
      fill(await api.getSpamSettings());
      sw.strip.info("Saved. The next message is checked this way.");
    },
  });

  for (const [key, el] of numbers) sw.errors.register(key, el);
  sw.errors.register("spam.blocklists", blocklists.el);
  sw.errors.register("spam.domain_blocklists", domainLists.el);
  sw.errors.register("spam.allowlists", allowlists.el);
  sw.errors.register("spam.allow_senders", allowSenders);
  sw.errors.register("spam.deny_senders", denySenders);
  sw.errors.register("spam.rspamd_url", rspamdUrl);

  sw.form.append(tabs.el);
  f.body.append(sw.form);
  app.replaceChildren(f.root);

  const showBayes = async () => {
    try {
      const b = await api.bayesStatus();
      const state = b.active ? "scoring" : `learning — it scores once it has 10 of each (${Math.max(0, 10 - Number(b.spam_learnt))} spam, ${Math.max(0, 10 - Number(b.ham_learnt))} good to go)`;
      text(bayesStatus, `${plural(Number(b.spam_learnt), "spam message")} and ${plural(Number(b.ham_learnt), "good message")}, ${formatNumber(Number(b.tokens))} words; ${state}${b.waiting ? `; ${formatNumber(Number(b.waiting))} still to read` : ""}.`);
    } catch (e) {
      text(bayesStatus, `cannot read: ${errorText(e)}`);
    }
  };
  void (async () => {
    try {
      fill(await api.getSpamSettings());
      sw.ready();
    } catch (e) {
      sw.strip.error(`Cannot read the spam filter settings: ${errorText(e)}`);
    }
    await showBayes();
  })();
  return () => sw.stop();
}
