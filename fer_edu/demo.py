"""The live demo: find faces with OpenCV's Haar cascade, crop them to 48x48 grey, predict.

Used by ``python -m fer_edu predict IMAGE...``, ``python -m fer_edu webcam`` and the chapter 8
app. The default model is the course's committed one (``results/models/``); every output points
to the model card, because a facial-expression classifier is easy to misuse.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import CLASSES, normalize
from .weights import load_model

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "results" / "models" / "final-laptop-seed0.safetensors"
NOTICE = ("Teaching demo: a facial expression is not a felt emotion, and this model is often wrong "
          "(PrivateTest accuracy {accuracy}); see the course's chapter on limits and responsible use. "
          "Never use it to judge people.")


def notice(meta: dict) -> str:
    """The one-line notice every demo output carries, with the model's measured accuracy."""
    acc = meta.get("private_accuracy")
    return NOTICE.format(accuracy=f"{acc:.1%}" if acc is not None else "not measured")
SMALL_IMAGE = 96  # images this small are taken to be one face already cropped (like FER-2013's)


class DemoError(ValueError):
    """Bad input for the demo (missing file, not an image); the message says which."""


@dataclass
class Face:
    """One detected face: its box (x, y, w, h) in the image, the predicted class, all probabilities."""

    box: tuple[int, int, int, int]
    label: str
    probabilities: dict[str, float]


def _cv2():
    import cv2

    return cv2


def load_detector():
    """OpenCV's bundled frontal-face Haar cascade (in the 4.x wheels; 5.0 ships none)."""
    cv2 = _cv2()
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml" if hasattr(cv2, "data") else None
    if path is None or not path.exists():
        raise RuntimeError("OpenCV has no Haar cascades (opencv-python-headless 5.0 ships none): "
                           "install opencv-python-headless<5")
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        raise RuntimeError(f"could not load the Haar cascade {path}")
    return detector


def read_image(path: str | Path) -> np.ndarray:
    """A BGR image from a file, with one clear error for a missing, empty or non-image file."""
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"{path}: no such file")
    blob = np.fromfile(path, dtype=np.uint8)
    image = _cv2().imdecode(blob, _cv2().IMREAD_COLOR) if blob.size else None
    if image is None:
        raise DemoError(f"{path}: not an image OpenCV can read (or a truncated one)")
    return image


class Predictor:
    """Face detection + crop + the expression model."""

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, device: str = "cpu") -> None:
        self.model, self.meta = load_model(weights, device)
        self.device = device
        self.detector = load_detector()

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        h, w = gray.shape
        if max(h, w) <= SMALL_IMAGE:
            return [(0, 0, w, h)]
        boxes = self.detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(36, 36))
        return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: (b[0], b[1]))  # left to right

    @torch.no_grad()
    def predict(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR (or grey) image, each with its expression probabilities."""
        cv2 = _cv2()
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        boxes = self.detect(gray)
        if not boxes:
            return []
        crops = np.stack([cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
                          for x, y, w, h in boxes])
        probs = torch.softmax(self.model(normalize(torch.from_numpy(crops).to(self.device))).float(), 1).cpu().numpy()
        return [Face(box, CLASSES[int(p.argmax())], {c: float(v) for c, v in zip(CLASSES, p)})
                for box, p in zip(boxes, probs)]


def annotate(image: np.ndarray, faces: list[Face], fps: float | None = None) -> np.ndarray:
    """A copy of the image with a box and the top label on each face (and the frame rate)."""
    cv2 = _cv2()
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = max(out.shape[:2]) / 640
    for f in faces:
        x, y, w, h = f.box
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 200, 255), max(1, int(2 * scale)))
        text = f"{f.label} {f.probabilities[f.label]:.0%}"
        cv2.putText(out, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * max(scale, 0.6),
                    (0, 200, 255), max(1, int(scale * 1.5)))
    if fps is not None:
        cv2.putText(out, f"{fps:.1f} fps", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    return out


def gui_available() -> bool:
    """True when OpenCV can open windows (a GUI build with a display); the headless wheel cannot."""
    cv2 = _cv2()
    try:
        cv2.namedWindow("fer_edu-probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("fer_edu-probe")
        return True
    except cv2.error:
        return False


def run_video(predictor: Predictor, source: str | int = 0, out: str | Path | None = None,
              max_frames: int | None = None, show: bool | None = None) -> dict:
    """Live loop over a camera (``source=0``) or a video file: boxes, labels and fps.

    Shows a window where OpenCV has a GUI, otherwise (the headless wheel) writes an annotated
    video to ``out``. Returns frame count and mean fps.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise DemoError(f"cannot open video source {source!r} (no camera, or not a video file)")
    show = gui_available() if show is None else show
    if not show and out is None:
        out = "webcam.mp4"
    writer = None
    frames, started, fps = 0, time.perf_counter(), 0.0
    try:
        while max_frames is None or frames < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            t = time.perf_counter()
            faces = predictor.predict(frame)
            fps = 0.9 * fps + 0.1 / max(time.perf_counter() - t, 1e-6) if frames else 1 / max(time.perf_counter() - t, 1e-6)
            shown = annotate(frame, faces, fps)
            if out is not None:
                if writer is None:
                    h, w = shown.shape[:2]
                    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"),
                                             capture.get(cv2.CAP_PROP_FPS) or 15, (w, h))
                writer.write(shown)
            if show:
                cv2.imshow("fer_edu (q quits)", shown)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            frames += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyAllWindows()
    return {"frames": frames, "fps": frames / max(time.perf_counter() - started, 1e-6), "out": str(out) if out else None}


def frame_latency(predictor: Predictor, frame: np.ndarray, repeats: int = 50, warmup: int = 5) -> dict:
    """Detection on a whole frame plus prediction for its faces, in milliseconds (median and 90th percentile)."""
    for _ in range(warmup):
        predictor.predict(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        faces = predictor.predict(frame)
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)), "faces": len(faces),
            "frame": list(frame.shape[:2]), "threads": torch.get_num_threads()}
