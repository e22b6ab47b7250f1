#!/usr/bin/env python3
"""Opens an scfm report in headless Chromium (Debian's chromium) and checks it as a reader sees it.

  report_browser_check.py REPORT.html SCREENSHOT.png [--min-figures N] [--scatter-points N]
                          [--element-shot CSS_SELECTOR PNG]

Talks to Chromium over its DevTools protocol on a pipe (--remote-debugging-pipe: fds 3 and 4,
NUL-separated JSON; no network, no extra Python packages). It loads the page, collects console
messages and uncaught exceptions, then checks with DOM queries that the page's script ran
(body[data-ready="1"]), that the figures are there and laid out (inline <svg> with a non-zero
size), that each scatter plot holds its points, and takes a full-page screenshot (PNG). Prints
one JSON line of what it found; exit status 1 on any console error or failed check.
"""
import argparse
import base64
import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib


class Chromium:
    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="scfm-chromium-")
        r_ours, w_theirs = os.pipe()  # chromium writes on fd 4
        r_theirs, w_ours = os.pipe()  # chromium reads on fd 3
        # chromium's ends, moved above 9 so that putting them on 3 and 4 clobbers neither
        hi_r, hi_w = fcntl.fcntl(r_theirs, fcntl.F_DUPFD, 10), fcntl.fcntl(w_theirs, fcntl.F_DUPFD, 10)
        os.close(r_theirs)
        os.close(w_theirs)
        r_theirs, w_theirs = hi_r, hi_w

        def child_fds():  # runs in the child before exec; 3 and 4 are then kept (pass_fds)
            os.dup2(r_theirs, 3)
            os.dup2(w_theirs, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=child_fds)
        os.close(r_theirs)
        os.close(w_theirs)
        self.rfd, self.wfd = r_ours, w_ours
        self.buf = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None, timeout=60):
        i = self.send(method, params, session)
        deadline = time.time() + timeout
        while True:
            m = self.read_message(deadline)
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name, timeout=60):
        deadline = time.time() + timeout
        for k, m in enumerate(self.events):
            if m.get("method") == name:
                return self.events.pop(k)
        while True:
            m = self.read_message(deadline)
            if m.get("method") == name:
                return m
            self.events.append(m)

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def png_info(data):
    """width, height, and whether the picture holds more than one colour (decoded with zlib)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[ctype]
    stride = w * channels + 1
    # filter bytes aside, rows that are not all one value show something was drawn
    distinct = set()
    for row in range(0, h, max(1, h // 200)):
        line = raw[row * stride + 1:(row + 1) * stride]
        distinct.update(line[::channels * 7])
        if len(distinct) > 8:
            break
    return w, h, len(distinct) > 8


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report")
    p.add_argument("screenshot")
    p.add_argument("--min-figures", type=int, default=1)
    p.add_argument("--scatter-points", type=int, default=0, help="points each scatter plot must hold")
    p.add_argument("--element-shot", nargs=2, metavar=("SELECTOR", "PNG"),
                   help="also a screenshot of the first element matching SELECTOR (the README's picture)")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = p.parse_args()
    if not os.path.exists(a.chromium):
        print(f"report_browser_check: {a.chromium} not found (apt-get install chromium; scripts/setup.sh does)")
        return 1
    url = "file://" + os.path.abspath(a.report)
    c = Chromium(a.chromium)
    problems = []
    try:
        target = c.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = c.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            c.call(domain, session=session)
        c.call("Emulation.setDeviceMetricsOverride",
               {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=session)
        c.call("Page.navigate", {"url": url}, session=session)
        c.wait_event("Page.loadEventFired")

        def evaluate(expr):
            r = c.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
            if "exceptionDetails" in r:
                raise RuntimeError(f"evaluate {expr!r}: {r['exceptionDetails']}")
            return r["result"].get("value")

        found = json.loads(evaluate("""JSON.stringify({
          ready: document.body.getAttribute('data-ready'),
          title: document.title,
          sections: document.querySelectorAll('main section').length,
          figures: document.querySelectorAll('figure.plot svg').length,
          empty_figures: Array.from(document.querySelectorAll('figure.plot svg')).filter(function(s){
              var r = s.getBoundingClientRect(); return !(r.width > 10 && r.height > 10); }).length,
          scatters: Array.from(document.querySelectorAll('svg.scfm-scatter')).map(function(s){
              return {declared: +s.getAttribute('data-points'), drawn: s.querySelectorAll('g.points circle').length,
                      coloured: Array.from(s.querySelectorAll('g.points circle')).filter(function(el){
                          var f = getComputedStyle(el).fill; return f && f !== 'none' && f !== 'rgb(0, 0, 0)'; }).length}; }),
          tables: document.querySelectorAll('main table').length,
          line_charts: document.querySelectorAll('figure.plot svg g.series').length,
          height: document.documentElement.scrollHeight
        })"""))
        # console output and exceptions seen while loading
        c.call("Runtime.evaluate", {"expression": "1"}, session=session)
        errors = []
        for m in c.events:
            meth = m.get("method")
            if meth == "Runtime.exceptionThrown":
                errors.append(m["params"]["exceptionDetails"].get("text", "exception"))
            elif meth == "Runtime.consoleAPICalled" and m["params"].get("type") in ("error", "assert", "warning"):
                errors.append("console." + m["params"]["type"] + ": " +
                              " ".join(str(x.get("value", x.get("description", ""))) for x in m["params"]["args"]))
            elif meth == "Log.entryAdded" and m["params"]["entry"].get("level") == "error":
                errors.append("log: " + m["params"]["entry"].get("text", ""))
        found["console_errors"] = errors
        height = min(int(found["height"]), 16000)
        shot = c.call("Page.captureScreenshot",
                      {"format": "png", "captureBeyondViewport": True,
                       "clip": {"x": 0, "y": 0, "width": 1400, "height": height, "scale": 1}}, session=session)
        data = base64.b64decode(shot["data"])
        with open(a.screenshot, "wb") as f:
            f.write(data)
        w, h, drawn = png_info(data)
        if a.element_shot:
            rect = json.loads(evaluate("JSON.stringify((function(){var r = document.querySelector(%s)"
                                       ".getBoundingClientRect(); return {x: r.left + window.scrollX, y: r.top + "
                                       "window.scrollY, width: r.width, height: r.height};})())"
                                       % json.dumps(a.element_shot[0])))
            rect["scale"] = 1
            part = c.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": rect},
                          session=session)
            with open(a.element_shot[1], "wb") as f:
                f.write(base64.b64decode(part["data"]))
        found["screenshot"] = {"width": w, "height": h, "drawn": drawn}
    finally:
        c.close()
    if errors:
        problems.append(f"console errors: {errors}")
    if found["ready"] != "1":
        problems.append("the page's script did not run (body data-ready is not 1)")
    if found["figures"] < a.min_figures:
        problems.append(f"{found['figures']} figures, expected at least {a.min_figures}")
    if found["empty_figures"]:
        problems.append(f"{found['empty_figures']} figures have no size on the page")
    for s in found["scatters"]:
        if s["drawn"] != s["declared"] or s["coloured"] != s["drawn"]:
            problems.append(f"scatter plot drew {s['drawn']} of {s['declared']} points, {s['coloured']} coloured")
        if a.scatter_points and s["drawn"] != a.scatter_points:
            problems.append(f"scatter plot holds {s['drawn']} points, expected {a.scatter_points}")
    if not found["screenshot"]["drawn"] or w != 1400 or h < 500:
        problems.append(f"screenshot looks blank or small: {found['screenshot']}")
    found["problems"] = problems
    print(json.dumps(found))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
