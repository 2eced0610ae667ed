//! The GUI contract, written from Rust so that it is written once. The windows' commands are the engine's
//! admin calls (the public functions in `src-tauri/engine/src/admin/calls/*.rs`) and the desktop shell's
//! own `#[tauri::command]` functions in `src-tauri/src/commands/*.rs`; the windows are `WindowName` in
//! `src-tauri/src/windows.rs`; the types are the engine's, exported to `ui/src/bindings/` by ts-rs. From
//! those this crate writes:
//!
//! - `src-tauri/engine/src/admin/dispatch.rs`: `CALLS` and `dispatch` (a call by name, its arguments from
//!   JSON), which answer the desktop in-process and the admin socket alike;
//! - `src-tauri/src/commands/handlers.rs`: the `tauri::generate_handler!` list of the desktop's own
//!   commands (commands/mod.rs includes it), so a command is registered by writing it;
//! - `ui/src/commands.ts`: one typed function per command (arguments in camelCase, as Tauri converts them;
//!   every type imported from the bindings), `WindowName` and `WINDOW_NAMES`;
//! - the command table of `docs/gui-contract.md`, between its `GENERATED COMMANDS` markers, from each
//!   command's `///` documentation (a command without one is an error).
//!
//! `cargo run -p postroom-contract` rewrites them; the test below fails while a committed file differs from
//! what the code says (and rewrites it, so that running the tests again after a commit passes).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use quote::ToTokens;

const COMMANDS_DIR: &str = "src-tauri/src/commands";
const CALLS_DIR: &str = "src-tauri/engine/src/admin/calls";
const DISPATCH_FILE: &str = "src-tauri/engine/src/admin/dispatch.rs";
const WINDOWS_FILE: &str = "src-tauri/src/windows.rs";
const BINDINGS_DIR: &str = "ui/src/bindings";
const HANDLERS_FILE: &str = "src-tauri/src/commands/handlers.rs";
const TS_FILE: &str = "ui/src/commands.ts";
const DOC_FILE: &str = "docs/gui-contract.md";
const DOC_BEGIN: &str = "<!-- BEGIN GENERATED COMMANDS: postroom-contract writes this table from the Rust commands -->";
const DOC_END: &str = "<!-- END GENERATED COMMANDS -->";

/// Parameters Tauri fills in itself: not part of what the UI sends.
const INJECTED: [&str; 5] = ["State", "AppHandle", "Window", "WebviewWindow", "Webview"];

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} does not parse as Rust: {reason}")]
    Parse { path: String, reason: String },
    #[error("command {0} has no /// documentation: say what it does and returns (it goes into {DOC_FILE})")]
    Undocumented(String),
    #[error("command {command}: the type `{ty}` has no TypeScript form here (add it to postroom-contract's mapping)")]
    UnknownType { command: String, ty: String },
    #[error("command {command}: `{name}` has no binding in {BINDINGS_DIR}: export it with ts-rs (engine's export_bindings)")]
    NoBinding { command: String, name: String },
    #[error("{WINDOWS_FILE} has no `enum WindowName` with #[serde(rename_all = \"lowercase\")]")]
    NoWindows,
    #[error("{DOC_FILE} lacks the markers {DOC_BEGIN} … {DOC_END}")]
    NoMarkers,
    #[error("two commands are called {0}")]
    Duplicate(String),
}

/// One generated file: its path from the project root and its whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub path: &'static str,
    pub text: String,
}

impl Generated {
    pub fn is_current(&self, root: &Path) -> bool {
        std::fs::read_to_string(root.join(self.path)).is_ok_and(|t| t == self.text)
    }

    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        std::fs::write(root.join(self.path), &self.text)
    }
}

/// The project's root (this crate lives in `src-tauri/contract`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One command the windows call: an engine call (a public function in the engine's admin/calls/) or a
/// desktop command (a `#[tauri::command]` in the shell's commands/).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Command {
    /// The file it is in (`users` for commands/users.rs), as the handler list names it.
    module: String,
    /// How it runs: in the desktop shell, or as an engine call (local or over the admin socket).
    kind: Kind,
    name: String,
    doc: String,
    /// (Rust name, TypeScript type) of each argument the UI sends.
    args: Vec<(String, String)>,
    /// TypeScript type of what it resolves with.
    returns: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Desktop,
    Call { takes_engine: bool, is_async: bool, fallible: bool },
}

/// Everything generated, in a fixed order.
pub fn generate(root: &Path) -> Result<Vec<Generated>, ContractError> {
    let bindings = root.join(BINDINGS_DIR);
    let mut used = BTreeSet::new();
    let mut commands = read_commands(&root.join(CALLS_DIR), &bindings, &mut used, true)?;
    for c in read_commands(&root.join(COMMANDS_DIR), &bindings, &mut used, false)? {
        if commands.iter().any(|k| k.name == c.name) {
            return Err(ContractError::Duplicate(c.name));
        }
        commands.push(c);
    }
    let windows = read_windows(&root.join(WINDOWS_FILE))?;
    let doc_path = root.join(DOC_FILE);
    let doc = std::fs::read_to_string(&doc_path).map_err(|source| ContractError::Read { path: DOC_FILE.into(), source })?;
    Ok(vec![
        Generated { path: HANDLERS_FILE, text: handlers_rs(&commands) },
        Generated { path: DISPATCH_FILE, text: dispatch_rs(&commands) },
        Generated { path: TS_FILE, text: commands_ts(&commands, &windows, &used) },
        Generated { path: DOC_FILE, text: doc_with_table(&doc, &commands)? },
    ])
}

fn read(path: &Path) -> Result<syn::File, ContractError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read { path: shown.clone(), source })?;
    syn::parse_file(&text).map_err(|e| ContractError::Parse { path: shown, reason: e.to_string() })
}

/// The commands of one folder: with `calls`, every public function of the engine's admin/calls/; else
/// every `#[tauri::command]` of the shell's commands/.
fn read_commands(dir: &Path, bindings: &Path, used: &mut BTreeSet<String>, calls: bool) -> Result<Vec<Command>, ContractError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| ContractError::Read { path: dir.display().to_string(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && p.file_stem().is_some_and(|s| s != "mod" && s != "handlers"))
        .collect();
    files.sort();
    let mut commands = Vec::new();
    for path in files {
        let module = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        for item in read(&path)?.items {
            let syn::Item::Fn(f) = item else { continue };
            let wanted = if calls { matches!(f.vis, syn::Visibility::Public(_)) } else { f.attrs.iter().any(is_command_attr) };
            if !wanted {
                continue;
            }
            let name = f.sig.ident.to_string();
            if commands.iter().any(|c: &Command| c.name == name) {
                return Err(ContractError::Duplicate(name));
            }
            let doc = doc_text(&f.attrs);
            if doc.is_empty() {
                return Err(ContractError::Undocumented(name));
            }
            let mut ts = TypeMap { command: &name, bindings, used: &mut *used };
            let mut args = Vec::new();
            let mut takes_engine = false;
            for input in &f.sig.inputs {
                let syn::FnArg::Typed(arg) = input else { continue };
                if last_ident(&arg.ty).is_some_and(|i| INJECTED.contains(&i.as_str())) {
                    continue;
                }
                if calls && last_ident(&arg.ty).as_deref() == Some("Engine") {
                    takes_engine = true;
                    continue;
                }
                let arg_name = arg.pat.to_token_stream().to_string();
                args.push((arg_name, ts.map(&arg.ty)?));
            }
            let returns = match &f.sig.output {
                syn::ReturnType::Default => "void".to_string(),
                syn::ReturnType::Type(_, ty) => ts.map(unwrap_result(ty))?,
            };
            let kind = if calls {
                let fallible = match &f.sig.output {
                    syn::ReturnType::Type(_, ty) => matches!(last_ident(ty).as_deref(), Some("ApiResult" | "Result")),
                    syn::ReturnType::Default => false,
                };
                Kind::Call { takes_engine, is_async: f.sig.asyncness.is_some(), fallible }
            } else {
                Kind::Desktop
            };
            commands.push(Command { module: module.clone(), kind, name, doc, args, returns });
        }
    }
    Ok(commands)
}

fn is_command_attr(a: &syn::Attribute) -> bool {
    let segments: Vec<String> = a.path().segments.iter().map(|s| s.ident.to_string()).collect();
    segments == ["tauri", "command"] || segments == ["command"]
}

/// The `///` lines, joined; blank lines kept as paragraph breaks.
fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_string()
}

fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => last_ident(&r.elem),
        _ => None,
    }
}

fn first_generic(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// `ApiResult<T>` and `Result<T, E>` resolve with `T` (and reject with an `ApiError`).
fn unwrap_result(ty: &syn::Type) -> &syn::Type {
    match last_ident(ty).as_deref() {
        Some("ApiResult" | "Result") => first_generic(ty).unwrap_or(ty),
        _ => ty,
    }
}

/// Rust types as TypeScript sees them after serde: the engine's own types by their ts-rs binding.
struct TypeMap<'a> {
    command: &'a str,
    bindings: &'a Path,
    used: &'a mut BTreeSet<String>,
}

impl TypeMap<'_> {
    fn map(&mut self, ty: &syn::Type) -> Result<String, ContractError> {
        let unknown = || ContractError::UnknownType { command: self.command.to_string(), ty: ty.to_token_stream().to_string() };
        if let syn::Type::Tuple(t) = ty {
            return if t.elems.is_empty() { Ok("void".into()) } else { Err(unknown()) };
        }
        if let syn::Type::Reference(r) = ty {
            return self.map(&r.elem);
        }
        let ident = last_ident(ty).ok_or_else(unknown)?;
        Ok(match ident.as_str() {
            "String" | "str" | "PathBuf" | "Path" | "char" => "string".into(),
            "bool" => "boolean".into(),
            "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" | "f32" | "f64" => "number".into(),
            "Option" => format!("{} | null", self.map(first_generic(ty).ok_or_else(unknown)?)?),
            "Vec" => {
                let inner = self.map(first_generic(ty).ok_or_else(unknown)?)?;
                if inner.contains(' ') {
                    format!("({inner})[]")
                } else {
                    format!("{inner}[]")
                }
            }
            // Written into commands.ts itself, from windows.rs.
            "WindowName" => "WindowName".into(),
            name if name.chars().next().is_some_and(char::is_uppercase) => {
                if !self.bindings.join(format!("{name}.ts")).exists() {
                    return Err(ContractError::NoBinding { command: self.command.to_string(), name: name.to_string() });
                }
                self.used.insert(name.to_string());
                name.to_string()
            }
            _ => return Err(unknown()),
        })
    }
}

/// The windows' names as the UI and `open_window` spell them.
fn read_windows(path: &Path) -> Result<Vec<String>, ContractError> {
    for item in read(path)?.items {
        let syn::Item::Enum(e) = item else { continue };
        if e.ident != "WindowName" {
            continue;
        }
        let lowercase = e.attrs.iter().any(|a| a.path().is_ident("serde") && a.to_token_stream().to_string().contains("rename_all = \"lowercase\""));
        if !lowercase {
            return Err(ContractError::NoWindows);
        }
        return Ok(e.variants.iter().map(|v| v.ident.to_string().to_lowercase()).collect());
    }
    Err(ContractError::NoWindows)
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn handlers_rs(commands: &[Command]) -> String {
    let mut out = String::from(
        "// Generated by postroom-contract from the #[tauri::command] functions in this folder: do not edit.\n\
         // `cargo run -p postroom-contract` rewrites it; commands/mod.rs includes it.\n\
         tauri::generate_handler![\n",
    );
    for c in commands.iter().filter(|c| c.kind == Kind::Desktop) {
        out.push_str(&format!("    {}::{},\n", c.module, c.name));
    }
    out.push_str("]\n");
    out
}

/// The engine's `dispatch`: each call by name, its arguments taken from the JSON object by their camelCase
/// names (their types inferred from the call), blocking calls on the blocking pool, the answer as JSON.
fn dispatch_rs(commands: &[Command]) -> String {
    let calls: Vec<&Command> = commands.iter().filter(|c| c.kind != Kind::Desktop).collect();
    let mut out = String::from(
        "// Generated by postroom-contract from the functions in admin/calls/: do not edit.\n\
         // `cargo run -p postroom-contract` rewrites it.\n\
         \n\
         use serde_json::Value;\n\
         \n\
         use super::{answer, arg, arguments, blocking, calls, no_more};\n\
         use crate::engine::Engine;\n\
         use crate::error::{ApiError, ApiResult};\n\
         \n\
         /// Every call's name.\n\
         pub const CALLS: &[&str] = &[\n",
    );
    for c in &calls {
        out.push_str(&format!("    \"{}\",\n", c.name));
    }
    out.push_str(
        "];\n\
         \n\
         /// Answers one call: its arguments are a JSON object with camelCase keys (null for none).\n\
         #[allow(unused_mut, clippy::unit_arg)]\n\
         pub async fn dispatch(engine: &Engine, call: &str, args: Value) -> ApiResult<Value> {\n\
         \x20   let mut a = arguments(args)?;\n\
         \x20   match call {\n",
    );
    for c in calls {
        let Kind::Call { takes_engine, is_async, fallible } = c.kind else { continue };
        out.push_str(&format!("        \"{}\" => {{\n", c.name));
        let mut params = Vec::new();
        for (n, _) in &c.args {
            out.push_str(&format!("            let {n} = arg(&mut a, \"{}\")?;\n", camel(n)));
            params.push(n.clone());
        }
        out.push_str("            no_more(&a)?;\n");
        let path = format!("calls::{}::{}", c.module, c.name);
        let wrap = |call: String| if fallible { call } else { format!("Ok({call})") };
        if is_async {
            if takes_engine {
                params.insert(0, "engine".into());
            }
            out.push_str(&format!("            answer({})\n", wrap(format!("{path}({}).await", params.join(", ")))));
        } else {
            if takes_engine {
                out.push_str("            let e = engine.clone();\n");
                params.insert(0, "&e".into());
            }
            out.push_str(&format!("            answer(blocking(move || {}).await)\n", wrap(format!("{path}({})", params.join(", ")))));
        }
        out.push_str("        }\n");
    }
    out.push_str(
        "        _ => Err(ApiError::not_found(format!(\"there is no call named {call}\"))),\n\
         \x20   }\n\
         }\n",
    );
    out
}

fn commands_ts(commands: &[Command], windows: &[String], used: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "// Generated by postroom-contract from src-tauri/src/commands/*.rs and src-tauri/src/windows.rs: do not\n\
         // edit. `cargo run -p postroom-contract` rewrites it; the test suite fails while it is out of date.\n\
         import { call } from \"./ipc\";\n",
    );
    for name in used {
        out.push_str(&format!("import type {{ {name} }} from \"./bindings/{name}\";\n"));
    }
    out.push_str("\n/** Every window the app opens (`WindowName` in src-tauri/src/windows.rs). */\n");
    let quoted: Vec<String> = windows.iter().map(|w| format!("\"{w}\"")).collect();
    out.push_str(&format!("export type WindowName = {};\n", quoted.join(" | ")));
    out.push_str(&format!("export const WINDOW_NAMES: readonly WindowName[] = [{}];\n", quoted.join(", ")));
    out.push_str("\n/** The desktop shell's commands; each rejects with an `ApiError`. */\nexport const commands = {\n");
    for c in commands {
        out.push_str("  /**\n");
        for line in c.doc.lines() {
            out.push_str(&format!("   *{}{}\n", if line.is_empty() { "" } else { " " }, line.replace("*/", "* /")));
        }
        out.push_str("   */\n");
        let params: Vec<String> = c.args.iter().map(|(n, t)| format!("{}: {t}", camel(n))).collect();
        let sent: Vec<String> = c.args.iter().map(|(n, _)| camel(n)).collect();
        let args = if sent.is_empty() { String::new() } else { format!(", {{ {} }}", sent.join(", ")) };
        out.push_str(&format!(
            "  {}: ({}): Promise<{}> => call<{}>(\"{}\"{args}),\n",
            camel(&c.name),
            params.join(", "),
            c.returns,
            c.returns,
            c.name
        ));
    }
    out.push_str("};\n");
    out
}

fn doc_with_table(doc: &str, commands: &[Command]) -> Result<String, ContractError> {
    let (Some(begin), Some(end)) = (doc.find(DOC_BEGIN), doc.find(DOC_END)) else { return Err(ContractError::NoMarkers) };
    if end < begin {
        return Err(ContractError::NoMarkers);
    }
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut table = format!("{DOC_BEGIN}\n\n| command | arguments | returns | what it does |\n|---|---|---|---|\n");
    let mut module = String::new();
    for c in commands {
        let heading = match c.kind {
            Kind::Desktop => format!("commands/{}.rs (desktop)", c.module),
            Kind::Call { .. } => format!("admin/calls/{}.rs (engine)", c.module),
        };
        if heading != module {
            module = heading;
            table.push_str(&format!("| **{module}** | | | |\n"));
        }
        let args = if c.args.is_empty() {
            "–".to_string()
        } else {
            let a: Vec<String> = c.args.iter().map(|(n, t)| format!("{}: {t}", camel(n))).collect();
            format!("`{{ {} }}`", cell(&a.join(", ")))
        };
        let paragraph = c.doc.split("\n\n").next().unwrap_or_default();
        table.push_str(&format!("| `{}` | {args} | `{}` | {} |\n", c.name, cell(&c.returns), cell(paragraph)));
    }
    table.push('\n');
    Ok(format!("{}{table}{}", &doc[..begin], &doc[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drift check: the committed handler list, TypeScript bindings and contract table are what the
    /// Rust code says. On a difference the files are rewritten and the test fails; commit them.
    #[test]
    fn the_generated_contract_files_are_current() {
        let root = project_root();
        let files = generate(&root).expect("the contract can be generated");
        let stale: Vec<&str> = files.iter().filter(|f| !f.is_current(&root)).map(|f| f.path).collect();
        for f in &files {
            if !f.is_current(&root) {
                f.write(&root).expect("the generated file can be written");
            }
        }
        assert!(stale.is_empty(), "out of date (now rewritten; review and commit them): {stale:?}");
    }

    #[test]
    fn rust_types_map_to_their_typescript_forms() {
        let dir = tempfile_dir();
        std::fs::write(dir.join("QueueEntry.ts"), "").unwrap();
        let mut used = BTreeSet::new();
        let mut ts = TypeMap { command: "c", bindings: &dir, used: &mut used };
        let ty = |s: &str| syn::parse_str::<syn::Type>(s).unwrap();
        assert_eq!(ts.map(&ty("Vec<Vec<String>>")).unwrap(), "string[][]");
        assert_eq!(ts.map(&ty("Option<Vec<QueueEntry>>")).unwrap(), "QueueEntry[] | null");
        assert_eq!(ts.map(&ty("Vec<Option<u64>>")).unwrap(), "(number | null)[]");
        assert_eq!(ts.map(unwrap_result(&ty("ApiResult<()>"))).unwrap(), "void");
        assert!(matches!(ts.map(&ty("Missing")), Err(ContractError::NoBinding { .. })));
        assert!(matches!(ts.map(&ty("(u8, u8)")), Err(ContractError::UnknownType { .. })));
        assert_eq!(used.into_iter().collect::<Vec<_>>(), ["QueueEntry"]);
        assert_eq!(camel("test_bandwidth_script"), "testBandwidthScript");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postroom-contract-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
