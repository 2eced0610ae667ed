import { api, closeWindow, errorText, fieldMessages } from "../api";
import type { CertificateInfo } from "../bindings/CertificateInfo";
import { formatDateTime, formatFingerprint } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { confirmDialog } from "../widgets/dialog";
import { serviceFilesNote } from "../widgets/attached";
import { frame, h } from "../widgets/dom";
import { FieldErrors, grid, group, infoRow, input, row } from "../widgets/form";

const DAY = 24 * 60 * 60 * 1000;

function validity(info: CertificateInfo): HTMLElement {
  const to = Date.parse(info.not_after);
  const from = Date.parse(info.not_before);
  const now = Date.now();
  let note = "";
  let cls = "";
  if (!Number.isNaN(to) && to < now) {
    note = "expired";
    cls = "problem";
  } else if (!Number.isNaN(from) && from > now) {
    note = "not valid yet";
    cls = "problem";
  } else if (!Number.isNaN(to)) {
    const days = Math.floor((to - now) / DAY);
    note = days <= 30 ? `expires in ${days} day(s)` : "";
    cls = days <= 30 ? "warn-text" : "";
  }
  return h("span", null, formatDateTime(info.not_after), note ? h("span", { class: `note ${cls}` }, ` — ${note}`) : null);
}

export function mountCertificate(app: HTMLElement): () => void {
  const f = frame("TLS Certificate", "certificate-window");
  const strip = new Strip(f.strip);
  const errors = new FieldErrors();
  const current = h("div", { id: "cert-current" }, h("p", { class: "hint" }, "Loading…"));

  const certFile = input("cert-file", { class: "w-path", placeholder: "/path/to/fullchain.pem" });
  const keyFile = input("key-file", { class: "w-path", placeholder: "/path/to/privkey.pem" });
  errors.register("cert_file", certFile);
  errors.register("key_file", keyFile);
  const browseCert = button("Browse…", { id: "btn-browse-cert", onClick: () => void browse(certFile, "Choose the certificate file (PEM)") });
  const browseKey = button("Browse…", { id: "btn-browse-key", onClick: () => void browse(keyFile, "Choose the private key file (PEM)") });
  const useBtn = button("Use this certificate", { id: "btn-use-cert", submit: true });
  const selfBtn = button("Use a self-signed certificate", { id: "btn-self-signed", onClick: () => void useSelfSigned() });
  const allButtons = [browseCert, browseKey, useBtn, selfBtn];

  const customForm = h(
    "form",
    { id: "cert-form", novalidate: true },
    h("p", { class: "hint top" }, "PEM files, for example from Let's Encrypt: the certificate file should hold the full chain."),
    serviceFilesNote("cert-service-note"),
    grid(row("Certificate file:", certFile, [browseCert]), row("Private key file:", keyFile, [browseKey])),
    h("div", { class: "group-buttons" }, useBtn),
  );
  customForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void useCustom();
  });

  f.body.append(
    group("Certificate in use", current),
    group("Use your own certificate", customForm),
    group(
      "Self-signed certificate",
      h("div", { class: "split" }, h("p", { class: "hint" }, "Postroom can make its own certificate. Mail programs will warn that it is not trusted until each user accepts it."), selfBtn),
    ),
  );
  fillBar(f.bar, [], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  function show(info: CertificateInfo): void {
    const custom = info.source === "custom";
    current.replaceChildren(
      grid(
        infoRow("Source:", custom ? "Custom certificate" : "Self-signed (made by Postroom)", "cert-source"),
        infoRow("Subject:", info.subject, "cert-subject"),
        infoRow("Names:", info.names.length ? info.names.join(", ") : "–", "cert-names"),
        infoRow("Valid from:", formatDateTime(info.not_before), "cert-not-before"),
        infoRow("Valid to:", validity(info), "cert-not-after"),
        infoRow("SHA-256 fingerprint:", h("code", { class: "fingerprint" }, formatFingerprint(info.sha256)), "cert-sha256"),
        custom ? infoRow("Files:", h("span", { class: "path" }, `${info.cert_file}, ${info.key_file}`), "cert-files") : null,
      ),
    );
    if (custom) {
      certFile.value = info.cert_file;
      keyFile.value = info.key_file;
    }
  }

  async function browse(target: HTMLInputElement, title: string): Promise<void> {
    try {
      const path = await api.pickFile(title);
      if (path !== null) {
        target.value = path;
        target.dispatchEvent(new Event("input"));
      }
    } catch (e) {
      strip.error(`Cannot open the file picker: ${errorText(e)}`);
    }
  }

  async function useCustom(): Promise<void> {
    const cert = certFile.value.trim();
    const key = keyFile.value.trim();
    const missing = new Map<string, string>();
    if (!cert) missing.set("cert_file", "choose the certificate file");
    if (!key) missing.set("key_file", "choose the private key file");
    if (missing.size) {
      errors.show(missing);
      errors.focusFirst();
      return;
    }
    await busy(allButtons, async () => {
      try {
        const info = await api.setCertificate(cert, key);
        errors.clear();
        show(info);
        strip.info("The new certificate is in use for all TLS services.");
      } catch (e) {
        const unmatched = errors.show(fieldMessages(e, ["tls."]));
        const why = errors.keys().length ? (unmatched.length ? unmatched.join("; ") : "see the marked fields") : errorText(e);
        strip.error(`The certificate was not changed — the previous one is still in use (${why}).`);
        errors.focusFirst();
      }
    });
  }

  async function useSelfSigned(): Promise<void> {
    const ok = await confirmDialog(
      "Use a Self-Signed Certificate",
      [h("p", null, "Replace the certificate in use with a self-signed one? Mail programs will show a warning until each user accepts it.")],
      "Use self-signed",
    );
    if (!ok) return;
    await busy(allButtons, async () => {
      try {
        const info = await api.useSelfSignedCertificate();
        errors.clear();
        show(info);
        strip.info("A self-signed certificate is now in use.");
      } catch (e) {
        strip.error(`The certificate was not changed: ${errorText(e)}`);
      }
    });
  }

  app.replaceChildren(f.root);
  api
    .getCertificate()
    .then(show)
    .catch((e) => {
      current.replaceChildren(h("p", { class: "hint" }, "No certificate information."));
      strip.error(`Cannot read the certificate: ${errorText(e)}`);
    });
  return () => {};
}
