"""Dense feature maps from a token-pruned ViT (for UPerNet and other dense heads).

A pruning ViT keeps fewer and fewer tokens, in an order of its own choosing, while a dense head
needs a full (B, C, H/p, W/p) map at each output level. :class:`PrunedTokenMap` tracks, for every
patch position, the last feature the token had before it was pruned, and the grid position of each
token still in the sequence; :meth:`PrunedTokenMap.render` scatters the live tokens back onto the
grid over those stale features. Tokens without a position (EViT's fused token) go to a spare slot
that is dropped from the map.

With nothing pruned the rendered map is exactly the live tokens in patch order, so a pruning
backbone at keep ratio 1 reproduces the dense ViT's maps.
"""
from typing import Callable, Optional

import torch


class PrunedTokenMap:
    """Patch positions and last features of the tokens of one batch.

    Args:
        batch_size (int): B.
        num_patches (int): L, the number of patch positions (H/p * W/p).
        device: device of the index tensors.
    """

    def __init__(self, batch_size: int, num_patches: int, device: torch.device) -> None:
        self.num_patches = num_patches
        # grid position of every live (non-cls) token; ``num_patches`` marks "no position"
        self.ids = torch.arange(num_patches, device=device).expand(batch_size, -1)
        self.last: Optional[torch.Tensor] = None  # B, L + 1, C
        self.pruned = False

    def _scatter(self, base: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        index = self.ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
        return base.scatter(1, index, tokens)

    def record(self, tokens: torch.Tensor) -> None:
        """Remember the current features of the live tokens (B, N, C) before some are pruned."""
        if self.last is None:
            self.last = tokens.new_zeros(tokens.shape[0], self.num_patches + 1, tokens.shape[-1])
        self.last = self._scatter(self.last, tokens)

    def keep(self, keep_idx: torch.Tensor) -> None:
        """The live tokens become ``tokens[:, keep_idx]`` (B, K) (indices into the live set)."""
        self.ids = torch.gather(self.ids, 1, keep_idx)
        self.pruned = True

    def append_unplaced(self, num: int = 1) -> None:
        """``num`` tokens without a grid position (e.g. a fused token) were appended."""
        B = self.ids.shape[0]
        spare = self.ids.new_full((B, num), self.num_patches)
        self.ids = torch.cat([self.ids, spare], dim=1)

    def render(self, tokens: torch.Tensor,
               stale_transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
               ) -> torch.Tensor:
        """Full-resolution tokens (B, L, C) in patch order.

        Args:
            tokens: current live tokens (B, N, C) (no cls token), in the order of :attr:`ids`.
            stale_transform: applied to the stale features first (e.g. the final LayerNorm, so
                that pruned tokens get the same per-token normalisation as the live ones).
        """
        if not self.pruned:
            return tokens
        base = self.last if stale_transform is None else stale_transform(self.last)
        return self._scatter(base.to(tokens.dtype), tokens)[:, :self.num_patches]
