"""Every loader on small generated files, and every bad input."""

import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from fer_edu.data import SPLITS, DataFormatError, DataNotFoundError, load_fer2013

from .conftest import image_entries, jpeg_bytes


def _same_content(loaded, small):
    """Loaded data equals the source images, labels and splits (loaders may reorder)."""
    key = lambda d: sorted(zip(d.splits.tolist(), d.labels.tolist(), [im.tobytes() for im in d.images]))  # noqa: E731
    assert len(loaded) == len(small)
    assert key(loaded) == key(small)


@pytest.mark.parametrize("fixture", ["image_folder", "image_zip", "image_tar", "fer_csv", "icml_csv"])
def test_every_labelled_format_loads_the_same(request, fixture, small):
    data = load_fer2013(request.getfixturevalue(fixture))
    assert data.images.dtype == np.uint8 and data.images.shape[1:] == (48, 48)
    assert set(data.splits) == set(SPLITS)
    _same_content(data, small)
    assert data.info["sha256"] and not data.synthetic


def test_folder_given_by_its_parent_or_holding_a_csv(image_folder, fer_csv, small):
    _same_content(load_fer2013(image_folder.parent / "fer2013"), small)
    _same_content(load_fer2013(fer_csv.parent), small)  # a folder with fer2013.csv in it


def test_image_ids_and_split_from_prefix(image_folder):
    data = load_fer2013(image_folder)
    for sid, split in zip(data.source_ids, data.splits):
        assert sid.split("/")[-1].startswith(split + "_")


def test_kaggle_train_and_unlabelled_test(kaggle_train_test, small):
    with pytest.warns(UserWarning, match="no labels"):
        data = load_fer2013(kaggle_train_test)
    counts = data.split_counts()
    assert counts == {"Training": 21, "Unlabelled": 14}
    assert (data.split("Unlabelled").labels == -1).all()
    assert (data.split("Training").images == small.split("Training").images).all()


def test_missing_path_explains_download(tmp_path):
    with pytest.raises(DataNotFoundError, match="kaggle.com") as err:
        load_fer2013(tmp_path / "nope")
    assert "nope" in str(err.value) and "FER_EDU_DATA" in str(err.value)


def test_empty_folder(tmp_path):
    with pytest.raises(DataFormatError, match="not a FER-2013 folder"):
        load_fer2013(tmp_path)


def test_wrong_layout_and_unknown_class(tmp_path, small):
    (tmp_path / "train" / "grumpy").mkdir(parents=True)
    (tmp_path / "train" / "grumpy" / "Training_1.png").write_bytes(jpeg_bytes(small.images[0]))
    with pytest.raises(DataFormatError, match="unknown class folder 'grumpy'"):
        load_fer2013(tmp_path)


def test_empty_class_folders(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="no images found"):
        load_fer2013(tmp_path)


def test_unreadable_and_truncated_images_named(image_folder):
    target = next((image_folder / "train").rglob("*.png"))
    blob = target.read_bytes()
    target.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match=f"{target.name}.*truncated"):
        load_fer2013(image_folder)
    target.write_bytes(b"this is not an image")
    with pytest.raises(DataFormatError, match=target.name):
        load_fer2013(image_folder)


def test_wrong_size_is_resized_with_a_warning(image_folder):
    target = next((image_folder / "test").rglob("*.png"))
    Image.new("RGB", (96, 96), (200, 100, 50)).save(target)
    with pytest.warns(UserWarning, match=r"1 images are not 48x48.*96x96"):
        data = load_fer2013(image_folder)
    assert data.images.shape[1:] == (48, 48)


def test_test_folder_without_prefixes_is_one_test_split(tmp_path, small):
    for i, name in enumerate(["train/happy/im0.png", "test/sad/im1.png"]):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(jpeg_bytes(small.images[i]))
    with pytest.warns(UserWarning, match="one 'Test'"):
        data = load_fer2013(tmp_path)
    assert data.split_counts() == {"Training": 1, "Test": 1}


def _rewrite_row(path, row, new):
    lines = path.read_text().splitlines()
    lines[row - 1] = new
    path.write_text("\n".join(lines) + "\n")


def test_csv_missing_columns(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text("label,image\n1,2\n")
    with pytest.raises(DataFormatError, match=(r"fer2013.csv: missing column\(s\) \['emotion', 'pixels', 'Usage'\]; "
                                               r"found \['label', 'image'\]")):
        load_fer2013(path)


@pytest.mark.parametrize(
    "pixels",
    ["1 2 3", " ".join(["300"] * 2304), " ".join(["-1"] * 2304), " ".join(["a"] * 2304), ""],
    ids=["too-few", "over-255", "negative", "not-numbers", "empty"],
)
def test_csv_bad_pixels_name_file_and_row(fer_csv, pixels):
    _rewrite_row(fer_csv, 4, f'3,"{pixels}",Training')
    with pytest.raises(DataFormatError, match=r"fer2013.csv, row 4: 'pixels' must hold 2304 integers"):
        load_fer2013(fer_csv)


@pytest.mark.parametrize("label", ["7", "-1", "happy"])
def test_csv_bad_label_names_row(fer_csv, label):
    _rewrite_row(fer_csv, 3, f"{label},{' '.join(['0'] * 2304)},Training")
    with pytest.raises(DataFormatError, match=r"row 3: 'emotion' must be an integer 0..6"):
        load_fer2013(fer_csv)


def test_csv_bad_usage(fer_csv):
    _rewrite_row(fer_csv, 2, f"0,{' '.join(['0'] * 2304)},Validation")
    with pytest.raises(DataFormatError, match=r"row 2: 'Usage' must be one of"):
        load_fer2013(fer_csv)


def test_csv_inside_zip(tmp_path, fer_csv, small):
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(fer_csv, "fer2013/fer2013.csv")
    _same_content(load_fer2013(path), small)


def test_truncated_archive(tmp_path, image_tar):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(image_tar.read_bytes()[:2000])
    with pytest.raises(DataFormatError, match="broken.tar.gz: unreadable or truncated archive"):
        load_fer2013(broken)


def test_tar_with_image_names_outside_the_layout(tmp_path, small):
    path = tmp_path / "flat.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        name, blob = image_entries(small)[0]
        info = tarfile.TarInfo("faces/img.png")
        info.size = len(blob)
        tf.addfile(info, io.BytesIO(blob))
    with pytest.raises(DataFormatError, match="not in <train|test>/<class>/<image>"):
        load_fer2013(path)


def test_unsupported_file(tmp_path):
    path = tmp_path / "faces.parquet"
    path.write_bytes(b"x")
    with pytest.raises(DataFormatError, match="unsupported file"):
        load_fer2013(path)
