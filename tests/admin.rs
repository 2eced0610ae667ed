//! The admin socket of `postroomd serve`, as the desktop app attached to a service uses it: the calls the
//! windows make, answered by the service's engine over a Unix socket, with change notices on a second
//! connection; its bounds (a line too long, too many connections, garbage) and its file (mode, a stale
//! socket after kill -9, a live one never taken over).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::*;
use postroom_engine::admin::client::AdminClient;
use serde_json::{json, Value};

/// A raw line client: what the protocol promises, byte for byte.
struct Line {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Line {
    fn connect(path: &Path) -> Line {
        let stream = UnixStream::connect(path).expect("the admin socket accepts");
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Line { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    fn answer(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("an answer line");
        assert!(line.ends_with('\n'), "an answer is one whole line: {line:?}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
    }

    fn call(&mut self, id: u64, call: &str, args: Value) -> Value {
        let mut line = serde_json::to_vec(&json!({ "id": id, "call": call, "args": args })).unwrap();
        line.push(b'\n');
        self.send(&line);
        let answer = self.answer();
        assert_eq!(answer["id"], id, "the answer carries the request's id: {answer}");
        answer
    }
}

fn start(dir: &Path) -> Server {
    configure_loopback(dir);
    Server::start(dir, &[])
}

#[test]
fn the_admin_socket_is_private_and_answers_the_windows_calls_with_notices_on_a_second_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let socket = tmp.path().join("admin.sock");
    let meta = std::fs::symlink_metadata(&socket).expect("serve makes admin.sock in the data folder");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "the user running it only");

    let mut a = Line::connect(&socket);
    let who = a.call(1, "get_engine_identity", Value::Null);
    assert_eq!(who["ok"]["pid"], server.child.id(), "{who}");
    assert_eq!(who["ok"]["program"], "postroomd");
    assert_eq!(who["ok"]["data_dir"], tmp.path().display().to_string());
    assert!(who["ok"]["version"].as_str().unwrap().starts_with(env!("CARGO_PKG_VERSION")), "{who}");

    // The second session watches while the first changes something.
    let mut watcher = Line::connect(&socket);
    watcher.send(b"{\"id\":9,\"call\":\"watch\"}\n");
    assert_eq!(watcher.answer(), json!({ "id": 9, "ok": null }));

    let form = json!({ "name": "carol", "real_name": "Carol Jones", "enabled": true, "aliases": ["sales"], "password": "pass-word-1", "bandwidth": 0 });
    assert_eq!(a.call(2, "create_user", json!({ "form": form })), json!({ "id": 2, "ok": null }));
    let notice = watcher.answer();
    assert!(notice["changed"].as_array().unwrap().contains(&json!("data")), "the watcher hears of the new user: {notice}");

    // The same user, seen by the store directly and by a later call.
    assert!(ok(tmp.path(), &["user", "list"], "").contains("carol"));
    let users = a.call(3, "list_users", Value::Null);
    let carol = users["ok"].as_array().unwrap().iter().find(|u| u["name"] == "carol").expect("carol is listed");
    assert_eq!(carol["aliases"], json!(["sales"]));

    // Refusals come back as the windows know them: code, message, field.
    let twice = a.call(4, "create_user", json!({ "form": form }));
    assert_eq!(twice["error"]["code"], "invalid", "{twice}");
    assert_eq!(twice["error"]["field"], "name", "{twice}");
    let missing = a.call(5, "get_user", json!({}));
    assert_eq!(missing["error"]["code"], "invalid", "{missing}");
    assert_eq!(missing["error"]["field"], "name", "{missing}");
    let nobody = a.call(6, "get_user", json!({ "name": "nobody" }));
    assert_eq!(nobody["error"]["code"], "not_found", "{nobody}");
    let unknown = a.call(7, "format_disk", Value::Null);
    assert_eq!(unknown["error"]["code"], "not_found", "{unknown}");
    assert!(unknown["error"]["message"].as_str().unwrap().contains("format_disk"), "{unknown}");

    // Garbage is answered and the connection goes on.
    a.send(b"this is not json\n");
    let garbage = a.answer();
    assert_eq!(garbage["id"], 0);
    assert_eq!(garbage["error"]["code"], "invalid", "{garbage}");
    assert!(garbage["error"]["message"].as_str().unwrap().contains("not a request"), "{garbage}");
    assert_eq!(a.call(8, "list_domains", Value::Null)["ok"], json!([]));

    // A misspelt argument is refused, never taken as "not given": `usr` for `user` would replace the
    // global prune rules with this user's.
    let misspelt = a.call(10, "save_prune_rules", json!({ "usr": "carol", "rows": [] }));
    assert_eq!(misspelt["error"]["code"], "invalid", "{misspelt}");
    assert_eq!(misspelt["error"]["field"], "usr", "{misspelt}");
}

#[test]
fn files_the_service_reads_for_a_caller_are_plain_files_outside_its_data_folder_read_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let _server = start(tmp.path());
    let mut a = Line::connect(&tmp.path().join("admin.sock"));
    // The service's own secrets are not previewed for a member of its group.
    let key = std::fs::read_dir(tmp.path().join("certs")).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "key")).expect("the self-signed key");
    for (n, path) in [key.clone(), tmp.path().join("postroom.db")].iter().enumerate() {
        let refused = a.call(n as u64 + 1, "geoip_preview", json!({ "path": path, "delimiter": "," }));
        assert_eq!(refused["error"]["field"], "path", "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("inside the data folder"), "{refused}");
        assert!(!refused.to_string().contains("PRIVATE KEY"), "{refused}");
    }
    // Nor through a link from outside.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&key, outside.path().join("innocent.csv")).unwrap();
    let linked = a.call(3, "geoip_preview", json!({ "path": outside.path().join("innocent.csv"), "delimiter": "," }));
    assert!(linked["error"]["message"].as_str().unwrap().contains("inside the data folder"), "{linked}");
    // A device never ends: refused before it is opened, for the preview and the import.
    let zero = a.call(4, "geoip_preview", json!({ "path": "/dev/zero", "delimiter": "," }));
    assert!(zero["error"]["message"].as_str().unwrap().contains("is not a file"), "{zero}");
    let request = json!({ "kind": "columns", "files": ["/dev/zero"], "columns": "123", "delimiter": ",", "skip_header": false, "append": false });
    let import = a.call(5, "start_geoip_import", json!({ "request": request }));
    assert_eq!(import["error"]["field"], "files", "{import}");
    // A 20 MB file without a line end: the preview reads its first megabyte and answers.
    let flat = outside.path().join("flat.csv");
    std::fs::write(&flat, vec![b'x'; 20 << 20]).unwrap();
    let preview = a.call(6, "geoip_preview", json!({ "path": flat, "delimiter": "," }));
    let rows = preview["ok"].as_array().unwrap_or_else(|| panic!("{preview}"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0].as_str().unwrap().len(), 80, "a field is shown cut at 80 characters");
    // The users CSV is never read by path over the socket: the app reads it and sends its text.
    let by_path = a.call(7, "bulk_add_users_from", json!({ "path": flat }));
    assert_eq!(by_path["error"]["code"], "not_found", "{by_path}");
    let added = a.call(8, "bulk_add_users_csv", json!({ "csv": "dave,dave-secret-1,Dave Brown\n" }));
    assert_eq!(added["ok"]["added"], json!(["dave"]), "{added}");
}

#[test]
fn an_overlong_line_is_refused_and_a_seventeenth_connection_is_told_to_wait_while_the_service_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let _server = start(tmp.path());
    let socket = tmp.path().join("admin.sock");

    // 9 MB without a newline: refused at 8 MB, never kept whole.
    let mut long = Line::connect(&socket);
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0;
    for _ in 0..9 {
        if long.writer.write_all(&chunk).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent >= 8, "the server reads up to its bound before answering");
    let refused = long.answer();
    assert!(refused["error"]["message"].as_str().unwrap().contains("at most 8 MB"), "{refused}");
    let mut rest = Vec::new();
    let _ = long.reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "then the connection is closed");

    // Sixteen connections held open; the seventeenth is told why and closed.
    let held: Vec<Line> = (0..16).map(|_| Line::connect(&socket)).collect();
    let mut extra = Line::connect(&socket);
    let busy = extra.answer();
    assert_eq!(busy["error"]["code"], "conflict", "{busy}");
    assert!(busy["error"]["message"].as_str().unwrap().contains("too many admin connections"), "{busy}");
    drop(held);
    // Slots come back as connections close.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = Line::connect(&socket);
        let mut line = serde_json::to_vec(&json!({ "id": 1, "call": "list_domains" })).unwrap();
        line.push(b'\n');
        again.send(&line);
        if again.answer()["ok"] == json!([]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slots were never given back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_socket_left_by_kill_9_is_replaced_and_a_live_one_is_never_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = start(tmp.path());
    let socket = tmp.path().join("admin.sock");
    unsafe { libc::kill(server.child.id() as i32, libc::SIGKILL) };
    let _ = server.child.wait();
    assert!(socket.exists(), "kill -9 leaves the socket file behind");
    let restarted = Server::start(tmp.path(), &[]);
    let mut line = Line::connect(&socket);
    assert_eq!(line.call(1, "get_engine_identity", Value::Null)["ok"]["pid"], restarted.child.id());

    // Another data folder told to use the live socket: it refuses to start rather than steal it.
    let other = tempfile::tempdir().unwrap();
    configure_loopback(other.path());
    let out = postroomd()
        .args(["serve", "--data-dir"])
        .arg(other.path())
        .arg("--admin-socket")
        .arg(&socket)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open the admin socket") && stderr.contains("another Postroom answers"), "{stderr}");
    assert_eq!(line.call(2, "get_engine_identity", Value::Null)["ok"]["pid"], restarted.child.id(), "the service still answers");

    // A link planted at the path is not followed, and a folder anyone may write to is refused.
    let planted = other.path().join("planted.sock");
    std::os::unix::fs::symlink("/etc/passwd", &planted).unwrap();
    let refused = serve_with_socket(other.path(), &planted);
    assert!(refused.contains("is not a socket"), "{refused}");
    assert_eq!(std::fs::metadata("/etc/passwd").unwrap().permissions().mode() & 0o777, 0o644, "the link's target is untouched");
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = serve_with_socket(other.path(), &open.path().join("admin.sock"));
    assert!(refused.contains("can be written by anyone"), "{refused}");

    drop(restarted);
    assert!(!socket.exists(), "a clean stop removes the socket");
}

/// What a process of another computer user gets from `socket`: the first answer line, or the error of
/// connecting. Started with `setpriv`, with no supplementary groups (as a session begun before the user
/// joined a group): only the user database can say it is a member.
fn ask_as(uid: u32, gid: u32, socket: &Path) -> String {
    const ASK: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect:", e); sys.exit(0)
try:
    s.sendall(b'{"id":1,"call":"get_engine_identity"}\n')
except (BrokenPipeError, ConnectionResetError):
    pass  # refused and closed before the request was read: the refusal is still there to read
print(s.makefile().readline().strip())
"#;
    let out = std::process::Command::new("setpriv")
        .args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into(), "/usr/bin/python3".into(), "-c".into(), ASK.into()])
        .arg(socket)
        .output()
        .expect("setpriv runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_admin_group_lets_its_members_in_as_the_user_database_says_and_nobody_else() {
    let tmp = tempfile::tempdir().unwrap();
    configure_loopback(tmp.path());
    let public = tempfile::tempdir().unwrap();
    std::fs::set_permissions(public.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = public.path().join("admin.sock");
    let args = ["--admin-socket".to_string(), socket.display().to_string(), "--admin-group".into(), "daemon".into()];
    let server = Server::start(tmp.path(), &args);
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o666, "anyone may knock; the server decides");

    // daemon (uid 1) belongs to the daemon group by its user entry, though its process carries no groups.
    let member = ask_as(1, 1, &socket);
    assert!(member.contains(&format!("\"pid\":{}", server.child.id())), "a member is answered: {member}");
    // nobody is not a member, whatever group id its process claims.
    for gid in [65534, 1] {
        let stranger: Value = serde_json::from_str(&ask_as(65534, gid, &socket)).unwrap();
        assert_eq!(stranger["error"]["code"], "forbidden", "{stranger}");
        assert!(stranger["error"]["message"].as_str().unwrap().contains("only members of the daemon group"), "{stranger}");
    }

    // Without --admin-group only the server's own user (and root) get in: nobody cannot even connect.
    drop(server);
    let own = Server::start(tmp.path(), &[]);
    let refused = ask_as(65534, 65534, &tmp.path().join("admin.sock"));
    assert!(refused.starts_with("connect:") && refused.contains("Permission denied"), "{refused}");
    drop(own);

    let unknown = postroomd().args(["serve", "--data-dir"]).arg(tmp.path()).args(["--admin-group", "no-such-group-pr"]).output().unwrap();
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("there is no group named no-such-group-pr"));
}

/// `postroomd serve` told to use `socket`, which must refuse to start: its standard error.
fn serve_with_socket(dir: &Path, socket: &Path) -> String {
    let out = postroomd().args(["serve", "--data-dir"]).arg(dir).arg("--admin-socket").arg(socket).output().unwrap();
    assert!(!out.status.success(), "it started with {}", socket.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_desktops_client_calls_and_watches_through_the_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let socket = tmp.path().join("admin.sock");
    let (client, link) = AdminClient::connect(&socket).await.expect("attaches");
    assert_eq!(link.pid, server.child.id());
    assert_eq!(link.socket.as_deref(), Some(socket.to_str().unwrap()));
    let mut watch = client.watch().await.unwrap();

    // Calls run side by side on their own connections: a slow one does not hold up the others.
    let added = client.call("add_domain", json!({ "name": "Example.COM." }));
    let listed = client.call("list_users", Value::Null);
    let (added, listed) = tokio::join!(added, listed);
    assert_eq!(added.unwrap(), json!("example.com"), "stored lower case without the dot");
    assert_eq!(listed.unwrap(), json!([]));
    let changed = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.expect("a notice comes").expect("the watch is open");
    assert!(changed.contains(&postroom_engine::views::Change::Data), "{changed:?}");

    let error = client.call("add_domain", json!({ "name": "not a domain" })).await.unwrap_err();
    assert_eq!(error.code, postroom_engine::error::ErrorCode::Invalid, "{error:?}");

    // The service stops: calls say so plainly, and the watch ends.
    drop(server);
    let gone = client.call("list_users", Value::Null).await.unwrap_err();
    assert!(gone.message.contains("does not answer") || gone.message.contains("closed the connection"), "{}", gone.message);
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap(), None);
}

/// The set-up wizard's Finish, sent over the socket as an attached app sends it, is all or nothing: a
/// write that fails half-way (here the database refuses the second user, as a full disk would) leaves no
/// domain, no first user and no changed setting behind; once the fault is gone the same plan goes in whole.
#[tokio::test]
async fn the_wizards_finish_writes_everything_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let _server = start(tmp.path());
    let (client, _) = AdminClient::connect(&tmp.path().join("admin.sock")).await.unwrap();
    let start = client.call("get_setup_start", Value::Null).await.unwrap();
    assert_eq!(start["needed"], true, "{start}");
    let mut plan = start["plan"].clone();
    plan["domains"] = json!(["office.test"]);
    plan["server_name"] = json!("mail.office.test");
    plan["users"] = json!([
        { "name": "ann", "real_name": "Ann Smith", "password": "ann-secret-12" },
        { "name": "bob", "real_name": "Bob Jones", "password": "bob-secret-12" },
    ]);
    let name_before = ok(tmp.path(), &["settings", "get", "general.server_name"], "");

    sql(tmp.path(), "CREATE TRIGGER no_bob BEFORE INSERT ON users WHEN NEW.name = 'bob' BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    let failed = client.call("finish_setup", json!({ "plan": plan })).await.unwrap_err();
    assert!(failed.message.contains("disk full"), "{failed:?}");
    assert_eq!(client.call("list_domains", Value::Null).await.unwrap(), json!([]), "no domain left behind");
    assert_eq!(client.call("list_users", Value::Null).await.unwrap(), json!([]), "not even ann");
    assert_eq!(ok(tmp.path(), &["settings", "get", "general.server_name"], ""), name_before, "settings untouched");
    assert_eq!(client.call("get_setup_start", Value::Null).await.unwrap()["needed"], true, "the wizard is still needed");

    sql(tmp.path(), "DROP TRIGGER no_bob;");
    let done = client.call("finish_setup", json!({ "plan": plan })).await.unwrap();
    assert_eq!(done["domains"][0]["domain"], "office.test", "{done}");
    assert_eq!(client.call("list_domains", Value::Null).await.unwrap(), json!(["office.test"]));
    let users = client.call("list_users", Value::Null).await.unwrap();
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "bob"]);
    assert_eq!(ok(tmp.path(), &["settings", "get", "general.server_name"], "").trim(), "mail.office.test");
}

fn sql(dir: &Path, query: &str) {
    let out = std::process::Command::new("sqlite3").arg(dir.join("postroom.db")).arg(query).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_script_makes_one_admin_call_with_postroomd_service_call() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let socket = tmp.path().join("admin.sock");
    let call = |args: &[&str]| postroomd().args(["service", "call", "--socket"]).arg(&socket).args(args).output().unwrap();

    let identity = call(&["get_engine_identity"]);
    assert!(identity.status.success(), "{}", String::from_utf8_lossy(&identity.stderr));
    let identity: Value = serde_json::from_slice(&identity.stdout).expect("the answer is printed as JSON");
    assert_eq!(identity["pid"], server.child.id(), "{identity}");
    assert_eq!(identity["data_dir"], tmp.path().display().to_string(), "{identity}");

    let wrong = call(&["no_such_call"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("no_such_call"), "the engine's refusal is shown: {}", String::from_utf8_lossy(&wrong.stderr));
    let garbled = call(&["list_users", "{not json"]);
    assert_eq!(garbled.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&garbled.stderr).contains("the arguments are not JSON"));
    // Nobody answers: said so, not a hang.
    drop(server);
    let nobody = call(&["get_engine_identity"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("does not answer on"), "{}", String::from_utf8_lossy(&nobody.stderr));
}

#[test]
fn the_service_switch_reports_its_outcome_on_a_progress_pipe_too() {
    // How the app follows `service enable` when Windows runs it elevated, out of its sight; here with a
    // FIFO. The folder does not exist, so nothing is changed whatever this machine has.
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("progress");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    // The reader must be there before a writer may open it (O_NONBLOCK: no reader is an error, not a hang).
    let mut tries = 0;
    let out = loop {
        tries += 1;
        assert!(tries < 200, "the reader never opened the pipe");
        let out = postroomd().args(["service", "enable", "--from"]).arg(tmp.path().join("no-such-folder")).arg("--progress").arg(&fifo).output().unwrap();
        if !String::from_utf8_lossy(&out.stderr).contains("cannot open the progress pipe") {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(out.status.code(), Some(1));
    let said = reader.join().unwrap();
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(said.starts_with("postroomd: ") && error.trim_end() == said.trim_end(), "the pipe has the same outcome as standard error:\n{said}\n{error}");

    let plain = tmp.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    let refused = postroomd().args(["service", "disable", "--progress"]).arg(&plain).output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a named pipe"), "{}", String::from_utf8_lossy(&refused.stderr));
}
