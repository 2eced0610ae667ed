import { api, closeWindow, errorText, guardWindowClose } from "../api";
import type { Params } from "../bindings/Params";
import type { ScriptFile } from "../bindings/ScriptFile";
import type { ScriptTestResult } from "../bindings/ScriptTestResult";
import { formatNumber, SERVICE_LABELS } from "../format";
import { tokenizeLua } from "../lua";
import { busy, button, fillBar, Strip } from "../widgets/buttons";
import { CodeEditor } from "../widgets/code-editor";
import { confirmDialog, openDialog } from "../widgets/dialog";
import { watch } from "../changes";
import { closeOnEscape, frame, h, text } from "../widgets/dom";
import { FieldErrors, grid, group, input, integer, row, select } from "../widgets/form";
import { EXAMPLES } from "./bandwidth-examples";
import { luaError, luaErrorText, showScriptStatus } from "./pools";

const WIDE = Number.MAX_SAFE_INTEGER;

/** The Test panel's inputs, one per GetBandwidth parameter, filled in as a POP3 connection from outside. */
function testControls() {
  const num = (id: string, value: string) => input(`test-${id}`, { value, inputmode: "numeric", class: "num" });
  const servertype = select("test-servertype", [["SMTP", "SMTP"], ["POP3", "POP3"], ["IMAP4", "IMAP4"]]);
  servertype.value = "POP3";
  return {
    clientip: input("test-clientip", { value: "203.0.113.5" }),
    serveraddress: input("test-serveraddress", { value: "192.168.1.10" }),
    serverport: num("serverport", "110"),
    servertype,
    serverid: input("test-serverid", { value: "pop3", list: "test-serverid-list" }),
    serverbandwidth: num("serverbandwidth", "0"),
    bandwidth: num("bandwidth", "0"),
    username: input("test-username", { placeholder: "empty until a login" }),
    usernumber: num("usernumber", "0"),
    userbandwidth: num("userbandwidth", "0"),
    at: input("test-at", { type: "datetime-local" }),
  };
}
type TestControls = ReturnType<typeof testControls>;

/** The parameters as typed; a field that is not a whole number in range gets a message in `local`. */
function collectParams(c: TestControls, local: Map<string, string>): { params: Params; at: number | null } {
  const int = (key: keyof TestControls, min = -WIDE, max = WIDE): number => {
    const v = integer(c[key].value, min, max);
    if (typeof v === "string") local.set(key, v);
    return typeof v === "number" ? v : 0;
  };
  const params: Params = {
    clientip: c.clientip.value.trim(),
    serveraddress: c.serveraddress.value.trim(),
    serverport: int("serverport", 0, 65535),
    servertype: c.servertype.value,
    serverid: c.serverid.value.trim(),
    serverbandwidth: int("serverbandwidth"),
    bandwidth: int("bandwidth"),
    username: c.username.value.trim(),
    usernumber: int("usernumber"),
    userbandwidth: int("userbandwidth"),
  };
  let at: number | null = null;
  if (c.at.value) {
    at = Math.floor(new Date(c.at.value).getTime() / 1000);
    if (Number.isNaN(at)) local.set("at", "enter a date and time, or leave it empty for now");
  }
  return { params, at };
}

function formatMicros(micros: number): string {
  if (micros < 1) return "under 1 µs";
  return micros < 1000 ? `${Math.round(micros)} µs` : `${formatNumber(Math.round(micros / 100) / 10)} ms`;
}

/** "Returns -2 → Bandwidth Pool 2 "Evening" (50,000 bytes per second) in 14 µs", or the error. */
function renderResult(el: HTMLElement, r: ScriptTestResult): void {
  el.classList.toggle("problem", r.value === null);
  if (r.value !== null) {
    const meaning = (r.meaning ?? "").replace(/\d{4,}(?= bytes per second)/g, (n) => formatNumber(Number(n)));
    el.replaceChildren("Returns ", h("strong", null, String(r.value)), ` → ${meaning} in ${formatMicros(r.micros)}`);
  } else {
    const e = luaError(r.error ?? "GetBandwidth gave no usable value");
    const line = r.line ?? e.line;
    el.replaceChildren(line ? `Error on line ${line}: ${e.text}` : e.text);
  }
}

/** The bandwidth.lua editor: colours and line numbers, a syntax check, the VPOP3 examples and a Test panel. */
export function mountBandwidthScript(app: HTMLElement): () => void {
  const f = frame("bandwidth.lua", "script-window");
  const strip = new Strip(f.strip);
  const editor = new CodeEditor("script-text", "bandwidth.lua", tokenizeLua);
  editor.textarea.placeholder = "No bandwidth.lua yet: write function GetBandwidth(params) … end, or insert an example.";
  let saved = "";
  let loaded = false;

  const path = h("span", { id: "script-path", class: "path selectable" }, "…");
  const status = h("span", { id: "script-status", class: "script-status" });
  const dirtyMark = h("span", { id: "script-dirty", class: "dirty-mark", hidden: true }, "● Not saved");
  const caret = h("span", { id: "script-caret", class: "caret-pos" });
  const example = select("script-example", [["", "Insert example…"], ...EXAMPLES.map((e): [string, string] => [e.id, e.title])]);
  const saveBtn = button("Save", { id: "btn-save", primary: true, disabled: true, title: "Ctrl+S", onClick: () => void save() });
  const checkBtn = button("Check syntax", { id: "btn-check", onClick: () => void check() });
  const revertBtn = button("Reload from disk", { id: "btn-revert", onClick: () => void revert() });
  const closeBtn = button("Close", { id: "btn-close", onClick: () => void close() });

  const t = testControls();
  const testKeys = Object.keys(t) as (keyof TestControls)[];
  const testErrors = new FieldErrors();
  for (const key of testKeys) testErrors.register(key, t[key]);
  const result = h("div", { id: "test-result", class: "test-result", "aria-live": "polite" }, "Fill in a connection and run GetBandwidth.");
  const runBtn = button("Run GetBandwidth", { id: "btn-run-test", onClick: () => void runTest() });
  const testPanel = h(
    "aside",
    { class: "test-panel" },
    group(
      "Test",
      h("p", { class: "hint top" }, "Runs the script in the editor, saved or not. Bandwidth figures: 0 no limit, N bytes per second, −K pool K."),
      grid(...testKeys.map((key) => (key === "at" ? row("Date and time:", t.at, [], "Empty: now. os.date and os.time see this moment.") : row(key, t[key])))),
      h("datalist", { id: "test-serverid-list" }, Object.keys(SERVICE_LABELS).map((k) => h("option", { value: k }))),
      h("div", { class: "test-run" }, runBtn),
      result,
    ),
  );

  f.body.append(
    h("div", { class: "script-head" }, h("span", { class: "muted" }, "File: "), path, dirtyMark),
    h("div", { class: "script-status-line" }, status),
    h("div", { class: "script-toolbar" }, checkBtn, revertBtn, example, h("span", { class: "spacer" }), caret),
    h("div", { class: "script-main" }, editor.el, testPanel),
  );
  fillBar(f.bar, [h("span", { class: "footer-info" }, "Ctrl+S saves · Tab indents · Shift+Tab leaves the editor")], [saveBtn, closeBtn]);

  const isDirty = () => loaded && editor.value !== saved;
  /** Set once the admin has chosen to close: the close request that follows is let through. */
  let leaving = false;
  editor.onChange = () => {
    dirtyMark.hidden = !isDirty();
  };
  editor.onCaret = () => {
    const c = editor.caret();
    text(caret, `Ln ${c.line}, Col ${c.column}`);
  };

  function showFile(file: ScriptFile): void {
    text(path, file.status.path || "bandwidth.lua");
    showScriptStatus(status, file.status);
  }

  async function load(): Promise<void> {
    try {
      const file = await api.getBandwidthScript();
      saved = file.text;
      loaded = true;
      editor.value = file.text;
      showFile(file);
      saveBtn.disabled = false;
      editor.onCaret();
    } catch (e) {
      strip.error(`Cannot read bandwidth.lua: ${errorText(e)}`);
    }
  }

  function markError(line: number | null): void {
    editor.markLine(line);
    if (line) editor.goToLine(line);
  }

  /** Saves the editor's text; the file it gives back (with the server's verdict on it), or null if nothing was saved. */
  async function save(): Promise<ScriptFile | null> {
    if (!loaded) return null;
    const text = editor.value;
    return busy([saveBtn, revertBtn], async () => {
      try {
        const file = await api.saveBandwidthScript(text);
        saved = text;
        editor.onChange();
        showFile(file);
        const bad = file.status.compile_error;
        if (bad) {
          const keeping = file.status.active ? "The previous script keeps running." : "Each service's own setting applies.";
          strip.error(`Saved, but it does not compile: ${luaErrorText(bad)}. ${keeping}`);
          markError(luaError(bad).line);
        } else {
          strip.info("Saved. The server uses it from the next connection.");
        }
        return file;
      } catch (e) {
        strip.error(`bandwidth.lua was not saved: ${errorText(e)}`);
        return null;
      }
    });
  }

  async function check(): Promise<void> {
    await busy([checkBtn], async () => {
      try {
        const r = await api.checkBandwidthScript(editor.value);
        if (r.ok) {
          editor.markLine(null);
          strip.info("No syntax errors.");
        } else {
          const e = luaError(r.error ?? "the script cannot be compiled");
          const line = r.line ?? e.line;
          strip.error(line ? `Syntax error on line ${line}: ${e.text}` : e.text);
          markError(line);
        }
      } catch (e) {
        strip.error(`Cannot check the script: ${errorText(e)}`);
      }
    });
  }

  async function revert(): Promise<void> {
    if (isDirty() && !(await confirmDialog("Reload from disk", ["Your changes are lost: the editor gets bandwidth.lua as it is on disk."], "Reload"))) return;
    await load();
    strip.info("bandwidth.lua reloaded from disk.");
  }

  async function insertExample(): Promise<void> {
    const ex = EXAMPLES.find((e) => e.id === example.value);
    example.value = "";
    if (!ex) return;
    if (isDirty() && !(await confirmDialog("Insert example", [`Replace the editor's text with "${ex.title}"? Ctrl+Z brings your text back.`], "Replace"))) return;
    editor.replaceAll(ex.text);
    strip.info(`Example inserted: ${ex.title}. It is used once you save it.`);
  }

  async function runTest(): Promise<void> {
    const local = new Map<string, string>();
    const { params, at } = collectParams(t, local);
    testErrors.show(local);
    if (local.size) return testErrors.focusFirst();
    await busy([runBtn], async () => {
      try {
        const r = await api.testBandwidthScript({ source: editor.value, params, at });
        renderResult(result, r);
        editor.markLine(r.line ?? (r.error ? luaError(r.error).line : null));
      } catch (e) {
        result.classList.add("problem");
        result.replaceChildren(`The test did not run: ${errorText(e)}`);
      }
    });
  }

  /** Closes the window, asking first when the text has changes that are not saved. */
  async function close(): Promise<void> {
    if (document.getElementById("unsaved-dialog")) return;
    if (!isDirty()) {
      leaving = true;
      return void (await closeWindow());
    }
    let leave = false;
    const d = openDialog({
      id: "unsaved-dialog",
      title: "bandwidth.lua",
      width: 440,
      body: [h("div", { class: "message" }, h("div", { class: "message-icon warn", "aria-hidden": "true" }, "?"), h("div", null, "Save your changes to bandwidth.lua before closing?"))],
      buttons: [
        {
          id: "btn-unsaved-save",
          label: "Save",
          primary: true,
          action: async () => {
            // Stay when it was not saved, or saved but does not compile, so the message can be read.
            const file = await save();
            leave = file !== null && !file.status.compile_error;
          },
        },
        { id: "btn-unsaved-discard", label: "Don't Save", action: () => void (leave = true) },
        { id: "btn-unsaved-cancel", label: "Cancel", cancel: true },
      ],
    });
    await d.closed;
    if (leave) {
      leaving = true;
      await closeWindow();
    }
  }

  example.addEventListener("change", () => void insertExample());
  const onKey = (ev: KeyboardEvent) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s" && !document.querySelector(".modal-backdrop")) {
      ev.preventDefault();
      void save();
    }
  };
  const onUnload = (ev: BeforeUnloadEvent) => {
    if (isDirty()) ev.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", onUnload);
  const stopEscape = closeOnEscape(close);
  // The title bar's close button asks too.
  const stopGuard = guardWindowClose(() => !leaving && isDirty(), () => void close());

  let statusFailing = false;
  const stopPoll = watch(["bandwidth"], async () => {
    if (!loaded) return;
    try {
      showScriptStatus(status, (await api.getBandwidthLive()).script);
      statusFailing = false;
    } catch (e) {
      if (!statusFailing) strip.error(`Cannot read the script's state: ${errorText(e)}`);
      statusFailing = true;
    }
  });

  app.replaceChildren(f.root);
  void load().then(() => editor.focus());
  return () => {
    stopPoll();
    stopEscape();
    stopGuard();
    document.removeEventListener("keydown", onKey);
    window.removeEventListener("beforeunload", onUnload);
  };
}
