"""Attention restricted to a soft/hard token *policy* (DynamicViT's training-time masking).

DynamicViT (`Rao et al., NeurIPS 2021 <https://arxiv.org/abs/2106.02034>`_) trains its keep
decisions with Gumbel-softmax; to keep the batch rectangular, pruned tokens stay in the sequence
but no other token may attend to them. With a keep policy ``D`` (1 = kept) and attention logits
``A = q k^T / sqrt(d)``, the masked softmax of the paper (Eq. 7) is

.. math::

    G_{ij} = D_j + (1 - D_j)\\,[i = j], \\qquad
    P_{ij} = \\frac{\\exp(A_{ij} - m_i)\\, G_{ij} + \\epsilon / N}
                  {\\sum_k \\exp(A_{ik} - m_i)\\, G_{ik} + \\epsilon},
    \\quad m_i = \\max_k A_{ik},

so a query attends to the kept keys and to itself (a pruned query too: its output is ignored
later). As in the released code (``Attention.softmax_with_policy`` in ``models/dyvit.py``) the
row maximum is taken over **all** keys, pruned ones included, ``m_i = max_k A_ik``: then every
``exp`` is at most 1, the weights are finite for any finite logits, and the result equals the
official one (when a pruned key dominates a row so much that the kept weights underflow, both
fall back to the ``eps`` smoothing). The max is not detached (the official is not either: with
``eps`` the output depends on it slightly). The exponentials run in fp32 (fp64 for fp64 input;
bf16/fp16 ``exp`` of large logits overflows), as the official code (which subtracts the max in
the input dtype and only then casts: under bf16 autocast mmdbp's subtraction is the more exact
one), and the result stays differentiable in ``D`` (straight-through Gumbel).

Beyond the official code: infinite logits are clamped to the largest finite values first, so
``+inf`` (where the official computes ``inf - inf = NaN``) or a row of ``-inf`` give finite
probabilities too; NaN logits stay NaN (the forward is already broken there).

The functions use the shared :class:`~mmdbp.models.utils.vit_blocks.TransformerBlock` weights as
they are (``attn.qkv_heads`` / ``attn.merge_heads``), so a policy-masked block and the plain block
are the same parameters.
"""
import torch
import torch.nn.functional as F

from .vit_blocks import TransformerBlock


def softmax_with_policy(attn: torch.Tensor, policy: torch.Tensor,
                        eps: float = 1e-6) -> torch.Tensor:
    """Softmax of attention logits over the kept keys only (plus the query itself), as
    DynamicViT's released code (see the module docstring).

    Args:
        attn: attention logits (B, h, N, N).
        policy: keep policy (B, N) or (B, N, 1), 1 = kept, 0 = pruned; may be soft.
        eps: smoothing of DynamicViT's released code, keeps fully pruned rows finite.

    Returns:
        Attention probabilities (B, h, N, N) in ``attn``'s dtype.
    """
    B, _, N, _ = attn.shape
    dtype = torch.promote_types(attn.dtype, torch.float32)
    policy = policy.reshape(B, 1, 1, N).to(dtype)
    eye = torch.eye(N, dtype=dtype, device=attn.device).view(1, 1, N, N)
    gate = policy + (1.0 - policy) * eye  # B, 1, N, N
    finfo = torch.finfo(dtype)
    logits = attn.to(dtype).clamp(finfo.min, finfo.max)  # +-inf -> finite (NaN stays NaN)
    row_max = logits.amax(dim=-1, keepdim=True)  # over all keys, as the released code
    weights = (logits - row_max).exp() * gate  # every exp <= 1: no inf * 0
    probs = (weights + eps / N) / (weights.sum(dim=-1, keepdim=True) + eps)
    return probs.to(attn.dtype)


def block_forward_with_policy(block: TransformerBlock, x: torch.Tensor,
                              policy: torch.Tensor) -> torch.Tensor:
    """Run a :class:`TransformerBlock` with policy-masked attention.

    ``x + DropPath(Attn_D(LN(x)))`` then ``x + DropPath(MLP(LN(x)))`` where ``Attn_D`` uses
    :func:`softmax_with_policy`. With an all-ones policy this equals ``block(x)`` up to ``eps``.

    Args:
        block: the shared ViT block.
        x: tokens (B, N, C), cls token included.
        policy: keep policy (B, N, 1) for the same N tokens (1 for the cls token).
    """
    attn_mod = block.attn
    q, k, v = attn_mod.qkv_heads(block.norm1(x))  # B, h, N, d
    attn = (q * attn_mod.scale) @ k.transpose(-2, -1)  # B, h, N, N
    attn = softmax_with_policy(attn, policy)
    attn = F.dropout(attn, attn_mod.attn_drop, block.training)
    x = x + block.drop_path(attn_mod.merge_heads(attn @ v))
    x = x + block.drop_path(block.mlp(block.norm2(x)))
    return x
