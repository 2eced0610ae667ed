/**
 * Local Domains → DNS Records…: what to publish at the domain's DNS host for mail to arrive here and for the
 * office's mail to be trusted elsewhere — MX, SPF, the DKIM keys (one RSA, one Ed25519) and DMARC — each with a
 * Copy button and whether it is published as shown, missing, or published differently, asked of the server's
 * own resolver. "New DKIM Keys" makes new keys with new selectors (publish them, keep the old records a few days).
 */
import { api, errorText } from "../api";
import type { DnsRecord } from "../bindings/DnsRecord";
import { busy, button } from "../widgets/buttons";
import { confirmDialog, openDialog } from "../widgets/dialog";
import { h, text } from "../widgets/dom";

const STATUS: Record<string, [state: string, label: string]> = {
  published: ["running", "Published"],
  missing: ["failed", "Missing"],
  different: ["paused", "Different"],
  unknown: ["stopped", "Not checked"],
};

const PURPOSE: Record<string, string> = {
  mx: "Mail for the domain comes to this server.",
  spf: "Which servers may send the domain's mail.",
  dkim: "The public key receivers check this server's signatures with.",
  dmarc: "What receivers do with mail that fails SPF and DKIM (p=none: only report).",
};

export async function showDnsRecords(domain: string): Promise<void> {
  const list = h("div", { class: "dns-records", id: "dns-records" }, h("p", { class: "hint" }, "Asking DNS…"));
  const summary = h("span", { class: "dns-summary", id: "dns-summary" });
  const recheck = button("Check Again", { id: "btn-dns-recheck", onClick: () => void load() });
  const rotate = button("New DKIM Keys…", { id: "btn-dkim-rotate", onClick: () => void newKeys() });
  const d = openDialog({
    id: "dns-dialog",
    title: `DNS Records — ${domain}`,
    width: 760,
    body: [
      h("p", { class: "explain" }, "Publish these records at the company that hosts your domain's DNS. Changes can take an hour to be seen everywhere."),
      list,
      h("div", { class: "list-buttons" }, recheck, rotate, h("span", { class: "spacer" }), summary),
    ],
    buttons: [{ id: "btn-dns-close", label: "Close", primary: true, cancel: true }],
  });

  async function load(): Promise<void> {
    await busy([recheck, rotate], async () => {
      try {
        const records = await api.domainDnsRecords(domain);
        list.replaceChildren(...records.map(recordRow));
        const missing = records.filter((r) => r.status !== "published").length;
        text(summary, missing ? `${missing} of ${records.length} not published as shown` : "All published");
        d.strip.clear();
      } catch (e) {
        d.strip.error(`Cannot read the records: ${errorText(e)}`);
      }
    });
  }

  async function newKeys(): Promise<void> {
    const ok = await confirmDialog(
      "New DKIM Keys",
      [h("p", null, "Make new signing keys for ", h("strong", null, domain), "?"), h("p", null, "Mail is signed with the new keys at once: publish their two DKIM records now, and keep the old ones published for a few days for mail still on its way.")],
      "Make New Keys",
      "dkim-confirm",
    );
    if (!ok) return;
    try {
      await api.rotateDkim(domain);
      await load();
    } catch (e) {
      d.strip.error(`Cannot make new keys: ${errorText(e)}`);
    }
  }

  await Promise.all([load(), d.closed]);
}

export function recordRow(r: DnsRecord, i: number): HTMLElement {
  const [state, label] = STATUS[r.status] ?? STATUS.unknown;
  const value = r.record_type === "TXT" ? `"${r.value}"` : r.value;
  const copy = button("Copy", { id: `btn-dns-copy-${i}`, onClick: () => void copyText(r.value, copy) });
  return h(
    "div",
    { class: "dns-record", "data-kind": r.kind, id: `dns-record-${i}` },
    h(
      "div",
      { class: "dns-head" },
      h("span", { class: "dns-type" }, r.record_type),
      h("span", { class: "dns-name", title: r.name }, r.name),
      h("span", { class: `state state-${state} dns-status` }, h("span", { class: "dot", "aria-hidden": "true" }), label),
      copy,
    ),
    h("div", { class: "dns-value" }, value),
    h("div", { class: "hint" }, PURPOSE[r.kind] ?? ""),
    r.found.length ? h("div", { class: "dns-found" }, `Published now: ${r.found.join(" | ")}`) : null,
  );
}

async function copyText(value: string, btn: HTMLButtonElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    // Older webviews: through a hidden text field.
    const area = h("textarea", { class: "offscreen" });
    area.value = value;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  text(btn, "Copied");
  setTimeout(() => text(btn, "Copy"), 1500);
}
