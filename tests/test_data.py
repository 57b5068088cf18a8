"""Datasets: bundled sets load with the right shapes, loaders read files the tests write, synthetic
sets are reproducible and their masks sit where the evidence is, splits are stratified."""

import gzip

import librosa
import numpy as np
import pytest
import soundfile
import torch

from qnnscope import data
from qnnscope.data import Dataset, MissingData, speech


def test_digits_are_sklearns_1797_images_scaled_to_unit_range():
    ds = data.load("digits")
    assert ds.kind == "image" and ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
    assert ds.x.shape == (1797, 1, 8, 8)
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert ds.classes == tuple("0123456789")
    assert torch.equal(torch.unique(ds.y), torch.arange(10))
    assert ds.masks is None


def test_n_per_class_subsamples_deterministically_by_seed():
    a, b, c = (data.load("digits", n_per_class=5, seed=s) for s in (1, 1, 2))
    assert torch.equal(torch.bincount(a.y), torch.full((10,), 5))
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.x, c.x)


def _write_idx(path, array, magic_dims=None, gz=False):
    """An unsigned-byte IDX file of ``array`` (the dimension byte overridable to forge a bad magic)."""
    dims = array.ndim if magic_dims is None else magic_dims
    raw = bytes([0, 0, 0x08, dims]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def mnist_dir(tmp_path):
    gen = np.random.default_rng(0)
    train_x, test_x = (gen.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for n in (20, 6))
    train_y, test_y = np.tile(np.arange(10, dtype=np.uint8), 2), np.arange(6, dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", train_x, gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", train_y, gz=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", test_x)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", test_y)
    return tmp_path, (train_x, train_y), (test_x, test_y)


def test_mnist_reads_gzipped_and_plain_idx_files(mnist_dir):
    root, (train_x, train_y), (test_x, test_y) = mnist_dir
    train = data.load("mnist", root=root)
    assert torch.equal(train.x[:, 0], torch.as_tensor(train_x / 255.0, dtype=torch.float32))
    assert torch.equal(train.y, torch.as_tensor(train_y, dtype=torch.int64))
    test = data.load("mnist", root=str(root), part="test")
    assert torch.equal(test.x[:, 0], torch.as_tensor(test_x / 255.0, dtype=torch.float32))
    assert torch.equal(test.y, torch.arange(6))
    both = data.load("mnist", root=root, part="both")
    assert torch.equal(both.y, torch.as_tensor(np.concatenate([train_y, test_y]), dtype=torch.int64))
    assert torch.equal(
        torch.bincount(data.load("mnist", root=root, n_per_class=1).y), torch.ones(10, dtype=torch.int64)
    )


def test_mnist_size_is_2x2_average_pooling(mnist_dir):
    root, (train_x, _), _ = mnist_dir
    pooled = data.load("mnist", root=root, size=14).x[:, 0].numpy()
    expected = (train_x / 255.0).reshape(20, 14, 2, 14, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(pooled, expected, atol=1e-6)


def test_mnist_wrong_magic_names_the_file(mnist_dir):
    root, (train_x, _), _ = mnist_dir
    bad = root / "t10k-images-idx3-ubyte"
    _write_idx(bad, train_x, magic_dims=2)
    with pytest.raises(ValueError, match=str(bad)) as error:
        data.load("mnist", root=root, part="test")
    assert "0x00000803" in str(error.value) and "0x00000802" in str(error.value)


def test_missing_mnist_is_reported_with_the_expected_file(tmp_path):
    ok, reason = data.available("mnist", tmp_path)
    assert not ok and str(tmp_path / "train-images-idx3-ubyte") in reason
    with pytest.raises(MissingData, match="root="):
        data.load("mnist")
    assert data.available("digits", None) == (True, "")


def test_available_sees_the_idx_files(mnist_dir):
    root = mnist_dir[0]
    assert data.available("mnist", root) == (True, "")
    assert data.available("mnist", root, part="both") == (True, "")


def test_mnist_subset_is_mlxtends_5000_real_digits():
    ds = data.load("mnist_subset")
    assert ds.x.shape == (5000, 1, 28, 28)
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert torch.equal(torch.bincount(ds.y), torch.full((10,), 500))


@pytest.fixture(scope="module")
def images():
    return data.load("synthetic_images", n_per_class=50, seed=3)


def test_synthetic_images_put_one_shape_per_class_under_every_mask(images):
    assert images.x.shape == (200, 1, 16, 16) and images.masks.shape == (200, 16, 16)
    assert images.classes == ("plus", "square", "cross", "corner")
    assert images.x.min() >= 0.0 and images.x.max() <= 1.0
    area = images.masks.sum(dim=(1, 2))
    assert (area > 0).all()
    for label in range(4):
        assert len(torch.unique(area[images.y == label])) == 1, "a shape's footprint is the same wherever it lies"
    inside = images.x[:, 0][images.masks].mean()
    outside = images.x[:, 0][~images.masks].mean()
    assert inside > 3 * outside


def test_synthetic_images_place_evidence_at_varying_positions_over_clutter(images):
    rows = torch.arange(16.0)[None, :, None]
    centroid_row = (images.masks * rows).sum(dim=(1, 2)) / images.masks.sum(dim=(1, 2))
    centroid_col = (images.masks * rows.transpose(1, 2)).sum(dim=(1, 2)) / images.masks.sum(dim=(1, 2))
    positions = {(r.item(), c.item()) for r, c in zip(centroid_row, centroid_col)}
    assert len(positions) > 50
    bright_outside = ((images.x[:, 0] > 0.45) & ~images.masks).sum(dim=(1, 2))
    assert (bright_outside > 0).float().mean() > 0.9, "clutter lies outside the evidence"


def test_synthetic_images_are_reproducible_by_seed(images):
    again = data.load("synthetic_images", n_per_class=50, seed=3)
    other = data.load("synthetic_images", n_per_class=50, seed=4)
    assert torch.equal(images.x, again.x) and torch.equal(images.masks, again.masks)
    assert not torch.equal(images.x, other.x) and not torch.equal(images.masks, other.masks)


def test_synthetic_images_offer_up_to_six_shapes():
    assert len(data.load("synthetic_images", n_per_class=2, n_classes=6).classes) == 6
    with pytest.raises(ValueError, match="n_classes"):
        data.load("synthetic_images", n_classes=7)


@pytest.fixture(scope="module")
def keywords():
    return data.load("synthetic_speech", n_per_class=20, seed=1)


def test_synthetic_speech_shapes_and_standardisation(keywords):
    assert keywords.kind == "speech"
    assert keywords.classes == ("rising", "falling", "vowel", "warble", "noise")
    assert keywords.x.shape == (100, 1, 32, 32) and keywords.masks.shape == (100, 32, 32)
    assert torch.equal(torch.bincount(keywords.y), torch.full((5,), 20))
    assert abs(keywords.x.mean().item()) < 1e-4 and abs(keywords.x.std().item() - 1.0) < 1e-3


def test_noise_class_has_no_evidence_and_keywords_all_do(keywords):
    area = keywords.masks.sum(dim=(1, 2))
    noise = keywords.y == keywords.classes.index("noise")
    assert (area[noise] == 0).all()
    assert (area[~noise] > 0).all()


def test_speech_masks_cover_where_the_energy_is(keywords):
    spectrograms = keywords.x[:, 0]
    inside = spectrograms[keywords.masks].mean()
    outside = spectrograms[~keywords.masks].mean()
    assert inside > outside + 2.0


@pytest.mark.parametrize("keyword, sign", [("rising", 1), ("falling", -1)])
def test_chirp_masks_climb_or_fall_in_mel_over_time(keywords, keyword, sign):
    for mask in keywords.masks[keywords.y == keywords.classes.index(keyword)]:
        mel, frame = torch.nonzero(mask, as_tuple=True)
        assert sign * np.corrcoef(mel.numpy(), frame.numpy())[0, 1] > 0.8


def test_synthetic_speech_is_reproducible_by_seed(keywords):
    again = data.load("synthetic_speech", n_per_class=20, seed=1)
    other = data.load("synthetic_speech", n_per_class=20, seed=2)
    assert torch.equal(keywords.x, again.x) and torch.equal(keywords.masks, again.masks)
    assert not torch.equal(keywords.x, other.x)


MEL_CENTRES = librosa.mel_frequencies(speech.N_MELS + 2, fmax=speech.SAMPLE_RATE / 2)[1:-1]
TONE_BINS = {"no": 20, "yes": 8}


def _tone(freq, seconds, rate=16000):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.fixture
def commands(tmp_path):
    for word, mel_bin in TONE_BINS.items():
        (tmp_path / word).mkdir()
        for i, seconds in enumerate((0.8, 1.0, 1.2)):
            soundfile.write(tmp_path / word / f"clip{i}.wav", _tone(MEL_CENTRES[mel_bin], seconds), 16000)
    (tmp_path / "_background_noise_").mkdir()
    soundfile.write(tmp_path / "_background_noise_" / "hum.wav", _tone(100.0, 3.0), 16000)
    (tmp_path / "testing_list.txt").write_text("yes/clip0.wav\nno/clip2.wav\n")
    (tmp_path / "validation_list.txt").write_text("yes/clip1.wav\n")
    return tmp_path


def test_speech_commands_tones_peak_in_their_mel_bin(commands):
    ds = data.load("speech_commands", root=commands)
    assert ds.classes == ("no", "yes"), "folders sorted, _background_noise_ excluded"
    assert ds.x.shape == (6, 1, 32, 32)
    assert torch.equal(ds.y, torch.tensor([0, 0, 0, 1, 1, 1]))
    peak_bins = ds.x[:, 0].mean(dim=2).argmax(dim=1)
    assert peak_bins.tolist() == [TONE_BINS["no"]] * 3 + [TONE_BINS["yes"]] * 3


def test_speech_commands_keywords_and_split_lists(commands):
    assert data.load("speech_commands", root=commands, keywords=["yes"]).classes == ("yes",)
    assert data.load("speech_commands", root=commands, part="test").y.tolist() == [0, 1]
    assert data.load("speech_commands", root=commands, part="validation").y.tolist() == [1]
    assert data.load("speech_commands", root=commands, part="train").y.tolist() == [0, 0, 1]
    assert data.available("speech_commands", commands) == (True, "")


def test_missing_speech_commands_names_the_path(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    with pytest.raises(MissingData, match=str(root)):
        data.load("speech_commands", root=root)
    ok, reason = data.available("speech_commands", root)
    assert not ok and str(root) in reason


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("imagenet")


def _indexed(n_per_class=(12, 8, 20)):
    """A dataset whose x[i] holds i, so split halves can be traced back to the originals."""
    y = torch.repeat_interleave(torch.arange(len(n_per_class)), torch.tensor(n_per_class))
    x = torch.arange(len(y), dtype=torch.float32).reshape(-1, 1, 1, 1)
    masks = (torch.arange(len(y)) % 2 == 0).reshape(-1, 1, 1)
    return Dataset("indexed", "image", x, y, ("a", "b", "c"), masks)


def test_split_is_stratified_disjoint_and_carries_masks():
    ds = _indexed()
    train, test = data.split(ds, 0.25, seed=0)
    train_ids, test_ids = train.x.flatten().long(), test.x.flatten().long()
    assert set(train_ids.tolist()).isdisjoint(test_ids.tolist())
    assert sorted(train_ids.tolist() + test_ids.tolist()) == list(range(len(ds)))
    assert torch.bincount(test.y).tolist() == [3, 2, 5]
    for part, ids in ((train, train_ids), (test, test_ids)):
        assert torch.equal(part.y, ds.y[ids]) and torch.equal(part.masks, ds.masks[ids])


def test_split_is_deterministic_by_seed():
    ds = _indexed()
    first, again, other = (data.split(ds, 0.25, seed=s)[1].x.flatten() for s in (0, 0, 1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
