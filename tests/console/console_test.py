#!/usr/bin/env python3
"""The web console in a real browser (headless Chromium driven by Selenium) against the real
`hikyaku serve`.

A destination that answers 400 makes dead letters of two Security Hub findings (sample 13 carries
quotes and markup-like text). In the browser: a wrong admin key is refused and a right one signs
in; the overview counts the dead letters; the dead letter of sample 13 opens with its event, body,
request and error, its hostile text shown as text; once the destination answers 200, Redrive
delivers it (the Deliveries page and the destination both see it); the rule tester explains why a
rule does not match and shows the body a matched target would receive. Every page is
screenshotted at desktop and phone (375 px) widths into --out.

Exit codes: 0 passed, 1 failed, 77 skipped (Chromium, chromedriver or python3-selenium missing:
scripts/install-deps installs them).
"""

import argparse
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

SKIP = 77
ADMIN_HEADER = "x-hikyaku-admin-key"
ADMIN_KEY = "console-admin-key-3f9a60"
HOSTILE_MARKUP = "<script>alert('x')</script>"
HOSTILE_TITLE = 'RDS スナップショット "prod-db-2026-03-01" が公開状態'
# The title as the pages show it inside a JSON body or event: its quotes escaped.
HOSTILE_TITLE_IN_JSON = json.dumps(HOSTILE_TITLE, ensure_ascii=False)[1:-1]
WAIT_SECONDS = 20
DESKTOP = (1280, 900)
PHONE = (375, 812)


def skip(reason):
    print(f"SKIP: {reason} (scripts/install-deps installs chromium, chromium-driver and "
          "python3-selenium)")
    sys.exit(SKIP)


class Destination:
    """An HTTP endpoint whose status the test sets; it records every body it receives."""

    def __init__(self):
        self.status = 400
        self.bodies = []
        self.lock = threading.Lock()
        destination = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8", "replace")
                with destination.lock:
                    status = destination.status
                    destination.bodies.append((status, body))
                answer = b'{"ok": true}' if status == 200 else b'{"error": "refused by the test"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_status(self, status):
        with self.lock:
            self.status = status

    def delivered(self):
        with self.lock:
            return [body for status, body in self.bodies if status == 200]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


ADMIN_AUTH = """  Auth:
    AdminApiKeys: [{{ HeaderName: {header}, Value: "${{TEST_ADMIN_KEY}}" }}]
""".format(header=ADMIN_HEADER)

CONFIG = """Server:
  Listen: 127.0.0.1:0
{auth}Store:
  Sqlite: {{ Path: var/hikyaku.db, Synchronous: NORMAL }}
Connections:
  - Name: hooks
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: {{ ApiKeyName: x-api-key, ApiKeyValue: connection-key-5be2 }}
ApiDestinations:
  - Name: chat
    ConnectionName: hooks
    InvocationEndpoint: "{destination}/hook"
    HttpMethod: POST
    InvocationRateLimitPerSecond: 100
Rules:
  - Name: findings-to-chat
    EventPattern: {{ source: [aws.securityhub] }}
    Targets:
      - Id: chat
        ApiDestination: chat
        RetryPolicy: {{ MaximumRetryAttempts: 0 }}
        InputTransformer:
          InputPathsMap:
            title: "$.detail.findings[0].Title"
            description: "$.detail.findings[0].Description"
          InputTemplate: '{{"title": <title>, "description": <description>}}'
  - Name: guardduty-only
    EventPattern: {{ source: [aws.guardduty] }}
    Targets:
      - Id: chat
        ApiDestination: chat
  - Name: securityhub-to-backlog
    EventPattern:
      source: [aws.securityhub]
      detail-type: [Security Hub Findings - Imported]
    Targets:
      - Id: backlog
        Backlog:
          Endpoint: ""
          Project: SEC
          IssueType: Task
          DryRun: true
"""


class Server:
    """The real `hikyaku serve` in its own folder."""

    def __init__(self, hikyaku, folder, destination_url, auth=ADMIN_AUTH):
        self.hikyaku = hikyaku
        self.folder = folder
        with open(os.path.join(folder, "hikyaku.yaml"), "w", encoding="utf-8") as config:
            config.write(CONFIG.format(auth=auth, destination=destination_url))
        self.environment = dict(os.environ, TEST_ADMIN_KEY=ADMIN_KEY)
        self.log = open(os.path.join(folder, "serve.log"), "w+", encoding="utf-8")
        self.process = subprocess.Popen(
            [hikyaku, "serve", "--config", "hikyaku.yaml"], cwd=folder, env=self.environment,
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()  # "listening http://127.0.0.1:PORT" once ready
        if not line.startswith("listening "):
            self.stop()
            raise AssertionError(f"hikyaku serve did not start: {line!r}\n{self.errors()}")
        self.url = line.split()[1]

    def send(self, sample):
        result = subprocess.run([self.hikyaku, "send", "--endpoint", self.url, sample],
                                cwd=self.folder, env=self.environment, capture_output=True,
                                text=True, timeout=30)
        if result.returncode != 0:
            raise AssertionError(f"hikyaku send {sample} failed: {result.stderr}")

    def admin(self, path):
        request = urllib.request.Request(self.url + "/admin/v1" + path,
                                         headers={ADMIN_HEADER: ADMIN_KEY})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def errors(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


def title_of(body):
    try:
        return json.loads(body).get("title", "")
    except (ValueError, AttributeError):
        return ""


def wait_until(what, condition, seconds=WAIT_SECONDS, interval=0.05):
    """Polls `condition` (for state outside the browser) until it is true."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Browser:
    def __init__(self, out):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.out = out
        self.profile = tempfile.mkdtemp(prefix="hikyaku-console-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-sync",
                         f"--user-data-dir={self.profile}",
                         f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
        self.driver = webdriver.Chrome(service=service, options=options)

    def wait(self, what, condition):
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.05).until(
            lambda driver: condition(), message=f"timed out waiting for {what}")

    def find(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        return self.wait(css, lambda: [e for e in self.find(css) if e.is_displayed()])[0]

    def text(self, css):
        return self.driver.execute_script(
            "const node = document.querySelector(arguments[0]); return node ? node.textContent : null;",
            css)

    def accept_confirm(self):
        from selenium.common.exceptions import NoAlertPresentException

        def alert():
            try:
                return self.driver.switch_to.alert
            except NoAlertPresentException:
                return None
        self.wait("the confirmation", alert).accept()

    def no_alert(self):
        from selenium.common.exceptions import NoAlertPresentException
        try:
            self.driver.switch_to.alert
        except NoAlertPresentException:
            return True
        return False

    def screenshots(self, name, ready_css):
        """The page at desktop and phone widths; at the phone's, nothing is wider than the screen
        but a table's own scrolling box."""
        self.visible(ready_css)
        self.driver.save_screenshot(os.path.join(self.out, f"{name}-desktop.png"))
        self.driver.set_window_size(*PHONE)
        self.wait(f"{name} at phone width", lambda: self.driver.execute_script(
            "return window.innerWidth") <= PHONE[0])
        self.visible(ready_css)
        overflow = self.driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 375px screen"
        self.driver.save_screenshot(os.path.join(self.out, f"{name}-phone.png"))
        self.driver.set_window_size(*DESKTOP)
        self.wait(f"{name} at desktop width",
                  lambda: self.driver.execute_script("return window.innerWidth") > PHONE[0])

    def console_errors(self):
        try:
            return [entry["message"] for entry in self.driver.get_log("browser")
                    if entry["level"] == "SEVERE"]
        except Exception:  # noqa: BLE001 (an old driver without logs)
            return []

    def quit(self):
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def run(args):
    samples = args.samples
    sample_01 = os.path.join(samples, "01-fsbp-ec2-19-critical-failed.json")
    sample_13 = os.path.join(samples, "13-custom-unicode-japanese-quotes-newlines.json")
    with open(sample_13, encoding="utf-8") as file:
        event_13 = file.read()
    assert HOSTILE_MARKUP in json.loads(event_13)["detail"]["findings"][0]["Description"]
    assert HOSTILE_TITLE in json.loads(event_13)["detail"]["findings"][0]["Title"]

    folder = tempfile.mkdtemp(prefix="hikyaku-console-")
    destination = Destination()
    server = None
    browser = None
    try:
        server = Server(args.hikyaku, folder, destination.url)
        # 01 first, then 13, so 13's dead letter is the newer one.
        server.send(sample_01)
        wait_until("sample 01's dead letter",
                   lambda: len(server.admin("/dead-letters")["DeadLetters"]) == 1)
        server.send(sample_13)
        letters = wait_until("sample 13's dead letter", lambda: (
            lambda found: found if len(found) == 2 else None)(
                server.admin("/dead-letters")["DeadLetters"]))
        letter_13 = max(letter["Id"] for letter in letters)

        browser = Browser(args.out)
        from selenium.webdriver.common.by import By

        # Sign-in: a wrong key is refused with the server's reason; the right one gets in.
        browser.driver.get(server.url + "/console")
        key_input = browser.visible("#admin-key")
        browser.screenshots("sign-in", "#admin-key")
        key_input = browser.visible("#admin-key")
        key_input.send_keys("not-the-admin-key")
        browser.visible("#sign-in-form button").click()
        browser.wait("the refusal", lambda: "403" in (browser.text("#sign-in-message") or ""))
        assert browser.find("#page")[0].is_displayed() is False
        browser.visible("#admin-key").send_keys(ADMIN_KEY)
        browser.visible("#sign-in-form button").click()

        # Overview: the rules and the two dead letters.
        browser.visible("#overview")
        browser.wait("the dead-letter count",
                     lambda: browser.text('[data-card="dead letters"] .figure') == "2")
        assert "findings-to-chat" in browser.text("#overview")
        assert "guardduty-only" in browser.text("#overview")
        browser.screenshots("overview", "#overview")

        # Dead letters: the list, then sample 13's letter.
        browser.visible('#nav a[data-page="dead-letters"]').click()
        browser.wait("two dead letters listed", lambda: len(browser.find("#dead-letter-results tbody tr")) == 2)
        # The filter: none for a rule that made none, both for the one that did.
        for rule, expected in (("guardduty-only", 0), ("findings-to-chat", 2)):
            rule_input = browser.visible("#filter-rule")
            rule_input.clear()
            rule_input.send_keys(rule)
            browser.visible("#dead-letter-filter button").click()
            browser.wait(f"the dead letters of {rule}", lambda: (
                f"rule={rule}" in browser.driver.current_url and (
                    len(browser.find("#dead-letter-results tbody tr")) == expected if expected
                    else "No dead letters match." in (browser.text("#dead-letter-results") or ""))))
        browser.screenshots("dead-letters", "#dead-letter-results table")
        browser.driver.find_element(By.LINK_TEXT, str(letter_13)).click()
        browser.visible("#letter-body")
        body = browser.text("#letter-body")
        event = browser.text("#letter-event")
        assert HOSTILE_MARKUP in body, body
        assert HOSTILE_TITLE_IN_JSON in body, body
        assert HOSTILE_MARKUP in event and HOSTILE_TITLE_IN_JSON in event, event
        assert "HTTP_400" in browser.text("#page"), browser.text("#page")
        assert "refused by the test" in browser.text("#letter-response")
        request = browser.text("#letter-request")
        assert "/hook" in request and "connection-key-5be2" not in request, request
        # Shown as text: no element came out of the finding's markup, and nothing ran.
        assert browser.find("#page script") == [], "markup from the finding became an element"
        assert browser.no_alert(), "the finding's script ran"
        browser.screenshots("dead-letter", "#letter-body")

        # Fix the destination and redrive: delivered.
        destination.set_status(200)
        browser.visible("#redrive").click()
        browser.accept_confirm()
        browser.wait("the redrive's outcome", lambda: "Redriven: 1." in (browser.text("#letter-outcome") or ""))
        assert not browser.visible("#redrive").is_enabled(), "a redriven letter can be redriven again"
        browser.screenshots("redriven", "#letter-outcome")
        wait_until("the redriven body at the destination",
                   lambda: any(HOSTILE_TITLE in title_of(body) for body in destination.delivered()))
        browser.visible('#nav a[data-page="deliveries"]').click()
        browser.visible("#delivery-results")

        def delivered_shown():
            if browser.find("#delivery-results td.outcome-delivered"):
                return True
            browser.visible("#refresh-deliveries").click()
            return False
        browser.wait("a delivered outcome", delivered_shown)
        browser.screenshots("deliveries", "#delivery-results td.outcome-delivered")
        wait_until("one dead letter left",
                   lambda: len(server.admin("/dead-letters")["DeadLetters"]) == 1)

        # Tickets: the dry-run Backlog target's ledger.
        browser.visible('#nav a[data-page="tickets"]').click()
        browser.wait("the ticket ledger", lambda: browser.find("#page table") or "No tickets" in (browser.text("#page") or ""))
        browser.screenshots("tickets", "#page h1")

        # Rule tester: sample 13 matches findings-to-chat (its rendered body shown as text) and
        # not guardduty-only, with the reason.
        browser.visible('#nav a[data-page="tester"]').click()
        textarea = browser.visible("#tester-event")
        browser.driver.execute_script("arguments[0].value = arguments[1];", textarea, event_13)
        browser.visible("#tester-run").click()
        browser.visible("#tester-results .rule-result")
        results = browser.text("#tester-results")
        guardduty = browser.text('.rule-result[data-rule="guardduty-only"] .reason')
        assert guardduty and "source" in guardduty, results
        assert "does not match" in browser.text('.rule-result[data-rule="guardduty-only"]')
        rendered = browser.text('.rule-result[data-rule="findings-to-chat"] .rendered-body')
        assert rendered and HOSTILE_MARKUP in rendered and HOSTILE_TITLE_IN_JSON in rendered, results
        assert browser.find("#page script") == [], "markup from the finding became an element"
        assert browser.no_alert(), "the finding's script ran"
        browser.screenshots("rule-tester", "#tester-results .rule-result")

        # Signing out forgets the key.
        browser.visible("#sign-out").click()
        browser.visible("#admin-key")
        assert browser.driver.execute_script(
            "return sessionStorage.getItem('hikyaku-admin-key')") is None
        # Without admin keys, on a loopback listener, the console needs no sign-in.
        server.stop()
        open_folder = os.path.join(folder, "open")
        os.makedirs(open_folder)
        server = Server(args.hikyaku, open_folder, destination.url, auth="")
        browser.driver.get(server.url + "/console/")
        browser.visible("#overview")
        assert not browser.find("#sign-in")[0].is_displayed()
        assert not browser.find("#sign-out")[0].is_displayed()

        errors = [e for e in browser.console_errors()
                  if "Content Security Policy" in e or "Refused" in e]
        assert not errors, f"the browser refused part of the console: {errors}"
        print(f"PASS: screenshots in {args.out}")
        return 0
    except Exception:  # noqa: BLE001 (report the failure with what the server said)
        traceback.print_exc()
        if browser is not None:
            try:
                browser.driver.save_screenshot(os.path.join(args.out, "failure.png"))
                print("browser log:", *browser.console_errors(), sep="\n  ")
            except Exception:  # noqa: BLE001
                pass
        if server is not None:
            print("hikyaku serve's log:\n" + server.errors())
        return 1
    finally:
        if browser is not None:
            browser.quit()
        if server is not None:
            server.stop()
        destination.close()
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hikyaku", required=True, help="the hikyaku binary")
    parser.add_argument("--samples", required=True, help="tests/data/securityhub")
    parser.add_argument("--out", required=True, help="folder for the screenshots")
    args = parser.parse_args()
    if importlib.util.find_spec("selenium") is None:
        skip("python3-selenium is not installed")
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None and not os.path.exists(f"/usr/bin/{program}"):
            skip(f"{program} is not installed")
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):  # no screenshot left from an earlier run
        if name.endswith(".png"):
            os.remove(os.path.join(args.out, name))
    sys.exit(run(args))


if __name__ == "__main__":
    main()
