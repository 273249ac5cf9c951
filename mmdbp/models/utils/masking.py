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
    mask = torch.ones(B, L, device=x.device, dtype=x.dtype)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return MaskedTokens(gather_tokens(x, ids_keep), mask, ids_restore, ids_keep)


def unshuffle_with_mask_tokens(x: torch.Tensor, mask_token: torch.Tensor,
                               ids_restore: torch.Tensor) -> torch.Tensor:
    """Append mask tokens to visible tokens and restore patch order.

    Args:
        x: visible tokens (B, K, C) (no cls token).
        mask_token: (1, 1, C).
        ids_restore: (B, L) from :func:`random_masking`.

    Returns:
        (B, L, C) tokens in original patch order.
    """
    B, K, C = x.shape
    L = ids_restore.shape[1]
    full = torch.cat([x, mask_token.to(x.dtype).expand(B, L - K, C)], dim=1)
    return gather_tokens(full, ids_restore)
