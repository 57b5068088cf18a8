"""ResNet-18 (He et al., CVPR 2016) in plain torch with torchvision's module and state_dict layout:
the frozen ImageNet-pretrained feature extractor of Mari et al.'s transfer learning (Quantum 4,
340 (2020)).

torchvision is not a dependency (it has no CPU build for the locked torch), so the network is
written here and reads a user-supplied torchvision state_dict file (torchvision's
``resnet18-f37072fd.pth``, or ``torchvision.models.resnet18(...).state_dict()`` saved with
``torch.save``), checked key by key and shape by shape.  Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

SHOWN = 5
"""Keys named per kind of mismatch in a refused file's message."""


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a residual connection (a strided 1×1 convolution
    and batch norm, ``downsample``, where the shape changes)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """torchvision's ``resnet18``: conv1, bn1, relu, maxpool, layer1…layer4 of two BasicBlocks each
    (64, 128, 256, 512 channels, strides 1, 2, 2, 2), global average pool, fc.

    Frozen by default: no parameter requires a gradient and the module stays in eval mode (batch
    norm uses and keeps its running statistics) even when its parent trains."""

    def __init__(self, num_classes: int = 1000, frozen: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():  # torchvision's initialisation (batch norm: weight 1, bias 0)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.source = "random"
        self.freeze(frozen)

    def freeze(self, frozen: bool = True) -> ResNet18:
        """Freeze (or release) every parameter and the batch-norm statistics."""
        self.frozen = frozen
        self.requires_grad_(not frozen)
        return self.train(self.training)

    def train(self, mode: bool = True) -> ResNet18:
        return super().train(mode and not self.frozen)

    def extra_repr(self) -> str:
        return f"frozen={self.frozen}, weights={self.source}"

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional block's output (B, 512, ⌈H/32⌉, ⌈W/32⌉): layer4, before the pool."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.trunk(x)), 1))

    def load_state_dict_file(self, path: str | os.PathLike) -> ResNet18:
        """Load a torchvision-format state_dict file (``torch.load(weights_only=True)``): every key
        and shape must match, except ``num_batches_tracked`` (absent from torchvision's published
        files), which may be there or not.  A refused file's error names it, the missing and
        unexpected keys and the shape mismatches."""
        path = weights_file(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - whatever the reason, the file is unusable
            raise ValueError(f"{path}: cannot read a state_dict from it ({type(exc).__name__}: {exc})") from None
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{path}: not a state_dict (a mapping of names to tensors) but a {type(state).__name__}")
        own = self.state_dict()
        optional = {k for k in own if k.endswith(".num_batches_tracked")}
        problems = []
        for what, keys in (("missing keys", [k for k in own if k not in state and k not in optional]),
                           ("unexpected keys", [k for k in state if k not in own]),
                           ("shape mismatches", [f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} expected"
                                                 for k, v in own.items() if k in state and state[k].shape != v.shape])):
            if keys:
                more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
                problems.append(f"{len(keys)} {what}: {', '.join(keys[:SHOWN])}{more}")
        if problems:
            raise ValueError(f"{path} is not a torchvision ResNet-18 state_dict: {'; '.join(problems)}")
        self.load_state_dict({**{k: own[k] for k in optional}, **state})
        self.source = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return self


def weights_file(path: str | os.PathLike) -> Path:
    """``path`` (``~`` and environment variables expanded) as a Path; :class:`qnnscope.data.MissingData`
    naming it where there is no such file (a study run on it is skipped with that reason)."""
    path = Path(os.path.expandvars(os.path.expanduser(str(path))))
    if not path.is_file():
        from qnnscope.data.dataset import MissingData

        raise MissingData(f"ResNet-18 weights file {path} not found: expected a torchvision state_dict "
                          "saved with torch.save (e.g. torchvision's resnet18-f37072fd.pth)")
    return path
