"""A webcam snapshot button for the chapter 8 app, in the browser.

On Colab or JupyterHub the camera belongs to the browser, not to the kernel, so OpenCV's
``VideoCapture(0)`` finds none. This widget asks the browser for the camera
(``navigator.mediaDevices.getUserMedia``), shows the video, and on a click sends one frame to the
kernel as a PNG data URL in the synced ``snapshot`` trait; ``image()`` decodes it exactly as an
uploaded photo is decoded. Needs ``anywidget``; browsers give the camera only to https pages and
localhost.
"""

from __future__ import annotations

import anywidget
import numpy as np
import traitlets

from .demo import DemoError, decode_data_url, decode_image

_ESM = r"""
function button(text) {
  const b = document.createElement("button");
  b.textContent = text;
  b.className = "fer-edu-webcam-button";
  return b;
}

function render({ model, el }) {
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;  // iOS would otherwise open its own full-screen player
  video.muted = true;
  const start = button("Start camera");
  const snap = button("Take snapshot");
  snap.disabled = true;
  const status = document.createElement("span");
  status.className = "fer-edu-webcam-status";
  let stream = null;

  start.addEventListener("click", async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "This page gets no camera (browsers give it to https pages and localhost only).";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } },
                                                           audio: false });
      video.srcObject = stream;
      start.disabled = true;
      snap.disabled = false;
      status.textContent = "";
    } catch (err) {
      status.textContent = `No camera: ${err.name}: ${err.message}`;
    }
  });

  snap.addEventListener("click", () => {
    if (!video.videoWidth) return;  // no frame yet
    // Scale down to at most `width` pixels wide: less to send, and detection needs no more.
    const width = Math.min(video.videoWidth, model.get("width"));
    const height = Math.round(video.videoHeight * width / video.videoWidth);
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(video, 0, 0, width, height);
    model.set("snapshot", canvas.toDataURL("image/png"));
    model.save_changes();
    status.textContent = "Snapshot sent to the kernel.";
  });

  const row = document.createElement("div");
  row.append(start, snap, status);
  el.classList.add("fer-edu-webcam");
  el.append(video, row);
  // Turn the camera off when the output is cleared or the notebook closed.
  return () => { if (stream) stream.getTracks().forEach((track) => track.stop()); };
}

export default { render };
"""

_CSS = """
.fer-edu-webcam video { max-width: 320px; display: block; background: #222; margin-bottom: 4px; }
.fer-edu-webcam-button { margin-right: 6px; }
.fer-edu-webcam-status { font-size: 0.9em; }
"""


class WebcamSnapshot(anywidget.AnyWidget):
    """The browser's camera with a snapshot button; each snapshot lands in ``snapshot``."""

    _esm = _ESM
    _css = _CSS
    snapshot = traitlets.Unicode("", help="the last snapshot, a PNG data URL").tag(sync=True)
    width = traitlets.Int(640, help="snapshots wider than this are scaled down to it").tag(sync=True)

    def image(self) -> np.ndarray:
        """The last snapshot as a BGR image, decoded like an uploaded photo."""
        if not self.snapshot:
            raise DemoError("webcam snapshot: none taken yet")
        return decode_image(decode_data_url(self.snapshot), "webcam snapshot")
