"""Headless Chromium for tests: render a local page, take a screenshot and collect the page's console messages.

Chromium is required (tools/setup.sh --test installs Debian's ``chromium``): a missing browser fails, never skips.
DNS is mapped to nothing (``--host-resolver-rules``) and proxies are off, so a page can reach loopback only.
"""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

_CONSOLE = re.compile(r'CONSOLE.*?\] "(?P<msg>.*)", source: (?P<source>.*)$|:CONSOLE\(\d+\)\] "(?P<msg2>.*)"')


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed: run tools/setup.sh --test (it installs Debian's chromium)"
    return exe


def render(url, screenshot, profile_dir, *, size=(1400, 1000), budget_ms=15000, timeout=180):
    """Open ``url`` headless, write a PNG screenshot; return (console messages, Chromium's stderr)."""
    if isinstance(url, Path):
        url = url.resolve().as_uri()
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-proxy-server", "--enable-logging=stderr",
        "--v=0", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--disable-default-apps", "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost", f"--user-data-dir={profile_dir}",
        f"--virtual-time-budget={budget_ms}", f"--window-size={size[0]},{size[1]}", f"--screenshot={screenshot}",
        url,
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert Path(screenshot).is_file(), f"chromium wrote no screenshot (exit {run.returncode}):\n{run.stderr[-3000:]}"
    messages = []
    for line in run.stderr.splitlines():
        if "CONSOLE" in line:
            m = _CONSOLE.search(line)
            messages.append((m.group("msg") or m.group("msg2")) if m else line)
    return messages, run.stderr


def page_errors(messages):
    """Console messages that report a JavaScript error."""
    return [m for m in messages if re.search(r"Uncaught|\bError\b|\[bokeh[^\]]*\] .*(error|failed)", m, re.I)]


def pixel_std(png):
    """Standard deviation of a PNG's pixel values (0-1 scale): ~0 for a blank image."""
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    return float(np.std(img[..., :3]))


_OPEN_RESULT = """
<script>
// test only: show one result the way clicking it in the report does (the report's own App.setView)
window.addEventListener("load", () => setTimeout(() => {
  const path = Object.keys(results).find((p) => p.endsWith(%(suffix)s));
  console.log("report test: opening " + path);
  app.setView({content: "html", contentPath: results[path].data_uri});
}, 200));
</script>
"""


def report_showing(report, suffix, copy):
    """A copy of a Snakemake HTML report that opens the result whose path ends with ``suffix`` once loaded.

    The report shows an HTML result in an iframe whose ``src`` is the result's ``data:`` URL; the copy calls the
    report's own ``app.setView`` with it, exactly what the result's button does, so the page renders *inside the
    report* as a reader would see it.
    """
    import json

    text = Path(report).read_text(encoding="utf-8")
    assert "var results =" in text and "</body>" in text, f"{report} is not a Snakemake HTML report"
    script = _OPEN_RESULT % {"suffix": json.dumps(suffix)}
    end = text.rindex("</body>")  # the report's own end: its scripts hold "</body>" in strings too
    Path(copy).write_text(text[:end] + script + text[end:], encoding="utf-8")
    return Path(copy)
