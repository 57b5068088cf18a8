"""User data from folders and the synthetic RGB set: image folders and CIFAR-10 batches give Pillow's
pixels in R, G, B order after resize and normalisation, speech folders give the clips' log-mels,
noise is mixed in at exactly the asked SNR, and every malformed input is refused by name."""

import collections
import pickle

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image
from scipy import ndimage

from qnnscope import data
from qnnscope.data import MissingData, speech

BILINEAR = Image.Resampling.BILINEAR
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _imagenet(x):
    return (x - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]


def _chw(image):
    """(C, H, W) float32 in [0, 1] of a Pillow image, the reference for the loaders."""
    pixels = np.asarray(image, dtype=np.float32) / 255
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


# ---------------------------------------------------------------- image folders


def _random_image(gen, h, w):
    return Image.fromarray(gen.integers(0, 256, size=(h, w, 3), dtype=np.uint8))


@pytest.fixture
def pets(tmp_path):
    """root/cat (two PNG, one JPEG) and root/dog (three PNG, one pure red), 8×12 or 12×8 pixels, plus junk to skip."""
    gen = np.random.default_rng(0)
    for name, files in {"cat": ("a.png", "b.PNG", "c.jpg"), "dog": ("a.png", "b.png", "red.png")}.items():
        (tmp_path / name).mkdir()
        for i, file in enumerate(files):
            shape = (8, 12) if i % 2 == 0 else (12, 8)
            image = Image.new("RGB", (12, 8), (255, 0, 0)) if file == "red.png" else _random_image(gen, *shape)
            image.save(tmp_path / name / file, quality=90)
        (tmp_path / name / "notes.txt").write_text("not an image")
        (tmp_path / name / "._a.png").write_bytes(b"AppleDouble")
    (tmp_path / ".cache").mkdir()
    return tmp_path


def _files(root):
    cats, dogs = ("a.png", "b.PNG", "c.jpg"), ("a.png", "b.png", "red.png")
    return [root / "cat" / f for f in cats] + [root / "dog" / f for f in dogs]


def test_image_folder_shorter_side_and_centre_crop_match_pillow(pets):
    ds = data.load("image_folder", root=pets, size=4)
    assert ds.kind == "image" and ds.classes == ("cat", "dog") and ds.masks is None
    assert ds.x.dtype == torch.float32 and ds.x.shape == (6, 3, 4, 4)
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    for x, path in zip(ds.x, _files(pets)):
        image = Image.open(path).convert("RGB")
        if image.size == (12, 8):  # 12 wide, 8 high: shorter side 8 → 4, so 6 × 4, centre 4 columns from column 1
            expected = image.resize((6, 4), BILINEAR).crop((1, 0, 5, 4))
        else:  # 8 wide, 12 high: 4 × 6, centre 4 rows from row 1
            expected = image.resize((4, 6), BILINEAR).crop((0, 1, 4, 5))
        assert torch.equal(x, torch.as_tensor(_chw(expected)))


def test_image_folder_exact_resize_and_normalisations_match_numpy(pets):
    raw = data.load("image_folder", root=pets, size=[4, 6], resize="exact").x.numpy()
    expected = np.stack([_chw(Image.open(p).convert("RGB").resize((6, 4), BILINEAR)) for p in _files(pets)])
    np.testing.assert_array_equal(raw, expected)
    imagenet = data.load("image_folder", root=pets, size=[4, 6], resize="exact", normalise="imagenet").x.numpy()
    np.testing.assert_allclose(imagenet, _imagenet(expected), rtol=1e-6, atol=1e-6)
    own = data.load("image_folder", root=pets, size=[4, 6], resize="exact", normalise="dataset").x.numpy()
    mean, std = expected.mean(axis=(0, 2, 3), keepdims=True), expected.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(own, (expected - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(own.mean(axis=(0, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(own.std(axis=(0, 2, 3)), 1.0, atol=1e-6)


def test_pure_red_keeps_rgb_order_and_grey_is_601_luma(pets):
    red = data.load("image_folder", root=pets, size=4).x[-1]
    assert torch.equal(red[0], torch.ones(4, 4)) and torch.equal(red[1:], torch.zeros(2, 4, 4))
    grey = data.load("image_folder", root=pets, size=4, channels=1)
    assert grey.x.shape == (6, 1, 4, 4)
    assert torch.equal(grey.x[-1], torch.full((1, 4, 4), 76 / 255)), "0.299 × 255 = 76.2 → 76"


def test_image_folder_classes_option_and_balanced_selection_by_seed(pets):
    swapped = data.load("image_folder", root=pets, size=4, classes=["dog", "cat"])
    assert swapped.classes == ("dog", "cat") and swapped.y.tolist() == [0, 0, 0, 1, 1, 1]
    full = data.load("image_folder", root=pets, size=4)
    assert torch.equal(swapped.x, torch.cat([full.x[3:], full.x[:3]]))
    picks = [data.load("image_folder", root=pets, size=4, n_per_class=2, seed=s) for s in range(6)]
    assert all(p.y.tolist() == [0, 0, 1, 1] for p in picks)
    assert torch.equal(picks[0].x, data.load("image_folder", root=pets, size=4, n_per_class=2, seed=0).x)
    chosen = {tuple(p.x.flatten(1).sum(1).tolist()) for p in picks}
    assert len(chosen) > 1, "the seed picks the images"
    for p in picks:
        assert all(any(torch.equal(row, ref) for ref in full.x) for row in p.x)


def test_image_folder_part_selects_a_split(tmp_path):
    gen = np.random.default_rng(1)
    for part, n in (("train", 3), ("val", 2)):
        for insect in ("ants", "bees"):
            (tmp_path / part / insect).mkdir(parents=True)
            for i in range(n):
                _random_image(gen, 10, 10).save(tmp_path / part / insect / f"{i}.jpeg")
    val = data.load("image_folder", root=tmp_path, part="val", size=10)
    assert val.classes == ("ants", "bees") and val.y.tolist() == [0, 0, 1, 1]
    assert len(data.load("image_folder", root=tmp_path, part="train", size=10)) == 6
    with pytest.raises(MissingData, match="pass part: train"):
        data.load("image_folder", root=tmp_path)
    with pytest.raises(MissingData, match=r"part.*test.*\['train', 'val'\]"):
        data.load("image_folder", root=tmp_path, part="test")
    assert data.available("image_folder", tmp_path, part="val") == (True, "")


def test_image_folder_errors_name_the_path(pets, tmp_path):
    missing = tmp_path / "nowhere"
    ok, reason = data.available("image_folder", missing)
    assert not ok and str(missing) in reason and "root/<class>/" in reason
    with pytest.raises(MissingData, match="root="):
        data.load("image_folder")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "x.png")
    with pytest.raises(MissingData, match=f"no class folders in {flat}"):
        data.load("image_folder", root=flat)
    (pets / "empty").mkdir()
    with pytest.raises(MissingData, match=f"class folder {pets / 'empty'} holds no"):
        data.load("image_folder", root=pets)
    with pytest.raises(ValueError, match="needs at least 2"):
        data.load("image_folder", root=pets, classes=["cat"])
    with pytest.raises(MissingData, match=r"classes: folders \['bird'\] not found"):
        data.load("image_folder", root=pets, classes=["cat", "bird"])
    (pets / "empty").rmdir()
    (pets / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert data.available("image_folder", pets) == (True, ""), "available opens no image"
    with pytest.raises(ValueError, match=f"{pets / 'cat' / 'broken.jpg'}: not a readable image"):
        data.load("image_folder", root=pets, size=4)
    (pets / "cat" / "broken.jpg").unlink()
    with pytest.raises(ValueError, match="is 12×8 but .* is 8×12: set option size"):
        data.load("image_folder", root=pets, size=None)


# ---------------------------------------------------------------- CIFAR-10

CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _write_batch(path, pixels, labels):
    batch = {b"batch_label": path.name.encode(), b"labels": [int(v) for v in labels], b"data": pixels,
             b"filenames": [f"{i}.png".encode() for i in range(len(labels))]}
    path.write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture
def cifar(tmp_path):
    """cifar-10-batches-py/ with five 20-image training batches (labels 0..9 twice) and a 10-image test batch."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    gen = np.random.default_rng(2)
    batches = {}
    for name, n in [(f"data_batch_{i}", 20) for i in range(1, 6)] + [("test_batch", 10)]:
        pixels = gen.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = np.tile(np.arange(10), n // 10)
        if name == "test_batch":
            pixels[0] = np.concatenate([np.full(1024, 255), np.zeros(2048)])  # a pure red "airplane"
        _write_batch(folder / name, pixels, labels)
        batches[name] = (pixels, labels)
    meta = {b"num_cases_per_batch": 20, b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return tmp_path, batches


def test_cifar10_reads_the_python_batches_in_rgb_order(cifar):
    root, batches = cifar
    train = data.load("cifar10", root=root)
    pixels = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    assert train.classes == CIFAR_NAMES and train.x.shape == (100, 3, 32, 32)
    assert torch.equal(train.x, torch.as_tensor(pixels.reshape(-1, 3, 32, 32) / np.float32(255)))
    assert torch.equal(train.y, torch.as_tensor(labels))
    test = data.load("cifar10", root=root / "cifar-10-batches-py", part="test")
    assert len(test) == 10
    assert torch.equal(test.x[0, 0], torch.ones(32, 32)) and torch.equal(test.x[0, 1:], torch.zeros(2, 32, 32))


def test_cifar10_class_subset_resize_and_seeded_selection(cifar):
    root, batches = cifar
    pair = data.load("cifar10", root=root, classes=["dog", "cat"])
    assert pair.classes == ("dog", "cat") and torch.bincount(pair.y).tolist() == [10, 10]
    pixels = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    dogs = pixels[labels == 5].reshape(-1, 3, 32, 32)
    assert torch.equal(pair.x[pair.y == 0], torch.as_tensor(dogs / np.float32(255)))
    small = data.load("cifar10", root=root, part="test", size=[16, 8], resize="exact", normalise="imagenet")
    reference = np.stack([_chw(Image.fromarray(p.reshape(3, 32, 32).transpose(1, 2, 0)).resize((8, 16), BILINEAR))
                          for p in batches["test_batch"][0]])
    np.testing.assert_allclose(small.x.numpy(), _imagenet(reference), rtol=1e-6, atol=1e-6)
    one, again, other = (data.load("cifar10", root=root, classes=["cat", "dog"], n_per_class=3, seed=s)
                         for s in (5, 5, 6))
    assert torch.bincount(one.y).tolist() == [3, 3]
    assert torch.equal(one.x, again.x) and not torch.equal(one.x, other.x)


def test_cifar10_errors_name_the_file(cifar, tmp_path):
    root, batches = cifar
    folder = root / "cifar-10-batches-py"
    ok, reason = data.available("cifar10", tmp_path / "none")
    assert not ok and str(tmp_path / "none") in reason
    with pytest.raises(ValueError, match=r"classes: \['cow'\] not CIFAR-10 classes; allowed: airplane, "):
        data.load("cifar10", root=root, classes=["cat", "cow"])
    (folder / "test_batch").write_bytes(b"\x80\x02 truncated")
    with pytest.raises(ValueError, match=f"{folder / 'test_batch'}: not a CIFAR-10 python batch"):
        data.load("cifar10", root=root, part="test")
    (folder / "test_batch").write_bytes(pickle.dumps(collections.OrderedDict(data=1), protocol=2))
    with pytest.raises(ValueError, match="collections.OrderedDict is not allowed"):
        data.load("cifar10", root=root, part="test")
    _write_batch(folder / "test_batch", np.zeros((4, 1024), dtype=np.uint8), range(4))
    with pytest.raises(ValueError, match=rf"{folder / 'test_batch'}: data must be a uint8 array \(N, 3072\)"):
        data.load("cifar10", root=root, part="test")
    _write_batch(folder / "test_batch", np.zeros((4, 3072), dtype=np.uint8), [0, 1, 2, 10])
    with pytest.raises(ValueError, match=r"labels outside 0..9"):
        data.load("cifar10", root=root, part="test")
    (folder / "data_batch_3").unlink()
    ok, reason = data.available("cifar10", root)
    assert not ok and "data_batch_3" in reason
    with pytest.raises(ValueError, match="options.part: 'val' is not allowed for dataset 'cifar10'; allowed: one of "):
        data.check_options("cifar10", {"part": "val"})


# ---------------------------------------------------------------- synthetic RGB


@pytest.fixture(scope="module")
def shapes():
    return data.load("synthetic_rgb", n_per_class=60, seed=4)


def test_synthetic_rgb_colour_and_shape_sit_under_the_mask(shapes):
    assert shapes.x.shape == (180, 3, 32, 32) and shapes.masks.shape == (180, 32, 32)
    assert shapes.classes == ("red_square", "blue_disc", "green_triangle")
    assert shapes.x.min() >= 0.0 and shapes.x.max() <= 1.0
    for label, channel in enumerate((0, 2, 1)):
        x, masks = shapes.x[shapes.y == label], shapes.masks[shapes.y == label]
        inside = x.permute(1, 0, 2, 3)[:, masks]
        others = [c for c in range(3) if c != channel]
        assert inside[channel].mean() > inside[others].mean(1).max() + 0.5, "the object is in its class colour"
        outside = x.permute(1, 0, 2, 3)[:, ~masks].mean(1)
        assert outside.max() - outside.min() < 0.05, "the background favours no channel"
        assert all(ndimage.label(m.numpy())[1] == 1 for m in masks), "one object per image"
    area = torch.stack([shapes.masks[shapes.y == k].sum((1, 2)).double().mean() for k in range(3)])
    assert abs(area[1] / area[0] - np.pi / 4) < 0.08 and abs(area[2] / area[0] - 0.5) < 0.08


def test_synthetic_rgb_is_reproducible_and_varies_position(shapes):
    again, other = (data.load("synthetic_rgb", n_per_class=60, seed=s) for s in (4, 5))
    assert torch.equal(shapes.x, again.x) and torch.equal(shapes.masks, again.masks)
    assert not torch.equal(shapes.masks, other.masks)
    rows = torch.arange(32.0)[None, :, None]
    centroids = (shapes.masks * rows).sum((1, 2)) / shapes.masks.sum((1, 2))
    assert len(torch.unique(centroids)) > 100
    assert len(data.load("synthetic_rgb", n_per_class=2, n_classes=4).classes) == 4
    with pytest.raises(ValueError, match="n_classes"):
        data.load("synthetic_rgb", n_classes=5)


# ---------------------------------------------------------------- speech folders

RATE = speech.SAMPLE_RATE


def _assert_log_mel(x, waves):
    """``x`` is the standardised log-mel of ``waves`` (the features every speech set shares)."""
    expected = speech.standardised_log_mel(speech.mel_power(np.stack(waves)))
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-5)


def _tone(freq, seconds, onset=0.0, total=1.0, amplitude=0.5):
    t = np.arange(int(total * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t) * ((t >= onset) & (t < onset + seconds))).astype(np.float32)


@pytest.fixture
def timit(tmp_path):
    """root/<TRAIN|TEST>/<dialect>/<speaker>/<utterance>.wav at 8 kHz: DR1 speakers low tones, DR2 high tones."""
    freqs = {"DR1": 300.0, "DR2": 1500.0}
    for part, speakers in (("TRAIN", ("F01", "M02")), ("TEST", ("F03",))):
        for dialect, freq in freqs.items():
            for speaker in speakers:
                folder = tmp_path / part / dialect / f"{speaker}{dialect[-1]}"
                folder.mkdir(parents=True)
                for k, sentence in enumerate(("SA1", "SX2")):
                    soundfile.write(folder / f"{sentence}.wav", _tone(freq * (1 + 0.1 * k), 0.6, onset=0.2), RATE)
    (tmp_path / "README.wav").write_bytes(b"too shallow to have a class")
    return tmp_path


def test_speech_folder_classes_from_a_folder_level(timit):
    dialects = data.load("speech_folder", root=timit, part="TRAIN")
    assert dialects.kind == "speech" and dialects.classes == ("DR1", "DR2") and dialects.masks is None
    assert dialects.x.shape == (8, 1, 32, 32) and dialects.y.tolist() == [0] * 4 + [1] * 4
    files = sorted((timit / "TRAIN").rglob("*.wav"))
    waves = np.stack([soundfile.read(f, dtype="float32")[0] for f in files])
    _assert_log_mel(dialects.x, waves)
    speakers = data.load("speech_folder", root=timit, part="TRAIN", level=1)
    assert speakers.classes == ("F011", "F012", "M021", "M022") and torch.bincount(speakers.y).tolist() == [2] * 4
    test = data.load("speech_folder", root=timit, part="TEST", classes=["DR2", "DR1"])
    assert test.classes == ("DR2", "DR1") and test.y.tolist() == [0, 0, 1, 1]
    expected = [soundfile.read(timit / "TEST" / d / s / f"{u}.wav", dtype="float32")[0]
                for d, s in (("DR2", "F032"), ("DR1", "F031")) for u in ("SA1", "SX2")]
    _assert_log_mel(test.x, expected)
    assert data.available("speech_folder", timit, part="TEST") == (True, "")


def test_speech_folder_label_file_cuts_segments(timit):
    rows = ["path,label,start,end", "TRAIN/DR1/F011/SA1.wav,early,0.0,0.5", "TRAIN/DR1/F011/SA1.wav,late,0.5,",
            "TRAIN/DR2/F012/SX2.wav,early,0.1,0.4", "TEST/DR2/F032/SA1.wav,late,0.25,0.75"]
    (timit / "words.csv").write_text("\n".join(rows) + "\n")
    ds = data.load("speech_folder", root=timit, labels="words.csv")
    assert ds.classes == ("early", "late") and ds.y.tolist() == [0, 0, 1, 1], "class by class, rows in file order"
    segments = []
    for row in [rows[i] for i in (1, 3, 2, 4)]:
        path, _, start, end = row.split(",")
        wave = soundfile.read(timit / path, dtype="float32")[0]
        wave = wave[int(float(start) * RATE):int(float(end) * RATE) if end else None]
        segments.append(np.pad(wave, (0, RATE - len(wave))))
    _assert_log_mel(ds.x, segments)
    assert data.load("speech_folder", root=timit, labels="words.csv", part="TRAIN").y.tolist() == [0, 0, 1]
    half = data.load("speech_folder", root=timit, part="TEST", seconds=0.5)
    assert half.x.shape == (4, 1, 32, 1 + RATE // 2 // speech.HOP)


def test_mixing_reaches_the_snr_exactly(timit):
    clips = np.stack([speech.read_clip(f, RATE) for f in sorted(timit.rglob("SA1.wav"))]).astype(np.float64)
    gen = np.random.default_rng(3)
    noise_dir = timit / "noise"
    noise_dir.mkdir()
    soundfile.write(noise_dir / "hum.wav", (0.1 * gen.standard_normal(RATE * 3 // 2)).astype(np.float32), RATE)
    for source in ("pink", "white", "noise"):
        raw = speech.noise_waves(source, timit, gen, len(clips), RATE, RATE)
        assert raw.shape == clips.shape and (raw.std(1) > 0).all()
        for snr in (-5.0, 0.0, 10.0, 23.5):
            scaled = speech.mix_at_snr(clips, raw, snr)
            measured = 10 * np.log10((clips**2).mean(1) / (scaled**2).mean(1))
            np.testing.assert_allclose(measured, snr, rtol=0, atol=1e-9)
            gain = np.sqrt((scaled**2).mean(1, keepdims=True) / (raw**2).mean(1, keepdims=True))
            np.testing.assert_allclose(scaled, gain * raw, rtol=1e-12, err_msg="only the level changes")
    with pytest.raises(ValueError, match="clip quiet.wav is silent"):
        speech.mix_at_snr(np.zeros((1, 8)), np.ones((1, 8)), 0.0, names=["quiet.wav"])


@pytest.fixture
def noisy(tmp_path):
    """Two classes of 1-s clips holding a 0.3-s tone at a known onset, and a folder with one 1-s noise clip."""
    onsets = {"low": (0.1, 0.5), "high": (0.3, 0.6)}
    for name, times in onsets.items():
        (tmp_path / name).mkdir()
        for i, onset in enumerate(times):
            soundfile.write(tmp_path / name / f"{i}.wav", _tone(400.0 if name == "low" else 2000.0, 0.3, onset), RATE)
    (tmp_path / "_noise").mkdir()
    hiss = np.random.default_rng(4).standard_normal(RATE).astype(np.float32) * 0.05
    soundfile.write(tmp_path / "_noise" / "hiss.wav", hiss, RATE)
    return tmp_path, onsets, soundfile.read(tmp_path / "_noise" / "hiss.wav", dtype="float32")[0]


def test_noise_mixed_from_a_folder_and_masks_mark_the_speech(noisy):
    root, onsets, hiss = noisy
    ds = data.load("speech_folder", root=root, classes=["low", "high"], noise={"snr_db": 5, "source": "_noise"})
    assert ds.masks.shape == (4, 32, 32) and ds.masks.dtype == torch.bool
    assert ds.y.tolist() == [0, 0, 1, 1]
    clean = np.stack([soundfile.read(root / c / f"{i}.wav")[0] for c in ("low", "high") for i in (0, 1)])
    noise = hiss[None] * np.sqrt((clean**2).mean(1, keepdims=True) / ((hiss.astype(np.float64) ** 2).mean() * 10**0.5))
    _assert_log_mel(ds.x, clean + noise)
    frame_times = np.arange(32) * speech.HOP / RATE
    for mask, onset in zip(ds.masks, [*onsets["low"], *onsets["high"]]):
        assert (mask == mask[:1]).all(), "a frame is speech in every mel bin or in none"
        speaking = frame_times[mask[0].numpy()]
        assert speaking.min() >= onset - 0.04 and speaking.max() <= onset + 0.34, "no mask frame outside the tone"
        assert ((frame_times > onset + 0.04) & (frame_times < onset + 0.26) & ~mask[0].numpy()).sum() == 0


def test_noise_class_adds_noise_only_clips_deterministically(noisy):
    root = noisy[0]
    options = dict(classes=["low", "high"], noise={"snr_db": 0, "source": "pink"}, noise_class=True)
    ds = data.load("speech_folder", root=root, seed=1, **options)
    assert ds.classes == ("low", "high", "noise") and torch.bincount(ds.y).tolist() == [2, 2, 2]
    assert not ds.masks[ds.y == 2].any() and ds.masks[ds.y < 2].flatten(1).any(1).all()
    assert torch.equal(ds.x, data.load("speech_folder", root=root, seed=1, **options).x)
    assert not torch.equal(ds.x, data.load("speech_folder", root=root, seed=2, **options).x)
    commands = data.load("speech_commands", root=root, keywords=["high", "low"], n_per_class=1,
                         noise={"snr_db": 10, "source": "_noise"}, noise_class=True)
    assert commands.classes == ("high", "low", "noise") and commands.y.tolist() == [0, 1, 2]


def test_speech_folder_errors_name_the_option_or_file(noisy, timit):
    root = noisy[0]
    with pytest.raises(ValueError, match="noise_class: true needs option noise"):
        data.load("speech_folder", root=root, noise_class=True)
    with pytest.raises(ValueError, match=r"options.noise.snr_db: nan is not allowed"):
        data.load("speech_folder", root=root, noise={"snr_db": float("nan")})
    with pytest.raises(ValueError, match=r"options.noise: \{'snr': 3\} is not allowed; allowed: a mapping"):
        data.check_options("speech_folder", {"noise": {"snr": 3}})
    ok, reason = data.available("speech_folder", root, noise={"snr_db": 0, "source": "rain"})
    assert not ok and str(root / "rain") in reason
    soundfile.write(root / "low" / "2.wav", np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(ValueError, match=f"clip {root / 'low' / '2.wav'} is silent"):
        data.load("speech_folder", root=root, classes=["low", "high"], noise={"snr_db": 0})
    (root / "low" / "2.wav").write_bytes(b"RIFF but not really")
    with pytest.raises(ValueError, match=f"{root / 'low' / '2.wav'}: not a readable audio file"):
        data.load("speech_folder", root=root, classes=["low", "high"])
    with pytest.raises(MissingData, match="no clips: no \\*.wav files 4 or more folders deep"):
        data.load("speech_folder", root=timit, part="TRAIN", level=3)
    with pytest.raises(ValueError, match="1 class"):
        data.load("speech_folder", root=timit, part="TRAIN", classes=["DR1"])
    (timit / "bad.csv").write_text("file,label\nTRAIN/DR1/F011/SA1.wav,x\n")
    with pytest.raises(ValueError, match=r"bad.csv: header \['file', 'label'\] lacks column\(s\) \['path'\]"):
        data.load("speech_folder", root=timit, labels="bad.csv")
    (timit / "gone.csv").write_text("path,label\nTRAIN/DR1/F011/SA9.wav,x\n")
    with pytest.raises(MissingData, match="gone.csv:2: .*SA9.wav not found"):
        data.load("speech_folder", root=timit, labels="gone.csv")
    (timit / "order.csv").write_text("path,label,start,end\nTRAIN/DR1/F011/SA1.wav,x,0.5,0.2\n")
    with pytest.raises(ValueError, match="order.csv:2: needs a label and a segment 0 <= start < end"):
        data.load("speech_folder", root=timit, labels="order.csv")


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("name, options, message", [
    ("image_folder", {"resize": "long"}, "options.resize: 'long' is not allowed for dataset 'image_folder'; "
                                         "allowed: one of 'shorter', 'exact'"),
    ("image_folder", {"size": [32]}, r"options.size: \[32\] is not allowed; allowed: a positive integer or a list"),
    ("image_folder", {"channels": 1, "normalise": "imagenet"}, "options.normalise: 'imagenet' needs channels: 3"),
    ("cifar10", {"channels": 2}, "options.channels: 2 is not allowed for dataset 'cifar10'; allowed: one of 1, 3"),
    ("speech_folder", {"level": -1}, "options.level: -1 is not allowed; allowed: a folder depth"),
    ("speech_folder", {"seconds": 0}, "options.seconds: 0 is not allowed; allowed: a positive number"),
    ("speech_folder", {"noise_class": "yes"}, "options.noise_class: 'yes' is not allowed .* allowed: true/false"),
    ("speech_commands", {"keywords": [True, "up"]}, r"options.keywords: .* strings or null \(YAML reads unquoted"),
    ("synthetic_speech", {"snr_db": [0]}, r"options.snr_db: \[0\] is not allowed .* allowed: a list of 2 numbers"),
    ("synthetic_rgb", {"n_per_class": 0}, "options.n_per_class: 0 is not allowed; allowed: a positive integer"),
    ("synthetic_rgb", {"clutter": 3}, "options: 'clutter' not an option of dataset 'synthetic_rgb'; allowed: size"),
])
def test_check_options_names_the_option_the_value_and_what_is_allowed(name, options, message):
    with pytest.raises(ValueError, match=f"^qgradcam\\[1\\]\\.{message}"):
        data.check_options(name, options, "qgradcam[1].")
    with pytest.raises(ValueError, match=message):
        data.load(name, root="/nonexistent", **options)


def test_check_options_accepts_the_config_forms():
    data.check_options("image_folder", {"size": [24, 32], "resize": "exact", "channels": 1, "normalise": "dataset",
                                        "part": "train", "classes": ["ants", "bees"], "n_per_class": 5})
    data.check_options("speech_folder", {"noise": {"snr_db": -3, "source": "white"}, "noise_class": True, "level": 1})
    data.check_options("synthetic_speech", {"snr_db": [0, 10.5]})
