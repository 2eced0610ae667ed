import { api, closeWindow, errorText } from "../api";
import type { GeoIpStatus } from "../bindings/GeoIpStatus";
import { formatDateTime, formatNumber } from "../format";
import { button, fillBar, Strip } from "../widgets/buttons";
import { watch } from "../changes";
import { closeOnEscape, frame, h, text } from "../widgets/dom";
import { grid, group, infoRow, input } from "../widgets/form";

/** The GeoIP window: what is loaded, the last import, and a lookup box. */
export function mountGeoIp(app: HTMLElement): () => void {
  const f = frame("GeoIP", "geoip-window");
  const strip = new Strip(f.strip);
  const v4 = h("span", { id: "geoip-v4" }, "–");
  const v6 = h("span", { id: "geoip-v6" }, "–");
  const last = h("span", { id: "geoip-last", class: "selectable" }, "–");
  const running = h("div", { class: "hint", id: "geoip-running", hidden: true });
  const address = input("geoip-address", { placeholder: "an IP address, e.g. 81.2.69.142", class: "w-medium" });
  const results = h("div", { class: "geoip-results selectable", id: "geoip-results" });
  const lookupBtn = button("Look up", { id: "btn-lookup", submit: true });
  const form = h("form", { class: "lookup-line", id: "lookup-form", novalidate: true }, address, lookupBtn);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void lookup();
  });

  f.body.append(
    h("p", { class: "purpose" }, "GeoIP data ties address ranges to tags — usually country codes — that access restrictions can allow or deny. Postroom reads it live: a change is in effect for the next connection."),
    group("Data", grid(infoRow("IPv4 ranges:", v4), infoRow("IPv6 ranges:", v6), infoRow("Last import:", last)), running),
    group("Look up an address", form, results),
  );
  const open = (w: "geoimport" | "services") => () => void api.openWindow(w).catch((e) => strip.error(`Cannot open the window: ${errorText(e)}`));
  fillBar(f.bar, [button("Access Restrictions…", { id: "btn-open-services", onClick: open("services") })], [
    button("Import…", { id: "btn-import", primary: true, onClick: open("geoimport") }),
    button("Close", { id: "btn-close", onClick: () => void closeWindow() }),
  ]);

  async function lookup(): Promise<void> {
    const a = address.value.trim();
    if (!a) return;
    try {
      const found = await api.geoipLookup(a);
      results.replaceChildren(
        found.length ? h("span", null, `${a}: `, ...found.flatMap((r, i) => [i ? ", " : "", h("strong", { class: "tag" }, r)])) : h("span", { class: "muted" }, `${a}: no GeoIP data for this address`),
      );
    } catch (e) {
      results.replaceChildren(h("span", { class: "problem" }, errorText(e)));
    }
  }

  function render(s: GeoIpStatus): void {
    text(v4, formatNumber(s.v4_rows));
    text(v6, formatNumber(s.v6_rows));
    text(last, s.imported_at ? `${formatDateTime(s.imported_at)} — ${s.source ?? ""}` : "never");
    running.hidden = !s.import.running;
    text(running, s.import.running ? `An import is running (${formatNumber(s.import.progress?.rows ?? 0)} rows so far)…` : "");
  }

  const stopEscape = closeOnEscape(closeWindow);
  const stopPoll = watch(["data"], async () => {
    try {
      render(await api.getGeoipStatus());
    } catch (e) {
      strip.error(`Cannot read the GeoIP status: ${errorText(e)}`);
    }
  });
  app.replaceChildren(f.root);
  return () => {
    stopEscape();
    stopPoll();
  };
}
