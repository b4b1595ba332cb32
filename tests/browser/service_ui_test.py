#!/usr/bin/python3
"""The service's web UI in a real headless Chromium, against a real `aimass-coordinator serve`.

Converts a small Fashion-MNIST slice, starts the service on a free port, then in the browser:
signs in (a wrong token first), submits a train job from the form (a config the service refuses
first: its error line must show verbatim), watches the job reach `succeeded` with its charts
drawn, promotes the registered model's version 1 to `production` and reads the audit log. The
REST API confirms what the pages showed. The server, Chromium and chromedriver are always
stopped, also on failure; every wait has a deadline and the whole run stays under three minutes.

    tests/browser/service_ui_test.py --bin-dir build/bin [--screenshots DIR]

Exit status: 0 passed, 1 failed, 77 skipped (no Chromium, chromedriver or python3-selenium).
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

SKIP = 77
CHROMIUM = os.environ.get("AIMASS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AIMASS_CHROMEDRIVER", "/usr/bin/chromedriver")
TOTAL_BUDGET_S = 170  # ctest's TIMEOUT is 240: the test gives up (and cleans up) well before.
WINDOW = (1440, 1300)
MODEL = "fmnist-ui"

# Open MPI refuses root and an oversubscribed small machine without these (the job the service
# runs goes through mpirun). Also set by ctest; here for a run of the script by hand.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
}

TRAIN_YAML = """model: mlp
data:
  train: {root}/fmnist/train
  test: {root}/fmnist/test
  limit: 1024
  normalize: {{scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}}
training: {{epochs: 2, batch_size: 32, seed: 7, log_every: 1}}
optimizer: {{name: sgd, lr: 0.05, momentum: 0.9}}
worker: {{device: cpu, threads: 1}}
"""

# Not YAML at all: the service must refuse it when it is submitted.
BAD_YAML = "model: [mlp\n"


class Failure(Exception):
    pass


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def cap(self, seconds):
        """A wait of `seconds`, cut short so that the whole test keeps its budget."""
        left = self.left()
        if left <= 0:
            raise Failure("the test ran out of its %d s budget" % TOTAL_BUDGET_S)
        return min(seconds, left)


DEADLINE = Deadline(TOTAL_BUDGET_S)


def log(message):
    print("[%6.1f s] %s" % (TOTAL_BUDGET_S - DEADLINE.left(), message), flush=True)


def wait_for(what, probe, timeout, interval=0.2):
    """Calls probe() until it returns something true; fails naming `what` and the last answer."""
    end = time.monotonic() + DEADLINE.cap(timeout)
    last = None
    while True:
        try:
            last = probe()
            if last:
                return last
        except Failure:
            raise
        except Exception as e:  # an element not there yet, a stale one, a refused connection
            last = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        if time.monotonic() >= end:
            raise Failure("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


class Server:
    """`aimass-coordinator serve` as a child process in its own process group (it starts
    mpirun and workers: stopping the group stops them all)."""

    def __init__(self, coordinator, state_dir, data_root, log_path):
        self.lines = []
        self.log_file = open(log_path, "w")
        self.process = subprocess.Popen(
            [coordinator, "serve", "--state-dir", state_dir, "--data-root", data_root,
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, start_new_session=True, env=dict(os.environ, **MPI_ENV))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.log_file.write(line)
            self.log_file.flush()

    def find(self, pattern):
        for line in list(self.lines):
            m = re.search(pattern, line)
            if m:
                return m
        if self.process.poll() is not None:
            raise Failure("the server exited with status %d before printing %r; its output:\n%s"
                          % (self.process.returncode, pattern, "\n".join(self.lines[-30:])))
        return None

    def stop(self):
        if self.process.poll() is None:
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    log("the server did not stop on signal %d" % sig)
        else:
            # Its own process ended; anything it started in its group must not outlive it.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.reader.join(timeout=5)
        self.log_file.close()


class Api:
    """The REST API, for checking what the UI showed."""

    def call_text(self, path):
        request = urllib.request.Request(self.base + "api/v1" + path)
        request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE.cap(15)) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            raise Failure("GET %s: status %d: %s" % (path, e.code, e.read().decode()[:200]))

    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + "api/v1" + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + (token if token is not None else self.token))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE.cap(15)) as response:
                return response.status, json.loads(response.read().decode() or "null")
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                raise Failure("%s %s: status %d with a body that is not JSON: %r"
                              % (method, path, e.code, text[:200]))


def lines(text):
    """Text compared as the page shows it: without trailing blanks on lines or at the end."""
    return [line.rstrip() for line in text.strip().splitlines()]


def submit(api, body):
    status, created = api.call("POST", "/jobs", body)
    if status != 201 or not isinstance(created.get("id"), int):
        raise Failure("POST /jobs: expected 201 with an id, got %d %r" % (status, created))
    return created["id"]


def wait_for_job_page_state(driver, job_id, wanted, timeout):
    """Waits on the job page until #job-state reads `wanted`; any other final state fails at once."""
    from selenium.webdriver.common.by import By
    seen = []
    points = []  # the loss chart's points seen while the job ran

    def probe():
        state = driver.find_element(By.CSS_SELECTOR, "#job-state").text.strip()
        if not seen or seen[-1] != state:
            seen.append(state)
            log("job %d is %s" % (job_id, state))
        if state == "running":
            n = driver.execute_script(
                "const c = document.getElementById('chart-loss');"
                "return c && Chart.getChart(c) ? Chart.getChart(c).data.datasets[0].data.length : null")
            if n is not None and (not points or points[-1] != n):
                points.append(n)
        if state != wanted and state in ("succeeded", "failed", "cancelled", "interrupted"):
            error = driver.find_elements(By.CSS_SELECTOR, "#job-error")
            logs = driver.find_elements(By.CSS_SELECTOR, "#job-log")
            raise Failure("job %d ended %s, expected %s: %s\nlog:\n%s" % (
                job_id, state, wanted, error[0].text if error else "(no error shown)",
                logs[0].text if logs else ""))
        return state == wanted

    wait_for("job %d to be %s on its page" % (job_id, wanted), probe, timeout, interval=0.3)
    return points


def start_browser(profile_dir, log_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.remote.remote_connection import RemoteConnection

    # No chromedriver command may block longer than this (Selenium's default is minutes).
    RemoteConnection.set_timeout(30)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--window-size=%d,%d" % WINDOW, "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--force-device-scale-factor=1", "--user-data-dir=" + profile_dir):
        options.add_argument(arg)
    # Chromium's sandbox refuses root, and needs user namespaces a container may not give: the
    # browser only ever loads the local test server's pages.
    options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_path=log_path)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def kill_leftover_browsers(profile_dir):
    """Chromium processes of this test's profile that outlived driver.quit() (by pid)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except OSError:
            continue
        if "--user-data-dir=" + profile_dir in cmdline:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


# The pixels of a chart's first dataset colour inside its plot area (not the legend's swatch),
# and the number of data points Chart.js holds: a chart that is drawn, with data.
CHART_PROBE = """
const canvas = document.getElementById(arguments[0]);
if (!canvas) return {error: 'no canvas #' + arguments[0]};
const chart = Chart.getChart(canvas);
if (!chart) return {error: 'no Chart on #' + arguments[0]};
const points = chart.data.datasets.reduce((n, d) => n + d.data.length, 0);
const rgb = (chart.data.datasets[0].borderColor.match(/\\d+/g) || []).map(Number);
const scale = canvas.width / chart.width;
const a = chart.chartArea;
const x0 = Math.floor(a.left * scale), y0 = Math.floor(a.top * scale);
const w = Math.max(1, Math.floor((a.right - a.left) * scale)), h = Math.max(1, Math.floor((a.bottom - a.top) * scale));
const px = canvas.getContext('2d').getImageData(x0, y0, w, h).data;
let coloured = 0;
for (let i = 0; i < px.length; i += 4) {
  if (px[i + 3] > 128 && Math.abs(px[i] - rgb[0]) < 40 && Math.abs(px[i + 1] - rgb[1]) < 40 &&
      Math.abs(px[i + 2] - rgb[2]) < 40) coloured++;
}
return {points: points, coloured: coloured, width: canvas.width, height: canvas.height};
"""


def run(args, work):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    state_dir = os.path.join(work, "state")
    data_root = os.path.join(work, "data")
    os.makedirs(data_root)
    coordinator = os.path.join(args.bin_dir, "aimass-coordinator")
    shots = args.screenshots

    log("converting 1024 Fashion-MNIST records into %s/fmnist" % data_root)
    try:
        convert = subprocess.run(
            [coordinator, "data", "convert", "--output", os.path.join(data_root, "fmnist"),
             "--limit", "1024", "--shard-records", "256"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=DEADLINE.cap(60))
    except subprocess.TimeoutExpired:
        raise Failure("data convert did not finish within 60 s")
    if convert.returncode != 0:
        raise Failure("data convert failed (%d):\n%s" % (convert.returncode, convert.stdout))

    server = Server(coordinator, state_dir, data_root, os.path.join(work, "server.log"))
    driver = None
    profile_dir = os.path.join(work, "chromium-profile")
    try:
        serving = wait_for("the server's 'serving' line",
                           lambda: server.find(r"aimass: serving (http://127\.0\.0\.1:(\d+)/)"), 30)
        base = serving.group(1)
        token_line = wait_for("the server's admin token line",
                              lambda: server.find(r"aimass: admin token written to (\S+)"), 5)
        with open(token_line.group(1)) as f:
            token = f.read().strip()
        if not token:
            raise Failure("the admin token file %s is empty" % token_line.group(1))
        api = Api(base, token)
        log("server at %s" % base)

        driver = start_browser(profile_dir, os.path.join(work, "chromedriver.log"))

        def css(selector):
            return driver.find_element(By.CSS_SELECTOR, selector)

        def click_enabled(selector):
            """Clicks once the element exists and is enabled (buttons are disabled while busy)."""
            wait_for("%s to be enabled" % selector, lambda: css(selector).is_enabled(), 10)
            css(selector).click()

        def text_of(selector):
            return css(selector).text.strip()

        screenshots_taken = set()

        def screenshot(name):
            """The page down to its content (not the empty viewport below), up to 2000 px."""
            screenshots_taken.add(name)
            if not shots:
                return
            path = os.path.join(shots, "service-%s.png" % name)
            height = driver.execute_script(
                "return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY)")
            height = max(480, min(2000, int(height) + 16))
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 1}})
            with open(path, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            log("screenshot %s (%d px high)" % (path, height))

        # --- Sign in: a wrong token shows the service's 401 line, the right one signs in.
        driver.get(base)
        wait_for("the sign-in form", lambda: css("#token-input"), 15)
        status, refused = api.call("GET", "/whoami", token="not-a-token")
        if status != 401:
            raise Failure("GET /whoami with a wrong token: expected 401, got %d %r" % (status, refused))
        css("#token-input").send_keys("not-a-token")
        css("#signin-button").click()
        shown = wait_for("the refused token's error", lambda: text_of("[data-test=api-error] [data-test=error-message]"), 10)
        if shown != refused["error"]:
            raise Failure("sign-in error shows %r, the service said %r" % (shown, refused["error"]))
        field = css("#token-input")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(token)
        css("#signin-button").click()
        role = wait_for("the signed-in role", lambda: text_of("#whoami [data-test=role]"), 10)
        if role != "admin":
            raise Failure("signed in as %r, expected admin" % role)
        if driver.execute_script("return sessionStorage.getItem('aimass.token')") != token:
            raise Failure("the token is not kept in sessionStorage")
        log("signed in")

        # --- Submit: a config the service refuses shows its error line verbatim.
        css("#nav-submit").click()
        wait_for("the submit form", lambda: css("#submit-config"), 10)
        workers = css("#submit-workers")
        workers.send_keys(Keys.CONTROL, "a")
        workers.send_keys("2")
        css("#submit-register-as").send_keys(MODEL)
        css("#submit-config").send_keys(BAD_YAML)
        status, body = api.call("POST", "/jobs", {"kind": "train", "config": BAD_YAML, "workers": 2,
                                                  "register_as": MODEL})
        if status != 400 or body.get("code") != "invalid_argument":
            raise Failure("POST /jobs with a broken config: expected 400 invalid_argument, got %d %r"
                          % (status, body))
        css("#submit-button").click()
        shown = wait_for("the submit error", lambda: text_of("[data-test=submit-error] [data-test=error-message]"), 10)
        if shown != body["error"]:
            raise Failure("submit error shows %r, the service said %r" % (shown, body["error"]))
        log("refused config: %s" % shown)

        config = css("#submit-config")
        config.send_keys(Keys.CONTROL, "a")
        config.send_keys(Keys.DELETE)
        config.send_keys(TRAIN_YAML.format(root=data_root))
        if css("#submit-config").get_attribute("value") != TRAIN_YAML.format(root=data_root):
            raise Failure("the config field does not hold the typed YAML")
        screenshot("submit")
        css("#submit-button").click()

        # --- The job page: it runs, succeeds, and its charts and log fill in.
        first = int(wait_for("the job page after submitting",
                             lambda: re.search(r"#/jobs/(\d+)$", driver.current_url), 10).group(1))
        log("job %d submitted from the form" % first)
        # A second version of the model, through the API: it waits in the queue behind the first
        # (one job at a time) and trains longer (some seconds), so the jobs list has a live job
        # to show.
        second_yaml = TRAIN_YAML.format(root=data_root).replace("seed: 7", "seed: 8").replace(
            "epochs: 2,", "epochs: 40,")
        second = submit(api, {"kind": "train", "config": second_yaml, "workers": 2, "register_as": MODEL})
        log("job %d submitted through the API" % second)
        running_points = wait_for_job_page_state(driver, first, "succeeded", 100)
        # Not asserted: a job of a few seconds may end between two polls of the page.
        log("loss chart points seen while job %d ran: %s" % (first, running_points or "none"))
        status, job = api.call("GET", "/jobs/%d" % first)
        if status != 200 or job["state"] != "succeeded":
            raise Failure("GET /jobs/%d: %d %r" % (first, status, job))

        for chart in ("chart-loss", "chart-accuracy", "chart-throughput"):
            def drawn(chart=chart):
                probe = driver.execute_script(CHART_PROBE, chart)
                if "error" in probe:
                    return None
                return probe if probe["points"] > 0 and probe["coloured"] > 50 else None
            probe = wait_for("chart %s to have data and be drawn" % chart, drawn, 10)
            log("%s: %d points, %d line pixels" % (chart, probe["points"], probe["coloured"]))
        status, metrics = api.call("GET", "/jobs/%d/metrics" % first)
        api_losses = len([m for m in metrics.get("steps", []) if isinstance(m.get("loss"), (int, float))])
        chart_losses = driver.execute_script(
            "return Chart.getChart(document.getElementById('chart-loss')).data.datasets[0].data.length")
        if status != 200 or api_losses == 0 or chart_losses != api_losses:
            raise Failure("the loss chart has %r points, the API %d steps with a loss" % (chart_losses, api_losses))
        # The service shows the job succeeded a moment before its model is registered and its
        # last log line written: the page keeps polling a little after the end for them.
        wait_for("the job's summary", lambda: css("#job-summary"), 10)
        model_link = wait_for("the registered model's link", lambda: text_of("#job-model"), 10)
        if model_link != "%s v1" % MODEL:
            raise Failure("the job page names model %r, expected '%s v1'" % (model_link, MODEL))
        wait_for("the job's log", lambda: text_of("#job-log") not in ("", "(no output yet)"), 10)
        wait_for("the job's whole log on the page",
                 lambda: lines(text_of("#job-log")) == lines(api.call_text("/jobs/%d/log" % first)[1]), 10)
        source = css("#job-log").get_attribute("data-log-source")
        if source != "stream":
            raise Failure("the job page read the log by %r, not by following it (log?follow=1)" % source)
        driver.execute_script("window.scrollTo(0, 0)")
        screenshot("job")

        # --- The jobs list follows the second (longer) job live, to success, without a reload.
        css("#nav-jobs").click()
        wait_for("job %d succeeded in the list" % first,
                 lambda: text_of("[data-test=job-state-%d]" % first) == "succeeded", 10)
        if not text_of("[data-test=job-progress-%d]" % first).startswith("100%"):
            raise Failure("the jobs list shows progress %r" % text_of("[data-test=job-progress-%d]" % first))
        progress_seen = []  # (state, percent) as the list showed them

        def second_done():
            state = text_of("[data-test=job-state-%d]" % second)
            if state in ("failed", "cancelled", "interrupted"):
                raise Failure("job %d ended %s: %r" % (second, state, api.call("GET", "/jobs/%d" % second)[1]))
            percent = int(re.match(r"(\d+)%", text_of("[data-test=job-progress-%d]" % second)).group(1))
            if not progress_seen or progress_seen[-1] != (state, percent):
                progress_seen.append((state, percent))
                if state == "running" and 20 <= percent < 90 and "jobs" not in screenshots_taken:
                    screenshot("jobs")
            return state == "succeeded"
        wait_for("job %d to succeed in the list" % second, second_done, 100, interval=0.3)
        wait_for("job %d's model in the list" % second,
                 lambda: text_of("[data-test=job-model-%d]" % second) == "%s v2" % MODEL, 30)
        if "jobs" not in screenshots_taken:
            screenshot("jobs")
        log("job %d in the list: %s" % (second, " ".join("%s:%d%%" % p for p in progress_seen)))
        if not [p for p in progress_seen if p[0] == "running" and 0 < p[1] < 100]:
            raise Failure("the jobs list never showed job %d running part-way: %r" % (second, progress_seen))

        # --- The model: two versions side by side; promote v1, then v2, then roll back to v1.
        css("#nav-models").click()
        css_wait = wait_for("the model in the list", lambda: css("[data-test=model-link-%s]" % MODEL), 10)
        css_wait.click()
        wait_for("version 2's column", lambda: css("[data-test=version-2]"), 10)
        status, model = api.call("GET", "/models/%s" % MODEL)
        v1 = [v for v in model.get("versions", []) if v.get("version") == 1]
        if status != 200 or not v1 or "test_accuracy" not in v1[0].get("metrics", {}):
            raise Failure("GET /models/%s: no version 1 with a test_accuracy: %d %r" % (MODEL, status, model))
        shown = text_of("[data-test=metric-1-test_accuracy]")
        if not re.match(r"^[0-9.]+$", shown) or abs(float(shown) - v1[0]["metrics"]["test_accuracy"]) > 5e-5:
            raise Failure("version 1's test_accuracy shows %r, the API has %r" % (shown, v1[0]["metrics"]["test_accuracy"]))
        if css("#promote-alias").get_attribute("value") != "production":
            raise Failure("the alias field does not default to production")
        click_enabled("[data-test=promote-1]")
        wait_for("production on v1", lambda: text_of("[data-test=alias-production]") == "production → v1", 10)
        click_enabled("[data-test=promote-2]")
        wait_for("production on v2", lambda: text_of("[data-test=alias-production]") == "production → v2", 10)
        rollback = wait_for("the roll-back button", lambda: text_of("[data-test=rollback-production]"), 10)
        if rollback != "Roll back to v1":
            raise Failure("the roll-back button reads %r" % rollback)
        click_enabled("[data-test=rollback-production]")
        wait_for("production back on v1", lambda: text_of("[data-test=alias-production]") == "production → v1", 10)
        wait_for("three moves in the alias history", lambda: css("[data-test=alias-history-2]"), 10)
        wait_for("the page to settle", lambda: css("[data-test=promote-2]").is_enabled(), 10)
        ActionChains(driver).move_to_element(css("[data-test=model-name]")).perform()  # no hover look
        screenshot("model")

        status, model = api.call("GET", "/models/%s" % MODEL)
        if status != 200 or model.get("aliases", {}).get("production") != 1:
            raise Failure("GET /models/%s: production is not version 1: %d %r" % (MODEL, status, model))
        moves = [(h.get("from"), h.get("to")) for h in model.get("alias_history", []) if h.get("alias") == "production"]
        if sorted(moves, key=str) != sorted([(None, 1), (1, 2), (2, 1)], key=str):
            raise Failure("production's alias history: %r" % model.get("alias_history"))
        log("production moved v1 -> v2 -> v1, confirmed by the API")

        css("#nav-models").click()
        wait_for("the alias in the models list",
                 lambda: text_of("[data-test=model-alias-%s-production]" % MODEL) == "production → v1", 10)
        screenshot("models")

        # --- Cancel: a long job submitted through the API, cancelled with the button.
        long_yaml = TRAIN_YAML.format(root=data_root).replace("epochs: 2", "epochs: 500")
        doomed = submit(api, {"kind": "train", "config": long_yaml, "workers": 2})
        driver.get(base + "#/jobs/%d" % doomed)
        wait_for("job %d's cancel button" % doomed, lambda: css("#job-cancel"), 15).click()
        wait_for_job_page_state(driver, doomed, "cancelled", 30)
        if driver.find_elements(By.CSS_SELECTOR, "#job-cancel"):
            raise Failure("the cancel button is still shown on a cancelled job")
        status, job = api.call("GET", "/jobs/%d" % doomed)
        if status != 200 or job.get("state") != "cancelled":
            raise Failure("GET /jobs/%d after cancelling: %d %r" % (doomed, status, job))
        log("job %d cancelled from its page" % doomed)

        # --- Audit (admin): the newest entry the API lists is on the page.
        status, audit = api.call("GET", "/audit")
        if status != 200 or not audit.get("entries"):
            raise Failure("GET /audit: %d %r" % (status, audit))
        newest = max(e["id"] for e in audit["entries"])
        css("#nav-audit").click()
        wait_for("audit entry %d on the page" % newest, lambda: css("[data-test=audit-row-%d]" % newest), 10)

        # --- Tokens (admin): a viewer token made on the page, listed by the API.
        css("#nav-tokens").click()
        Select(wait_for("the token form", lambda: css("#token-role"), 10)).select_by_value("viewer")
        css("#token-description").send_keys("browser test viewer")
        css("#token-create").click()
        viewer_token = wait_for("the new token", lambda: text_of("[data-test=new-token]"), 10)
        status, listed = api.call("GET", "/tokens")
        if status != 200 or not [t for t in listed.get("tokens", [])
                                 if t.get("role") == "viewer" and t.get("description") == "browser test viewer"]:
            raise Failure("GET /tokens does not list the viewer token made on the page: %d %r" % (status, listed))

        # --- Sign out forgets the token.
        css("#signout").click()
        wait_for("the sign-in form after signing out", lambda: css("#token-input"), 10)
        if driver.execute_script("return sessionStorage.getItem('aimass.token')") is not None:
            raise Failure("the token is still in sessionStorage after signing out")

        # --- A viewer sees jobs and models but no submit, audit, tokens, promote or cancel.
        css("#token-input").send_keys(viewer_token)
        css("#signin-button").click()
        role = wait_for("the viewer's role", lambda: text_of("#whoami [data-test=role]"), 10)
        if role != "viewer":
            raise Failure("signed in as %r, expected viewer" % role)
        for hidden in ("#nav-submit", "#nav-audit", "#nav-tokens"):
            if driver.find_elements(By.CSS_SELECTOR, hidden):
                raise Failure("a viewer sees %s" % hidden)
        driver.get(base + "#/models/%s" % MODEL)
        wait_for("the model page as a viewer", lambda: css("[data-test=version-1]"), 10)
        if driver.find_elements(By.CSS_SELECTOR, "[data-test=promote-1], [data-test=rollback-production]"):
            raise Failure("a viewer sees the promote or roll-back buttons")
        driver.get(base + "#/audit")
        wait_for("the audit page refusing a viewer", lambda: css("[data-test=audit-forbidden]"), 10)
        log("viewer: no submit, audit, tokens, promote or roll back")

        # No script errors in the browser (the refused requests above log as network errors).
        errors = [e["message"] for e in driver.get_log("browser")
                  if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
        if errors:
            raise Failure("the browser logged errors:\n" + "\n".join(errors))
        log("passed")
    except Exception:
        if driver is not None:
            try:
                for entry in driver.get_log("browser"):
                    print("browser: %s %s" % (entry["level"], entry["message"]), file=sys.stderr)
                if shots:
                    driver.save_screenshot(os.path.join(shots, "service-failure.png"))
            except Exception:
                pass
        print("server output (last 40 lines):\n" + "\n".join(server.lines[-40:]), file=sys.stderr)
        raise
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception as e:
                log("driver.quit: %s" % e)
        kill_leftover_browsers(profile_dir)
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True, help="where aimass-coordinator and aimass-worker are")
    parser.add_argument("--screenshots", default=os.environ.get("AIMASS_UI_SCREENSHOTS"),
                        help="save service-*.png here (default: $AIMASS_UI_SCREENSHOTS)")
    args = parser.parse_args()

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            print("SKIP: %s not found (Debian package %s)" % (path, package))
            return SKIP
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("SKIP: no selenium module for %s (Debian package python3-selenium)" % sys.executable)
        return SKIP
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)

    # ctest ends the test on SIGTERM: the cleanup in run() must still happen.
    def terminated(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
        raise Failure("terminated by signal %d" % signum)
    signal.signal(signal.SIGTERM, terminated)

    work = tempfile.mkdtemp(prefix="aimass-ui-test-")
    ok = False
    try:
        run(args, work)
        ok = True
    except Failure as e:
        print("FAILED: %s" % e, file=sys.stderr)
    except Exception:
        # Selenium or chromedriver trouble (Chromium failed to start, a command timed out).
        traceback.print_exc()
        print("FAILED: unexpected error (traceback above)", file=sys.stderr)
    finally:
        if ok or not os.environ.get("AIMASS_UI_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept %s (AIMASS_UI_KEEP)" % work, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
