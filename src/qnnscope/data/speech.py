"""Log-mel features (librosa), noise at a set SNR, and loaders for speech WAV folders.

The synthetic keywords and the user's recordings go through the same :func:`mel_power` and
:func:`standardised_log_mel`, so a model sees one kind of spectrogram whatever the source.

- ``speech_commands``: Google Speech Commands (Warden 2018), ``root/<keyword>/<clip>.wav`` with its
  split lists.
- ``speech_folder``: any tree of recordings, TIMIT's (Garofolo et al. 1993) included
  (``root/<TRAIN|TEST>/<dialect>/<speaker>/<utterance>.wav``): the class is the folder at depth
  ``level`` below ``root/<part>`` (TIMIT: 0 dialect region, 1 speaker), or a row of a label file
  ``path,label[,start,end]`` (paths relative to ``root``, optional segment bounds in seconds),
  which carries word or phone segments cut from TIMIT's .WRD/.PHN files (sample indices ÷ 16000).

Both can mix noise into every clip at a set SNR (``noise: {snr_db, source}``, source ``pink``,
``white`` or a folder of WAV files such as Speech Commands' ``_background_noise_``), mark per frame
where the clean speech rises above the noise floor (``masks``), and add a class of noise-only
clips (``noise_class``), so explanations can be asked whether their evidence lies in the background.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import librosa
import numpy as np
import soundfile
import torch

from qnnscope.data.dataset import Dataset, MissingData, data_folder, per_class_indices, rng

SAMPLE_RATE = 8000
"""Hz; 1-s clips, so 32 frames of hop :data:`HOP` and a 4 kHz band cover keyword formants."""
N_MELS = 32
N_FFT = 512
HOP = 256
PARTS = {
    "all": (),
    "train": ("validation_list.txt", "testing_list.txt"),
    "validation": ("validation_list.txt",),
    "test": ("testing_list.txt",),
}
"""Speech Commands' split lists behind each ``part``: train is every clip in neither held-out list."""
NOISE_CLASS = "noise"
NOISE_KEYS = ("snr_db", "source")
NOISE_COLOURS = ("pink", "white")
LABEL_COLUMNS = ("path", "label")


def mel_power(waves: np.ndarray, sample_rate: int = SAMPLE_RATE, n_mels: int = N_MELS) -> np.ndarray:
    """Mel power spectrograms (N, n_mels, frames) of 1-s ``waves`` (N, samples), one librosa call for the batch."""
    return librosa.feature.melspectrogram(
        y=np.asarray(waves, dtype=np.float32),
        sr=sample_rate,
        n_fft=N_FFT,
        hop_length=HOP,
        n_mels=n_mels,
        fmax=sample_rate / 2,
    )


def standardised_log_mel(power: np.ndarray) -> torch.Tensor:
    """(N, 1, n_mels, frames) float32: dB of mel ``power``, standardised by the dataset-wide mean and std."""
    db = librosa.power_to_db(power, ref=1.0, top_db=None)
    return torch.as_tensor(((db - db.mean()) / db.std()).astype(np.float32)).unsqueeze(1)


def _keyword_dirs(root: Path, keywords: list[str] | None) -> list[Path]:
    """The keyword folders to read: ``keywords`` in the order given, or all non-underscore folders sorted."""
    if not root.is_dir():
        raise MissingData(f"Speech Commands directory {root} not found: expected root/<keyword>/<clip>.wav folders")
    if keywords is None:
        dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
        if not dirs:
            raise MissingData(
                f"no keyword folders in {root}: expected root/<keyword>/<clip>.wav (folders starting with _ are skipped)"
            )
        return dirs
    missing = [k for k in keywords if not (root / k).is_dir()]
    if missing:
        raise MissingData(f"keyword folders {missing} not found in {root}")
    return [root / k for k in keywords]


def _listed(root: Path, part: str) -> set[str]:
    """Relative paths (keyword/clip.wav) in the split lists behind ``part``."""
    if part not in PARTS:
        raise ValueError(f"unknown Speech Commands part {part!r}; choose from {sorted(PARTS)}")
    listed: set[str] = set()
    for name in PARTS[part]:
        if not (root / name).is_file():
            raise MissingData(f"{root / name} not found: part={part!r} needs Speech Commands' split lists")
        listed |= set((root / name).read_text().split())
    return listed


def _clips(root: str | Path, keywords: list[str] | None, part: str) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    """WAV paths, labels and class names of the clips of ``part`` in ``root``."""
    root = Path(root)
    dirs = _keyword_dirs(root, keywords)
    listed = _listed(root, part)
    held_out = part == "train"
    paths, labels = [], []
    for label, folder in enumerate(dirs):
        for path in sorted(folder.glob("*.wav")):
            rel = f"{folder.name}/{path.name}"
            if part == "all" or (rel in listed) != held_out:
                paths.append(path)
                labels.append(label)
    if not paths:
        raise MissingData(f"no .wav clips for part={part!r} in the {len(dirs)} keyword folders under {root}")
    return paths, np.asarray(labels, dtype=np.int64), tuple(d.name for d in dirs)


def check_speech_commands(
    root: str | Path, *, keywords: list[str] | None = None, part: str = "all", noise: dict | None = None, **_: object
) -> None:
    """Raise MissingData unless ``root`` holds the clips :func:`speech_commands` would read (and any noise folder)."""
    _clips(root, keywords, part)
    _check_noise(noise, Path(root))


def read_audio(path: Path, sample_rate: int, span: tuple[float, float | None] = (0.0, None)) -> np.ndarray:
    """The ``span`` (start, end) seconds of a recording (end None: to its end) as mono float32 at ``sample_rate``."""
    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:  # soundfile's LibsndfileError is a RuntimeError
        raise ValueError(f"{path}: not a readable audio file ({exc})") from exc
    start, end = span
    mono = audio[round(start * rate) : None if end is None else round(end * rate)].mean(axis=1)
    if rate != sample_rate and len(mono):
        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
    return mono


def read_clip(
    path: Path, sample_rate: int, length: int | None = None, span: tuple[float, float | None] = (0.0, None)
) -> np.ndarray:
    """One clip as mono float32 at ``sample_rate``, zero-padded or cropped to ``length`` samples (default 1 s)."""
    length = sample_rate if length is None else length
    mono = read_audio(path, sample_rate, span)
    return np.pad(mono[:length], (0, max(0, length - len(mono))))


def pink_noise(gen: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """``n`` unit-RMS pink (1/f power) noise clips, shaped in the frequency domain."""
    spectrum = np.fft.rfft(gen.standard_normal((n, samples)), axis=1)
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.shape[1]), 1.0))
    waves = np.fft.irfft(spectrum, n=samples, axis=1)
    return waves / waves.std(axis=1, keepdims=True)


def noise_spec(noise: dict | None) -> tuple[float, str] | None:
    """(snr_db, source) of option ``noise`` (source defaults to pink), None without; ValueError naming the key."""
    if noise is None:
        return None
    if not isinstance(noise, dict) or "snr_db" not in noise or set(noise) - set(NOISE_KEYS):
        raise ValueError(f"option noise: {noise!r} is not allowed; allowed: a mapping "
                         "{snr_db: <dB>, source: pink|white|<folder of wav files>} (source defaults to pink)")
    snr_db, source = noise["snr_db"], noise.get("source", "pink")
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db):
        raise ValueError(f"option noise.snr_db: {snr_db!r} is not allowed; allowed: a finite number of decibels")
    if not isinstance(source, str) or not source:
        raise ValueError(f"option noise.source: {source!r} is not allowed; allowed: "
                         f"{', '.join(NOISE_COLOURS)} or a folder of wav files (absolute or relative to root)")
    return float(snr_db), source


def _noise_files(source: str, root: Path) -> list[Path]:
    """The WAV files under folder ``source`` (relative to ``root`` unless absolute)."""
    folder = root / Path(source).expanduser()
    if not folder.is_dir():
        raise MissingData(f"option noise.source: {folder} is not a folder of wav files (nor one of {NOISE_COLOURS})")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
    if not files:
        raise MissingData(f"option noise.source: no .wav files under {folder}")
    return files


def _check_noise(noise: dict | None, root: Path) -> None:
    spec = noise_spec(noise)
    if spec is not None and spec[1] not in NOISE_COLOURS:
        _noise_files(spec[1], root)


def noise_waves(source: str, root: Path, gen: np.random.Generator, n: int, length: int, sample_rate: int) -> np.ndarray:
    """``n`` noise clips (n, length) float64: pink or white from ``gen``, or a segment at a random offset of a
    random recording under folder ``source`` (one shorter than a clip repeats from its start)."""
    if source == "white":
        return gen.standard_normal((n, length))
    if source == "pink":
        return pink_noise(gen, n, length)
    files = _noise_files(source, root)
    recordings: dict[int, np.ndarray] = {}
    waves = np.empty((n, length))
    for k, i in enumerate(gen.integers(0, len(files), size=n)):
        if i not in recordings:
            recordings[i] = read_audio(files[i], sample_rate)
            if not len(recordings[i]):
                raise ValueError(f"{files[i]}: an empty noise recording")
        audio = recordings[i] if len(recordings[i]) >= length else np.resize(recordings[i], length)
        offset = gen.integers(0, len(audio) - length + 1)
        waves[k] = audio[offset : offset + length]
    return waves


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float, names: list | None = None) -> np.ndarray:
    """``noise`` (N, L) rescaled clip by clip so that 10·log10(P_clean / P_noise) = ``snr_db`` exactly, P the
    mean square over the whole clip; ValueError naming a silent clip (``names``: what to call each row)."""
    clean, noise = np.asarray(clean, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    p_clean, p_noise = (clean**2).mean(axis=1, keepdims=True), (noise**2).mean(axis=1, keepdims=True)
    for power, what in ((p_clean, "clip"), (p_noise, "noise for clip")):
        if (power == 0).any():
            i = int(np.flatnonzero(power == 0)[0])
            raise ValueError(f"{what} {names[i] if names is not None else i} is silent: no SNR can be set")
    return noise * np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))


def speech_masks(clean: np.ndarray, noise: np.ndarray, sample_rate: int, n_mels: int) -> np.ndarray:
    """(N, n_mels, frames) bool: the frames where the clean clip's mel energy exceeds the noise floor (the
    noise's mean frame energy in that clip), over every mel bin."""
    speech = mel_power(clean, sample_rate, n_mels).sum(axis=1)
    floor = mel_power(noise, sample_rate, n_mels).sum(axis=1).mean(axis=1, keepdims=True)
    frames = speech > floor
    return np.repeat(frames[:, None, :], n_mels, axis=1)


def _features(name: str, waves: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], names: list, *,
              noise: dict | None, noise_class: bool, n_per_class: int | None, seed: int, root: Path,
              sample_rate: int, n_mels: int) -> Dataset:
    """Dataset of standardised log-mels of ``waves`` (N, L); with ``noise`` mixed in at its SNR, the speech masks,
    and with ``noise_class`` a class of noise-only clips (``n_per_class`` of them, or the mean class size) as loud
    as the noise of randomly chosen mixed clips, so loudness does not give them away."""
    spec = noise_spec(noise)
    if spec is None:
        if noise_class:
            raise ValueError("option noise_class: true needs option noise {snr_db, source}: "
                             "the noise clips' source and level")
        x = standardised_log_mel(mel_power(waves, sample_rate, n_mels))
        return Dataset(name, "speech", x, torch.as_tensor(labels), classes)
    if noise_class and NOISE_CLASS in classes:
        raise ValueError(f"option noise_class: a class is already named {NOISE_CLASS!r}")
    snr_db, source = spec
    gen = rng(name, seed, "noise", snr_db, source, noise_class)
    n, length = waves.shape
    n_noise = (n_per_class or round(n / len(classes))) if noise_class else 0
    raw = noise_waves(source, root, gen, n + n_noise, length, sample_rate)
    background = mix_at_snr(waves, raw[:n], snr_db, names)
    level = (background[gen.integers(0, n, size=n_noise)] ** 2).mean(axis=1, keepdims=True)
    background = np.concatenate([background, raw[n:] * np.sqrt(level / (raw[n:] ** 2).mean(axis=1, keepdims=True))])
    clean = np.concatenate([waves, np.zeros((n_noise, length))])
    return Dataset(
        name,
        "speech",
        standardised_log_mel(mel_power(clean + background, sample_rate, n_mels)),
        torch.as_tensor(np.concatenate([labels, np.full(n_noise, len(classes))]).astype(np.int64)),
        classes + (NOISE_CLASS,) * bool(n_noise),
        torch.as_tensor(speech_masks(clean, background, sample_rate, n_mels)),
    )


def speech_commands(
    root: str | Path,
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    keywords: list[str] | None = None,
    part: Literal["all", "train", "validation", "test"] = "all",
    noise: dict | None = None,
    noise_class: bool = False,
    sample_rate: int = SAMPLE_RATE,
    n_mels: int = N_MELS,
) -> Dataset:
    """Speech Commands clips (root/<keyword>/*.wav, ``_background_noise_`` skipped) as standardised log-mels,
    optionally in noise (``noise: {snr_db: 10, source: _background_noise_}``) with a noise-only class."""
    paths, labels, classes = _clips(root, keywords, part)
    keep = per_class_indices(labels, n_per_class, seed)
    chosen = [paths[i] for i in keep]
    waves = np.stack([read_clip(path, sample_rate) for path in chosen])
    return _features("speech_commands", waves, labels[keep], classes, chosen, noise=noise, noise_class=noise_class,
                     n_per_class=n_per_class, seed=seed, root=Path(root), sample_rate=sample_rate, n_mels=n_mels)


def folder_level(level: int) -> None:
    """ValueError naming option ``level`` unless it is a folder depth 0, 1, ..."""
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ValueError(f"option level: {level!r} is not allowed; allowed: a folder depth 0, 1, ...")


def clip_seconds(seconds: float) -> None:
    """ValueError naming option ``seconds`` unless it is a positive finite number."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
        raise ValueError(f"option seconds: {seconds!r} is not allowed; allowed: a positive number")


SPEECH_LAYOUT = "root/[<part>/]<level 0>/<level 1>/.../<clip>.wav, or a label file path,label[,start,end]"


def _label_rows(root: Path, labels: str) -> list[tuple[tuple[Path, float, float | None], str]]:
    """((path, start, end), label) of every row of the label file (relative to ``root`` unless absolute)."""
    table = root / Path(labels).expanduser()
    if not table.is_file():
        raise MissingData(f"option labels: label file {table} not found")
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{table}: header {reader.fieldnames} lacks column(s) {missing}; "
                             "expected path,label[,start,end] (start, end in seconds)")
        rows = []
        for line, row in enumerate(reader, start=2):
            path, label = root / (row["path"] or ""), row["label"]
            try:
                start, end = float(row.get("start") or 0.0), float(row["end"]) if row.get("end") else None
            except ValueError:
                raise ValueError(f"{table}:{line}: start {row.get('start')!r} or end {row.get('end')!r} "
                                 "is not a number of seconds") from None
            if not label or start < 0 or (end is not None and end <= start):
                raise ValueError(f"{table}:{line}: needs a label and a segment 0 <= start < end, got "
                                 f"label {label!r}, start {start}, end {end}")
            if not path.is_file():
                raise MissingData(f"{table}:{line}: {path} not found")
            rows.append(((path, start, end), label))
    return rows


def _speech_items(root: str | Path, part: str | None, level: int, labels: str | None, classes: list[str] | None,
                  pattern: str) -> tuple[list[tuple[Path, float, float | None]], np.ndarray, tuple[str, ...]]:
    """(path, start, end) of every clip class by class (files sorted, rows in file order), labels, class names."""
    root, base = data_folder(root, part, "speech folder", SPEECH_LAYOUT)
    if labels is not None:
        items = [row for row in _label_rows(root, labels) if part is None or row[0][0].is_relative_to(base)]
        where = f"label file {labels}" + (f" under part {part}" if part else "")
    else:
        folder_level(level)
        found = (p for p in sorted(base.rglob(pattern)) if p.is_file())
        items = [((p, 0.0, None), p.relative_to(base).parts[level]) for p in found
                 if len(p.relative_to(base).parts) > level + 1]
        where = f"{pattern} files {level + 1} or more folders deep under {base}"
    if not items:
        raise MissingData(f"no clips: no {where} (expected {SPEECH_LAYOUT})")
    names = sorted({label for _, label in items})
    if classes is not None:
        missing = [c for c in classes if c not in names]
        if missing:
            raise MissingData(f"option classes: {missing} not found in the {where}; found: {names}")
        names = list(classes)
    if len(names) < 2:
        raise ValueError(f"{len(names)} class(es) {names} in the {where}; a classifier needs at least 2")
    index = {name: i for i, name in enumerate(names)}
    items = sorted(((clip, index[label]) for clip, label in items if label in index), key=lambda item: item[1])
    return [clip for clip, _ in items], np.asarray([i for _, i in items], dtype=np.int64), tuple(names)


def check_speech_folder(root: str | Path, *, part: str | None = None, level: int = 0, labels: str | None = None,
                        classes: list[str] | None = None, pattern: str = "*.wav", noise: dict | None = None,
                        **_: object) -> None:
    """Raise MissingData unless ``root`` holds the clips :func:`speech_folder` would read (none opened)."""
    _speech_items(root, part, level, labels, classes, pattern)
    _check_noise(noise, Path(root))


def speech_folder(
    root: str | Path,
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    part: str | None = None,
    level: int = 0,
    labels: str | None = None,
    classes: list[str] | None = None,
    pattern: str = "*.wav",
    seconds: float = 1.0,
    noise: dict | None = None,
    noise_class: bool = False,
    sample_rate: int = SAMPLE_RATE,
    n_mels: int = N_MELS,
) -> Dataset:
    """Recordings of a speech tree as standardised log-mels of their first ``seconds`` (zero-padded): classes from
    the folder at depth ``level`` under ``root/<part>`` or from label file ``labels``; ``classes`` picks and orders
    them; ``pattern`` globs the files (TIMIT from LDC: ``*.WAV``, NIST SPHERE read by libsndfile); optional noise."""
    clip_seconds(seconds)
    clips, labels_, classes_ = _speech_items(root, part, level, labels, classes, pattern)
    keep = per_class_indices(labels_, n_per_class, seed)
    length = round(seconds * sample_rate)
    waves = np.stack([read_clip(clips[i][0], sample_rate, length, clips[i][1:]) for i in keep])
    names = [f"{path} [{start}, {end}) s" if (start, end) != (0.0, None) else path for path, start, end in
             (clips[i] for i in keep)]
    return _features("speech_folder", waves, labels_[keep], classes_, names, noise=noise, noise_class=noise_class,
                     n_per_class=n_per_class, seed=seed, root=Path(root), sample_rate=sample_rate, n_mels=n_mels)
