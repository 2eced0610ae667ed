/**
 * Settings → Spam Filter: the sender checks run at SMTP time on mail from strangers (never on logged-in
 * users or the SMTP window's trusted networks) — SPF, DKIM, DMARC, ARC — and whether DMARC's p=reject is
 * obeyed with a refusal before the 250 or only marks the message as spam. Every message checked carries
 * the results in its Authentication-Results header and in postroom.log.
 */
import { api, errorText } from "../api";
import type { SpamSettings } from "../bindings/SpamSettings";
import { frame, h } from "../widgets/dom";
import { button } from "../widgets/buttons";
import { checkRow, grid, group, input, row, textarea, whole } from "../widgets/form";
import { SettingsWindow } from "../widgets/settings-window";

export function mountSpamFilter(app: HTMLElement): () => void {
  const f = frame("Spam Filter", "spamfilter-window");
  const box = (id: string) => input(id, { type: "checkbox" });
  const spf = box("spam-spf");
  const dkim = box("spam-dkim");
  const dmarc = box("spam-dmarc");
  const arc = box("spam-arc");
  const iprev = box("spam-iprev");
  const reject = box("spam-dmarc-reject");
  const content = box("spam-content");
  const markScore = input("spam-mark-score", { class: "w-short num", inputmode: "numeric" });
  const refuseScore = input("spam-refuse-score", { class: "w-short num", inputmode: "numeric" });
  const blocklists = textarea("spam-blocklists", { rows: 4, class: "w-long", placeholder: "zen.spamhaus.org 10", spellcheck: false });
  // Widely used lists, free for a small office's volume (Spamhaus refuses queries sent through public resolvers).
  const usual = button("Add the Usual Ones", {
    id: "btn-usual-blocklists",
    onClick: () => {
      const have = new Set(readLists().map((b) => b.zone));
      const add = ["zen.spamhaus.org 10", "bl.spamcop.net 5", "b.barracudacentral.org 5", "psbl.surriel.com 3"].filter((l) => !have.has(l.split(" ")[0]));
      blocklists.value = [blocklists.value.trim(), ...add].filter((l) => l).join("\n");
    },
  });
  /** "zone points" per line; points default to 5. */
  const readLists = () =>
    blocklists.value.split("\n").map((l) => l.trim()).filter((l) => l).map((l) => {
      const [zone, points] = l.split(/\s+/);
      return { zone, points: points === undefined ? 5 : Number(points) };
    });

  const read = (): SpamSettings => ({
    spf: spf.checked, dkim: dkim.checked, dmarc: dmarc.checked, arc: arc.checked, iprev: iprev.checked, dmarc_reject: reject.checked,
    content: content.checked, mark_score: Number(markScore.value.trim()), refuse_score: Number(refuseScore.value.trim()),
    blocklists: readLists(),
  });
  const fill = (s: SpamSettings) => {
    spf.checked = s.spf;
    dkim.checked = s.dkim;
    dmarc.checked = s.dmarc;
    arc.checked = s.arc;
    iprev.checked = s.iprev;
    reject.checked = s.dmarc_reject;
    reject.disabled = !s.dmarc;
    content.checked = s.content;
    markScore.value = String(s.mark_score);
    refuseScore.value = String(s.refuse_score);
    blocklists.value = s.blocklists.map((b) => `${b.zone} ${b.points}`).join("\n");
  };
  dmarc.addEventListener("change", () => (reject.disabled = !dmarc.checked));

  const sw: SettingsWindow = new SettingsWindow({
    frame: f,
    formId: "spamfilter-form",
    check: () => {
      const m = new Map<string, string>();
      for (const [key, el] of [["spam.mark_score", markScore], ["spam.refuse_score", refuseScore]] as const) {
        const v = whole(el.value, 0, 10000);
        if (typeof v === "string") m.set(key, v);
      }
      if (readLists().some((b) => !Number.isInteger(b.points) || b.points < 0 || b.points > 1000)) {
        m.set("spam.blocklists", "one zone per line, then its points (0 to 1000), e.g. bl.spamcop.net 5");
      }
      return m;
    },
    save: async () => api.saveSpamSettings(read()),
    applied: async () => {
      fill(await api.getSpamSettings());
      sw.strip.info("Saved. The next message is checked this way.");
    },
  });

  sw.errors.register("spam.mark_score", markScore);
  sw.errors.register("spam.refuse_score", refuseScore);
  sw.errors.register("spam.blocklists", blocklists);

  sw.form.append(
    h(
      "p",
      { class: "explain" },
      "These checks run while a stranger's server is still connected, so mail can be refused instead of bounced later. Logged-in users and the trusted networks of the SMTP window are not checked: list your own backup mail server there.",
    ),
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
    group(
      "Content filter",
      grid(
        checkRow("Score each message", content, "Points for failed SPF (3), DMARC (3) or DKIM (1), no reverse DNS (1), a HELO name without a dot (1), a missing Date or Message-ID (1 each) or From (3), a subject in capitals (1), a program attached (5), the GTUBE test string (1000). The score and the rules are in the message's X-Spam-Status header and in postroom.log."),
        row("Mark as spam from:", markScore, [h("span", { class: "unit" }, "points (0: never)")], "The message is delivered with X-Spam-Flag: YES and the spam mark (the prune rules' Spam column)."),
        row("Refuse from:", refuseScore, [h("span", { class: "unit" }, "points (0: never)")], "Refused with 550 5.7.1 while the sender is connected: never accepted and bounced later."),
      ),
    ),
    group(
      "DNS blocklists",
      grid(
        row("Blocklists:", blocklists, [usual], "One per line: the list's zone and the points a listing of the sending server's address adds to the score. None is used until you add it; check each list's terms (most are free for small volumes)."),
      ),
    ),
  );
  f.body.append(sw.form);
  app.replaceChildren(f.root);

  void (async () => {
    try {
      fill(await api.getSpamSettings());
      sw.ready();
    } catch (e) {
      sw.strip.error(`Cannot read the spam filter settings: ${errorText(e)}`);
    }
  })();
  return () => sw.stop();
}
