"""ResNet-18 with torchvision's layout and Mari et al.'s transfer-learning hybrid on it: a
torchvision-format file loads and gives the logits of an independent functional forward, bad
files are refused naming what is wrong, QGrad-CAM by parameter shift equals autograd Grad-CAM
through the backbone model, and training moves the head only, on Mari et al.'s StepLR schedule,
resuming it from a checkpoint."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from qnnscope.data import MissingData
from qnnscope.interpret import cam
from qnnscope.models import hybrid, resnet

from test_hybrid import _toy


def torchvision_layout() -> dict[str, tuple[int, ...]]:
    """torchvision's resnet18 state_dict keys and shapes, from the architecture's description."""
    out = {}

    def bn(p, c):
        out.update({f"{p}.weight": (c,), f"{p}.bias": (c,), f"{p}.running_mean": (c,), f"{p}.running_var": (c,),
                    f"{p}.num_batches_tracked": ()})

    out["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    cin = 64
    for i, c in enumerate((64, 128, 256, 512), 1):
        for j in (0, 1):
            p = f"layer{i}.{j}"
            out[f"{p}.conv1.weight"] = (c, cin if j == 0 else c, 3, 3)
            bn(f"{p}.bn1", c)
            out[f"{p}.conv2.weight"] = (c, c, 3, 3)
            bn(f"{p}.bn2", c)
            if j == 0 and i > 1:
                out[f"{p}.downsample.0.weight"] = (c, cin, 1, 1)
                bn(f"{p}.downsample.1", c)
        cin = c
    out.update({"fc.weight": (1000, 512), "fc.bias": (1000,)})
    return out


def random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded random state_dict in torchvision's layout (He-scaled convolutions, batch norm with
    non-trivial affine maps and running statistics)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in torchvision_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif len(shape) == 4:
            state[key] = torch.randn(shape, generator=g) * math.sqrt(2 / math.prod(shape[1:]))
        elif key.endswith("running_var") or (key.endswith(".weight") and key != "fc.weight"):  # 1-D: batch norm
            state[key] = 0.5 + torch.rand(shape, generator=g)
        else:
            state[key] = 0.1 * torch.randn(shape, generator=g)
    return state


def reference(state, x, logits=True):
    """ResNet-18 in eval mode written with torch.nn.functional from the state_dict's tensors."""
    def bn(h, p):
        return F.batch_norm(h, state[f"{p}.running_mean"], state[f"{p}.running_var"], state[f"{p}.weight"],
                            state[f"{p}.bias"], training=False, eps=1e-5)

    h = F.max_pool2d(F.relu(bn(F.conv2d(x, state["conv1.weight"], stride=2, padding=3), "bn1")), 3, 2, 1)
    for i in range(1, 5):
        for j in (0, 1):
            p, stride = f"layer{i}.{j}", 2 if i > 1 and j == 0 else 1
            out = F.relu(bn(F.conv2d(h, state[f"{p}.conv1.weight"], stride=stride, padding=1), f"{p}.bn1"))
            out = bn(F.conv2d(out, state[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            skip = h
            if f"{p}.downsample.0.weight" in state:
                skip = bn(F.conv2d(h, state[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1")
            h = F.relu(out + skip)
    if not logits:
        return h
    return F.linear(F.adaptive_avg_pool2d(h, 1).flatten(1), state["fc.weight"], state["fc.bias"])


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(random_state(), path)
    return path


def test_the_layout_is_torchvisions():
    net = resnet.ResNet18()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == torchvision_layout()
    assert sum(p.numel() for p in net.parameters()) == 11_689_512  # torchvision's count
    assert [name for name, _ in net.named_children()] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                                         "layer3", "layer4", "avgpool", "fc"]
    assert [name for name, _ in net.layer2[0].named_children()] == ["conv1", "bn1", "relu", "conv2", "bn2",
                                                                   "downsample"]


def test_a_torchvision_file_gives_the_functional_reference(weights):
    state = random_state()
    model = resnet.ResNet18().load_state_dict_file(weights)
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, expected = model(x), reference(state, x)
        trunk = model.trunk(x)
    assert logits.shape == (3, 1000) and expected.std() > 0.1
    assert torch.allclose(logits, expected, atol=1e-5, rtol=0)
    assert torch.allclose(trunk, reference(state, x, logits=False), atol=1e-5, rtol=0)
    assert model.state_dict()["layer1.0.bn1.num_batches_tracked"] == 7
    # torchvision's published files carry no num_batches_tracked: accepted
    bare = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(bare, weights.with_name("bare.pth"))
    with torch.no_grad():
        assert torch.equal(resnet.ResNet18().load_state_dict_file(weights.with_name("bare.pth"))(x), logits)


def test_bad_files_are_refused_naming_what_is_wrong(tmp_path):
    state = random_state()
    renamed = {("layer1.0.conv_1.weight" if k == "layer1.0.conv1.weight" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(ValueError, match=r"renamed\.pth is not a torchvision ResNet-18 state_dict: "
                                         r"1 missing keys: layer1\.0\.conv1\.weight; "
                                         r"1 unexpected keys: layer1\.0\.conv_1\.weight"):
        resnet.ResNet18().load_state_dict_file(tmp_path / "renamed.pth")
    torch.save({**state, "fc.weight": torch.zeros(2, 512), "fc.bias": torch.zeros(2)}, tmp_path / "two.pth")
    with pytest.raises(ValueError, match=r"two\.pth .*2 shape mismatches: fc\.weight \(2, 512\) in the file, "
                                         r"\(1000, 512\) expected, fc\.bias \(2,\) in the file, \(1000,\) expected"):
        resnet.ResNet18().load_state_dict_file(tmp_path / "two.pth")
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "wrapped.pth")
    with pytest.raises(ValueError, match=r"102 missing keys: conv1\.weight, .* and 97 more; 122 unexpected keys"):
        resnet.ResNet18().load_state_dict_file(tmp_path / "wrapped.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"list\.pth: not a state_dict .* but a list"):
        resnet.ResNet18().load_state_dict_file(tmp_path / "list.pth")
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"cut\.pth: cannot read a state_dict"):
        resnet.ResNet18().load_state_dict_file(tmp_path / "cut.pth")
    missing = tmp_path / "nowhere" / "resnet18.pth"
    with pytest.raises(MissingData, match=f"ResNet-18 weights file {missing} not found"):
        hybrid.build("dressed", (3, 32, 32), 2, backbone="resnet18", weights=missing)
    ok, reason = hybrid.available("resnet18", missing)
    assert not ok and str(missing) in reason
    assert hybrid.available("resnet18", tmp_path / "two.pth") == (True, "")
    with pytest.raises(ValueError, match="unknown backbone 'vgg'; allowed: resnet18"):
        hybrid.build("dressed", (3, 32, 32), 2, backbone="vgg")
    with pytest.raises(ValueError, match="1- or 3-channel images, got in_shape \\(2, 32, 32\\)"):
        hybrid.build("dressed", (2, 32, 32), 2, backbone="resnet18")
    with pytest.raises(ValueError, match="given without a backbone"):
        hybrid.build("dressed", (3, 32, 32), 2, weights=tmp_path / "two.pth")


def test_the_backbone_model_is_mari_et_als_dressed_head_on_layer4(weights):
    model = hybrid.build("dressed", (3, 64, 64), 2, depth=6, backbone="resnet18", weights=weights,
                         dtype="complex128").eval()
    x = torch.rand(4, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    a = model.activations(x)
    state = {k: v.double() for k, v in random_state().items()}
    assert a.shape == (4, 512, 2, 2)
    assert torch.allclose(a, reference(state, x, logits=False), atol=1e-10)
    phi = model.angles(a)
    expected = torch.tanh(F.linear(a.mean((2, 3)), model.pre.weight, model.pre.bias)) * math.pi / 2
    assert torch.equal(phi, expected) and model.pre.in_features == 512
    assert torch.equal(model(x), model.readout(model.quantum(phi)))
    # Mari et al.'s dressed circuit: H layer, RY(φ), depth × (CNOTs on (0,1),(2,3) then (1,2); RY(w))
    mari = [("H", (q,), None) for q in range(4)] + [("RY", (q,), q) for q in range(4)]
    for layer in range(6):
        mari += [("CNOT", (0, 1), None), ("CNOT", (2, 3), None), ("CNOT", (1, 2), None)]
        mari += [("RY", (q,), 4 + 4 * layer + q) for q in range(4)]
    assert [(op.gate, op.wires, op.param) for op in model.quantum.circuit.ops] == mari
    assert model.quantum.weights.numel() == 6 * 4
    gray = x[:, :1]
    assert torch.equal(model.activations(gray), model.activations(gray.expand(-1, 3, -1, -1)))
    twin = hybrid.build("classical", (3, 64, 64), 2, backbone="resnet18", weights=weights)
    assert twin.hidden.in_features == 4 and not hasattr(twin, "quantum")


def test_parameter_shift_qgradcam_equals_autograd_gradcam_through_the_backbone(weights):
    model = hybrid.build("dressed", (3, 64, 64), 3, depth=5, backbone="resnet18", weights=weights,
                         dtype="complex128", seed=3)
    model = hybrid.reinitialise_quantum(model, seed=3).eval()
    x = torch.rand(3, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    target = torch.tensor([0, 1, 2])
    explicit, auto = cam.qgradcam(model, x, target), cam.gradcam(model, x, target)
    assert explicit.maps.shape == (3, 2, 2) and auto.alpha.abs().max() > 1e-4
    assert torch.allclose(explicit.alpha, auto.alpha, atol=1e-6, rtol=0)
    assert torch.allclose(explicit.maps, auto.maps, atol=1e-6, rtol=0)
    assert explicit.maps.max() > 0


def _images(n, seed):
    """test_hybrid's two-class toy images, 32×32 (one channel: the backbone repeats it over three)."""
    toy = _toy(n, seed)
    return SimpleNamespace(x=toy.x.repeat_interleave(4, 2).repeat_interleave(4, 3), y=toy.y)


def test_training_moves_the_head_only_on_a_step_schedule(weights, caplog):
    model = hybrid.build("dressed", (1, 32, 32), 2, depth=2, backbone="resnet18", weights=weights, seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.features.training and not any(m.training for m in model.features.modules())
    with torch.no_grad():
        model(_images(4, 9).x)  # a forward in train mode leaves the running statistics alone
    with caplog.at_level("INFO", logger="qnnscope.hybrid"):
        model, curves = hybrid.train(model, _images(8, 0), _images(4, 1), epochs=3, batch_size=4, lr=4e-4,
                                     step_size=2, gamma=0.1, seed=0)
    after = model.state_dict()
    backbone = [k for k in after if k.startswith("features.")]
    assert len(backbone) == 122 and all(torch.equal(before[k], after[k]) for k in backbone)
    head = ["pre.weight", "pre.bias", "quantum.weights", "post.weight", "post.bias"]
    assert all(not torch.equal(before[k], after[k]) for k in head)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == head
    assert len(curves.theta.iloc[-1]) == sum(after[k].numel() for k in head)
    lrs = [r.getMessage().split("(lr ")[1].split(")")[0] for r in caplog.records if r.getMessage().startswith("epoch")]
    assert lrs == ["0.0004", "0.0004", "0.0004", "4e-05"]  # epoch 0 is the initialisation


def test_a_killed_step_schedule_resumes_with_the_same_weights(weights, tmp_path, monkeypatch):
    options = dict(epochs=3, batch_size=4, lr=0.05, step_size=2, gamma=0.1, seed=0)

    def fresh():
        return hybrid.build("classical", (1, 32, 32), 2, backbone="resnet18", weights=weights, seed=2)

    straight, curves = hybrid.train(fresh(), _images(8, 0), _images(4, 1), **options)
    evaluate, calls = hybrid.evaluate, []

    def dies_in_epoch_three(*args, **kwargs):
        calls.append(1)
        if len(calls) > 6:  # two evaluations each for epochs 0, 1, 2
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(hybrid, "evaluate", dies_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        hybrid.train(fresh(), _images(8, 0), _images(4, 1), **options, checkpoint=tmp_path / "ckpt.pt")
    monkeypatch.setattr(hybrid, "evaluate", evaluate)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert state["epoch"] == 2 and state["optimiser"]["param_groups"][0]["lr"] == pytest.approx(0.005)
    resumed, resumed_curves = hybrid.train(fresh(), _images(8, 0), _images(4, 1), **options,
                                           checkpoint=tmp_path / "ckpt.pt")
    assert all(torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))
    assert curves.test_loss.tolist() == resumed_curves.test_loss.tolist()
    # without the step schedule's state the third epoch would run at 0.05, not 0.005
    with pytest.raises(ValueError, match="another training configuration"):
        hybrid.train(fresh(), _images(8, 0), _images(4, 1), **{**options, "gamma": 0.5}, checkpoint=tmp_path / "ckpt.pt")
