import pytest
import torch
from torch.utils.data import DataLoader

from fer_edu.data import NO_AUGMENT, Augment, FERDataset, augment, normalize, split_tensors, synthetic_faces


@pytest.fixture(scope="module")
def batch():
    data = synthetic_faces(64, 8, 8, seed=0)
    return split_tensors(data, "Training")


def test_normalize_is_the_papers():
    x = torch.zeros(1, 48, 48, dtype=torch.uint8)
    x[0, 0, 0] = 255
    out = normalize(x)
    assert out.shape == (1, 1, 48, 48)
    assert out.min() == -1 and out.max() == 1


def test_shapes_and_range(batch):
    images, _ = batch
    out = augment(images, Augment(scale=(0.9, 1.1), translate=0.1, erasing=0.5), torch.Generator().manual_seed(0))
    assert out.shape == (64, 1, 48, 48) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1


def test_no_augment_is_identity(batch):
    images, _ = batch
    assert torch.allclose(augment(images, NO_AUGMENT), normalize(images), atol=1e-5)


def test_flip_only_mirrors(batch):
    images, _ = batch
    out = augment(images, Augment(flip=True, rotation=0.0), torch.Generator().manual_seed(0))
    plain, mirrored = normalize(images), normalize(images).flip(-1)
    is_plain = torch.isclose(out, plain, atol=1e-5).flatten(1).all(1)
    is_mirror = torch.isclose(out, mirrored, atol=1e-5).flatten(1).all(1)
    assert (is_plain | is_mirror).all()
    assert 10 < is_mirror.sum() < 54  # about half of the 64 flipped, each its own draw


def test_per_sample_randomness(batch):
    images, _ = batch
    same = images[:1].expand(16, 48, 48).contiguous()
    out = augment(same, Augment(), torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten()[::97].tolist()) for o in out}) == 16


def test_repeatable_under_a_seed(batch):
    images, _ = batch
    a = augment(images, Augment(erasing=0.5), torch.Generator().manual_seed(7))
    b = augment(images, Augment(erasing=0.5), torch.Generator().manual_seed(7))
    c = augment(images, Augment(erasing=0.5), torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_rotation_is_bounded(batch):
    images, _ = batch
    # A 30-degree rotation blanks the corners; a 90-degree one would rotate content into them.
    out = augment(images, Augment(flip=False, rotation=30.0), torch.Generator().manual_seed(0))
    assert (out[:, 0, 0, 0] == -1).float().mean() > 0.3


def test_erasing_blanks_rectangles(batch):
    images, _ = batch
    out = augment(images, Augment(flip=False, rotation=0.0, erasing=1.0), torch.Generator().manual_seed(0))
    erased = (out == -1) & (normalize(images) != -1)
    assert erased.flatten(1).any(1).float().mean() > 0.9


def test_split_tensors_and_dataset_loader():
    data = synthetic_faces(20, 6, 6, seed=0)
    images, labels = split_tensors(data, "PublicTest")
    assert images.dtype == torch.uint8 and images.shape == (6, 48, 48) and labels.dtype == torch.int64
    ds = FERDataset(data, "Training")
    x, y = next(iter(DataLoader(ds, batch_size=5)))
    assert x.shape == (5, 1, 48, 48) and y.shape == (5,)
    assert torch.allclose(x[0], normalize(torch.from_numpy(data.split("Training").images[:1]))[0])
    with pytest.raises(ValueError, match="no 'Unlabelled' images"):
        split_tensors(data, "Unlabelled")
    with pytest.raises(ValueError, match="unknown split"):
        data.split("Validation")
