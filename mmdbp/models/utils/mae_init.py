"""MAE's weight initialisation (`He et al. <https://arxiv.org/abs/2111.06377>`_, official
``_init_weights``), shared by mmdbp's ViT encoders and MAE-style decoders (MAE, GreenMIM, MIRL)."""
import torch.nn as nn


def init_linears_xavier_(module: nn.Module, layer_norm: bool = False) -> None:
    """Xavier-uniform weights and zero biases for every :class:`~torch.nn.Linear` in ``module``
    (subclasses such as ``WeightNormLinear`` included), visited in ``module.modules()`` order;
    with ``layer_norm=True`` every :class:`~torch.nn.LayerNorm` is also reset to weight 1, bias 0.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif layer_norm and isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_patch_embed_xavier_(conv: nn.Conv2d) -> None:
    """Initialise a patch-embedding conv like a linear layer: xavier-uniform on its weight viewed
    as (out_channels, in_channels * p * p), as MAE does."""
    w = conv.weight.data
    nn.init.xavier_uniform_(w.view(w.shape[0], -1))
