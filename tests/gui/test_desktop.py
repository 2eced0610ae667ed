"""The desktop app as an admin uses it: the main window, Users, Services, Local Domains, TLS Certificate.
Every test drives the real `postroom` binary and checks the result through another door (postroomd,
a socket), and saves a screenshot of each window under test-output/screenshots/."""

import json
import os
import stat
import socket
import subprocess
import time
from pathlib import Path

from selenium.webdriver.common.keys import Keys

from conftest import POSTROOMD, free_port, greeting, postroomd, wait_until


def test_main_window_shows_every_service_running(desktop):
    wait_until(lambda: desktop.text("#services-table").count("Running") == 7, what="7 running services")
    table = desktop.text("#services-table")
    for name in ["SMTP", "SMTP Submission", "SMTPS", "POP3", "POP3S", "IMAP4", "IMAPS"]:
        assert name in table
    assert f"127.0.0.1:{desktop.ports['pop3']}" in table
    assert "Running" in desktop.text("#status-header")
    desktop.screenshot("main")


def edit_user(desktop, name):
    """Opens the Users window and the editor of an existing user."""
    desktop.open_window("#btn-open-users", "users")
    wait_until(lambda: name in desktop.text("#users-table"), what=f"{name} in the table")
    desktop.click(f'#users-table tr[data-key="{name}"] td')
    desktop.click("#btn-edit-user")


def test_a_user_created_in_the_users_window_exists_for_postroomd(desktop):
    desktop.open_window("#btn-open-users", "users")
    desktop.click("#btn-new-user")
    desktop.type("#user-name", "frank")
    desktop.type("#user-real-name", "Frank Jones")
    desktop.type("#user-password", "frank-secret")
    desktop.type("#user-password2", "frank-secret")
    desktop.type("#user-aliases", "sales, info")
    desktop.screenshot("user-editor")
    desktop.click("#btn-user-ok")
    wait_until(lambda: "frank" in desktop.text("#users-table"), what="frank in the table")
    users = json.loads(postroomd(desktop.data_dir, "user", "list", "--json"))
    frank = next(u for u in users if u["name"] == "frank")
    assert frank["real_name"] == "Frank Jones"
    assert frank["aliases"] == ["info", "sales"]
    desktop.screenshot("users")


def test_the_user_editor_shows_each_folder_with_its_messages_and_size(desktop):
    postroomd(desktop.data_dir, "user", "add", "grace", "--password-stdin", stdin="grace-secret\n")
    import smtplib
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        for i in range(3):
            s.sendmail("bob@far.example", ["grace@localhost"], f"Subject: note {i}\r\n\r\nhello\r\n")
    edit_user(desktop, "grace")
    folders = wait_until(lambda: desktop.text("#user-folders"), what="the folder table")
    assert "INBOX" in folders and "Sent" in folders, folders
    inbox = next(line for line in folders.splitlines() if line.startswith("INBOX"))
    assert "3" in inbox, inbox
    assert "3 message(s)" in desktop.text(), desktop.text()
    desktop.screenshot("user-editor-folders")


def test_invalid_user_input_is_shown_next_to_the_field_and_nothing_is_saved(desktop):
    postroomd(desktop.data_dir, "user", "add", "grace", "--password-stdin", stdin="grace-pass\n")
    desktop.open_window("#btn-open-users", "users")
    wait_until(lambda: "grace" in desktop.text("#users-table"), what="grace in the table")
    desktop.click("#btn-new-user")
    desktop.type("#user-name", "grace")
    desktop.type("#user-password", "abc")
    desktop.type("#user-password2", "abc")
    desktop.click("#btn-user-ok")
    wait_until(lambda: desktop.text("#user-password-error") or desktop.text("#user-name-error"), what="a field error")
    shown = desktop.text("#user-name-error") + " " + desktop.text("#user-password-error")
    assert "already" in shown or "6 characters" in shown, shown
    desktop.screenshot("user-editor-errors")
    users = json.loads(postroomd(desktop.data_dir, "user", "list", "--json"))
    assert [u["name"] for u in users] == ["grace"]


def test_a_port_changed_in_services_moves_the_listener(desktop):
    old = desktop.ports["imap"]
    new = free_port()
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#tab-imap")
    desktop.type("#svc-imap-port", str(new))
    desktop.screenshot("services")
    desktop.click("#btn-apply")
    assert wait_until(lambda: greeting(new), what="IMAP on the new port").startswith("* OK")
    wait_until(lambda: greeting(old, 0.3) is None, what="the old port to close")
    assert postroomd(desktop.data_dir, "settings", "get", "services.imap.port").strip() == str(new)


def test_a_bad_port_is_refused_next_to_its_field(desktop):
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#tab-pop3")
    desktop.type("#svc-pop3-port", str(desktop.ports["imap"]))
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#svc-pop3-port-error"), what="the port error")
    assert "also used by IMAP4" in error, error
    desktop.screenshot("services-error")
    assert postroomd(desktop.data_dir, "settings", "get", "services.pop3.port").strip() == str(desktop.ports["pop3"])


def test_pop3_and_imap_logins_and_limits_are_set_on_their_service_tabs(desktop):
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#tab-pop3")
    desktop.click("#pop3-plaintext")
    desktop.type("#pop3-idle", "10")
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#pop3-idle-error"), what="the idle time error")
    assert "at least 30 seconds" in error, error
    assert postroomd(desktop.data_dir, "settings", "get", "pop3.allow_plaintext_login").strip() == "false", "nothing saved"
    desktop.type("#pop3-idle", "900")
    desktop.click("#tab-imap")
    desktop.click("#imap-idle-enabled")
    desktop.type("#imap-per-user", "5")
    desktop.screenshot("services-imap")
    desktop.click("#btn-apply")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "imap.max_connections_per_user").strip() == "5", what="the IMAP settings")
    assert postroomd(desktop.data_dir, "settings", "get", "pop3.allow_plaintext_login").strip() == "true"
    assert postroomd(desktop.data_dir, "settings", "get", "pop3.idle_timeout_secs").strip() == "900"
    assert postroomd(desktop.data_dir, "settings", "get", "imap.idle_enabled").strip() == "false"
    # The running server follows: IMAP no longer offers IDLE.
    with socket.create_connection(("127.0.0.1", desktop.ports["imap"]), timeout=5) as s:
        assert b"IDLE" not in s.recv(1000)


def test_domains_window_adds_a_local_domain(desktop):
    desktop.open_window("#btn-open-domains", "domains")
    desktop.type("#domain-name", "Office.Example")
    desktop.click("#btn-add-domain")
    wait_until(lambda: "office.example" in desktop.text(), what="the domain in the list")
    assert postroomd(desktop.data_dir, "domain", "list").split() == ["office.example"]
    desktop.screenshot("domains")


def test_certificate_window_shows_the_self_signed_certificate(desktop):
    desktop.open_window("#btn-open-certificate", "certificate")
    wait_until(lambda: "localhost" in desktop.text(), what="the certificate's names")
    text = desktop.text()
    assert "self-signed" in text.lower()
    assert "postroom user" not in text, "the service's note is only for an app attached to a service"
    desktop.type("#cert-file", "/nonexistent/cert.pem")
    desktop.type("#key-file", "/nonexistent/key.pem")
    desktop.click("#btn-use-cert")
    wait_until(lambda: "cannot read" in desktop.text(), what="the refusal")
    desktop.screenshot("certificate")
    assert postroomd(desktop.data_dir, "settings", "get", "tls.cert_file").strip() == ""


def test_pause_closes_the_listeners_and_resume_reopens_them(desktop):
    desktop.click("#btn-pause")
    wait_until(lambda: greeting(desktop.ports["pop3"], 0.3) is None, what="POP3 to close")
    wait_until(lambda: "Paused" in desktop.text("#status-header"), what="the paused header")
    wait_until(lambda: desktop.status()["paused"] is True, what="postroomd status to say paused")
    desktop.screenshot("main-paused")
    desktop.click("#btn-pause")
    assert wait_until(lambda: greeting(desktop.ports["pop3"]), what="POP3 to reopen").startswith("+OK")


def choose_in_native_picker(title, path):
    """The GTK file chooser is a native window, outside WebDriver's reach: type the path as a person would."""
    wait_until(lambda: subprocess.run(["xdotool", "search", "--name", title],
                                      capture_output=True).returncode == 0, what="the file chooser")
    time.sleep(1.5)  # the chooser maps its window before it takes keys
    subprocess.run(["xdotool", "search", "--name", title, "windowfocus", "--sync"], check=True)
    subprocess.run(["xdotool", "key", "ctrl+l"], check=True)
    subprocess.run(["xdotool", "type", "--delay", "10", str(path)], check=True)
    time.sleep(1)  # let the entry's completion settle, or Enter only closes the completion list
    subprocess.run(["xdotool", "key", "Return"], check=True)


def test_bulk_add_through_the_native_file_picker(desktop, tmp_path):
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text("name,password,real name\nhelen,helen-pass1,Helen Ray\n"
                        "bad name,pass-word2,Bad\nivan,short,Ivan\njoan,joan-pass3,Joan Fox\n")
    desktop.open_window("#btn-open-users", "users")
    desktop.click("#btn-bulk-add")
    choose_in_native_picker("Bulk add users", csv_file)
    report = wait_until(lambda: desktop.text("#bulk-errors"), timeout=30, what="the bulk add report")
    assert "line 3: name 'bad name'" in report
    assert "line 4: password for 'ivan'" in report
    assert "2 users added" in desktop.text("#bulk-added")
    desktop.screenshot("bulk-add-report")
    users = json.loads(postroomd(desktop.data_dir, "user", "list", "--json"))
    assert [u["name"] for u in users] == ["helen", "joan"]


def test_smtp_window_refuses_a_bad_range_then_saves_relaying_and_size(desktop):
    desktop.open_window("#btn-open-smtp", "smtp")
    desktop.click("#tab-relaying")
    desktop.type("#smtp-trusted", "192.168.1.0/24, lan")
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#smtp-trusted-error"), what="the range error")
    assert "'lan'" in error, error
    desktop.screenshot("smtp-relaying-error")
    assert postroomd(desktop.data_dir, "settings", "get", "smtp.trusted_networks").strip() == "127.0.0.0/8, ::1/128"
    desktop.type("#smtp-trusted", "192.168.1.0/24")
    desktop.click("#tab-general")
    desktop.type("#smtp-max-size-mb", "10")
    desktop.screenshot("smtp")
    desktop.click("#btn-apply")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "smtp.trusted_networks").strip() == "192.168.1.0/24",
               what="the trusted networks saved")
    assert postroomd(desktop.data_dir, "settings", "get", "smtp.max_message_size").strip() == str(10 * 1024 * 1024)
    # The running server advertises the new limit to the next client.
    with socket.create_connection(("127.0.0.1", desktop.ports["smtp"]), timeout=5) as s:
        f = s.makefile("rwb")
        f.readline()
        f.write(b"EHLO gui.test\r\n")
        f.flush()
        lines = [f.readline() for _ in range(4)]
    assert any(b"SIZE 10485760" in line for line in lines), lines


def test_outbound_tab_sets_a_smart_host_with_required_tls(desktop):
    desktop.open_window("#btn-open-smtp", "smtp")
    desktop.click("#tab-outbound")
    desktop.click("#out-smart")
    desktop.type("#out-host", "smtp.isp.example")
    desktop.type("#out-port", "587")
    desktop.type("#out-user", "office")
    desktop.type("#out-password", "isp-secret")
    desktop.driver.execute_script("const s = document.querySelector('#out-tls'); s.value = 'required'; s.dispatchEvent(new Event('change', {bubbles: true}));")
    desktop.screenshot("smtp-outbound")
    desktop.click("#btn-apply")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "outbound.smart_host").strip() == "smtp.isp.example",
               what="the smart host saved")
    assert postroomd(desktop.data_dir, "settings", "get", "outbound.smart_host_port").strip() == "587"
    assert postroomd(desktop.data_dir, "settings", "get", "outbound.tls").strip() == "required"
    assert postroomd(desktop.data_dir, "settings", "get", "outbound.password").strip() == "isp-secret"


def test_queue_window_lists_a_waiting_message_and_deletes_it(desktop):
    import smtplib
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        # 127.0.0.1 is a trusted network by default, so it may relay.
        s.sendmail("pc@office.test", ["friend@far.example"], "Subject: for the queue\r\n\r\nhello\r\n")
    desktop.open_window("#btn-open-queue", "queue")
    wait_until(lambda: "friend@far.example" in desktop.text("#queue-table"), what="the queued recipient")
    desktop.click("#queue-table tbody tr td")
    desktop.screenshot("queue")
    desktop.click("#btn-delete-entry")
    desktop.click("#btn-confirm-ok")
    wait_until(lambda: "friend@far.example" not in desktop.text("#queue-table"), what="the entry to go")
    assert json.loads(postroomd(desktop.data_dir, "queue", "list", "--json")) == []


def test_bans_window_lists_a_banned_address_and_unbans_it(desktop):
    import smtplib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    for attempt in range(5):
        try:
            with smtplib.SMTP_SSL("127.0.0.1", desktop.ports["smtps"], context=ctx, timeout=10) as s:
                s.user, s.password = "nobody", f"guess-{attempt}"
                s.ehlo("guesser.test")
                s.auth("PLAIN", s.auth_plain)
        except (smtplib.SMTPException, ConnectionError):
            pass
    assert greeting(desktop.ports["pop3"]).startswith("-ERR"), "the ban reaches every service"
    desktop.open_window("#btn-open-bans", "bans")
    wait_until(lambda: "127.0.0.1" in desktop.text("#bans-table"), what="the banned address")
    assert "nobody" in desktop.text("#bans-table")
    desktop.driver.execute_script(
        "[...document.querySelectorAll('#bans-table tbody tr td')].find(td => td.innerText === '127.0.0.1').click();")
    desktop.screenshot("bans")
    desktop.click("#btn-unban")
    desktop.click("#btn-confirm-ok")
    wait_until(lambda: not desktop.driver.execute_script(
        "return [...document.querySelectorAll('#bans-table tbody tr td')].some(td => td.innerText === '127.0.0.1');"),
        what="the address to be unbanned")
    assert greeting(desktop.ports["pop3"]).startswith("+OK")
    # The login stays locked, but only for the address that guessed.
    assert [b["value"] for b in json.loads(postroomd(desktop.data_dir, "bans", "list", "--json"))] == ["nobody from 127.0.0.1"]


def _failed_pop3_login(port, user="alice", password="not-her-password"):
    import poplib
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.user(user)
    try:
        p.pass_(password)
    except poplib.error_proto:
        pass
    p.quit()


def test_diagnostics_switches_on_a_session_log_and_shows_the_writer_at_work(desktop):
    import smtplib
    desktop.open_window("#btn-open-diagnostics", "diagnostics")
    logs = str(Path(desktop.data_dir.path) / "logs")
    wait_until(lambda: desktop.text("#log-folder-now") == logs, what="the log folder in use")
    desktop.screenshot("diagnostics-general")
    desktop.click("#tab-sessions")
    desktop.click("#session-smtpsvr")
    desktop.screenshot("diagnostics-sessions")
    desktop.click("#tab-writer")
    # A rule the engine refuses: the minimum above the maximum. Nothing is saved.
    desktop.type("#writer-min-interval", "20000")
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#writer-min-interval-error"), what="the interval error")
    assert "must not be more than the max time between bursts" in error, error
    assert postroomd(desktop.data_dir, "settings", "get", "log.session.smtpsvr.enabled").strip() == "false"
    desktop.type("#writer-min-interval", "0")
    desktop.type("#writer-max-age", "300")
    desktop.click("#btn-apply")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "log.session.smtpsvr.enabled").strip() == "true",
               what="the session log switch to be saved")
    assert postroomd(desktop.data_dir, "settings", "get", "log.writer.max_line_age_ms").strip() == "300"
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        s.ehlo("gui-test.example")
        s.noop()
    # The transcript reaches the file, and the window's table and graph show the writer at work.
    smtpsvr = Path(logs) / "smtpsvr.log"
    wait_until(lambda: smtpsvr.exists() and "<<< ehlo gui-test.example" in smtpsvr.read_text().lower(),
               what="the SMTP transcript in smtpsvr.log")
    row = lambda: desktop.driver.execute_script(
        "const r = document.querySelector('#writer-stats tr[data-key=smtpsvr]'); return r ? [...r.cells].map(c => c.innerText) : null;")
    cells = wait_until(lambda: (r := row()) and int(r[2].replace(",", "")) > 0 and r, what="smtpsvr.log lines in the stats table")
    assert cells[0] == "smtpsvr.log", cells
    assert int(cells[1].replace(",", "")) >= 1, "writes counted"
    assert desktop.text("#writer-interval").endswith("ms")
    bars = desktop.driver.execute_script("return document.querySelectorAll('#writer-graph rect.bar').length")
    assert bars >= 2, "the graph shows bursts (legend plus at least one bar)"
    desktop.screenshot("diagnostics-writer")
    desktop.click("#tab-retention")
    desktop.screenshot("diagnostics-retention")


def test_the_log_viewer_shows_a_failed_login_from_security_log(desktop):
    postroomd(desktop.data_dir, "user", "add", "alice", "--password-stdin", stdin="alice-secret\n")
    _failed_pop3_login(desktop.ports["pop3"])
    desktop.open_window("#btn-open-diagnostics", "diagnostics")
    desktop.open_window("#btn-view-security", "logview/security")
    text = wait_until(lambda: "login failed" in desktop.text("#log-text") and desktop.text("#log-text"), what="the failed login in the viewer")
    assert "user=alice" in text and "service=POP3" in text, text
    assert "not-her-password" not in text
    assert desktop.text("#log-path").startswith(str(Path(desktop.data_dir.path) / "logs" / "security.log"))
    desktop.type("#log-filter", "no such text anywhere")
    wait_until(lambda: desktop.text("#log-text") == "No line contains that text.", what="the filter")
    desktop.type("#log-filter", "login failed")
    wait_until(lambda: desktop.text("#log-count").startswith("1 of "), what="one matching line counted")
    desktop.screenshot("logview-security")


def test_the_main_window_says_when_a_log_file_cannot_be_written(desktop):
    logs = Path(desktop.data_dir.path) / "logs"
    security = logs / "security.log"
    if security.exists():
        security.unlink()
    # A disk that is full: a device node like /dev/full (log files are never opened through a symlink).
    os.mknod(security, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
    postroomd(desktop.data_dir, "user", "add", "alice", "--password-stdin", stdin="alice-secret\n")
    _failed_pop3_login(desktop.ports["pop3"])
    problem = wait_until(lambda: desktop.text("#log-problem"), timeout=30, what="the log problem in the main window")
    assert "security.log" in problem and "No space left on device" in problem, problem
    desktop.screenshot("main-log-problem")
    security.unlink()  # room again: the waiting line is written and the warning goes
    wait_until(lambda: desktop.text("#log-problem") == "", timeout=30, what="the warning to clear")
    assert "login failed" in security.read_text()


def test_access_restrictions_tab_refuses_a_geoip_tag_once_the_range_is_added(desktop):
    import sqlite3
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#subtab-smtp-access")
    desktop.click("#acc-smtp-add")
    desktop.type("#acc-smtp-0-value", "ZZ; LOOPBACK")
    desktop.click("#acc-smtp-add")
    desktop.driver.execute_script("const s = document.getElementById('acc-smtp-1-kind'); s.value = 'cidr'; s.dispatchEvent(new Event('change'));")
    desktop.type("#acc-smtp-1-value", "10.0.0.0/40")
    desktop.click("#acc-smtp-exempt")  # this computer is not exempt
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#acc-smtp-1-value-error"), what="the bad rule's error")
    assert "rule 2" in error and "at most 32 bits" in error, error
    desktop.click("#acc-smtp-1-remove")
    desktop.click("#btn-apply")
    wait_until(lambda: "LOOPBACK" in postroomd(desktop.data_dir, "settings", "get", "access.smtp.rules"), what="the rule to be saved")
    assert postroomd(desktop.data_dir, "settings", "get", "access.exempt_local").strip() == "false"
    assert greeting(desktop.ports["smtp"]).startswith("220"), "no GeoIP data yet"
    with sqlite3.connect(Path(desktop.data_dir.path) / "postroom.db") as db:
        db.execute("INSERT INTO geoipv4(addrfrom, addrto, result) VALUES (2130706432, 2147483647, 'LOOPBACK')")
    wait_until(lambda: (greeting(desktop.ports["smtp"]) or "").startswith("554 5.7.1"), what="the GeoIP rule to refuse 127.0.0.1")
    assert greeting(desktop.ports["pop3"]).startswith("+OK"), "only SMTP has the rule"
    desktop.screenshot("services-access")


def test_geoip_import_wizard_takes_a_file_from_the_native_picker_previews_chooses_columns_and_lists_bad_rows(desktop, tmp_path):
    csv = tmp_path / "GeoIPCountryWhois.csv"
    csv.write_text('"1.0.0.0","1.0.0.255","16777216","16777471","AU","Australia"\n'
                   '"1.0.1.0","1.0.1","16777472","16777727","CN","China"\n'
                   '"1.0.2.0","1.0.3.255","16777728","16778239","CN","China"\n'
                   '"2.0.0.0","2.0.0.255","33554432","33554687","FR","France"\n')
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#subtab-smtp-access")
    desktop.open_window("#acc-smtp-geoip", "geoip")
    geoip = desktop.driver.current_window_handle
    desktop.open_window("#btn-import", "geoimport")
    desktop.click("#btn-browse-csv-file")
    choose_in_native_picker("GeoIP CSV file", csv)
    wait_until(lambda: "Australia" in desktop.text("#preview-table"), what="the preview")
    assert desktop.text("#col-spec") == "125", "start, end and country columns guessed"
    desktop.screenshot("geoimport-preview")
    desktop.click("#btn-start-import")
    result = wait_until(lambda: desktop.text("#import-result"), timeout=30, what="the import summary")
    assert "Imported 3 IPv4 and 0 IPv6 ranges" in result and "1 bad row skipped" in result, result
    assert "line 2" in desktop.text("#bad-rows") and "not an IP address" in desktop.text("#bad-rows")
    desktop.screenshot("geoimport")
    desktop.driver.switch_to.window(geoip)
    wait_until(lambda: desktop.text("#geoip-v4") == "3", what="the new row count")
    desktop.type("#geoip-address", "1.0.2.9")
    desktop.click("#btn-lookup")
    wait_until(lambda: "CN" in desktop.text("#geoip-results"), what="the lookup")
    assert "GeoIPCountryWhois.csv (columns 125)" in desktop.text("#geoip-last")
    desktop.screenshot("geoip")


def _choose(desktop, css, value):
    """Picks an option of a <select> as the admin would, firing its change event."""
    desktop.driver.execute_script(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true}));",
        css, value)


def test_bandwidth_throttling_on_a_service_general_tab_refuses_zero_then_saves_custom_and_a_pool(desktop):
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#tab-pop3")
    _choose(desktop, "#svc-pop3-bw-mode", "custom")
    desktop.type("#svc-pop3-bw-rate", "0")
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#svc-pop3-bw-rate-error"), what="the rate error")
    assert "at least 1 byte" in error, error
    assert postroomd(desktop.data_dir, "settings", "get", "bandwidth.pop3.mode").strip() == "none", "nothing saved"
    desktop.type("#svc-pop3-bw-rate", "100000")
    desktop.screenshot("services-bandwidth-custom")
    desktop.click("#btn-apply")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "bandwidth.pop3.mode").strip() == "custom", what="Custom saved")
    assert postroomd(desktop.data_dir, "settings", "get", "bandwidth.pop3.bytes_per_sec").strip() == "100000"
    desktop.click("#tab-imap")
    _choose(desktop, "#svc-imap-bw-mode", "pool")
    _choose(desktop, "#svc-imap-bw-pool", "3")
    desktop.screenshot("services-bandwidth-pool")
    desktop.click("#btn-apply")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "bandwidth.imap.mode").strip() == "pool", what="the pool saved")
    assert postroomd(desktop.data_dir, "settings", "get", "bandwidth.imap.pool").strip() == "3"


def test_bandwidth_pools_window_refuses_a_circle_saves_nested_pools_and_shows_a_connection_in_its_pool(desktop):
    postroomd(desktop.data_dir, "settings", "set", "bandwidth.pop3.mode", "pool", "bandwidth.pop3.pool", "4")
    desktop.open_window("#btn-open-bandwidth", "bandwidth")
    desktop.find("#pool-1000")
    desktop.type("#pool-3-name", "VPOP3")
    desktop.type("#pool-3-allowed", "100000")
    desktop.type("#pool-4-name", "POP3")
    desktop.type("#pool-4-allowed", "-3")
    desktop.type("#pool-5-allowed", "-6")
    desktop.type("#pool-6-allowed", "-5")
    desktop.click("#btn-apply")
    error = wait_until(lambda: desktop.text("#pool-5-allowed-error") or desktop.text("#pool-6-allowed-error"), what="the circle refused")
    assert "circle" in error, error
    desktop.screenshot("bandwidth-pools-error")
    assert json.loads(postroomd(desktop.data_dir, "settings", "get", "bandwidth.pools")) == [], "nothing saved"
    desktop.type("#pool-6-allowed", "0")
    desktop.click("#btn-apply")
    wait_until(lambda: json.loads(postroomd(desktop.data_dir, "settings", "get", "bandwidth.pools")), what="the pools saved")
    saved = {p["id"]: (p["name"], p["allowed"]) for p in json.loads(postroomd(desktop.data_dir, "settings", "get", "bandwidth.pools"))}
    assert saved == {3: ("VPOP3", 100000), 4: ("POP3", -3), 5: ("", -6)}, saved
    assert "Shares pool 3" in desktop.text("#pool-4-meaning"), desktop.text("#pool-4-meaning")
    # A POP3 connection lands in pool 4 and is shown there, with where its limit came from.
    with socket.create_connection(("127.0.0.1", desktop.ports["pop3"]), timeout=5) as s:
        assert s.recv(100).startswith(b"+OK")
        wait_until(lambda: desktop.text("#pool-4-connections").strip() == "1", what="the connection in pool 4")
        row = wait_until(lambda: next((l for l in desktop.text("#connections-table").splitlines() if "POP3" in l), None), what="the connection listed")
        assert "service setting" in row and "4" in row, row
        desktop.screenshot("bandwidth-pools")


SATURDAY_NOON = "2026-11-28T12:00"
TUESDAY_TEN = "2026-11-24T10:00"


def test_bandwidth_lua_editor_checks_tests_the_time_of_day_example_and_saves_it_for_the_server(desktop):
    desktop.open_window("#btn-open-bandwidth", "bandwidth")
    desktop.open_window("#btn-edit-script", "bandwidthscript")
    desktop.find("#script-text")
    set_text = ("const t = document.getElementById('script-text'); t.value = arguments[0];"
                "t.dispatchEvent(new Event('input', {bubbles: true}));")
    desktop.driver.execute_script(set_text, "function GetBandwidth(params)\n  if params.username = 'x' then\n    return 0\n  end\nend\n")
    desktop.click("#btn-check")
    error = wait_until(lambda: desktop.text("#strip-error"), what="the syntax error")
    assert "line 2" in error, error
    desktop.screenshot("bandwidth-script-error")
    _choose(desktop, "#script-example", "timeofday")
    desktop.click("#btn-confirm-ok")  # the typed text is not saved: replace it?
    wait_until(lambda: "os.date" in desktop.driver.execute_script("return document.getElementById('script-text').value"), what="the example")

    def run(clientip, username, at):
        desktop.type("#test-clientip", clientip)
        desktop.find("#test-username").clear()
        if username:
            desktop.type("#test-username", username)
        desktop.driver.execute_script("const e = document.getElementById('test-at'); e.value = arguments[0]; e.dispatchEvent(new Event('input', {bubbles: true}));", at)
        before = desktop.text("#test-result")
        desktop.driver.execute_script("document.getElementById('test-result').textContent = ''")
        desktop.click("#btn-run-test")
        return wait_until(lambda: desktop.text("#test-result"), what=f"a result after {before!r}")

    assert "-2" in run("203.0.113.5", "", SATURDAY_NOON), "the weekend pool"
    assert "-1" in run("203.0.113.5", "", TUESDAY_TEN), "the daytime pool"
    result = run("203.0.113.5", "theboss", TUESDAY_TEN)
    assert "Returns 0" in result or "returns 0" in result.lower(), result
    assert "0" in run("192.168.4.7", "", SATURDAY_NOON)
    desktop.screenshot("bandwidth-script")
    desktop.click("#btn-save")
    wait_until(lambda: "Saved" in desktop.text("#strip-info"), what="saved")
    on_disk = (Path(desktop.data_dir.path) / "bandwidth.lua").read_text()
    assert 'os.date("*t")' in on_disk and "return -2" in on_disk, on_disk
    live = wait_until(lambda: (lambda d: d if d["script"]["active"] else None)(json.loads(postroomd(desktop.data_dir, "bandwidth", "status", "--json"))), what="the server running the script")
    assert live["script"]["compile_error"] is None
    # A POP3 connection from 127.0.0.1 on a weekday daytime or at the weekend: a pool, by the script.
    with socket.create_connection(("127.0.0.1", desktop.ports["pop3"]), timeout=5) as s:
        s.recv(100)
        doc = wait_until(lambda: (lambda d: d if d["connections"] else None)(json.loads(postroomd(desktop.data_dir, "bandwidth", "status", "--json"))), what="the connection")
        c = doc["connections"][0]
        assert c["origin"] == "script" and c["limit"]["source"] == "pool" and c["limit"]["value"] in (1, 2), c


def test_closing_the_script_editor_with_unsaved_changes_asks_first(desktop):
    (Path(desktop.data_dir.path) / "bandwidth.lua").write_text("function GetBandwidth(params)\n  return 0\nend\n")
    desktop.open_window("#btn-open-bandwidth", "bandwidth")
    pools = desktop.driver.current_window_handle
    editor = desktop.open_window("#btn-edit-script", "bandwidthscript")
    wait_until(lambda: "return 0" in desktop.driver.execute_script("return document.getElementById('script-text').value"), what="the file loaded")
    desktop.driver.execute_script(
        "const t = document.getElementById('script-text'); t.value = t.value.replace('return 0', 'return -1');"
        "t.dispatchEvent(new Event('input', {bubbles: true}));")
    # A close request, as the title bar's close button makes it.
    desktop.driver.execute_script("window.__TAURI_INTERNALS__.invoke('plugin:window|close', {label: 'bandwidthscript'})")
    desktop.find("#unsaved-dialog")
    desktop.screenshot("bandwidth-script-unsaved")
    assert editor in desktop.driver.window_handles, "still open"
    desktop.click("#btn-unsaved-save")
    wait_until(lambda: editor not in desktop.driver.window_handles, what="the editor to close after saving")
    desktop.driver.switch_to.window(pools)
    assert "return -1" in (Path(desktop.data_dir.path) / "bandwidth.lua").read_text()


def test_a_users_own_bandwidth_limit_is_set_on_the_advanced_tab(desktop):
    postroomd(desktop.data_dir, "user", "add", "grace", "--password-stdin", stdin="grace-secret\n")
    edit_user(desktop, "grace")
    desktop.click("#user-tab-advanced")
    desktop.type("#user-bandwidth", "-1001")
    desktop.click("#btn-user-ok")
    error = wait_until(lambda: desktop.text("#user-bandwidth-error"), what="the limit refused")
    assert "-1000" in error or "−1000" in error, error
    desktop.type("#user-bandwidth", "-2")
    desktop.screenshot("user-editor-advanced")
    desktop.click("#btn-user-ok")
    wait_until(lambda: json.loads(postroomd(desktop.data_dir, "user", "list", "--json"))[0]["bandwidth"] == -2, what="the limit saved")


def _mail_for(desktop, user, count, days_old=()):
    """Adds `user` with `count` messages over SMTP; those numbered in `days_old` (from 1) arrived 400 days ago."""
    import smtplib
    postroomd(desktop.data_dir, "user", "add", user, "--password-stdin", stdin=f"{user}-secret\n")
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        for i in range(1, count + 1):
            s.sendmail("bob@far.example", [f"{user}@localhost"], f"From: Bob <bob@far.example>\r\nSubject: note {i}\r\n\r\n{'x' * 100 * i}\r\n")
    for uid in days_old:
        _sql(desktop, f"UPDATE messages SET arrived_at = arrived_at - 400 * 86400 WHERE uid = {uid} "
                      f"AND folder_id IN (SELECT f.id FROM folders f JOIN users u ON u.id = f.user_id WHERE u.name = '{user}')")


def _sql(desktop, query):
    return subprocess.run(["sqlite3", str(Path(desktop.data_dir) / "postroom.db"), query], capture_output=True, text=True, check=True).stdout.strip()


def test_global_prune_rules_are_edited_in_place_refused_previewed_and_saved(desktop):
    _mail_for(desktop, "grace", 3, days_old=(1, 2))
    _sql(desktop, "UPDATE messages SET seen = 1 WHERE uid = 1")
    desktop.open_window("#btn-open-messagestore", "messagestore")
    wait_until(lambda: "No rules" in desktop.text("#global-rules"), what="the empty rule table")
    desktop.click("#btn-global-add-rule")
    # VPOP3's new row: Inbox, 365 days, no size, either, either.
    assert desktop.find("#global-r0-folder").get_attribute("value") == "Inbox"
    assert desktop.find("#global-r0-age").get_attribute("value") == "365"
    assert desktop.find("#global-r0-size").get_attribute("value") == ""
    # A folder pattern is refused next to its cell, and nothing is saved.
    desktop.type("#global-r0-folder", "Inbox/*")
    desktop.click("#btn-apply")
    wait_until(lambda: "will not work" in desktop.text("#global-r0-folder-error"), what="the pattern refused")
    desktop.screenshot("prune-rules-refused")
    assert postroomd(desktop.data_dir, "prune", "rules", "list").strip() == "no prune rules"
    # Fixed, and read-only: the preview counts the one read 400-day-old message before anything is saved.
    desktop.type("#global-r0-folder", "inbox")
    _choose(desktop, "#global-r0-read", "yes")
    desktop.click("#btn-global-preview")
    wait_until(lambda: "would prune 1 message " in desktop.text("#global-preview-total"), what="the preview")
    assert "grace" in desktop.text("#global-preview-list") and "row 1" in desktop.text("#global-preview-list")
    # Either read or unread: both old ones.
    _choose(desktop, "#global-r0-read", "either")
    desktop.click("#btn-global-preview")
    wait_until(lambda: "would prune 2 messages" in desktop.text("#global-preview-total"), what="the second preview")
    _choose(desktop, "#global-r0-read", "yes")
    # A second rule with every other column set: flagged, deleted-only and spam-only.
    desktop.click("#btn-global-add-rule")
    desktop.type("#global-r1-folder", "*")
    desktop.type("#global-r1-age", "30")
    desktop.type("#global-r1-size", "1000")
    _choose(desktop, "#global-r1-flagged", "no")
    desktop.click("#global-r1-deleted")
    desktop.click("#global-r1-spam")
    desktop.type("#recycle-hours", "48")
    desktop.screenshot("message-store")
    desktop.click("#btn-apply")
    wait_until(lambda: "Saved" in desktop.text(".strips"), what="saved")
    rules = json.loads(postroomd(desktop.data_dir, "prune", "rules", "list", "--json"))
    assert [(r["folder"], r["age_days"], r["read"], r["user"]) for r in rules][0] == ("INBOX", 365, "yes", None)
    assert [(r["folder"], r["age_days"], r["min_size"], r["flagged"], r["deleted"], r["spam"]) for r in rules][1] == ("*", 30, 1000, "no", True, True), rules
    assert postroomd(desktop.data_dir, "settings", "get", "store.recycle_hours").strip() == "48"
    # The rule change starts a pass: the message goes to the Recycle Bin, which the window counts.
    wait_until(lambda: _sql(desktop, "SELECT count(*) FROM recycled") == "1", timeout=40, what="the pass")
    desktop.click("#btn-apply")
    wait_until(lambda: desktop.text("#recycle-size").startswith("1 message"), what="the bin's size")
    assert "1 message" in desktop.text("#pruned-daily-note"), desktop.text("#pruned-daily-note")
    desktop.screenshot("message-store-after-pass")


def test_the_recycle_bin_window_restores_two_messages_into_the_users_folder(desktop):
    import imaplib
    _mail_for(desktop, "heidi", 3)
    imap = imaplib.IMAP4("127.0.0.1", desktop.ports["imap"])
    imap.login("heidi", "heidi-secret")
    imap.select("INBOX")
    imap.store("1:2", "+FLAGS.SILENT", "(\\Deleted)")
    imap.expunge()
    imap.logout()
    desktop.open_window("#btn-open-recyclebin", "recyclebin")
    wait_until(lambda: desktop.text("#recycle-table").count("IMAP expunge") == 2, what="two deleted messages")
    table = desktop.text("#recycle-table")
    assert "note 1" in table and "note 2" in table and "Bob <bob@far.example>" in table and "heidi" in table, table
    # The search narrows the list.
    desktop.type("#recycle-search", "note 2")
    wait_until(lambda: "note 1" not in desktop.text("#recycle-table"), what="the search")
    desktop.type("#recycle-search", "heidi")
    wait_until(lambda: desktop.text("#recycle-table").count("heidi") == 2, what="both again")
    desktop.click("#recycle-all")
    desktop.click("#recycle-mark")
    assert desktop.text("#btn-restore") == "Restore 2 messages"
    desktop.screenshot("recycle-bin")
    desktop.click("#btn-restore")
    wait_until(lambda: "2 messages restored to heidi's INBOX" in desktop.text(".strips"), what="restored")
    wait_until(lambda: "Nothing deleted matches the search." in desktop.text("#recycle-table"), what="the empty bin")
    # heidi's mail program sees three messages again, the restored two flagged, with new UIDs.
    imap = imaplib.IMAP4("127.0.0.1", desktop.ports["imap"])
    imap.login("heidi", "heidi-secret")
    imap.select("INBOX")
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    flags = b" ".join(data).decode()
    imap.logout()
    assert flags.count("\\Flagged") == 2 and "UID 4 " in flags and "UID 5 " in flags and "UID 1 " not in flags, flags
    # And the admin sees them in heidi's folder list again.
    for handle in desktop.driver.window_handles:
        desktop.driver.switch_to.window(handle)
        if desktop.driver.execute_script("return location.hash") in ("", "#/main", "#/"):
            break
    edit_user(desktop, "heidi")
    folders = wait_until(lambda: desktop.text("#user-folders"), what="the folder table")
    inbox = next(line for line in folders.splitlines() if line.startswith("INBOX"))
    assert inbox.split()[1] == "3", inbox


def test_a_users_prune_rules_tab_saves_their_rule_and_undelete_brings_mail_back(desktop):
    import poplib
    _mail_for(desktop, "ivan", 3)
    pop = poplib.POP3("127.0.0.1", desktop.ports["pop3"])
    pop.user("ivan")
    pop.pass_("ivan-secret")
    pop.dele(1)
    pop.quit()
    edit_user(desktop, "ivan")
    desktop.click("#user-tab-prune")
    wait_until(lambda: "No rules" in desktop.text("#user-rules"), what="ivan's empty rule table")
    desktop.click("#btn-user-add-rule")
    desktop.type("#user-r0-folder", "*")
    desktop.type("#user-r0-age", "0")
    desktop.type("#user-r0-size", "250")
    desktop.click("#btn-user-preview")
    # note 3 (300+ bytes of text) and note 2 are at least 250 bytes; note 1 is in the Recycle Bin.
    wait_until(lambda: "would prune 2 messages" in desktop.text("#user-preview-total"), what="the preview")
    desktop.screenshot("user-prune-rules")
    desktop.click("#user-tab-advanced")
    desktop.click("#btn-undelete")
    wait_until(lambda: "1 message restored to ivan's folders" in desktop.text("#user-editor"), what="undelete")
    desktop.screenshot("user-undelete")
    # Deleting the row again: nothing is pruned; OK saves an empty table, then one rule for ivan.
    desktop.click("#user-tab-prune")
    desktop.type("#user-r0-age", "3650")
    desktop.click("#btn-user-ok")
    wait_until(lambda: not desktop.driver.find_elements("css selector", "#user-editor"), what="the editor to close")
    rules = json.loads(postroomd(desktop.data_dir, "prune", "rules", "list", "--user", "ivan", "--json"))
    assert [(r["user"], r["folder"], r["age_days"], r["min_size"]) for r in rules] == [("ivan", "*", 3650, 250)]
    assert _sql(desktop, "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = 'ivan'") == "3"


def test_lan_forwarding_window_refuses_port_465_adds_and_reorders_rules(desktop):
    desktop.open_window("#btn-open-lanforward", "lanforward")
    wait_until(lambda: "No rules" in desktop.text("#lan-summary"), what="the empty list")
    desktop.click("#btn-add-lan-rule")
    desktop.type("#lan-r0-addresses", "sales@office.test")
    desktop.type("#lan-r0-host", "exchange.office.lan")
    desktop.type("#lan-r0-port", "465")
    desktop.click("#btn-apply")
    wait_until(lambda: "implicit TLS" in desktop.text("#lan-r0-port-error"), what="465 refused next to the port")
    assert json.loads(postroomd(desktop.data_dir, "lan-forward", "list", "--json")) == []
    assert "Nothing was saved" in desktop.text(".strips")
    desktop.type("#lan-r0-port", "587")
    wait_until(lambda: "Nothing was saved" not in desktop.text(".strips"), what="the stale strip to go once the field is corrected")
    desktop.click("#btn-add-lan-rule")
    desktop.type("#lan-r1-addresses", "~@office.test")
    desktop.type("#lan-r1-host", "10.0.0.5")
    desktop.type("#lan-r1-rewrite", "*@main.example")
    # The catch-all goes first, then back down: the order saved is the order shown.
    desktop.click("#lan-r1-up")
    desktop.click("#lan-r1-down")
    # This server as a backup MX for partner.example, for one recipient.
    desktop.click("#btn-add-relay-domain")
    desktop.type("#relay-2-domain", "partner.example")
    desktop.click("#relay-2-any")
    desktop.type("#relay-2-recipients", "orders")
    desktop.screenshot("lan-forwarding")
    desktop.click("#btn-apply")
    wait_until(lambda: "Saved" in desktop.text(".strips"), what="saved")
    # Saved rules close to one line each: what they catch and where it goes.
    listed = " ".join(desktop.text("#lan-rules").split())
    assert "Rule 1 (tried first): sales@office.test → exchange.office.lan:587" in listed, listed
    assert "Rule 2: ~@office.test → 10.0.0.5:25, as *@main.example" in listed, listed
    assert "Target SMTP server" not in listed, listed
    desktop.screenshot("lan-forwarding-saved")
    rules = json.loads(postroomd(desktop.data_dir, "lan-forward", "list", "--json"))
    assert [(r["addresses"], r["host"], r["port"], r["rewrite"]) for r in rules] == [
        (["sales@office.test"], "exchange.office.lan", 587, ""), (["~@office.test"], "10.0.0.5", 25, "*@main.example")], rules
    relay = json.loads(postroomd(desktop.data_dir, "settings", "get", "relay.domains"))
    assert relay == [{"domain": "partner.example", "any_recipient": False, "recipients": ["orders"]}], relay


def test_store_and_forward_fields_and_the_routing_warning_in_the_user_editor(desktop):
    postroomd(desktop.data_dir, "user", "add", "judy", "--password-stdin", stdin="judy-secret\n")
    edit_user(desktop, "judy")
    desktop.click("#user-tab-advanced")
    desktop.type("#user-sf-target", "judy@main.example")
    desktop.type("#user-sf-server", "main.office.lan:465")
    desktop.click("#btn-user-ok")
    wait_until(lambda: "implicit TLS" in desktop.text("#user-sf-server-error"), what="465 refused")
    desktop.type("#user-sf-server", "fwd:secret@main.office.lan:587")
    desktop.click("#user-tab-routing")
    desktop.type("#user-forward", "SMTP:judy@elsewhere.example@relay.office.lan")
    desktop.click("#btn-user-ok")
    # Both at once: saved, and the admin is warned that mail would arrive twice.
    wait_until(lambda: "reach the main server twice" in desktop.text("#forwarding-warning"), what="the warning")
    desktop.screenshot("user-forwarding-warning")
    desktop.click("#btn-message-ok")
    detail = json.loads(postroomd(desktop.data_dir, "user", "list", "--json"))
    assert any(u["name"] == "judy" for u in detail)
    assert _sql(desktop, "SELECT sf_target || ' ' || sf_server || ' ' || forward_to FROM users WHERE name = 'judy'") == \
        "judy@main.example fwd:secret@main.office.lan:587 SMTP:judy@elsewhere.example@relay.office.lan"
    desktop.click('#users-table tr[data-key="judy"] td')
    desktop.click("#btn-edit-user")
    desktop.click("#user-tab-routing")
    assert "twice" in desktop.text("#routing-warning")
    desktop.screenshot("user-routing")


def test_the_main_window_warns_while_the_store_and_forward_server_is_down_and_the_editor_counts_what_waits(desktop):
    import smtplib
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: the main server is down
    postroomd(desktop.data_dir, "user", "add", "kim", "--password-stdin", stdin="kim-secret\n")
    postroomd(desktop.data_dir, "user", "set", "kim", "--store-forward-target", "kim@main.example", "--store-forward-server", dead)
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        for i in range(1, 4):
            s.sendmail("bob@far.example", ["kim@localhost"], f"From: bob@far.example\r\nSubject: note {i}\r\n\r\nhello\r\n")
    wait_until(lambda: "3 messages held locally" in desktop.text("#forwarding-problems"), what="the warning in the main window")
    warning = desktop.text("#forwarding-problems")
    assert f"Main server {dead} unreachable since " in warning and "Connection refused" in warning, warning
    desktop.screenshot("main-forwarding-down")
    edit_user(desktop, "kim")
    desktop.click("#user-tab-advanced")
    assert desktop.text("#user-sf-waiting").startswith("3 messages"), desktop.text("#user-sf-waiting")
    desktop.screenshot("user-store-forward-waiting")


def test_the_dns_records_page_lists_what_to_publish_and_new_dkim_keys_change_the_selectors(desktop):
    postroomd(desktop.data_dir, "domain", "add", "office.test")
    desktop.open_window("#btn-open-domains", "domains")
    wait_until(lambda: "office.test" in desktop.text("#domains-table"), what="the domain listed")
    desktop.click('#domains-table tr[data-key="office.test"] td')
    desktop.click("#btn-domain-dns")
    wait_until(lambda: desktop.text("#dns-records").count("_domainkey.office.test.") == 2, what="the records")
    listed = desktop.text("#dns-records")
    for expected in ["MX", "office.test.", "v=spf1 mx a:", "v=DKIM1; k=rsa; p=", "v=DKIM1; k=ed25519; p=", "_dmarc.office.test.", "v=DMARC1; p=none"]:
        assert expected in listed, (expected, listed)
    # Nothing is published in this test's DNS: each record says so.
    assert listed.count("Missing") == 5, listed
    desktop.screenshot("domain-dns-records")
    before = [line for line in listed.splitlines() if "_domainkey" in line]
    desktop.click("#btn-dkim-rotate")
    desktop.click("#btn-confirm-ok")
    wait_until(lambda: [l for l in desktop.text("#dns-records").splitlines() if "_domainkey" in l] not in ([], before), what="new selectors")
    selectors = _sql(desktop, "SELECT count(*) FROM dkim_keys WHERE domain = 'office.test' AND retired_at IS NULL")
    assert selectors == "2", selectors
    assert _sql(desktop, "SELECT count(*) FROM dkim_keys WHERE domain = 'office.test'") == "4"


def test_spam_filter_window_switches_checks_and_the_dmarc_refusal(desktop):
    desktop.open_window("#btn-open-spamfilter", "spamfilter")
    wait_until(lambda: desktop.driver.execute_script("return document.querySelector('#spam-dmarc-reject').checked"), what="the settings read")
    desktop.click("#spam-dmarc-reject")
    desktop.click("#spam-arc")
    desktop.screenshot("spam-filter")
    # Refusing below the quarantine's score makes no sense: refused next to the field, its tab brought forward.
    desktop.click("#spam-tab-score")
    desktop.type("#spam-refuse-score", "3")
    desktop.click("#spam-tab-checks")
    desktop.click("#btn-apply")
    wait_until(lambda: "must not be below the one for the quarantine" in desktop.text("#spam-refuse-score-error"), what="the refusal")
    assert desktop.driver.execute_script("return document.querySelector('#spam-refuse-score').offsetParent !== null"), "the Score tab came forward"
    assert postroomd(desktop.data_dir, "settings", "get", "spam.refuse_score").strip() == "15"
    desktop.type("#spam-refuse-score", "20")
    desktop.type("#spam-quarantine-score", "12")
    assert "learning" in desktop.text("#bayes-status"), desktop.text("#bayes-status")
    desktop.screenshot("spam-filter-score")
    desktop.click("#spam-tab-lists")
    desktop.click("#btn-usual-blocklists")
    desktop.click("#btn-usual-allowlists")
    desktop.screenshot("spam-filter-lists")
    desktop.click("#spam-tab-senders")
    desktop.type("#spam-deny-senders", "pest.example" + Keys.ENTER + "boss@spammer.example")
    desktop.click("#spam-tab-more")
    desktop.click("#spam-greylist")
    desktop.screenshot("spam-filter-greylisting")
    desktop.click("#btn-apply")
    wait_until(lambda: "Saved" in desktop.text(".strips"), what="saved")
    assert postroomd(desktop.data_dir, "settings", "get", "spam.refuse_score").strip() == "20"
    assert postroomd(desktop.data_dir, "settings", "get", "spam.quarantine_score").strip() == "12"
    lists = json.loads(postroomd(desktop.data_dir, "settings", "get", "spam.blocklists"))
    assert {"zone": "zen.spamhaus.org", "points": 10} in lists and len(lists) == 4, lists
    assert json.loads(postroomd(desktop.data_dir, "settings", "get", "spam.allowlists")) == [{"zone": "list.dnswl.org", "points": 3}]
    assert json.loads(postroomd(desktop.data_dir, "settings", "get", "spam.deny_senders")) == ["pest.example", "boss@spammer.example"]
    assert postroomd(desktop.data_dir, "settings", "get", "spam.greylist").strip() == "true"
    assert postroomd(desktop.data_dir, "settings", "get", "spam.dmarc_reject").strip() == "false"
    assert postroomd(desktop.data_dir, "settings", "get", "spam.arc").strip() == "false"
    assert postroomd(desktop.data_dir, "settings", "get", "spam.spf").strip() == "true"
    # Without DMARC there is no policy to obey: its switch cannot be set.
    desktop.click("#spam-tab-checks")
    desktop.click("#spam-dmarc")
    assert desktop.driver.execute_script("return document.querySelector('#spam-dmarc-reject').disabled")


def test_the_quarantine_window_releases_once_and_allows_a_sender_and_the_users_spam_tab_keeps_lists(desktop):
    import smtplib
    # Loopback as a stranger, no DNS checks (no Internet here), and a low bar for the quarantine.
    postroomd(desktop.data_dir, "settings", "set", "smtp.trusted_networks", "", "spam.spf", "false", "spam.dkim", "false", "spam.dmarc", "false",
              "spam.arc", "false", "spam.iprev", "false", "spam.mark_score", "1", "spam.junk_score", "2", "spam.quarantine_score", "3", "spam.refuse_score", "50")
    postroomd(desktop.data_dir, "user", "add", "lena", "--password-stdin", stdin="lena-secret\n")
    wait_until(lambda: postroomd(desktop.data_dir, "settings", "get", "spam.quarantine_score").strip() == "3", what="settings")
    time.sleep(1.5)  # the running engine reads settings changed by another process within a second
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        s.sendmail("deals@shop.example", ["lena@localhost"], "From: deals@shop.example\r\nSubject: HUGE DISCOUNTS TODAY\r\n\r\nbuy\r\n")
        s.sendmail("news@club.example", ["lena@localhost"], "From: Club News <news@club.example>\r\nSubject: MEMBERS NEWSLETTER\r\n\r\nhello\r\n")
    assert _sql(desktop, "SELECT count(*) FROM quarantine") == "2"
    main = desktop.driver.current_window_handle
    desktop.open_window("#btn-open-quarantine", "quarantine")
    wait_until(lambda: "HUGE DISCOUNTS TODAY" in desktop.text("#quarantine-table"), what="the held messages")
    listed = desktop.text("#quarantine-table")
    assert "MISSING_DATE(1), MISSING_MESSAGE_ID(1), SUBJECT_ALL_CAPS(1)" in listed and "lena@localhost" in listed, listed
    assert "2 messages held" in desktop.text("#quarantine-summary")
    desktop.screenshot("quarantine")
    first = desktop.driver.execute_script("return [...document.querySelectorAll('#quarantine-table tr[data-id]')].find(r => r.textContent.includes('HUGE')).dataset.id")
    desktop.click(f'#quarantine-table tr[data-id="{first}"] td')
    desktop.click("#btn-release")
    wait_until(lambda: "1 message released: 1 copy delivered" in desktop.text(".strips"), what="released")
    assert _sql(desktop, "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.path = 'INBOX'") == "1"
    wait_until(lambda: "1 message held" in desktop.text("#quarantine-summary"), what="the list refreshed")
    desktop.click("#quarantine-table tr[data-id] td")
    desktop.click("#btn-allow-sender")
    wait_until(lambda: "Allowed from now on: news@club.example" in desktop.text(".strips"), what="allowed")
    assert json.loads(postroomd(desktop.data_dir, "settings", "get", "spam.allow_senders")) == ["news@club.example"]
    assert _sql(desktop, "SELECT count(*) FROM messages") == "2"
    assert "Nothing is held" in desktop.text("#quarantine-table")

    # The user's own lists, on the editor's Spam tab.
    desktop.driver.switch_to.window(main)
    edit_user(desktop, "lena")
    desktop.click("#user-tab-spam")
    desktop.type("#user-spam-allow", "partner.example" + Keys.ENTER + "  Boss@Supplier.example ")
    desktop.type("#user-spam-deny", "not a domain")
    desktop.click("#btn-user-ok")
    wait_until(lambda: desktop.text("#user-spam-deny-error"), what="the bad entry marked")
    desktop.screenshot("user-spam-tab")
    desktop.type("#user-spam-deny", "newsletter.example")
    desktop.click("#btn-user-ok")
    wait_until(lambda: _sql(desktop, "SELECT spam_deny FROM users WHERE name = 'lena'") == "newsletter.example", what="saved")
    assert _sql(desktop, "SELECT spam_allow FROM users WHERE name = 'lena'") == "partner.example\nboss@supplier.example"

def test_mail_collectors_are_added_in_the_window_run_now_collects_and_a_refused_login_shows_in_the_list(desktop):
    import smtplib
    # The ISP is Postroom's own POP3 service here: a mailbox "isp" holding three messages for alice.
    postroomd(desktop.data_dir, "user", "add", "alice", "--password-stdin", stdin="alice-secret\n")
    postroomd(desktop.data_dir, "user", "add", "isp", "--password-stdin", stdin="isp-secret\n")
    with smtplib.SMTP("127.0.0.1", desktop.ports["smtp"], timeout=10) as s:
        for n in range(3):
            s.sendmail("shop@far.example", ["isp@localhost"], f"From: shop@far.example\r\nTo: alice@localhost\r\nSubject: order {n}\r\n\r\nYour order {n}.\r\n")
    main = desktop.driver.current_window_handle
    desktop.open_window("#btn-open-collectors", "collectors")
    wait_until(lambda: "No collectors" in desktop.text("#collectors-table"), what="the empty list")

    # A new collector: a missing server is refused next to its field.
    desktop.click("#btn-add-collector")
    desktop.type("#collector-name", "ISP mailbox")
    desktop.click("#btn-collector-ok")
    wait_until(lambda: desktop.text("#collector-host-error") != "", what="the server's error")
    desktop.type("#collector-host", "127.0.0.1")
    desktop.type("#collector-port", str(desktop.ports["pop3"]))
    desktop.find("#collector-security").send_keys("STARTTLS (required)")
    desktop.click("#collector-verify")  # the app's own certificate is self-signed
    desktop.type("#collector-username", "isp")
    desktop.type("#collector-password", "isp-secret")
    desktop.screenshot("collector-editor-general")
    desktop.click("#collector-tab-routing")
    desktop.click("#collector-route-one")
    desktop.type("#collector-deliver-to", "alice")
    desktop.screenshot("collector-editor-routing")
    desktop.click("#collector-tab-schedule")
    desktop.click("#collector-paused")  # only Run Now in this test
    desktop.screenshot("collector-editor-schedule")
    desktop.click("#btn-collector-ok")
    wait_until(lambda: "ISP mailbox" in desktop.text("#collectors-table") and "(paused)" in desktop.text("#collectors-table"), what="the new collector")
    listed = json.loads(postroomd(desktop.data_dir, "collector", "list", "--json"))
    assert listed[0]["form"]["deliver_to"] == "alice" and listed[0]["form"]["security"] == "starttls" and listed[0]["form"]["paused"] is True

    # Run Now: the three messages move from the ISP's mailbox to alice's, and the strip says so.
    desktop.click("#collectors-table tbody tr td")
    desktop.click("#btn-run-collector")
    wait_until(lambda: "Collected 3 messages" in desktop.text("body"), what="the run's result")
    assert _sql(desktop, "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = 'alice'") == "3"
    assert _sql(desktop, "SELECT count(*) FROM messages m JOIN folders f ON f.id = m.folder_id JOIN users u ON u.id = f.user_id WHERE u.name = 'isp'") == "0"
    wait_until(lambda: "3 messages" in desktop.text("#collectors-table"), what="the last result in the list")
    desktop.screenshot("collectors")

    # The editor for IMAP: the folder, and where collected messages go there, appear.
    desktop.click("#btn-edit-collector")
    assert not desktop.find("#collector-folder").is_displayed()
    desktop.find("#collector-protocol").send_keys("IMAP (one folder)")
    wait_until(lambda: desktop.find("#collector-folder").is_displayed(), what="the IMAP fields")
    desktop.type("#collector-move-to", "Collected")
    desktop.screenshot("collector-editor-imap")
    desktop.click("#btn-collector-cancel")
    assert json.loads(postroomd(desktop.data_dir, "collector", "list", "--json"))[0]["form"]["protocol"] == "pop3", "Cancel changed nothing"

    # A wrong password: Run Now says the login was refused, and so does the list.
    postroomd(desktop.data_dir, "collector", "add", "Wrong password", "--protocol", "pop3", "--server", f"127.0.0.1:{desktop.ports['pop3']}",
              "--user", "isp", "--password-stdin", "--security", "starttls", "--no-verify-certificate", "--to", "alice", stdin="nope\n")
    wait_until(lambda: "Wrong password" in desktop.text("#collectors-table"), what="the collector added from the command line")
    desktop.driver.execute_script(
        "[...document.querySelectorAll('#collectors-table tbody tr td')].find(td => td.innerText.startsWith('Wrong password')).click();")
    desktop.click("#btn-run-collector")
    wait_until(lambda: "login refused" in desktop.text("body"), what="the refusal")
    wait_until(lambda: "login refused" in desktop.text("#collectors-table"), what="the refusal in the list")
    desktop.screenshot("collectors-login-refused")
    desktop.driver.close()
    desktop.driver.switch_to.window(main)
    # Failing three times in a row: the main window (and the tray) warn.
    for _ in range(2):
        # Refused: exit status 1.
        subprocess.run([str(POSTROOMD), "--data-dir", str(desktop.data_dir), "collector", "run", "Wrong password"], capture_output=True, timeout=60)
    wait_until(lambda: 'Mail collector "Wrong password" failed 3 times in a row' in desktop.text("#collector-problems"), what="the main window's warning", timeout=30)
    desktop.screenshot("main-collector-problem")


def _fetch(port, path, host):
    """The document at `path` over HTTP, or None while nothing listens on `port`."""
    import urllib.error
    import urllib.request
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.read().decode()
    except urllib.error.URLError as e:
        if isinstance(e.reason, ConnectionRefusedError):
            return None
        raise


def test_the_web_service_is_turned_on_in_services_and_the_user_editor_shows_the_mail_program_settings(desktop):
    import xml.etree.ElementTree as ET
    postroomd(desktop.data_dir, "domain", "add", "office.test")
    postroomd(desktop.data_dir, "settings", "set", "general.server_name", "mail.office.test")
    postroomd(desktop.data_dir, "user", "add", "ann", "--password-stdin", "--real-name", "Ann Archer", stdin="ann-secret-1\n")
    http = desktop.ports["http"]
    main = desktop.driver.current_window_handle
    desktop.open_window("#btn-open-services", "services")
    desktop.click("#tab-http")
    tls_choices = desktop.driver.execute_script("return [...document.querySelectorAll('#svc-http-tls option')].map(o => o.value)")
    assert tls_choices == ["none", "implicit"], "a web service has no STARTTLS"
    desktop.click("#svc-http-enabled")
    desktop.driver.execute_script(
        "const s = document.querySelector('#web-mta-sts-mode'); s.value = 'enforce'; s.dispatchEvent(new Event('change', {bubbles: true}));")
    desktop.screenshot("services-http")
    desktop.click("#btn-apply")
    policy = wait_until(lambda: _fetch(http, "/.well-known/mta-sts.txt", "mta-sts.office.test"), what="the web service answering")
    assert policy == "version: STSv1\r\nmode: enforce\r\nmx: mail.office.test\r\nmax_age: 604800\r\n", policy
    desktop.driver.close()
    desktop.driver.switch_to.window(main)

    edit_user(desktop, "ann")
    desktop.click("#user-tab-mail-program")
    table = wait_until(lambda: desktop.text("#mail-program-table"), what="the servers")
    assert desktop.text("#mail-program-address") == "ann@office.test"
    assert desktop.text("#mail-program-login") == "ann"
    assert "web service is on" in desktop.text("#mail-program-auto")
    desktop.screenshot("user-editor-mail-program")
    # The window and the document Thunderbird fetches agree, port for port.
    doc = ET.fromstring(_fetch(http, "/mail/config-v1.1.xml?emailaddress=ann@office.test", "autoconfig.office.test"))
    servers = doc.findall("emailProvider/incomingServer") + doc.findall("emailProvider/outgoingServer")
    assert len(servers) == 6, ET.tostring(doc)
    rows = [line for line in table.splitlines() if "mail.office.test" in line]
    assert len(rows) == 6, table
    for server, row in zip(servers, rows):
        security = {"SSL": "SSL/TLS", "STARTTLS": "STARTTLS"}[server.findtext("socketType")]
        assert server.findtext("port") in row.split() and security in row and server.get("type").upper() in row, (row, ET.tostring(server))
        assert server.findtext("username") == "%EMAILADDRESS%", "Thunderbird logs in with the address typed in"


def _login_items():
    """The XDG autostart entries that start this build of Postroom: {path: text}."""
    folder = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "autostart"
    found = {}
    for entry in folder.glob("*.desktop") if folder.is_dir() else []:
        text = entry.read_text(errors="replace")
        if "postroom" in text.lower():
            found[entry] = text
    return found


def test_start_postroom_when_i_log_in_adds_a_login_item_that_starts_it_in_the_tray(desktop):
    assert not _login_items(), "no login item before the box is ticked"
    assert desktop.driver.execute_script("return document.getElementById('autostart').checked") is False
    desktop.click("#autostart")
    items = wait_until(_login_items, what="the login item")
    try:
        (path, entry), = items.items()
        exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
        assert "postroom" in exec_line and "--tray" in exec_line, exec_line
        assert f"--data-dir {desktop.data_dir}" in exec_line, "it starts with this data folder"
        desktop.screenshot("main-autostart")
        desktop.click("#autostart")
        wait_until(lambda: not _login_items(), what="the login item removed")
        assert desktop.driver.execute_script("return document.getElementById('autostart').checked") is False
    finally:
        for leftover in _login_items():
            leftover.unlink()
