import base64
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

cv2 = pytest.importorskip("cv2")

from fer_edu.cli import main  # noqa: E402
from fer_edu.data import CLASSES, synthetic_faces  # noqa: E402
from fer_edu.demo import (  # noqa: E402
    DEFAULT_WEIGHTS,
    EXAMPLE_PHOTO,
    MAX_PIXELS,
    TRACK_EVERY,
    VIDEO_DETECT_WIDTH,
    DemoError,
    FaceTracker,
    Predictor,
    decode_data_url,
    decode_image,
    example_frame,
    load_detector,
    notice,
    read_image,
    run_video,
    to_gray,
)

DATA = Path(__file__).resolve().parent / "data"
ASTRONAUT = DATA / "astronaut.jpg"  # one frontal face (public domain, tests/data/LICENSES.md)
CAMERA = DATA / "camera.jpg"  # a man in profile: no frontal face (CC0)


@pytest.fixture(scope="module")
def predictor():
    return Predictor(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.open(ASTRONAUT).convert("RGB")


def one_face(predictor, image) -> None:
    """The photo's single face is found and gets a full probability vector."""
    (face,) = predictor.predict(image)
    assert face.label in CLASSES and sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_haar_cascade_ships_with_opencv():
    assert not load_detector().empty()


def test_a_small_image_is_one_face(tmp_path, predictor):
    face = synthetic_faces(7, 1, 1).images[0]
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), face)
    (result,) = predictor.predict(read_image(path))
    assert result.box == (0, 0, 48, 48) and result.label in CLASSES
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_no_face_in_a_flat_photo(predictor):
    assert predictor.predict(np.full((300, 400, 3), 128, np.uint8)) == []


@pytest.mark.realdata
def test_detects_upscaled_fer_faces(real_data, predictor):
    canvas = np.full((300, 700), 90, np.uint8)
    for k, i in enumerate([3, 100, 2000]):
        canvas[60:220, 30 + k * 220:190 + k * 220] = cv2.resize(real_data.images[i], (160, 160))
    assert len(predictor.predict(canvas)) >= 2


def test_bad_inputs_are_one_clear_message(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert main(["predict", str(bad), str(empty), str(tmp_path / "missing.png")]) == 2
    err = capsys.readouterr().err
    assert "notes.jpg: not an image" in err and "empty.png: not an image" in err and "missing.png: no such file" in err
    assert "Traceback" not in err
    with pytest.raises(DemoError):
        read_image(tmp_path)


def test_predict_cli_writes_annotated_image(tmp_path, capsys):
    face = cv2.resize(synthetic_faces(7, 1, 1).images[0], (64, 64))
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), face)
    assert main(["predict", str(path), "--out", str(tmp_path / "out.png")]) == 0
    out = capsys.readouterr().out
    assert "Never use it to judge people" in out and "1 face(s)" in out
    assert cv2.imread(str(tmp_path / "out.png")) is not None


def test_video_file_replays_through_the_live_loop(tmp_path, predictor):
    video = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    for img in synthetic_faces(7, 1, 1).images[:6]:
        writer.write(cv2.cvtColor(cv2.resize(img, (64, 64)), cv2.COLOR_GRAY2BGR))
    writer.release()
    out = tmp_path / "out.mp4"
    result = run_video(predictor, str(video), out=out, max_frames=4, show=False)
    assert result["frames"] == 4 and out.stat().st_size > 0 and result["full_scans"] >= 1
    with pytest.raises(DemoError, match="cannot open video source"):
        run_video(predictor, str(tmp_path / "missing.mp4"), out=out, show=False)


def test_mismatched_weights_file_is_a_clear_error(tmp_path):
    from fer_edu.models import build_model
    from fer_edu.weights import save_weights

    path = save_weights(build_model("vgg11", 0.125).state_dict(), tmp_path / "w.safetensors",
                        architecture="vgg11_lstm_attention", width=0.25)
    with pytest.raises(ValueError, match="do not fit"):
        Predictor(path)


def test_a_model_evaluated_with_test_time_flip_predicts_with_it(tmp_path):
    """The demo predicts as its model was evaluated, so the accuracy on its card is the demo's."""
    import torch

    from fer_edu.data import normalize
    from fer_edu.models import build_model
    from fer_edu.weights import save_weights

    torch.manual_seed(0)
    model = build_model("vgg11", 0.125).eval()
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(50)  # an untrained network is nearly uniform: make its outputs differ
    face = synthetic_faces(7, 1, 1).images[0]
    x = normalize(torch.from_numpy(face[None]))
    with torch.no_grad():
        one = torch.softmax(model(x), 1)[0].numpy()
        both = ((torch.softmax(model(x), 1) + torch.softmax(model(x.flip(-1)), 1)) / 2)[0].numpy()
    assert not np.allclose(one, both, atol=1e-4)  # the face is not mirror-symmetric
    for tta, expected in ((False, one), (True, both)):
        path = save_weights(model.state_dict(), tmp_path / f"w{tta}.safetensors", architecture="vgg11",
                            width=0.125, tta_flip=tta)
        (result,) = Predictor(path).predict(face)
        assert np.allclose([result.probabilities[c] for c in CLASSES], expected, atol=1e-5)


def test_frame_latency_reports_milliseconds(predictor):
    from fer_edu.demo import frame_latency

    frame = np.full((480, 640, 3), 100, np.uint8)
    result = frame_latency(predictor, frame, repeats=3, warmup=1)
    assert result["median_ms"] > 0 and result["frame"] == [480, 640] and result["faces"] == 0


# --- the notice ---------------------------------------------------------------------------------

def test_notice_is_one_line_pointing_to_the_model_card_and_limits(predictor):
    text = notice(predictor.meta)
    assert "\n" not in text and "notebooks/model_card.ipynb" in text and "Model card" in text
    assert "chapter on limits" in text and "Never use it to judge people" in text
    assert "62" in notice({"private_accuracy": 0.623}) and "not measured" in notice({})


# --- real photos --------------------------------------------------------------------------------

def test_committed_photos_are_small_and_licensed():
    licenses = (DATA / "LICENSES.md").read_text()
    for path in (ASTRONAUT, CAMERA):
        assert path.stat().st_size < 60_000 and path.name in licenses
    assert EXAMPLE_PHOTO == ASTRONAUT


def test_predict_command_finds_the_one_face_of_a_real_photo():
    # As on a fresh clone: a new process, the committed model, no FER-2013 needed.
    done = subprocess.run([sys.executable, "-m", "fer_edu", "predict", str(ASTRONAUT)],
                          check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "astronaut.jpg: 1 face(s)" in done.stdout and "model_card.ipynb" in done.stdout
    (line,) = [text for text in done.stdout.splitlines() if text.strip().startswith("box")]
    assert line.split(":")[1].split()[0] in CLASSES


def test_a_person_in_profile_is_no_face_found_not_an_error(capsys):
    assert main(["predict", str(CAMERA)]) == 0
    out = capsys.readouterr().out
    assert "camera.jpg: 0 face(s)" in out and "no face found" in out


def test_many_faces_are_all_found_each_with_a_prediction(predictor, astronaut):
    tile = np.asarray(astronaut)[..., ::-1]
    mosaic = np.concatenate([np.concatenate([tile] * 3, axis=1)] * 2, axis=0)  # 2 rows x 3 columns
    faces = predictor.predict(mosaic)
    side = tile.shape[0]
    tiles = {((f.box[1] + f.box[3] // 2) // side, (f.box[0] + f.box[2] // 2) // side) for f in faces}
    assert len(faces) == 6 and len(tiles) == 6
    assert all(f.label in CLASSES and sum(f.probabilities.values()) == pytest.approx(1.0, abs=1e-4) for f in faces)


# --- unusual image files ------------------------------------------------------------------------

def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def test_grey_photo_is_read_as_grey(tmp_path, predictor, astronaut):
    image = read_image(_save(astronaut.convert("L"), tmp_path / "grey.png"))
    assert image.ndim == 2 and image.dtype == np.uint8
    one_face(predictor, image)


def test_16_bit_grey_is_scaled_to_8_bits(tmp_path, predictor, astronaut):
    grey = np.asarray(astronaut.convert("L"))
    path = _save(Image.fromarray(grey.astype(np.uint16) * 257), tmp_path / "deep.png")
    assert Image.open(path).mode == "I;16"
    image = read_image(path)
    assert image.dtype == np.uint8 and np.array_equal(image, grey)
    one_face(predictor, image)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_and_palettes_are_flattened_onto_white(tmp_path, predictor, astronaut, mode):
    rgba = astronaut.convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:, :40] = 0  # a transparent strip: black pixels underneath
    rgba.putalpha(Image.fromarray(alpha))
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 0))
    image = Image.composite(rgba, black, rgba.getchannel("A"))
    source = image if mode == "RGBA" else image.convert("LA") if mode == "LA" else image.convert("RGB").quantize(256)
    result = read_image(_save(source, tmp_path / f"{mode}.png"))
    assert result.dtype == np.uint8 and result.ndim == (2 if mode == "LA" else 3)
    if mode != "P":
        assert result[:, :40].min() == 255
    one_face(predictor, result)


@pytest.mark.parametrize("orientation, rotate", [(6, 90), (8, -90), (3, 180)])
def test_exif_rotated_phone_photo_is_turned_upright(tmp_path, predictor, astronaut, orientation, rotate):
    # A phone stores the pixels as the sensor saw them and says in EXIF how to turn them.
    stored = astronaut.rotate(rotate, expand=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(stored, tmp_path / "phone.jpg", exif=exif, quality=95)
    assert predictor.predict(np.asarray(Image.open(path))[..., ::-1].copy()) == []  # sideways: no face
    image = read_image(path)
    assert image.shape == (astronaut.height, astronaut.width, 3)
    one_face(predictor, image)


# --- bad input: one clear message, no crash -----------------------------------------------------

def _png_header(width: int, height: int) -> bytes:
    """A PNG's signature and header claiming a size, with one tiny (wrong) data chunk: no pixels to decode."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (8_000, 7_000)])
def test_decompression_bomb_is_refused_from_its_header(tmp_path, width, height):
    # 10 gigapixels trips Pillow's own guard; 56 megapixels only the demo's lower limit.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(width, height))
    assert width * height > MAX_PIXELS and path.stat().st_size < 100
    with pytest.raises(DemoError, match=r"bomb\.png: .*megapixels") as err:
        read_image(path)
    assert "truncated" not in str(err.value)  # refused before any decoding was tried


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_is_a_clear_error(tmp_path, astronaut, suffix, capsys):
    whole = _save(astronaut, tmp_path / f"whole{suffix}")
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DemoError, match=f"cut\\{suffix}: truncated or damaged"):
        read_image(cut)
    assert main(["predict", str(cut)]) == 2
    err = capsys.readouterr().err
    assert f"cut{suffix}: truncated" in err and "Traceback" not in err


def test_tiny_image_is_a_clear_error(tmp_path, capsys):
    path = _save(Image.new("RGB", (12, 9), "grey"), tmp_path / "tiny.png")
    with pytest.raises(DemoError, match=r"tiny\.png: 12x9 pixels is too small"):
        read_image(path)
    assert main(["predict", str(path)]) == 2 and "too small" in capsys.readouterr().err


# --- the live loop and the browser webcam -------------------------------------------------------

def test_live_loop_finds_the_face_in_a_webcam_sized_frame(predictor):
    from fer_edu.demo import frame_latency

    frame = example_frame()
    assert frame.shape == (480, 640, 3)
    (full,) = predictor.predict(frame)
    (fast,) = predictor.predict(frame, VIDEO_DETECT_WIDTH)  # detection on a 320-wide copy
    assert all(abs(a - b) <= 8 for a, b in zip(full.box, fast.box))  # the same face, boxes in full-frame pixels
    result = frame_latency(predictor, frame, repeats=5, warmup=1)
    assert result["faces"] == 1 and result["detect_width"] == VIDEO_DETECT_WIDTH
    assert 0 < result["median_ms"] <= result["p90_ms"] < 10_000  # generous: the machine may be busy
    # the two stages, timed within each frame, are the frame
    assert 0 < result["detect_median_ms"] and 0 < result["model_median_ms"]
    assert result["detect_median_ms"] + result["model_median_ms"] == pytest.approx(result["median_ms"], rel=0.5)
    gray = to_gray(frame)
    (again,) = predictor.classify(gray, predictor.detect(gray, VIDEO_DETECT_WIDTH))  # predict = detect + classify
    assert again.box == fast.box and again.probabilities == pytest.approx(fast.probabilities)


def _moved(frame: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    """The frame with its content moved right by dx and down by dy pixels (the grey border repeated)."""
    return cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, dy]]), frame.shape[1::-1],
                          borderMode=cv2.BORDER_REPLICATE)


def _iou(a, b) -> float:
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def test_tracker_follows_a_moving_face_and_scans_the_whole_frame_every_tenth(predictor):
    frame = example_frame()
    tracker = FaceTracker(predictor, every=TRACK_EVERY)
    (x, y, w, h), = predictor.detect(to_gray(frame), VIDEO_DETECT_WIDTH)
    for i in range(2 * TRACK_EVERY + 1):  # 6 pixels a frame: 120 pixels across, with a little drift down
        (box,) = tracker(to_gray(_moved(frame, 6 * i, i)))
        assert _iou(box, (x + 6 * i, y + i, w, h)) > 0.6, (i, box)  # where the face has moved to
    assert tracker.full_scans == 3  # frames 0, 10 and 20; the others were tracked
    assert tracker(to_gray(np.full_like(frame, 110))) == [] and tracker.full_scans == 4  # lost: scanned at once
    assert len(tracker(to_gray(frame))) == 1 and tracker.full_scans == 5  # back: found by the next scan
    with pytest.raises(ValueError, match="at least 1"):
        FaceTracker(predictor, every=0)


def test_detect_near_finds_only_the_face_near_the_box(predictor):
    gray = to_gray(example_frame())
    (box,) = predictor.detect(gray, VIDEO_DETECT_WIDTH)
    assert _iou(predictor.detect_near(gray, box), box) > 0.7
    x, y, w, h = box
    assert predictor.detect_near(gray, (x + 3 * w, y, w, h)) is None  # three face widths away: not there
    two = np.concatenate([gray, gray], axis=1)  # the face twice, 640 pixels apart
    assert _iou(predictor.detect_near(two, (x + 640, y, w, h)), (x + 640, y, w, h)) > 0.7  # the right one


def test_tracked_latency_pays_for_a_scan_once_in_every_frames(predictor):
    from fer_edu.demo import frame_latency

    result = frame_latency(predictor, example_frame(), repeats=20, warmup=1, track_every=TRACK_EVERY)
    assert result["faces"] == 1 and result["track_every"] == TRACK_EVERY and result["full_scans"] == 2
    assert 0 < result["median_ms"] <= result["p90_ms"] and result["mean_ms"] > 0
    assert frame_latency(predictor, example_frame(), repeats=3, warmup=1)["full_scans"] == 3  # every frame


def test_webcam_bench_command(capsys, tmp_path):
    from fer_edu.demo import FRAME_TARGET_MS
    from fer_edu.experiments import DEMO_FACE_MS
    from fer_edu.report import verdict

    assert main(["webcam", "--bench", "3", "--threads", "1", "--save", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "640x480 frame, 1 face(s)" in out and "median" in out
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["faces"] == 1 and saved["repeats"] == 3 and saved["target_ms"] == 16 and saved["device_kind"] == "cpu"
    assert saved["threads"] == 1  # the threads the measurement ran with, not the machine's
    from fer_edu.demo import Predictor

    demo = Predictor()  # the model timed is named, with its size: the demo's weights change over time
    assert saved["model"] == demo.network() and saved["model"]["parameters"] > 0
    assert "detection" in out and saved["detect_median_ms"] > 0 and saved["model_median_ms"] > 0
    assert saved["full_scans"] == 3 and saved["tracked"]["track_every"] == TRACK_EVERY  # both loops, each saved
    assert saved["tracked"]["faces"] == 1 and saved["tracked"]["median_ms"] > 0 and "tracked between" in out
    # the last line holds each median against its budget, so a reader need not look the budgets up
    budgets = out.strip().splitlines()[-1]
    scanned, tracked = (verdict(ms, FRAME_TARGET_MS) for ms in (saved["median_ms"], saved["tracked"]["median_ms"]))
    assert budgets.startswith("against the course's budgets") and f"{FRAME_TARGET_MS} ms a frame" in budgets
    assert f"every frame scanned {scanned}, tracked {tracked}" in budgets
    assert f"{DEMO_FACE_MS:g} ms a face for the model, {verdict(saved['model_median_ms'], DEMO_FACE_MS)}" in budgets
    assert saved["target_ms"] == FRAME_TARGET_MS


def test_webcam_bench_saves_by_default_to_its_kind_of_cpu(capsys, tmp_path, monkeypatch):
    from fer_edu import results, train

    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    # Two CPUs with native bf16 but different instructions get a file each: the demo computes in fp32.
    for isa, name in (("AVX2", "bench-demo-cpu-avx2.json"), ("AMX", "bench-demo-cpu-amx.json"),
                      ("AVX-512 BF16", "bench-demo-cpu-avx512-bf16.json")):
        monkeypatch.setattr(train, "cpu_isa", lambda cpuinfo=None, isa=isa: isa)
        assert main(["webcam", "--bench", "2", "--threads", "1", "--save"]) == 0
        assert (tmp_path / name).exists() and f"wrote {tmp_path / name}" in capsys.readouterr().out
        assert json.loads((tmp_path / name).read_text())["isa"] == isa
    assert len(results.load_demo_benches(tmp_path)) == 3
    # a record made before runs named their instruction set keeps the bf16 split
    assert results.demo_bench_kind({"device_kind": "cpu", "bf16": False}) == "cpu-fp32"


def test_demo_benches_compare_by_network_not_by_weights():
    from fer_edu import results
    from fer_edu.models import INFERENCE

    def bench(name, seed, parameters=1000, width=0.25, median=10.0, **model):
        return {"median_ms": median, "model": {"name": name, "seed": seed, "architecture": "vgg19",
                                               "width": width, "parameters": parameters, **model}}

    xeon = bench("student_mild_e60", 2, median=13.0, inference=INFERENCE)
    epyc = bench("student_alone", 0, median=16.0, inference=INFERENCE)
    before = bench("student_alone", 0, median=17.0)  # made before the demo prepared its model
    older = {"median_ms": 23.0}  # a file made before measurements named their model
    wider = bench("best45", 0, parameters=4000, width=0.5, inference=INFERENCE)
    net = ("vgg19", 0.25, 1000, INFERENCE)
    # Other weights of one network (another name, another seed) time the same arithmetic: they compare.
    assert results.demo_network(xeon) == results.demo_network(epyc) == net
    # The same network run as trained does other arithmetic (separate batch norms): it does not.
    assert results.demo_network(before) == ("vgg19", 0.25, 1000, results.AS_TRAINED)
    assert results.demo_network(older) is None and results.demo_network({"model": None}) is None
    groups = results.demo_networks([xeon, epyc, before, older, wider])
    assert groups == {net: [xeon, epyc], ("vgg19", 0.25, 1000, results.AS_TRAINED): [before], None: [older],
                      ("vgg19", 0.5, 4000, INFERENCE): [wider]}
    # The demo weights' metadata with their parameter count and preparation finds the same group.
    meta = {"name": "student_mild_e60", "seed": 2, "architecture": "vgg19", "width": 0.25}
    assert groups[results.demo_network({**meta, "parameters": 1000, "inference": INFERENCE})] == [xeon, epyc]
    assert results.demo_network(meta) is None  # no parameter count: not enough to say


def test_the_predictor_runs_its_network_prepared_and_records_it_as_trained():
    from fer_edu.models import INFERENCE, count_parameters
    from fer_edu.weights import load_model

    predictor = Predictor()
    trained, meta = load_model(DEFAULT_WEIGHTS)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in predictor.model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trained.modules())
    # Its timings name the trained network (its parameter count before folding) and how it ran.
    network = predictor.network()
    assert network["parameters"] == count_parameters(trained) != count_parameters(predictor.model)
    assert network["inference"] == INFERENCE and network["name"] == meta["name"]
    assert network["seed"] == meta["seed"] and network["architecture"] == meta["architecture"]


def test_a_face_time_is_within_the_demo_budget_up_to_it():
    from fer_edu.experiments import DEMO_FACE_MS
    from fer_edu.report import face_time_verdict

    assert face_time_verdict({"model_median_ms": DEMO_FACE_MS}) == "within"
    assert face_time_verdict({"model_median_ms": 3.2}) == "within"
    assert face_time_verdict({"model_median_ms": 4.3}) == "over"


def test_a_time_at_its_budget_is_within_and_above_it_over():
    from fer_edu.report import verdict

    assert verdict(16, 16) == "within" and verdict(15.9, 16) == "within" and verdict(16.1, 16) == "over"


def _data_url(path: Path) -> str:
    buf = io.BytesIO()
    Image.open(path).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_data_url_decodes_like_an_uploaded_file(predictor):
    image = decode_image(decode_data_url(_data_url(ASTRONAUT)), "webcam snapshot")
    one_face(predictor, image)
    for bad in ("not a url", "data:image/png,rawtext", "data:image/png;base64,***"):
        with pytest.raises(DemoError, match="webcam snapshot"):
            decode_data_url(bad)
    with pytest.raises(DemoError, match="snap: not an image"):
        decode_image(b"\x00" * 100, "snap")


def test_webcam_widget_snapshot_reaches_the_predictor(predictor):
    pytest.importorskip("anywidget")
    from fer_edu.webcam_widget import WebcamSnapshot

    widget = WebcamSnapshot()
    assert "getUserMedia" in widget._esm and "toDataURL" in widget._esm
    with pytest.raises(DemoError, match="none taken yet"):
        widget.image()
    results = []
    widget.observe(lambda change: results.append(predictor.predict(widget.image())), names="snapshot")
    widget.snapshot = _data_url(ASTRONAUT)  # what the browser sets on a click
    assert len(results) == 1 and len(results[0]) == 1


def test_demo_timings_of_a_network_keep_the_ones_run_another_way_apart():
    from fer_edu import results
    from fer_edu.models import INFERENCE
    from fer_edu.report import face_times_text

    def bench(device, ms, **model):
        return {"device": device, "bf16": True, "isa": "AMX", "median_ms": 10 + ms, "model_median_ms": ms,
                "model": {"architecture": "vgg19", "width": 0.25, "parameters": 1000, **model}}

    now, before = bench("Intel(R) Xeon(R) Processor", 2.4, inference=INFERENCE), bench("AMD EPYC", 4.3)
    wider = bench("AMD EPYC", 9.0, inference=INFERENCE, width=0.5)
    current, other = results.demo_timings(("vgg19", 0.25, 1000, INFERENCE), [now, before, wider, {"median_ms": 1}])
    assert current == [now] and other == [before]
    assert face_times_text(current + other) == (
        "2.4 ms a face on the Intel Xeon, native bf16 (AMX), within the 4 ms, "
        "and 4.3 ms on the AMD EPYC, native bf16 (AMX), over it")
    assert face_times_text([]) == ""
