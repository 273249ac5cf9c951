"""Fixtures shared by the token-pruning ViT tests (DynamicViT, EViT and their mmseg variants)."""
import pytest
import torch
from mmpretrain.models import VisionTransformer as PretrainViT

from mmdbp.models.utils import convert_vit


def _perturbed(model):
    """Seed-0 ``init_weights`` with every norm and bias shifted by N(0, 0.1) noise, so equality
    tests cannot pass on the trivial ones / zeros of the default init."""
    torch.manual_seed(0)
    model.init_weights()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'norm' in name or name.endswith('bias'):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _mmpretrain_vit(model, **kwargs):
    """mmpretrain's own VisionTransformer (``kwargs``: arch, img_size, patch_size, out_type,
    out_indices...) in eval mode with ``model``'s ViT weights (pruning modules left out)."""
    ref = PretrainViT(**kwargs)
    ref.eval()  # mmpretrain's ViT.train() returns None
    dense = {k: v for k, v in model.state_dict().items() if not k.startswith('predictors')}
    ref.load_state_dict(convert_vit(dense, 'mmpretrain'), strict=True)
    return ref


def _token_counts(model, x, at: str = 'norm1'):
    """Run ``model(x)`` and return the token count N of the input of ``block.<at>`` for every
    block: ``'norm1'`` = tokens entering the block, ``'norm2'`` = tokens its MLP runs on."""
    counts = []
    hooks = [getattr(b, at).register_forward_pre_hook(lambda m, a: counts.append(a[0].shape[1]))
             for b in model.blocks]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return counts


@pytest.fixture
def token_counts():
    """``token_counts(model, x, at='norm1')``: see :func:`_token_counts`."""
    return _token_counts


@pytest.fixture
def perturbed():
    """``perturbed(model) -> model``: see :func:`_perturbed`."""
    return _perturbed


@pytest.fixture
def mmpretrain_vit():
    """``mmpretrain_vit(model, **vit_kwargs)``: the independent dense reference, see
    :func:`_mmpretrain_vit`."""
    return _mmpretrain_vit
