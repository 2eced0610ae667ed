//! GeoIP as an admin uses it: `postroomd geoimport` on generated files in the legacy 6-column format,
//! with integer columns, and GeoLite2 CSVs for IPv4 and IPv6; `postroomd geoip lookup`; a row inserted
//! with the sqlite3 shell taking effect in a running server; and SMTP, POP3 and IMAP refusing a
//! connection from 127.0.0.1 by a GeoIP rule, each in its own protocol's words.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn lookup(dir: &Path, address: &str) -> Vec<String> {
    let out = run(dir, &["geoip", "lookup", address], "");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.contains("no GeoIP data")).map(str::to_string).collect();
    v.sort();
    v
}

fn geoimport(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = run(dir, &[&["geoimport"][..], args].concat(), "");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn sqlite(dir: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(dir.join("postroom.db")).arg(sql).output().expect("sqlite3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const LEGACY: &str = "\"1.0.0.0\",\"1.0.0.255\",\"16777216\",\"16777471\",\"AU\",\"Australia\"
\"1.0.1.0\",\"1.0.3.255\",\"16777472\",\"16778239\",\"CN\",\"China\"
\"1.0.4.0\",\"1.0.7.255\",\"16778240\",\"16779263\",\"AU\",\"Australia\"
\"1.0.8.0\",\"1.0.15\",\"16779264\",\"16781311\",\"CN\",\"China\"
\"1.0.16.0\",\"1.0.31.255\",\"16781312\",\"16785407\",\"JP\",\"Japan\"
\"1.0.32.0\",\"1.0.31.0\",\"16785408\",\"16785407\",\"CN\",\"China\"
\"1.0.64.0\",\"1.0.127.255\",\"16793600\",\"16809983\",\"JP\"
\"1.0.0.0\",\"1.0.255.255\",\"16777216\",\"16842751\",\"APNIC-BLOCK\",\"Overlapping tag\"
";

#[test]
fn the_legacy_country_csv_imports_with_125_reporting_bad_rows_and_overlaps() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.as_path();
    let file = write(files, "GeoIPCountryWhois.csv", LEGACY);
    let (imported, out, err) = geoimport(d, &["importcsv", file.to_str().unwrap(), "125"]);
    assert!(imported, "{err}");
    assert!(out.contains("6 IPv4 and 0 IPv6 ranges; 2 bad rows skipped"), "{out}");
    assert!(err.contains("line 4: '1.0.15' is not an IP address (skipped)"), "{err}");
    assert!(err.contains("line 6: the range ends (1.0.31.0) before it starts (1.0.32.0) (skipped)"), "{err}");
    assert_eq!(lookup(d, "1.0.2.3"), ["APNIC-BLOCK", "CN"], "both overlapping ranges answer");
    assert_eq!(lookup(d, "1.0.100.1"), ["APNIC-BLOCK", "JP"], "a short row with the needed columns is fine");
    assert!(lookup(d, "8.8.8.8").is_empty());
    assert_eq!(sqlite(d, "SELECT count(*) FROM geoipv4 WHERE addrfrom <= 16777472 AND addrto >= 16777472"), "2");
    let status = ok(d, &["geoip", "status"], "");
    assert!(status.contains("IPv4 ranges: 6") && status.contains("GeoIPCountryWhois.csv (columns 125)"), "{status}");

    // Replace (the default) against append.
    let more = write(files, "more.csv", "\"9.9.9.0\",\"9.9.9.255\",\"x\",\"x\",\"QU\",\"Quad\"\n");
    let (ok_a, out, _) = geoimport(d, &["--append", "importcsv", more.to_str().unwrap(), "125"]);
    assert!(ok_a && out.starts_with("appended: 1 IPv4"), "{out}");
    assert_eq!(lookup(d, "9.9.9.9"), ["QU"]);
    assert_eq!(lookup(d, "1.0.0.1"), ["APNIC-BLOCK", "AU"], "appending kept the rest");
    let (ok_r, out, _) = geoimport(d, &["importcsv", more.to_str().unwrap(), "125"]);
    assert!(ok_r && out.contains("replacing the old data"), "{out}");
    assert!(lookup(d, "1.0.0.1").is_empty(), "replacing removed the rest");
    assert_eq!(sqlite(d, "SELECT count(*) FROM geoipv4"), "1");
}

#[test]
fn dry_runs_headers_delimiters_and_files_without_a_good_row_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.as_path();
    let first = write(files, "first.csv", "1.0.0.0,1.0.0.255,AU\n");
    assert!(geoimport(d, &["importcsv", first.to_str().unwrap(), "123"]).0);
    // A dry run reads and reports, and changes nothing.
    let semi = write(files, "semi.csv", "start;end;country\n2.0.0.0;2.0.0.255;FR\n2.0.1.0;2.0.1.255;DE\n");
    let (ok, out, _) = geoimport(d, &["--dry-run", "--delimiter", ";", "importcsv", semi.to_str().unwrap(), "123"]);
    assert!(ok && out.contains("would import: 2 IPv4") && out.contains("a header row was skipped"), "{out}");
    assert_eq!(lookup(d, "1.0.0.1"), ["AU"]);
    assert!(lookup(d, "2.0.0.1").is_empty());
    // Every row bad: an error, and the old data stays.
    let junk = write(files, "junk.csv", "hello,world,x\nnot,an,address\n");
    let (ok, _, err) = geoimport(d, &["importcsv", junk.to_str().unwrap(), "123"]);
    assert!(!ok && err.contains("no valid row") && err.contains("nothing was changed"), "{err}");
    assert_eq!(lookup(d, "1.0.0.1"), ["AU"]);
    let (ok, _, err) = geoimport(d, &["importcsv", junk.to_str().unwrap(), "12"]);
    assert!(!ok && err.contains("three digits"), "{err}");
    // -? lists the options.
    let help = run(d, &["geoimport", "-?"], "");
    let text = String::from_utf8_lossy(&help.stdout);
    for option in ["--append", "--delimiter", "--skip-header", "--dry-run", "importcsv", "importgeolite2"] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
}

#[test]
fn integer_columns_in_the_ip2location_style_for_both_families() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.as_path();
    // IPv4 as 32-bit numbers; IPv6 as 128-bit numbers (2001:db8::/32); IPv4-mapped numbers are IPv4.
    let csv = "\"16777216\",\"16777471\",\"AU\",\"Australia\"\n\
               \"42540766411282592856903984951653826560\",\"42540766490510755371168322545197776895\",\"DOC\",\"Documentation\"\n\
               \"281470698521600\",\"281470698521855\",\"CN\",\"China\"\n";
    let file = write(files, "IP2LOCATION-LITE-DB1.IPV6.CSV", csv);
    let (ok, out, err) = geoimport(d, &["importcsv", file.to_str().unwrap(), "123"]);
    assert!(ok, "{err}");
    assert!(out.contains("2 IPv4 and 1 IPv6"), "{out}");
    assert_eq!(lookup(d, "1.0.0.200"), ["AU"]);
    assert_eq!(lookup(d, "1.0.4.1"), ["CN"]);
    assert_eq!(lookup(d, "2001:db8:1234::1"), ["DOC"]);
    assert_eq!(lookup(d, "::ffff:1.0.0.1"), ["AU"]);
    assert_eq!(sqlite(d, "SELECT length(addrfrom), typeof(addrfrom) FROM geoipv6"), "16|blob");
}

#[test]
fn geolite2_blocks_for_ipv4_and_ipv6_with_the_locations_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, data) = (tmp.path(), tmp.path().join("data"));
    let d = data.as_path();
    let locations = write(
        files,
        "GeoLite2-City-Locations-en.csv",
        "geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,subdivision_1_iso_code,subdivision_1_name,subdivision_2_iso_code,subdivision_2_name,city_name,metro_code,time_zone,is_in_european_union\n\
         2635167,en,EU,Europe,GB,\"United Kingdom\",,,,,,,Europe/London,0\n\
         2643743,en,EU,Europe,GB,\"United Kingdom\",ENG,England,,,London,,Europe/London,0\n\
         2077456,en,OC,Oceania,AU,Australia,,,,,,,Australia/Sydney,0\n",
    );
    let v4 = write(
        files,
        "GeoLite2-City-Blocks-IPv4.csv",
        "network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,postal_code,latitude,longitude,accuracy_radius,is_anycast\n\
         1.0.0.0/24,2077456,2077456,,0,0,,-33.4940,143.2104,1000,\n\
         2.16.0.0/16,2643743,2635167,,0,0,EC1A,51.5,-0.1,20,\n\
         2.17.0.0/16,,2635167,,0,0,,,,,\n\
         3.0.0.0/33,2077456,2077456,,0,0,,,,,\n\
         4.0.0.0/24,,,,1,0,,,,,\n",
    );
    let v6 = write(
        files,
        "GeoLite2-City-Blocks-IPv6.csv",
        "network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,postal_code,latitude,longitude,accuracy_radius,is_anycast\n\
         2001:4860::/32,2643743,2635167,,0,0,,,,,\n\
         2a00:1450:4000::/37,2077456,2077456,,0,0,,,,,\n",
    );
    let (ok, out, err) = geoimport(d, &["importgeolite2", v4.to_str().unwrap(), v6.to_str().unwrap(), locations.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("3 IPv4 and 2 IPv6 ranges; 2 bad rows skipped"), "{out}");
    assert!(err.contains("line 5: ") && err.contains("at most 32 bits"), "{err}");
    assert!(err.contains("line 6: ") && err.contains("no country"), "{err}");
    assert_eq!(lookup(d, "1.0.0.9"), ["AU"]);
    assert_eq!(lookup(d, "2.16.200.1"), ["GB"], "the city's country");
    assert_eq!(lookup(d, "2.17.0.1"), ["GB"], "no geoname: the registered country");
    assert_eq!(lookup(d, "2001:4860:4860::8888"), ["GB"]);
    assert_eq!(lookup(d, "2a00:1450:4007:80f::200e"), ["AU"]);
    assert!(lookup(d, "2a00:1450:5000::1").is_empty(), "outside the /37");
}

/// The first line a service sends from a fresh connection.
fn greeting(port: u16) -> String {
    let stream = TcpStream::connect(addr(port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line
}

#[test]
fn a_geoip_rule_refuses_127_0_0_1_once_the_sqlite3_shell_adds_its_range_on_every_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ports = configure_loopback(d);
    let port = |s: &str| ports.iter().find(|p| p.0 == s).unwrap().1;
    let rule = r#"[{"action":"deny","kind":"geoip","value":"ZZ; LOOPBACK"}]"#;
    ok(d, &["settings", "set", "access.exempt_local", "false", "access.smtp.rules", rule, "access.pop3.rules", rule, "access.imap.rules", rule], "");
    let mut server = Server::start(d, &[]);
    assert!(greeting(port("smtp")).starts_with("220 "), "no GeoIP data yet: allowed");
    // The admin adds a range by hand, as VPOP3's article suggests.
    sqlite(d, "INSERT INTO geoipv4(addrfrom, addrto, result) VALUES (2130706432, 2147483647, 'LOOPBACK')");
    let added = Instant::now();
    while !greeting(port("smtp")).starts_with("554") {
        assert!(added.elapsed() < Duration::from_secs(10), "the new row never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }
    let name = ok(d, &["settings", "get", "general.server_name"], "").trim().to_string();
    assert_eq!(greeting(port("smtp")), format!("554 5.7.1 {name} access from your address is not allowed\r\n"));
    assert_eq!(greeting(port("pop3")), "-ERR [SYS/PERM] access from your address is not allowed\r\n");
    assert_eq!(greeting(port("imap")), "* BYE access from your address is not allowed\r\n");
    assert!(greeting(port("submission")).starts_with("220 "), "services without the rule still answer");
    // Exempting this computer lets it in again, with no restart.
    ok(d, &["settings", "set", "access.exempt_local", "true"], "");
    let changed = Instant::now();
    while !greeting(port("imap")).starts_with("* OK") {
        assert!(changed.elapsed() < Duration::from_secs(10), "the exemption never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.terminate().success());
    let security = std::fs::read_to_string(d.join("logs/security.log")).unwrap();
    assert!(security.contains("access refused service=smtp") && security.contains("rule=\"rule 1: deny GeoIP ZZ; LOOPBACK (GeoIP LOOPBACK)\""), "{security}");
    assert!(security.contains("access refused service=imap"), "{security}");
}

#[test]
fn importing_while_the_server_runs_keeps_mail_flowing_and_switches_data_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ports = configure_loopback(d);
    let port = |s: &str| ports.iter().find(|p| p.0 == s).unwrap().1;
    ok(d, &["domain", "add", "office.test"], "");
    ok(d, &["user", "add", "alice", "--password-stdin"], "alice-secret\n");
    ok(d, &["settings", "set", "access.exempt_local", "false", "access.pop3.rules", r#"[{"action":"deny","kind":"geoip","value":"BLOCKED"}]"#], "");
    // 300,000 ranges; the last one puts 127.0.0.0/8 under BLOCKED.
    let mut csv = String::with_capacity(12_000_000);
    for i in 0..300_000u32 {
        let start = 16_777_216 + i * 256;
        csv.push_str(&format!("{},{},C{}\n", start, start + 255, i % 200));
    }
    csv.push_str("2130706432,2147483647,BLOCKED\n");
    let file = write(tmp.path(), "big.csv", &csv);
    let mut server = Server::start(d, &[]);
    // An IMAP session stays logged in throughout; SMTP deliveries go on while the import runs.
    let mut imap = TcpStream::connect(addr(port("imap"))).unwrap();
    imap.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut imap_in = BufReader::new(imap.try_clone().unwrap());
    let mut line = String::new();
    imap_in.read_line(&mut line).unwrap();
    imap.write_all(b"a LOGIN alice alice-secret\r\n").unwrap();
    line.clear();
    imap_in.read_line(&mut line).unwrap();
    assert!(line.starts_with("a OK"), "{line}");
    let importer = std::thread::spawn({
        let d = d.to_path_buf();
        let file = file.clone();
        move || geoimport(&d, &["importcsv", file.to_str().unwrap(), "123"])
    });
    let script = "import smtplib, sys\nfor n in range(20):\n    s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)\n    s.sendmail('bob@far.example', ['alice@office.test'], 'Subject: %d\\r\\n\\r\\nduring the import\\r\\n' % n)\n    s.quit()\n";
    let (sent, out) = mail::python(script, &[port("smtp").to_string()]);
    let (imported, report, err) = importer.join().unwrap();
    assert!(imported, "{err}");
    assert!(report.contains("300001 IPv4"), "{report}");
    assert!(sent, "deliveries during the import: {out}");
    let users: serde_json::Value = serde_json::from_str(&ok(d, &["user", "list", "--json"], "")).unwrap();
    assert_eq!(users[0]["message_count"], 20, "every message delivered while the import ran");
    imap.write_all(b"b NOOP\r\n").unwrap();
    line.clear();
    imap_in.read_line(&mut line).unwrap();
    while line.starts_with('*') {
        line.clear();
        imap_in.read_line(&mut line).unwrap();
    }
    assert!(line.starts_with("b OK"), "the IMAP session lived through the import: {line}");
    let swapped = Instant::now();
    while !greeting(port("pop3")).starts_with("-ERR") {
        assert!(swapped.elapsed() < Duration::from_secs(10), "the imported data never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.terminate().success());
}
