"""femur_app.models: the paper's AlexNet-BN geometry, its options, the registry, and a PyTorch recomputation."""
import numpy as np
import pytest

from femur_app.models import MODELS, alexnet, alexnet_bn, build_model
from femur_app.models.alexnet import conv1_padding, feature_sizes, pool_padding
from minicnn.layers import BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU


def rng():
    return np.random.default_rng(0)


def test_paper_geometry_at_224():
    assert conv1_padding(224) == ((2, 1), (2, 1))  # (224 + 3 - 11) / 4 + 1 = 55
    assert conv1_padding(227) == ((0, 0), (0, 0))  # Caffe's input needs none
    assert feature_sizes(224) == [55, 27, 27, 13, 13, 6]
    assert feature_sizes(64) == [15, 7, 7, 3, 3, 1]  # the quick profile's input
    assert pool_padding(27) == ((0, 0), (0, 0)) and pool_padding(6) == ((0, 1), (0, 1))


def test_alexnet_bn_is_the_papers_network():
    model = alexnet_bn(rng=rng())
    convs = [model.find(f"conv{i}") for i in range(1, 6)]
    assert [c.params["weight"].shape for c in convs] == [
        (96, 1, 11, 11), (256, 96, 5, 5), (384, 256, 3, 3), (384, 384, 3, 3), (256, 384, 3, 3)]
    assert [c.stride for c in convs] == [(4, 4)] + [(1, 1)] * 4
    assert [c.padding for c in convs] == [((2, 1), (2, 1)), ((2, 2), (2, 2))] + [((1, 1), (1, 1))] * 3
    assert [c.l2 for c in convs] == [0.0, 0.0, 1e-4, 1e-4, 1e-4]  # L2 on the last three conv layers only
    assert [model.find(f"fc{i}").params["weight"].shape for i in (6, 7, 8)] == [(4096, 9216), (4096, 4096), (2, 4096)]
    assert [model.find(f"fc{i}").l2 for i in (6, 7, 8)] == [0.0, 0.0, 0.0]
    kinds = [type(layer) for layer in model.layers]
    # BN after conv1 and conv2, before their ReLU; pools after conv1, conv2 and conv5
    assert kinds[:4] == [Conv2d, BatchNorm2d, ReLU, MaxPool2d] and kinds[4:8] == [Conv2d, BatchNorm2d, ReLU, MaxPool2d]
    assert kinds.count(BatchNorm2d) == 2 and kinds.count(MaxPool2d) == 3
    drops = [layer for layer in model.layers if isinstance(layer, Dropout)]
    assert [d.p_drop for d in drops] == [0.6, 0.6]
    assert [model.layers.index(d) for d in drops] == [model.layers.index(model.find("fc6")) + 2,
                                                      model.layers.index(model.find("fc7")) + 2]
    logits = model.forward(np.zeros((2, 1, 224, 224), np.float32), train=False)
    assert logits.shape == (2, 2)


def test_alexnet_without_bn_keeps_conv_biases():
    model = alexnet(rng=rng(), width=0.125, input_size=64)
    assert not any(isinstance(layer, BatchNorm2d) for layer in model.layers)
    assert all("bias" in model.find(f"conv{i}").params for i in range(1, 6))
    assert "bias" not in alexnet_bn(rng=rng(), width=0.125, input_size=64).find("conv1").params  # BN's beta replaces it


@pytest.mark.parametrize("size", [36, 40, 64, 96, 112, 128, 227])
def test_every_input_size_gives_integral_feature_maps(size):
    model = alexnet_bn(rng=rng(), width=0.0625, input_size=size)
    final = feature_sizes(size)[-1]
    assert model.find("fc6").params["weight"].shape == (256, 16 * final * final)
    assert model.forward(np.ones((2, 1, size, size), np.float32)).shape == (2, 2)


def test_width_scales_channels_and_fc():
    model = alexnet_bn(rng=rng(), width=0.25, input_size=64)
    assert [model.find(f"conv{i}").out_channels for i in range(1, 6)] == [24, 64, 96, 96, 64]
    assert model.find("fc6").params["weight"].shape == (1024, 64)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="input_size must be at least 36 .*got 35"):
        alexnet_bn(rng=rng(), input_size=35)
    with pytest.raises(ValueError, match=r"l2_layers names unknown layers \['conv9'\]"):
        alexnet_bn(rng=rng(), l2_layers=("conv9",))
    registered = r"\['alexnet', 'alexnet_bn', 'googlenet'\]"
    with pytest.raises(KeyError, match=rf"unknown model 'vgg'; registered models: {registered}"):
        build_model("vgg", rng=rng())


def test_registry_builds_the_same_weights_for_the_same_seed():
    assert set(MODELS) >= {"alexnet", "alexnet_bn"}
    a = build_model("alexnet_bn", rng=rng(), width=0.125, input_size=64).state_dict()
    b = alexnet_bn(rng=rng(), width=0.125, input_size=64).state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("size", [224, 112])
def test_matches_a_pytorch_alexnet_bn(size):
    """The same weights in torch (explicit ZeroPad2d for conv1, ceil-mode pools where a size is even) give the
    same eval-mode logits: the architecture is what the docstring says."""
    from conftest import require_torch

    torch = require_torch()
    nn = torch.nn
    model = alexnet_bn(rng=rng(), width=0.125, input_size=size)
    g = np.random.default_rng(1)
    for name in ("bn1", "bn2"):  # non-trivial running statistics and affine parameters
        bn = model.find(name)
        for key, store in (("gamma", bn.params), ("beta", bn.params), ("running_mean", bn.buffers)):
            store[key] = g.normal(0.2, 0.3, store[key].shape).astype(np.float32)
        bn.buffers["running_var"] = g.uniform(0.5, 2.0, bn.buffers["running_var"].shape).astype(np.float32)
    (top, bottom), (left, right) = conv1_padding(size)
    sizes = feature_sizes(size)
    c = [model.find(f"conv{i}").out_channels for i in range(1, 6)]
    fc = model.find("fc6").params["weight"].shape[0]
    ref = nn.Sequential(
        nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(1, c[0], 11, 4, bias=False), nn.BatchNorm2d(c[0]),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=sizes[0] % 2 == 0),
        nn.Conv2d(c[0], c[1], 5, 1, 2, bias=False), nn.BatchNorm2d(c[1]), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=sizes[2] % 2 == 0),
        nn.Conv2d(c[1], c[2], 3, 1, 1), nn.ReLU(), nn.Conv2d(c[2], c[3], 3, 1, 1), nn.ReLU(),
        nn.Conv2d(c[3], c[4], 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=sizes[4] % 2 == 0), nn.Flatten(),
        nn.Linear(c[4] * sizes[5] ** 2, fc), nn.ReLU(), nn.Dropout(0.6), nn.Linear(fc, fc), nn.ReLU(), nn.Dropout(0.6),
        nn.Linear(fc, 2)).eval()
    ours = [model.find(n) for n in ("conv1", "bn1", "conv2", "bn2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]
    theirs = [m for m in ref if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    with torch.no_grad():
        for mine, other in zip(ours, theirs):
            if isinstance(mine, BatchNorm2d):
                other.weight.copy_(torch.from_numpy(mine.params["gamma"]))
                other.bias.copy_(torch.from_numpy(mine.params["beta"]))
                other.running_mean.copy_(torch.from_numpy(mine.buffers["running_mean"]))
                other.running_var.copy_(torch.from_numpy(mine.buffers["running_var"]))
            else:
                other.weight.copy_(torch.from_numpy(mine.params["weight"]))
                if other.bias is not None:
                    other.bias.copy_(torch.from_numpy(mine.params["bias"]))
        x = np.random.default_rng(2).standard_normal((3, 1, size, size)).astype(np.float32)
        expected = ref(torch.from_numpy(x)).numpy()
    assert isinstance(ours[-1], Linear)
    np.testing.assert_allclose(model.forward(x, train=False), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_names_its_gradcam_layer_and_its_l2_layers(name):
    """The Grad-CAM layer is a top-level layer of the built network, and every name the configuration may put in
    l2_layers is accepted by the builder (and gets the L2 factor)."""
    from femur_app.models import L2_LAYERS

    model = build_model(name, rng=np.random.default_rng(0), width=0.0625, input_size=64, l2=0.5,
                        l2_layers=L2_LAYERS[name])
    top = [layer.name for layer in model.layers]
    assert model.gradcam_layer in top
    assert model.gradcam_layer == {"alexnet_bn": "conv5", "alexnet": "conv5", "googlenet": "inception5b"}[name]
    assert all(model.find(layer).l2 == 0.5 for layer in L2_LAYERS[name])
    with pytest.raises(ValueError, match="unknown layers"):
        build_model(name, rng=np.random.default_rng(0), width=0.0625, input_size=64, l2_layers=("conv9",))
