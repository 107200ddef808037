import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from fer_edu.cli import main  # noqa: E402
from fer_edu.data import CLASSES, synthetic_faces  # noqa: E402
from fer_edu.demo import DEFAULT_WEIGHTS, DemoError, Predictor, load_detector, read_image, run_video  # noqa: E402


@pytest.fixture(scope="module")
def predictor():
    return Predictor(DEFAULT_WEIGHTS)


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
    assert result["frames"] == 4 and out.stat().st_size > 0
    with pytest.raises(DemoError, match="cannot open video source"):
        run_video(predictor, str(tmp_path / "missing.mp4"), out=out, show=False)


def test_mismatched_weights_file_is_a_clear_error(tmp_path):
    from fer_edu.models import build_model
    from fer_edu.weights import save_weights

    path = save_weights(build_model("vgg11", 0.125).state_dict(), tmp_path / "w.safetensors",
                        architecture="vgg11_lstm_attention", width=0.25)
    with pytest.raises(ValueError, match="do not fit"):
        Predictor(path)


def test_frame_latency_reports_milliseconds(predictor):
    from fer_edu.demo import frame_latency

    frame = np.full((480, 640, 3), 100, np.uint8)
    result = frame_latency(predictor, frame, repeats=3, warmup=1)
    assert result["median_ms"] > 0 and result["frame"] == [480, 640] and result["faces"] == 0
