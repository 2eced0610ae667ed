"""The first-run wizard, end to end: Postroom started on a new data folder opens it by itself; the admin
answers each page (every page checked as it goes, Back keeping what was typed), tests the provider's smart
host — a real Postfix asking for a login through Dovecot — and finishes; then mail is sent and read with
the account data the wizard printed. Cancel leaves nothing behind. Screenshots of every page."""

import imaplib
import json
import re
import smtplib
import ssl
import time
from email.message import EmailMessage

import pytest

from conftest import SERVICES, DataFolder, Desktop, free_port, greeting, launch, postroomd, wait_until
from peers import SmartHost


def start_new(tauri_driver, folder):
    """The app on a data folder that does not exist yet, every service on a loopback port of its own."""
    ports = {}
    while len(set(ports.values())) < len(SERVICES):
        ports = {s: free_port() for s in SERVICES}
    args = ["--data-dir", str(folder)]
    for service, port in ports.items():
        args += ["--listen", f"{service}=127.0.0.1:{port}"]
    driver = launch(tauri_driver, args)
    app = Desktop(driver, DataFolder(folder, ports))
    wait_until(lambda: greeting(ports["imap"]), what="the engine's IMAP greeting")
    return app


def stop(app):
    try:
        app.driver.quit()
    finally:
        wait_until(lambda: greeting(app.ports["imap"], 0.3) is None, what="the app to stop")


def switch_to_wizard(app):
    def found():
        for handle in app.driver.window_handles:
            app.driver.switch_to.window(handle)
            if app.driver.execute_script("return location.hash") == "#/setup":
                return handle
        return None

    handle = wait_until(found, what="the set-up wizard to open by itself")
    wait_until(lambda: app.text("#setup-page h2"), what="the first page")
    return handle


def title(app):
    return app.text("#setup-page h2")


def error_of(app, field_id):
    return app.text(f"#{field_id}-error")


def next_page(app, expected_title):
    app.click("#btn-setup-next")
    wait_until(lambda: title(app) == expected_title, what=f"the page '{expected_title}'")


@pytest.fixture
def smart_host(tmp_path):
    with SmartHost(tmp_path / "isp", free_port(), {"isp-user": "isp-secret"}) as host:
        yield host


def test_the_wizard_sets_up_a_new_server_and_its_accounts_work(tauri_driver, tmp_path, smart_host):
    app = start_new(tauri_driver, tmp_path / "new-office")
    try:
        switch_to_wizard(app)
        assert title(app) == "Domain and server name"
        assert app.text("#setup-position") == "Step 1 of 6"
        app.screenshot("setup-1-welcome")

        # Page 1: nothing typed is refused next to the fields.
        app.driver.execute_script("document.getElementById('setup-server-name').value = ''; document.getElementById('setup-server-name').dispatchEvent(new Event('input'))")
        app.click("#btn-setup-next")
        wait_until(lambda: error_of(app, "setup-domains"), what="the domain's error")
        assert "example.com" in error_of(app, "setup-domains")
        assert error_of(app, "setup-server-name")
        assert title(app) == "Domain and server name", "a page with problems is not left"
        app.type("#setup-domains", "office.test")
        app.type("#setup-server-name", "mail")
        app.click("#btn-setup-next")
        wait_until(lambda: "full name" in error_of(app, "setup-server-name"), what="the server name's error")
        app.type("#setup-server-name", "mail.office.test")
        app.click("#btn-setup-lookup")
        result = wait_until(lambda: (t := app.text("#setup-lookup-result")) and t != "Asking DNS…" and t, timeout=40, what="the DNS answer")
        assert result.startswith("mail.office.test"), result
        app.screenshot("setup-1-domain")
        next_page(app, "Users")

        # Page 2: a short password is refused on its row; a second user is added.
        app.type("#setup-user-0-name", "ann")
        app.type("#setup-user-0-real_name", "Ann Smith")
        app.type("#setup-user-0-password", "abc")
        app.click("#btn-setup-next")
        wait_until(lambda: error_of(app, "setup-user-0-password"), what="the password's error")
        app.type("#setup-user-0-password", "ann-secret-1")
        app.click("#btn-setup-add-user")
        app.type("#setup-user-1-name", "bob")
        app.type("#setup-user-1-real_name", "Bob Jones")
        app.type("#setup-user-1-password", "bob-secret-1")
        assert app.text("#setup-users-count") == "2 users"
        app.screenshot("setup-2-users")

        # Back keeps what was typed, on both pages.
        app.click("#btn-setup-back")
        wait_until(lambda: title(app) == "Domain and server name", what="page 1 again")
        assert app.driver.execute_script("return document.getElementById('setup-domains').value") == "office.test"
        assert app.driver.execute_script("return document.getElementById('setup-server-name').value") == "mail.office.test"
        next_page(app, "Users")
        values = app.driver.execute_script("return [...document.querySelectorAll('#setup-users input')].map(i => i.value)")
        assert values == ["ann", "Ann Smith", "ann-secret-1", "bob", "Bob Jones", "bob-secret-1"]
        next_page(app, "Sending mail")

        # Page 3: the provider's smart host, tested for real: a wrong password, then the right one.
        app.click("#setup-send-relay")
        app.type("#setup-smart-host", "127.0.0.1")
        app.type("#setup-smart-port", str(smart_host.port))
        app.click("#setup-smart-verify")  # the snakeoil certificate of a server on our own network
        app.type("#setup-smart-user", "isp-user")
        app.type("#setup-smart-password", "wrong-secret")
        app.click("#btn-setup-test")
        refused = wait_until(lambda: (t := app.text("#setup-test-result")) and t != "Connecting…" and t, timeout=40, what="the test's answer")
        assert "535" in refused, f"{refused}\n{smart_host.log()}"
        app.type("#setup-smart-password", "isp-secret")
        app.click("#btn-setup-test")
        wait_until(lambda: app.text("#setup-test-result").startswith("Connected"), timeout=40, what="a good test")
        assert app.text("#setup-test-result") == f"Connected to 127.0.0.1 (127.0.0.1:{smart_host.port}), encrypted with STARTTLS, logged in as isp-user."
        assert "sasl_username=isp-user" in smart_host.log() or "isp-user" in smart_host.log()
        app.screenshot("setup-3-sending")
        next_page(app, "Certificate")
        app.screenshot("setup-4-certificate")
        next_page(app, "Services")

        # Page 5: turning every SMTP service off is refused; the web service is turned on.
        for s in ("smtp", "submission", "smtps"):
            app.click(f"#setup-svc-{s}")
        app.click("#btn-setup-next")
        wait_until(lambda: "SMTP" in error_of(app, "setup-services"), what="the services' error")
        for s in ("smtp", "submission", "smtps", "http"):
            app.click(f"#setup-svc-{s}")
        # How it runs: what `postroomd service status` says (here: no systemd, so greyed out with the reason).
        service = json.loads(postroomd(app.data_dir, "service", "status", "--json"))
        disabled = app.driver.execute_script("return document.querySelector('#setup-system-service').disabled")
        assert disabled == (not service["available"]), service
        if not service["available"]:
            assert service["why_not"] in app.text("#setup-system-service-why")
        app.screenshot("setup-5-services")
        next_page(app, "Ready")
        summary = app.text("#setup-summary")
        assert "office.test" in summary and "2 users: ann, bob" in summary and f"through 127.0.0.1:{smart_host.port} as isp-user" in summary, summary
        assert "Runs: in this app, while you are logged in" in summary.replace("\n", " "), summary
        app.screenshot("setup-6-ready")

        app.click("#btn-setup-next")
        wait_until(lambda: app.text("#setup-done"), timeout=60, what="the end page")
        kinds = app.driver.execute_script("return [...document.querySelectorAll('.dns-record')].map(r => r.dataset.kind)")
        assert kinds[0] == "mx" and "spf" in kinds and "dmarc" in kinds, kinds
        accounts = {e["user"]: e["text"] for e in app.driver.execute_script(
            "return [...document.querySelectorAll('.setup-account')].map(p => ({user: p.dataset.user, text: p.innerText}))")}
        assert sorted(accounts) == ["ann", "bob"]
        app.screenshot("setup-7-done")
        app.click("#btn-setup-close")
    finally:
        stop(app)

    # What was set up, as postroomd reads it.
    assert postroomd(app.data_dir, "domain", "list").split() == ["office.test"]
    users = postroomd(app.data_dir, "user", "list")
    assert "ann" in users and "bob" in users
    got = [postroomd(app.data_dir, "settings", "get", key).strip() for key in ("general.server_name", "outbound.smart_host", "outbound.username", "services.http.enabled")]
    assert got == ["mail.office.test", "127.0.0.1", "isp-user", "true"], got

    # The account data the wizard printed works in real clients: ann sends to bob, bob reads it.
    app = start_again(tauri_driver, app)
    try:
        def way(text, protocol, security="SSL/TLS"):
            m = re.search(rf"{protocol}: server (\S+), port (\d+), {security}", text)
            assert m, text
            return int(m.group(2))

        login = re.search(r"User name \(for incoming and outgoing mail\): (\S+)", accounts["ann"]).group(1)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "ann@office.test", "bob@office.test", "Set up by the wizard"
        msg.set_content("It works.")
        with smtplib.SMTP_SSL("127.0.0.1", way(accounts["ann"], "SMTP"), context=ctx, timeout=30) as s:
            s.login(login, "ann-secret-1")
            s.send_message(msg)
        bob_login = re.search(r"User name \(for incoming and outgoing mail\): (\S+)", accounts["bob"]).group(1)
        imap = imaplib.IMAP4_SSL("127.0.0.1", way(accounts["bob"], "IMAP"), ssl_context=ctx)
        imap.login(bob_login, "bob-secret-1")
        imap.select("INBOX")
        found = wait_until(lambda: imap.noop() and imap.search(None, "SUBJECT", '"Set up by the wizard"')[1][0].split(), what="ann's message in bob's INBOX")
        assert len(found) == 1
        imap.logout()
    finally:
        stop(app)


def start_again(tauri_driver, app):
    """The same data folder started again: no wizard this time, it has users."""
    args = ["--data-dir", str(app.data_dir)]
    for service, port in app.ports.items():
        args += ["--listen", f"{service}=127.0.0.1:{port}"]
    driver = launch(tauri_driver, args)
    again = Desktop(driver, app.data_dir)
    wait_until(lambda: greeting(app.ports["imap"]), what="the engine's IMAP greeting")
    time.sleep(1)
    hashes = []
    for handle in driver.window_handles:
        driver.switch_to.window(handle)
        hashes.append(driver.execute_script("return location.hash"))
    assert "#/setup" not in hashes, "the wizard opens only on a new data folder"
    return again


def test_cancel_in_the_wizard_leaves_nothing_behind(tauri_driver, tmp_path):
    app = start_new(tauri_driver, tmp_path / "cancelled")
    try:
        switch_to_wizard(app)
        app.type("#setup-domains", "office.test")
        app.type("#setup-server-name", "mail.office.test")
        next_page(app, "Users")
        app.type("#setup-user-0-name", "ann")
        app.type("#setup-user-0-password", "ann-secret-1")
        app.screenshot("setup-cancel")
        app.click("#btn-setup-cancel")
        wait_until(lambda: len(app.driver.window_handles) == 1, what="the wizard to close")
    finally:
        stop(app)
    assert postroomd(app.data_dir, "domain", "list").strip() == ""
    assert "ann" not in postroomd(app.data_dir, "user", "list")
