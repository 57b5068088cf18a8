"""Log-mel features (librosa) and the loader for Google Speech Commands–layout WAV folders.

The synthetic keywords and the user's recordings go through the same :func:`mel_power` and
:func:`standardised_log_mel`, so a model sees one kind of spectrogram whatever the source.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import soundfile
import torch

from qnnscope.data.dataset import Dataset, MissingData, per_class_indices

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
    root: str | Path, *, keywords: list[str] | None = None, part: str = "all", **_: object
) -> None:
    """Raise MissingData unless ``root`` holds the clips :func:`speech_commands` would read."""
    _clips(root, keywords, part)


def read_clip(path: Path, sample_rate: int) -> np.ndarray:
    """One clip as mono float32 at ``sample_rate``, zero-padded or cropped to 1 s."""
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
    return np.pad(mono[:sample_rate], (0, max(0, sample_rate - len(mono))))


def speech_commands(
    root: str | Path,
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    keywords: list[str] | None = None,
    part: str = "all",
    sample_rate: int = SAMPLE_RATE,
    n_mels: int = N_MELS,
) -> Dataset:
    """Speech Commands clips (root/<keyword>/*.wav, ``_background_noise_`` skipped) as standardised log-mels."""
    paths, labels, classes = _clips(root, keywords, part)
    keep = per_class_indices(labels, n_per_class, seed)
    waves = np.stack([read_clip(paths[i], sample_rate) for i in keep])
    x = standardised_log_mel(mel_power(waves, sample_rate, n_mels))
    return Dataset("speech_commands", "speech", x, torch.as_tensor(labels[keep]), classes)
