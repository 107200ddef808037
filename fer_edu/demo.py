"""The live demo: find faces with OpenCV's Haar cascade, crop them to 48x48 grey, predict.

Used by ``python -m fer_edu predict IMAGE...``, ``python -m fer_edu webcam`` and the chapter 8
app. The default model is the course's committed one (``results/models/``); every output points
to the model card, because a facial-expression classifier is easy to misuse.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import CLASSES, normalize
from .models import INFERENCE, count_parameters, for_inference
from .weights import load_model

REPO = Path(__file__).resolve().parents[1]
# Chosen on PublicTest among the kept laptop-scale runs (`python -m fer_edu export-demo`); its card:
# notebooks/model_card.ipynb.
DEFAULT_WEIGHTS = REPO / "results" / "models" / "demo.safetensors"
# A public-domain NASA portrait (tests/data/LICENSES.md): the book's example of a real photo.
EXAMPLE_PHOTO = REPO / "tests" / "data" / "astronaut.jpg"
NOTICE = ("Teaching demo: a facial expression is not a felt emotion, and this model is often wrong "
          "(PrivateTest accuracy {accuracy}); see the model card (notebooks/model_card.ipynb; in the book: "
          "Model card) and the chapter on limits and responsible use. Never use it to judge people.")


def notice(meta: dict) -> str:
    """The one-line notice every demo output carries, with the model's measured accuracy."""
    acc = meta.get("private_accuracy")
    return NOTICE.format(accuracy=f"{acc:.1%}" if acc is not None else "not measured")


SMALL_IMAGE = 96  # images this small are taken to be one face already cropped (like FER-2013's)
MIN_SIDE = 24  # below this no face can be read (FER-2013's are 48; the cascade's window is 24)
# A 50-megapixel RGB image is 150 MB decoded: more than any phone photo, far less than a
# decompression bomb (a few bytes of PNG claiming gigapixels), which is refused before decoding.
MAX_PIXELS = 50_000_000
# The live loop looks for faces on a copy scaled down to this width: 4x fewer pixels than a
# 640x480 webcam frame, and webcam faces stay far above the cascade's 24-pixel window.
VIDEO_DETECT_WIDTH = 320
# Between whole-frame detections the live loop looks for each face only around where it was
# (FaceTracker): a region reaching TRACK_MARGIN of the face's width beyond each side, scaled so the
# face is TRACK_FACE_PX wide. Every TRACK_EVERY frames (a third of a second at 30 fps) it scans the
# whole frame again, so a new face waits at most that long.
TRACK_EVERY = 10
# The live loop's budget for detection and prediction: half of the 33 ms between a 30 fps camera's
# frames, the other half for reading, drawing and showing the frame (chapter 8).
FRAME_TARGET_MS = 16
TRACK_MARGIN = 0.5
TRACK_FACE_PX = 40


class DemoError(ValueError):
    """Bad input for the demo (missing file, not an image) or an OpenCV without its face detector;
    the message says which."""


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
        raise DemoError("OpenCV has no Haar cascades (opencv-python-headless 5.0 ships none): "
                           "install opencv-python-headless<5")
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        raise DemoError(f"could not load the Haar cascade {path}")
    return detector


def read_image(path: str | Path) -> np.ndarray:
    """An 8-bit image from a file (BGR, or 2-D grey), with one clear error naming the file when it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"{path}: no such file")
    return decode_image(path.read_bytes(), str(path))


def decode_image(blob: bytes, name: str = "image") -> np.ndarray:
    """An 8-bit BGR (or 2-D grey) image from a file's bytes, upright as its EXIF orientation says.

    Any mode Pillow reads is accepted (16-bit grey, alpha, palette, CMYK...). Raises ``DemoError``,
    its message starting with ``name``, for what is not an image, a truncated one, one too large
    (checked on the header, before decoding) or one too small to hold a face.
    """
    with warnings.catch_warnings():
        # Pillow warns from 89 megapixels; our own lower limit below refuses those anyway.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(blob))
        except Image.DecompressionBombError as exc:
            raise DemoError(f"{name}: claims far more than {MAX_PIXELS / 1e6:.0f} megapixels, the demo's limit "
                            "(a decompression bomb?)") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DemoError(f"{name}: not an image (no format Pillow can read)") from exc
    _check_size(image.size, name)
    try:
        # Phones store photos sideways with an orientation tag; the cascade finds upright faces only.
        image = ImageOps.exif_transpose(image)
        return _to_8bit(image)
    # Damaged files fail inside the decoders with any of these; all mean the same to a reader.
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise DemoError(f"{name}: truncated or damaged image ({exc})") from exc


def _check_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise DemoError(f"{name}: {width}x{height} pixels is over the demo's limit of "
                        f"{MAX_PIXELS / 1e6:.0f} megapixels (a decompression bomb?)")
    if min(width, height) < MIN_SIDE:
        raise DemoError(f"{name}: {width}x{height} pixels is too small to hold a face "
                        f"(at least {MIN_SIDE} pixels a side)")


def _to_8bit(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as 8-bit BGR or grey, transparency flattened onto white."""
    if image.mode.startswith("I") or image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        # 16-bit grey spans 0..65535; a 32-bit or float image whose values fit in 8 bits is kept as it is.
        if image.mode.startswith("I;16") or pixels.max() > 255:
            pixels = pixels / 257
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    grey = image.mode in ("1", "L", "LA", "La")
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        # Transparent pixels are often black underneath: on white they look as a viewer shows them.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if grey:
        return np.asarray(image.convert("L")).copy()
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])


def decode_data_url(url: str, name: str = "webcam snapshot") -> bytes:
    """The bytes of a base64 ``data:`` URL (what a browser canvas's ``toDataURL`` gives)."""
    header, sep, payload = url.partition(",")
    if not (header.startswith("data:") and header.endswith(";base64") and sep):
        raise DemoError(f"{name}: not a base64 data URL")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DemoError(f"{name}: damaged base64 data") from exc


def to_gray(image: np.ndarray) -> np.ndarray:
    """A BGR image in grey (the detector's and the model's input); a grey one as it is."""
    cv2 = _cv2()
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


class Predictor:
    """Face detection + crop + the expression model."""

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, device: str = "cpu") -> None:
        model, self.meta = load_model(weights, device)
        self.parameters = count_parameters(model)  # as trained: folding drops the batch norms' own
        self.model = for_inference(model)
        self.device = device
        self.detector = load_detector()

    def network(self) -> dict:
        """What the demo runs, as its timings record it: the weights (name, seed), the network
        (architecture, width, trained parameter count) and how it is prepared (:data:`INFERENCE`)."""
        meta = self.meta
        return {"name": meta.get("name", meta["architecture"]), "seed": meta.get("seed"),
                "architecture": meta["architecture"], "width": meta["width"], "parameters": self.parameters,
                "inference": INFERENCE}

    def detect(self, gray: np.ndarray, width: int | None = None) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h), left to right; ``width`` runs the cascade on a copy scaled down to it."""
        cv2 = _cv2()
        h, w = gray.shape
        if max(h, w) <= SMALL_IMAGE:
            return [(0, 0, w, h)]
        scale = w / width if width and w > width else 1.0
        if scale > 1:
            # Faster (the cost grows with the pixel count); faces under 24 * scale pixels are missed.
            # Coarser steps between scales (1.2) with fewer neighbours (3) cost 12 ms instead of 17
            # on an idle 2-core machine and found the example photo's face pasted at every width
            # from 50 to 120 pixels of a 320-wide frame, as the finer setting (1.15, 5) did.
            small = cv2.resize(gray, (width, max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
            boxes = self.detector.detectMultiScale(small, scaleFactor=1.2, minNeighbors=3, minSize=(24, 24))
        else:
            boxes = self.detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(36, 36))
        boxes = [_clip_box([round(v * scale) for v in b], w, h) for b in boxes]
        return sorted(boxes, key=lambda b: (b[0], b[1]))  # left to right

    def detect_near(self, gray: np.ndarray, box: tuple[int, int, int, int], margin: float = TRACK_MARGIN,
                    face_px: int = TRACK_FACE_PX) -> tuple[int, int, int, int] | None:
        """The face nearest ``box`` in the region around it, or None when none is there.

        The region (``margin`` of the face's width beyond each side) is scaled so the face is
        ``face_px`` wide, and the cascade tries only sizes within 1.5x of it: a few milliseconds
        instead of a whole frame's scan, for a face that moved less than the margin.
        """
        cv2 = _cv2()
        x, y, w, h = box
        height, width = gray.shape
        m = round(margin * w)
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(width, x + w + m), min(height, y + h + m)
        s = face_px / w
        region = cv2.resize(gray[y0:y1, x0:x1], (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))),
                            interpolation=cv2.INTER_AREA)
        lo, hi = max(24, round(face_px / 1.5)), round(face_px * 1.5)  # 24: the cascade's window
        found = self.detector.detectMultiScale(region, scaleFactor=1.1, minNeighbors=3, minSize=(lo, lo),
                                               maxSize=(hi, hi))
        if not len(found):
            return None
        boxes = [[x0 + round(bx / s), y0 + round(by / s), round(bw / s), round(bh / s)] for bx, by, bw, bh in found]
        nearest = min(boxes, key=lambda b: (b[0] + b[2] / 2 - x - w / 2) ** 2 + (b[1] + b[3] / 2 - y - h / 2) ** 2)
        return _clip_box(nearest, width, height)

    # Printed in chapter 8: within 80 columns, the width of the book's code cells.
    def predict(self, image: np.ndarray,
                detect_width: int | None = None) -> list[Face]:
        """Faces in a BGR (or grey) image, each with its expression
        probabilities.

        ``detect_width`` looks for faces on a copy scaled down to that width
        (the live loop's ``VIDEO_DETECT_WIDTH``); the crops always come from
        the full image.
        """
        gray = to_gray(image)
        return self.classify(gray, self.detect(gray, detect_width))

    @torch.no_grad()
    def classify(self, gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[Face]:
        """The expression of each face box of a grey image (:meth:`detect`'s boxes), in one batch."""
        cv2 = _cv2()
        if not len(boxes):
            return []
        crops = np.stack([cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
                          for x, y, w, h in boxes])
        x = normalize(torch.from_numpy(crops).to(self.device))
        probs = torch.softmax(self.model(x).float(), 1)
        if self.meta.get("tta_flip"):  # predict as the model was evaluated, so its card's accuracy applies
            probs = (probs + torch.softmax(self.model(x.flip(-1)).float(), 1)) / 2
        probs = probs.cpu().numpy()
        return [Face(box, CLASSES[int(p.argmax())], {c: float(v) for c, v in zip(CLASSES, p)})
                for box, p in zip(boxes, probs)]


class FaceTracker:
    """Face boxes for a video's frames: the whole frame scanned every ``every`` frames, the faces
    found again near where they were in between (:meth:`Predictor.detect_near`).

    A face not found again, or a frame without faces, sends that frame to a whole-frame scan, so a
    face that moved too far is lost for no frame; a new face waits at most ``every`` frames.
    ``every=1`` scans every frame. ``full_scans`` counts the whole-frame scans.
    """

    def __init__(self, predictor: Predictor, every: int = TRACK_EVERY,
                 detect_width: int | None = VIDEO_DETECT_WIDTH) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1 frame, not {every}")
        self.predictor, self.every, self.detect_width = predictor, every, detect_width
        self.boxes: list[tuple[int, int, int, int]] = []
        self.since_scan = 0
        self.full_scans = 0

    def __call__(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """The face boxes (x, y, w, h) of the next frame, in grey, left to right."""
        if self.boxes and self.since_scan < self.every:
            near = [self.predictor.detect_near(gray, box) for box in self.boxes]
            if all(b is not None for b in near):
                self.boxes = sorted(near, key=lambda b: (b[0], b[1]))
                self.since_scan += 1
                return self.boxes
        self.boxes = self.predictor.detect(gray, self.detect_width)
        self.since_scan, self.full_scans = 1, self.full_scans + 1
        return self.boxes


def _clip_box(box: list[int], width: int, height: int) -> tuple[int, int, int, int]:
    """A box scaled back to the full image can overhang its border by a pixel: keep it inside."""
    x, y = min(max(box[0], 0), width - 1), min(max(box[1], 0), height - 1)
    return x, y, max(1, min(box[2], width - x)), max(1, min(box[3], height - y))


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
              max_frames: int | None = None, show: bool | None = None, track_every: int = TRACK_EVERY) -> dict:
    """Live loop over a camera (``source=0``) or a video file: boxes, labels and fps.

    Shows a window where OpenCV has a GUI, otherwise (the headless wheel) writes an annotated
    video to ``out``. Faces are tracked between whole-frame scans every ``track_every`` frames
    (:class:`FaceTracker`; 1 scans every frame). Returns frame count, mean fps and the scans.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise DemoError(f"cannot open video source {source!r} (no camera, or not a video file)")
    show = gui_available() if show is None else show
    if not show and out is None:
        out = "webcam.mp4"
    writer = None
    tracker = FaceTracker(predictor, track_every)
    frames, started, fps = 0, time.perf_counter(), 0.0
    try:
        while max_frames is None or frames < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            t = time.perf_counter()
            gray = to_gray(frame)
            faces = predictor.classify(gray, tracker(gray))
            fps = (0.9 * fps + 0.1 / max(time.perf_counter() - t, 1e-6) if frames
                   else 1 / max(time.perf_counter() - t, 1e-6))
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
    return {"frames": frames, "fps": frames / max(time.perf_counter() - started, 1e-6),
            "out": str(out) if out else None, "full_scans": tracker.full_scans}


def example_frame(photo: str | Path = EXAMPLE_PHOTO, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A webcam-sized BGR frame (width, height): the example photo centred on grey, its face about 73 pixels wide."""
    image = read_image(photo)
    image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    width, height = size
    frame = np.full((height, width, 3), 110, np.uint8)
    h, w = min(image.shape[0], height), min(image.shape[1], width)
    y, x = (height - h) // 2, (width - w) // 2
    frame[y:y + h, x:x + w] = image[:h, :w]
    return frame


def frame_latency(predictor: Predictor, frame: np.ndarray, repeats: int = 50, warmup: int = 5,
                  detect_width: int | None = VIDEO_DETECT_WIDTH, track_every: int = 1) -> dict:
    """Detection plus prediction for a frame's faces, as the live loop does it, in milliseconds.

    ``track_every=1`` scans the whole frame every time; larger, the faces are tracked between scans
    (:class:`FaceTracker`, the live loop's default ``TRACK_EVERY``), so on a still frame one frame in
    ``track_every`` pays for a scan. Returns the median, 90th percentile and mean of a frame, the
    medians of its two stages (the grey conversion and detection; the crops and the model for all
    its faces), the faces found, the whole-frame scans, the frame size, the detection width and the
    threads torch and OpenCV use.
    """
    tracker = FaceTracker(predictor, track_every, detect_width)
    for _ in range(warmup):
        gray = to_gray(frame)
        predictor.classify(gray, tracker(gray))
    tracker.full_scans = 0
    times, detect = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        gray = to_gray(frame)
        boxes = tracker(gray)
        found = time.perf_counter()
        faces = predictor.classify(gray, boxes)  # together: Predictor.predict, timed in its two stages
        times.append(1000 * (time.perf_counter() - start))
        detect.append(1000 * (found - start))
    model = np.subtract(times, detect)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
            "mean_ms": float(np.mean(times)), "faces": len(faces),
            "detect_median_ms": float(np.median(detect)), "model_median_ms": float(np.median(model)),
            "track_every": track_every, "full_scans": tracker.full_scans,
            "frame": list(frame.shape[:2]), "detect_width": detect_width, "threads": torch.get_num_threads(),
            "cv2_threads": _cv2().getNumThreads()}
