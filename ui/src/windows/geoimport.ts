import { api, closeWindow, errorText, fieldMessages } from "../api";
import type { ImportState } from "../bindings/ImportState";
import { formatNumber } from "../format";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { watch } from "../changes";
import { serviceFilesNote } from "../widgets/attached";
import { closeOnEscape, frame, h, text } from "../widgets/dom";
import { group, input, select } from "../widgets/form";

/**
 * The GeoIP import wizard: the file (native picker), a preview of its first rows with a column chooser
 * that makes the `125`-style spec, replace or append, then a progress bar and a summary that lists the
 * skipped rows. GeoLite2 takes its blocks files and the locations file instead of columns.
 */
export function mountGeoImport(app: HTMLElement): () => void {
  const f = frame("Import GeoIP Data", "geoimport-window");
  const strip = new Strip(f.strip);

  const kindCsv = h("input", { type: "radio", name: "geo-kind", id: "kind-columns", value: "columns", checked: true });
  const kindLite = h("input", { type: "radio", name: "geo-kind", id: "kind-geolite2", value: "geolite2" });
  const csvFile = input("csv-file", { class: "w-path", placeholder: "e.g. GeoIPCountryWhois.csv or IP2LOCATION-LITE-DB1.CSV" });
  const delimiter = input("csv-delimiter", { class: "w-tiny", value: "," });
  const header = input("csv-header", { type: "checkbox" });
  const blocks4 = input("blocks-v4", { class: "w-path", placeholder: "GeoLite2-Country-Blocks-IPv4.csv" });
  const blocks6 = input("blocks-v6", { class: "w-path", placeholder: "GeoLite2-Country-Blocks-IPv6.csv (optional)" });
  const locations = input("locations", { class: "w-path", placeholder: "GeoLite2-Country-Locations-en.csv" });
  const colStart = select("col-start", []);
  const colEnd = select("col-end", []);
  const colResult = select("col-result", []);
  const spec = h("strong", { id: "col-spec" }, "–");
  const replace = h("input", { type: "radio", name: "geo-mode", id: "mode-replace", value: "replace", checked: true });
  const append = h("input", { type: "radio", name: "geo-mode", id: "mode-append", value: "append" });
  const preview = h("div", { class: "table-wrap preview-wrap", id: "preview" }, h("div", { class: "muted pad" }, "Choose a file to see its first rows."));
  const bar = h("progress", { id: "import-progress", max: 100, value: 0 });
  const barText = h("span", { id: "import-progress-text" });
  const summary = h("div", { id: "import-summary", class: "summary" });
  const importBtn = button("Import", { id: "btn-start-import", primary: true, onClick: () => void start() });

  const browse = (target: HTMLInputElement, title: string, after?: () => void) =>
    button("Browse…", {
      id: `btn-browse-${target.id}`,
      onClick: () =>
        void api
          .pickCsvFile(title)
          .then((p) => {
            if (p) {
              target.value = p;
              after?.();
            }
          })
          .catch((e) => strip.error(`Cannot show the file dialog: ${errorText(e)}`)),
    });
  const line = (...c: (HTMLElement | string)[]) => h("div", { class: "field-line" }, c);
  const choice = (control: HTMLInputElement, label: string) => h("div", { class: "field-line check choice" }, control, h("label", { for: control.id }, label));

  const csvPart = h(
    "div",
    { id: "csv-part", class: "wizard-part" },
    line(h("label", { for: csvFile.id, class: "inline-label" }, "File:"), csvFile, browse(csvFile, "GeoIP CSV file", () => void loadPreview())),
    line(
      h("label", { for: delimiter.id, class: "inline-label" }, "Columns separated by:"),
      delimiter,
      h("div", { class: "field-line check" }, header, h("label", { for: header.id }, "The first row is a header")),
    ),
    h("div", { class: "subhead" }, "The first rows of the file:"),
    preview,
    line(
      h("label", { for: colStart.id, class: "inline-label" }, "Range start:"),
      colStart,
      h("label", { for: colEnd.id, class: "inline-label" }, "Range end:"),
      colEnd,
      h("label", { for: colResult.id, class: "inline-label" }, "Result (tag):"),
      colResult,
      h("span", { class: "inline-label" }, "Column spec:"),
      spec,
    ),
  );
  const litePart = h(
    "div",
    { id: "geolite2-part", class: "wizard-part", hidden: true },
    line(h("label", { for: blocks4.id, class: "inline-label w-label" }, "IPv4 blocks:"), blocks4, browse(blocks4, "GeoLite2 IPv4 blocks file")),
    line(h("label", { for: blocks6.id, class: "inline-label w-label" }, "IPv6 blocks:"), blocks6, browse(blocks6, "GeoLite2 IPv6 blocks file")),
    line(h("label", { for: locations.id, class: "inline-label w-label" }, "Locations:"), locations, browse(locations, "GeoLite2 locations file")),
    h("div", { class: "hint" }, "Country or City files from MaxMind; the tag of each network is its country's ISO code (GB, DE, …)."),
  );

  f.body.append(
    group("1. What to import", choice(kindCsv, "A CSV file of address ranges (GeoIP Country CSV, IP2Location, your own list)"), choice(kindLite, "MaxMind GeoLite2 CSV (blocks and locations files)")),
    group("2. The file", serviceFilesNote("geoip-service-note"), csvPart, litePart),
    group(
      "3. Import",
      choice(replace, "Replace all GeoIP data (the server switches to the new data in one step)"),
      choice(append, "Add to the data already there"),
      h("div", { class: "import-line" }, importBtn, bar, barText),
      summary,
    ),
  );
  fillBar(f.bar, [], [button("Close", { id: "btn-close", onClick: () => void closeWindow() })]);

  function updateKind(): void {
    csvPart.hidden = !kindCsv.checked;
    litePart.hidden = kindCsv.checked;
  }
  for (const k of [kindCsv, kindLite]) k.addEventListener("change", updateKind);

  function updateSpec(): void {
    text(spec, colStart.value && colEnd.value && colResult.value ? `${colStart.value}${colEnd.value}${colResult.value}` : "–");
  }
  for (const s of [colStart, colEnd, colResult]) s.addEventListener("change", updateSpec);

  /** Fills the preview and guesses the columns: the first two that hold addresses, then the first text column after them. */
  async function loadPreview(): Promise<void> {
    if (!csvFile.value.trim()) return;
    try {
      const rows = await api.geoipPreview(csvFile.value, delimiter.value);
      const width = Math.min(9, Math.max(0, ...rows.map((r) => r.length)));
      const head = h("tr", null, Array.from({ length: width }, (_, i) => h("th", null, `Column ${i + 1}`)));
      const body = rows.map((r) => h("tr", null, Array.from({ length: width }, (_, i) => h("td", { title: r[i] ?? "" }, r[i] ?? ""))));
      preview.replaceChildren(h("table", { class: "grid", id: "preview-table" }, h("thead", null, head), h("tbody", null, body)));
      const options = Array.from({ length: width }, (_, i) => h("option", { value: String(i + 1) }, `Column ${i + 1}`));
      for (const s of [colStart, colEnd, colResult]) s.replaceChildren(...options.map((o) => o.cloneNode(true) as HTMLOptionElement));
      const sample = rows.find((r) => r.some((c) => /^\d{1,3}(\.\d{1,3}){3}$|:|^\d{6,}$/.test(c.trim()))) ?? rows[0] ?? [];
      const isAddr = (c: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(c.trim()) || /^[0-9a-f:]+:[0-9a-f:]*$/i.test(c.trim()) || /^\d+$/.test(c.trim());
      const addrCols = sample.map((c, i) => (isAddr(c) ? i : -1)).filter((i) => i >= 0);
      const start = addrCols[0] ?? 0;
      const end = addrCols[1] ?? Math.min(1, width - 1);
      const textCols = sample.map((c, i) => (i > end && /^[A-Za-z][A-Za-z0-9 _-]*$/.test(c.trim()) ? i : -1)).filter((i) => i >= 0);
      colStart.value = String(start + 1);
      colEnd.value = String(end + 1);
      colResult.value = String((textCols[0] ?? Math.min(end + 1, width - 1)) + 1);
      updateSpec();
      strip.clear();
    } catch (e) {
      strip.error(`Cannot read the file: ${errorText(e)}`);
    }
  }
  delimiter.addEventListener("change", () => void loadPreview());
  csvFile.addEventListener("change", () => void loadPreview());

  function renderState(s: ImportState): void {
    const p = s.progress;
    if (p && p.bytes_total > 0) bar.value = Math.round((p.bytes_read * 100) / p.bytes_total);
    if (s.running) {
      text(barText, `${formatNumber(p?.rows ?? 0)} rows read…`);
      return;
    }
    importBtn.disabled = false;
    if (s.error) {
      text(barText, "");
      summary.replaceChildren(h("div", { class: "problem" }, s.error));
    } else if (s.report) {
      const r = s.report;
      bar.value = 100;
      text(barText, "Done.");
      const bad = r.bad_rows.map((b) => h("li", null, h("span", { class: "line-no" }, `line ${formatNumber(b.line)}`), b.message));
      summary.replaceChildren(
        h(
          "div",
          { class: "summary-line", id: "import-result" },
          `${r.replaced ? "Imported" : "Added"} ${formatNumber(r.v4_rows)} IPv4 and ${formatNumber(r.v6_rows)} IPv6 ranges in ${(r.millis / 1000).toFixed(1)} s. `,
          r.skipped ? `${formatNumber(r.skipped)} bad row${r.skipped === 1 ? "" : "s"} skipped${r.skipped > r.bad_rows.length ? ` (the first ${r.bad_rows.length} listed)` : ""}.` : "No bad rows.",
          r.header ? " A header row was skipped." : "",
        ),
        bad.length ? h("ul", { class: "bad-rows selectable", id: "bad-rows" }, bad) : "",
      );
    }
  }

  let watching: (() => void) | null = null;
  async function start(): Promise<void> {
    const kind = kindCsv.checked ? "columns" : "geolite2";
    const files = kind === "columns" ? [csvFile.value] : [blocks4.value, blocks6.value, locations.value].filter((x) => x.trim());
    await busy([importBtn], async () => {
      try {
        summary.replaceChildren();
        bar.value = 0;
        await api.startGeoipImport({ kind, files, columns: spec.textContent ?? "", delimiter: delimiter.value, skip_header: header.checked, append: append.checked });
        importBtn.disabled = true;
        watching?.();
        watching = watch(["data"], async () => {
          const s = (await api.getGeoipStatus()).import;
          renderState(s);
          if (!s.running) {
            watching?.();
            watching = null;
          }
        });
      } catch (e) {
        const m = fieldMessages(e);
        strip.error(m.size ? [...m.values()].join("; ") : `The import did not start: ${errorText(e)}`);
      }
    });
  }

  const stopEscape = closeOnEscape(closeWindow);
  app.replaceChildren(f.root);
  return () => {
    stopEscape();
    watching?.();
  };
}
