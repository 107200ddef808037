"""The webcam widget's JavaScript, run in headless Chromium with its fake camera: a click on
"Start camera", then on "Take snapshot", must hand the kernel a PNG that the demo can decode.

The page loads the widget's ES module as anywidget would (``render({model, el})``) with a stand-in
model that records what the widget sets, and posts it back to a local HTTP server that also served
the page (camera access needs a secure origin; localhost is one). Media runs in real time, so the
page reports when it is done rather than being dumped at a fixed moment. Skipped, saying why, where
Chromium is missing.
"""

from __future__ import annotations

import http.server
import json
import queue
import shutil
import subprocess
import threading

import pytest

pytest.importorskip("anywidget")

from fer_edu.demo import decode_data_url, decode_image  # noqa: E402
from fer_edu.webcam_widget import WebcamSnapshot  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

HARNESS = """<!doctype html><html><body><div id="root"></div>
<script type="module">
const source = %s;
const url = URL.createObjectURL(new Blob([source], {type: "text/javascript"}));
const widget = (await import(url)).default;
const values = {width: %d, snapshot: ""};
const model = {get: (k) => values[k], set: (k, v) => { values[k] = v; }, save_changes: () => { values.saved = true; }};
const el = document.getElementById("root");
widget.render({model, el});
const [start, snap] = el.querySelectorAll("button");
start.click();
const video = el.querySelector("video");
for (let i = 0; i < 400 && !video.videoWidth; i++) await new Promise((r) => setTimeout(r, 50));
snap.click();
await fetch("/result", {method: "POST", body: JSON.stringify({
  snapshot: values.snapshot, saved: !!values.saved, status: el.querySelector("span").textContent})});
</script></body></html>"""


def _browser() -> str | None:
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def _serve(page: str) -> tuple[http.server.HTTPServer, queue.Queue]:
    """A localhost server: GET returns the page, POST /result puts the body in the queue."""
    results: queue.Queue = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page.encode())

        def do_POST(self):
            results.put(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, results


def test_snapshot_reaches_python_as_a_decodable_png(tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no headless Chromium (.ci/run installs Debian's chromium)")
    server, results = _serve(HARNESS % (json.dumps(WebcamSnapshot._esm), 320))
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
         "--use-fake-ui-for-media-stream", f"--user-data-dir={tmp_path / 'profile'}",
         f"http://127.0.0.1:{server.server_port}/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = json.loads(results.get(timeout=90))
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
    assert result["saved"] and result["snapshot"].startswith("data:image/png;base64,"), result["status"]
    image = decode_image(decode_data_url(result["snapshot"]), "webcam snapshot")
    assert image.shape[1] == 320 and image.shape[0] > 100  # scaled down to the widget's width
