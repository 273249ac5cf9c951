"""Random patch masking shared by MAE/DBP-MAE, MIRL and masked fine-tuning."""
from typing import NamedTuple, Optional

import torch


class MaskedTokens(NamedTuple):
    """Result of :func:`random_masking`.

    Attributes:
        tokens: kept tokens, (B, K, C) with ``K = int(L * (1 - mask_ratio))``.
        mask: (B, L), 0 for kept and 1 for removed patches, in the original order.
        ids_restore: (B, L), the argsort that puts ``[kept, removed]`` back in patch order.
        ids_keep: (B, K), indices of the kept patches (in the original order's coordinates).
    """
    tokens: torch.Tensor
    mask: torch.Tensor
    ids_restore: torch.Tensor
    ids_keep: torch.Tensor


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Pick tokens ``x[b, ids[b, k]]``: x (B, L, C), ids (B, K) -> (B, K, C).

    Uses an expanded (not repeated) index, so no (B, K, C) index tensor is materialised.
    """
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def num_kept(num_patches: int, mask_ratio: float) -> int:
    """Number of visible patches, ``int(L * (1 - ratio))`` as in MAE."""
    if not 0. <= mask_ratio < 1.:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}.')
    return int(num_patches * (1 - mask_ratio))


def random_masking(x: torch.Tensor, mask_ratio: float,
                   noise: Optional[torch.Tensor] = None) -> MaskedTokens:
    """MAE's per-sample random masking by argsort of uniform noise.

    Args:
        x: patch tokens (B, L, C).
        mask_ratio: fraction of patches removed, in [0, 1).
        noise: optional (B, L) noise (small = kept); drawn uniformly when None.
    """
    B, L, _ = x.shape
    keep = num_kept(L, mask_ratio)
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    ids_shuffle = torch.argsort(noise, dim=1)  # ascending: small is kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :keep]
    # A patch is removed iff its rank in the shuffle is >= keep. This equals MAE's
    # "ones, zero the first `keep`, gather by ids_restore" without the extra buffer and gather.
    # The mask stays fp32 (as MAE's) even under autocast: the loss divides by its sum.
    mask = (ids_restore >= keep).float()
    return MaskedTokens(gather_tokens(x, ids_keep), mask, ids_restore, ids_keep)


def unshuffle_with_mask_tokens(x: torch.Tensor, mask_token: torch.Tensor,
                               ids_restore: torch.Tensor,
                               num_extra_tokens: int = 0) -> torch.Tensor:
    """Append mask tokens to visible tokens and restore patch order.

    One concatenation and one gather: leading extra tokens (e.g. a cls token) are routed by the
    same gather, so no further copy is needed to put them back in front.

    Args:
        x: (B, E + K, C), ``E = num_extra_tokens`` extra tokens first, then the K visible tokens
            in the order of :func:`random_masking` (``ids_keep``).
        mask_token: (1, 1, C).
        ids_restore: (B, L) from :func:`random_masking`.
        num_extra_tokens: E. Defaults to 0.

    Returns:
        (B, E + L, C): the extra tokens, then all L patch tokens in the original patch order
        (mask tokens at the removed positions). The dtype is the promoted type of ``x`` and
        ``mask_token`` (under autocast a bf16 ``x`` and an fp32 token give fp32, exactly like
        MAE's ``torch.cat``), so no cast is applied here.
    """
    B, N, C = x.shape
    E = num_extra_tokens
    L = ids_restore.shape[1]
    full = torch.cat([x, mask_token.expand(B, L + E - N, C)], dim=1)  # B, E + L, C
    if E:
        extra = torch.arange(E, device=ids_restore.device).expand(B, E)
        ids_restore = torch.cat([extra, ids_restore + E], dim=1)
    return gather_tokens(full, ids_restore)
