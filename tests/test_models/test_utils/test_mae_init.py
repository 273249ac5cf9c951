"""MAE's init helpers against the analytic xavier-uniform bound and variance."""
import math

import torch
import torch.nn as nn

from mmdbp.models.utils.mae_init import init_linears_xavier_, init_patch_embed_xavier_
from mmdbp.models.utils.weight_norm_linear import WeightNormLinear


def xavier_bound(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6. / (fan_in + fan_out))  # U(-a, a), variance a^2 / 3 = 2 / (fan_in + fan_out)


def test_linears_get_xavier_uniform_weights_and_zero_biases():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(300, 200), nn.GELU(), nn.Sequential(WeightNormLinear(200, 100)),
                          nn.LayerNorm(100))
    with torch.no_grad():
        model[3].weight.fill_(3.)
        model[3].bias.fill_(2.)
    init_linears_xavier_(model)
    for layer in (model[0], model[2][0]):
        a = xavier_bound(layer.in_features, layer.out_features)
        assert layer.weight.abs().max() <= a
        torch.testing.assert_close(layer.weight.var().item(), a * a / 3, rtol=0.05, atol=0.)
        assert torch.all(layer.bias == 0)
    assert torch.all(model[3].weight == 3.) and torch.all(model[3].bias == 2.)  # untouched


def test_layer_norm_reset_on_request():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    with torch.no_grad():
        model[1].weight.fill_(3.)
        model[1].bias.fill_(2.)
    init_linears_xavier_(model, layer_norm=True)
    assert torch.all(model[1].weight == 1.) and torch.all(model[1].bias == 0.)


def test_patch_embed_is_initialised_as_a_flattened_linear():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 256, kernel_size=8, stride=8)
    init_patch_embed_xavier_(conv)
    fan_in, fan_out = 3 * 8 * 8, 256  # not conv's fan_out = 256 * 8 * 8
    a = xavier_bound(fan_in, fan_out)
    assert conv.weight.abs().max() <= a
    torch.testing.assert_close(conv.weight.var().item(), a * a / 3, rtol=0.05, atol=0.)
