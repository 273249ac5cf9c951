"""Decorrelated backpropagation (DBP): the shared decorrelation building block.

`Carrigg et al., "Decorrelation Speeds Up Vision Transformers" <https://arxiv.org/abs/2510.14657>`_;
`Dalm et al., "Efficient Deep Learning with Decorrelated Backpropagation"
<https://arxiv.org/abs/2405.02385>`_. Reference code: ``artcogsys/decorbp``.

A selected layer ``y = W x + b`` gets a decorrelation matrix ``R`` (d_in x d_in, identity at init,
fp32, not a parameter) in front of its input::

    z = R x,    y = W z + b = (W R) x + b.

* **Forward** on the full batch uses the fused weight ``W_eff = W @ R`` (one extra d_out x d_in x
  d_in matmul per layer, autocast-friendly), never ``R x`` on every token. Autograd through
  ``W @ R`` gives ``dL/dW = (dL/dW_eff) R^T = delta x^T R^T = delta z^T`` (the gradient on the
  decorrelated input) and ``dL/dx = W_eff^T delta = R^T W^T delta`` (the input gradient flows
  through R). Inputs with fewer rows than ``d_out`` (tiny batches) take the cheaper explicit
  path ``W (R x)``, which has the same values and gradients.
* **Statistics** (training forwards only): ``z = R x`` on a random sub-sample of the token rows
  (``sample_frac / update_interval`` of them, with replacement, from a seeded generator), in fp32
  with autocast off.
* **Update** (after every ``update_interval``-th optimiser step, see :meth:`Decorrelator.step`),
  from the z pooled over those steps (all ranks' samples, all-reduced): ``sample_frac`` of one
  step's rows in all, as with an update every step, at ``1 / update_interval`` of the cost per
  step. The update applies ``update_interval * decor_lr`` (``eta`` below), so R moves at the same
  rate per optimiser step whatever the interval::

      X = z^T z / n,   C = X - diag(X),   v = diag(X) - 1   (= mean(z^2 - 1))
      R <- R - eta [ (1 - kappa) C R + kappa diag(v) R ],   eta = update_interval * decor_lr

  Each rank sums ``z^T z R`` over its samples in the cheaper order (``(z^T z) R`` or
  ``z^T (z R)``: the second avoids the d^3 product when a rank has fewer sampled rows than d),
  and the sums are all-reduced.

  ``kappa = 0`` is pure decorrelation, ``kappa > 0`` also drives the variances of z to 1.
* **Folding** after pre-training: ``W <- W R`` (:func:`fold_weight`), so fine-tuning and inference
  use plain layers.

The mechanism attaches to existing ``nn.Linear`` (and optionally ``nn.Conv2d`` patch-embedding)
modules by name, without editing model code: :class:`Decorrelator` replaces the selected modules'
``forward`` by an instance attribute and keeps every R outside the model (its state goes into the
optim wrapper's state dict, see :class:`mmdbp.engine.optimizers.DBPOptimWrapper`), so model
state dicts keep the host layout and DDP never broadcasts R. A selected module's state dict holds
the folded ``W R``: every checkpoint written during DBP training loads into a plain model (e.g.
mmpretrain's ``init_cfg=dict(type='Pretrained', ...)``) as the function it computed; the
unfolded W needed to resume exactly is saved with R.
"""
import logging
import math
import re
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

LAYER_TYPES = {'Linear': nn.Linear, 'Conv2d': nn.Conv2d}


@contextmanager
def cuda_tf32(enabled: bool):
    """Allow (or forbid) TF32 tensor cores for fp32 CUDA matmuls inside the block, restoring the
    global setting afterwards (no effect on CPU)."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


DEFAULT_INCLUDE = (r'^backbone\.', )


#: DBP update rules (``update_rule`` of :class:`Decorrelator` / ``DBPOptimWrapper``), with
#: ``C = X - diag(X)``, ``v = diag(X) - 1``, ``X = z^T z / n`` and d = d_in:
#:
#: - ``'paper'``: ``R <- R - eta [(1 - kappa) C R + kappa diag(v) R]``, the papers' equation:
#:   the whitening term scales row i of R, i.e. z_i itself, by its own variance error v_i.
#: - ``'reference'``: ``R <- R - eta [(1 - kappa) C R + kappa R diag(v)]``, the authors' code
#:   (``artcogsys/decorbp``, ``Decorrelation.update``, ``method='standard'``: ``v * self.weight``
#:   broadcasts v over R's columns).
#: - ``'reference_normalized'``: ``R <- R - eta [(1 - kappa) / (d - 1) C R + 2 kappa R diag(v)]``,
#:   the authors' ``method='normalized'``.
#:
#: All three agree for kappa = 0; ``'paper'`` and ``'reference'`` also for kappa = 1 from
#: R = I (R then stays diagonal, where row and column scaling coincide).
UPDATE_RULES = ('paper', 'reference', 'reference_normalized')


def decorrelation_update(R: torch.Tensor, XR: torch.Tensor, diag_X: torch.Tensor, lr: float,
                         kappa: float, rule: str = 'paper') -> torch.Tensor:
    """One DBP step ``R - lr G`` of the update ``rule`` (see :data:`UPDATE_RULES`), from ``X R``
    and ``diag(X)`` (``X = z^T z / n``, uncentred). The decorrelation term is
    ``C R = X R - diag(X) R`` and, with ``v = diag(X) - 1``,

    - ``'paper'``: ``G = (1 - kappa) C R + kappa diag(v) R`` (rows of R scaled);
    - ``'reference'``: ``G = (1 - kappa) C R + kappa R diag(v)`` (columns scaled);
    - ``'reference_normalized'``: ``G = (1 - kappa) / (d - 1) C R + 2 kappa R diag(v)``
      (for d = 1, where C = 0, the factor is taken as 1 - kappa instead of a division by 0).

    Taking ``X R`` rather than ``X`` lets the caller choose the cheaper product order,
    ``(z^T z) R`` (n d^2 + d^3) or ``z^T (z R)`` (2 n d^2, cheaper when n < d).

    Args:
        R: decorrelation matrix (d, d), fp32.
        XR: ``X R`` (d, d).
        diag_X: ``diag(X)``, the mean of ``z^2`` per feature (d,).
        lr: decorrelation learning rate eta.
        kappa: whitening mix in [0, 1].
        rule: one of :data:`UPDATE_RULES`. Defaults to ``'paper'``.

    Returns:
        The updated R (a new tensor).
    """
    if rule == 'paper':
        row_scale = kappa * (diag_X - 1.) - (1. - kappa) * diag_X  # diag terms of G, per row
        return R - lr * ((1. - kappa) * XR + row_scale[:, None] * R)
    if rule not in UPDATE_RULES:
        raise ValueError(f'DBP: update_rule must be one of {UPDATE_RULES}, got {rule!r}.')
    decor, white = 1. - kappa, kappa
    if rule == 'reference_normalized':
        decor, white = decor / max(R.shape[0] - 1, 1), 2. * kappa
    CR = XR - diag_X[:, None] * R
    return R - lr * (decor * CR + white * R * (diag_X - 1.)[None, :])


def fold_weight(weight: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """``W R`` for a linear weight (d_out, d_in) or a conv weight (C_out, C_in, k, k) (whose
    input dimension is the flattened patch ``C_in * k * k``)."""
    w = weight.reshape(weight.shape[0], -1)
    if w.shape[1] != R.shape[0]:
        raise ValueError(f'Cannot fold R of shape {tuple(R.shape)} into a weight of shape '
                         f'{tuple(weight.shape)}: input dimensions differ.')
    return (w.to(R.dtype) @ R).to(weight.dtype).reshape(weight.shape)


def offdiag_correlation(z_sum: torch.Tensor, zz_sum: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Mean absolute off-diagonal Pearson correlation of z from its sums.

    Args:
        z_sum: sum of z over rows (d,).
        zz_sum: ``z^T z`` (d, d).
        n: number of rows (scalar tensor).
    """
    n = n.clamp(min=1)
    mean = z_sum / n
    cov = zz_sum / n - torch.outer(mean, mean)
    std = cov.diagonal().clamp(min=1e-12).sqrt()
    corr = cov / torch.outer(std, std)
    d = corr.shape[0]
    if d < 2:
        return corr.new_zeros(())
    return (corr.abs().sum() - corr.diagonal().abs().sum()) / (d * (d - 1))


def _plain_forward(cls: type) -> bool:
    """Whether ``cls`` computes ``forward`` as ``nn.Linear`` / ``nn.Conv2d`` do (its own forward
    only guards empty inputs, as mmcv's wrappers)."""
    if cls.forward in (nn.Linear.forward, nn.Conv2d.forward):
        return True
    return cls.__module__ == 'mmcv.cnn.bricks.wrappers' and cls.__name__ in ('Linear', 'Conv2d')


def unsupported_reason(model: nn.Module, name: str, module: nn.Module) -> Optional[str]:
    """Why DBP's fused forward cannot stand in for ``module`` (None when it can): a layer class
    with its own forward (e.g. weight normalisation) would lose it, and a layer whose parent
    reads its weight directly (``nn.MultiheadAttention.out_proj``) never calls its forward, so R
    would be inert."""
    if not _plain_forward(type(module)):
        return (f'{type(module).__name__} has its own forward, which the fused DBP forward would '
                'replace')
    parent = model.get_submodule(name.rpartition('.')[0]) if '.' in name else model
    if isinstance(parent, nn.MultiheadAttention):
        return ('nn.MultiheadAttention uses its weights directly, never calling this layer\'s '
                'forward')
    return None


def select_layers(model: nn.Module,
                  include: Sequence[str] = DEFAULT_INCLUDE,
                  exclude: Sequence[str] = (),
                  layer_types: Sequence[str] = ('Linear', )) -> List[Tuple[str, nn.Module]]:
    """Modules of ``model`` that DBP decorrelates.

    A module is selected when its type is one of ``layer_types`` (``'Linear'``, ``'Conv2d'``),
    its full name (as in ``model.named_modules()``, e.g. ``backbone.layers.0.attn.qkv``) matches
    at least one regex of ``include`` and none of ``exclude`` (``re.search``), and its weight
    is trainable.

    The default ``include=('^backbone\\.',)`` with ``layer_types=('Linear',)`` picks the encoder's
    transformer linears of mmpretrain's ``MAE`` (``layers.i.attn.qkv``, ``attn.proj``,
    ``ffn.layers.0.0``, ``ffn.layers.1``) and of mmdbp's ``FastMAEViT`` (``blocks.i.attn.qkv``,
    ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``), and nothing in the decoder (``neck``) or ``head``.
    Add ``'Conv2d'`` to also decorrelate the patch embedding.
    """
    inc, exc = check_patterns(include, exclude, layer_types)
    types = tuple(LAYER_TYPES[t] for t in layer_types)
    selected, candidates = [], []
    for name, module in model.named_modules():
        if not isinstance(module, types):
            continue
        candidates.append(name)
        if not any(p.search(name) for p in inc) or any(p.search(name) for p in exc):
            continue
        if not module.weight.requires_grad:
            continue
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            raise ValueError(f'DBP: cannot decorrelate grouped conv {name} (groups='
                             f'{module.groups}); exclude it.')
        unsupported = unsupported_reason(model, name, module)
        if unsupported:
            raise ValueError(f'DBP: cannot decorrelate {name}: {unsupported}. Add it to '
                             '`exclude` or narrow `include`.')
        selected.append((name, module))
    if not selected:
        shown = ', '.join(candidates[:8]) + (' ...' if len(candidates) > 8 else '')
        raise ValueError(f'DBP: include={list(include)} / exclude={list(exclude)} select no '
                         f'trainable {"/".join(layer_types)} layer of {type(model).__name__}. '
                         f'Its candidate layers are: [{shown}]. Fix the patterns.')
    return selected


class FusedWeight(torch.autograd.Function):
    """``W R`` in ``dtype``, with ``dL/dW = (dL/dW_eff) R^T``; no gradient for R.

    Plain autograd of ``W.to(dtype) @ R.to(dtype)`` would keep the ``dtype`` copy of R of every
    layer alive until the backward (257 MiB for ViT-B/16 under bf16 autocast); this keeps a
    reference to the fp32 R that DBP holds anyway and casts it again in the backward, so the
    fused forward adds no saved tensor beyond the ``W R`` that replaces the layer's own W.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, R: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        ctx.save_for_backward(R)
        ctx.weight_dtype = weight.dtype
        with torch.autocast(device_type=weight.device.type, enabled=False):
            return weight.to(dtype) @ R.to(dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        R, = ctx.saved_tensors
        with torch.autocast(device_type=grad.device.type, enabled=False):
            grad_weight = grad @ R.to(grad.dtype).T
        return grad_weight.to(ctx.weight_dtype), None, None


class DecorrelatedLayer:
    """The DBP state of one layer: ``R``, the pending statistics sub-samples, and the fused
    forward. Created and owned by :class:`Decorrelator`; not an ``nn.Module`` on purpose (R is
    not a parameter, and keeping it outside the model keeps the model's state dict and DDP's
    buffers untouched)."""

    def __init__(self, name: str, module: nn.Module, owner: 'Decorrelator',
                 dtype: torch.dtype) -> None:
        self.name = name
        self.module = module
        self.owner = owner
        self.is_conv = isinstance(module, nn.Conv2d)
        w = module.weight
        self.dim = w[0].numel()  # d_in (C_in * k * k for a conv)
        self.R = torch.eye(self.dim, dtype=dtype, device=w.device)
        self.samples: List[torch.Tensor] = []
        self.committed = 0  # samples of finished optimiser steps (the rest: the current step's)
        self.last_stats: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None
        self.bad = torch.zeros((), dtype=torch.bool, device=w.device)
        self.norm = torch.zeros((), dtype=dtype, device=w.device)
        # the module's state dict holds W R, the weight of the function the layer computes
        self._state_dict_hook = module._register_state_dict_hook(self._fold_into_state_dict)

    @torch.no_grad()
    def _fold_into_state_dict(self, module: nn.Module, state_dict: dict, prefix: str,
                              local_metadata: dict) -> None:
        key = prefix + 'weight'
        if key in state_dict:
            w = state_dict[key]
            state_dict[key] = fold_weight(w.detach(), self.R.to(w.device))

    def release(self) -> None:
        """Stop folding R into the module's state dict (the layer is being detached)."""
        self._state_dict_hook.remove()

    # -- forward --------------------------------------------------------------------------
    def fused_weight(self) -> torch.Tensor:
        """``W R`` (autograd-tracked in W, see :class:`FusedWeight`). Under autocast the matmul
        runs in the autocast dtype, as the layer's own matmul would; otherwise in the weight's
        dtype."""
        w = self.module.weight
        dtype = w.dtype
        if torch.is_autocast_enabled(w.device.type):
            dtype = torch.get_autocast_dtype(w.device.type)
        if self.is_conv:
            return FusedWeight.apply(w.flatten(1), self.R, dtype).view(w.shape)
        return FusedWeight.apply(w, self.R, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``W (R x) + b``. Fused, ``F.linear(x, W R, b)``, when the input has at least
        ``d_out`` rows (always the case in real training: forming ``W R`` and its backward cost
        ``2 d_out d_in^2`` against ``2 rows d_in^2`` for ``R x``); explicit, ``F.linear(R x, W,
        b)``, for smaller inputs. Both compute the same function and gradients."""
        if self.module.training and torch.is_grad_enabled():
            self.record(x)
        if self.is_conv:
            return self.module._conv_forward(x, self.fused_weight(), self.module.bias)
        w = self.module.weight
        if x.numel() // self.dim >= w.shape[0]:
            return F.linear(x, self.fused_weight(), self.module.bias)
        R = self.R if self.R.dtype == w.dtype else self.R.to(w.dtype)
        return F.linear(F.linear(x, R), w, self.module.bias)

    @torch.no_grad()
    def record(self, x: torch.Tensor) -> None:
        """Store ``z = R x`` (fp32) of a random ``sample_frac / update_interval`` of the input
        rows (drawn with replacement from the decorrelator's seeded generator in eager mode)."""
        if self.is_conv:
            m = self.module
            rows = F.unfold(x, m.kernel_size, m.dilation, m.padding, m.stride)  # B, d, L
            rows = rows.transpose(1, 2).reshape(-1, self.dim)
        else:
            rows = x.reshape(-1, self.dim)
        n = rows.shape[0]
        frac = self.owner.sample_frac / self.owner.update_interval  # pooled over the interval
        if frac < 1.:
            k = max(1, int(round(n * frac)))
            if torch.compiler.is_compiling():
                # a torch.Generator cannot be traced: under torch.compile the rows come from the
                # global RNG (no graph break; resume then as reproducible as MAE's masks)
                idx = torch.randint(n, (k, ), device=rows.device)
            else:
                idx = torch.randint(n, (k, ), device=rows.device,
                                    generator=self.owner.generator(rows.device))
            rows = rows[idx]
        with torch.autocast(device_type=rows.device.type, enabled=False), \
                cuda_tf32(self.owner.stats_tf32):
            self.samples.append(rows.to(self.R.dtype) @ self.R.T)

    # -- statistics and update ----------------------------------------------------------
    def local_stats(self, with_X: bool = False) -> torch.Tensor:
        """Flat ``[z^T z R (d*d), sum z^2 (d), sum z (d), n (1)]`` of this rank's pending
        samples, plus ``z^T z`` (d*d) with ``with_X`` (for the correlation log). ``z^T z R`` is
        formed in the cheaper order for this rank's number of rows."""
        d = self.dim
        size = d * d + 2 * d + 1 + (d * d if with_X else 0)
        if not self.samples:
            return self.R.new_zeros(size)
        z = torch.cat(self.samples) if len(self.samples) > 1 else self.samples[0]
        n = z.shape[0]
        X = z.T @ z if with_X or n >= d else None
        P = X @ self.R if n >= d else z.T @ (z @ self.R)
        parts = [P.flatten(), (z * z).sum(0), z.sum(0),
                 z.new_full((1, ), float(n))]  # a fill kernel: no host-to-device copy
        if with_X:
            parts.append(X.flatten())
        return torch.cat(parts)

    def apply_stats(self, flat: torch.Tensor, lr: float, kappa: float, max_norm: float,
                    keep_stats: bool = False) -> None:
        """Update R from (all-reduced) flat statistics; n = 0 rows leave R unchanged. With
        ``keep_stats`` (the flat vector then ends with ``z^T z``) the statistics stay referenced
        for :meth:`Decorrelator.correlations`; otherwise they are freed at once, so DBP holds no
        d x d tensor besides R between steps."""
        d = self.dim
        P = flat[:d * d].view(d, d)
        z2sum, zsum, n = flat[d * d:d * d + d], flat[d * d + d:d * d + 2 * d], flat[d * d + 2 * d]
        count = n.clamp(min=1)
        new_R = decorrelation_update(self.R, P / count, z2sum / count, lr, kappa,
                                     self.owner.update_rule)
        self.R = torch.where(n > 0, new_R, self.R)
        self.last_stats = ((zsum, flat[d * d + 2 * d + 1:].view(d, d), n)
                           if keep_stats else None)
        self.samples = []
        self.committed = 0
        self.norm = torch.linalg.matrix_norm(self.R) / math.sqrt(d)
        self.bad |= ~torch.isfinite(self.norm) | (self.norm > max_norm)


class Decorrelator:
    """Decorrelation of the selected layers of a model (the DBP mechanism, model-agnostic).

    Args:
        model (nn.Module): The model (not a DDP wrapper).
        decor_lr (float): Decorrelation learning rate eta.
        kappa (float): Whitening mix in [0, 1]; 0 = pure decorrelation.
        sample_frac (float): Fraction of one step's input rows (tokens) in the statistics of an
            update, in (0, 1]; each forward samples ``sample_frac / update_interval`` of its rows.
        update_interval (int): Update R after every this many optimiser steps (see
            :meth:`step`), from the samples pooled over them, at the rate ``update_interval *
            decor_lr``. 1 (the paper's rule) updates every step; k > 1 divides the cost of the
            statistics and of the update by k. Defaults to 1.
        include, exclude, layer_types: see :func:`select_layers`.
        max_r_norm (float): Bound on ``||R||_F / sqrt(d_in)`` (1 for the identity); beyond it
            (or non-finite) :meth:`check` raises.
        seed (int): Seed of the sub-sampling generator; the generator is re-seeded from
            ``(seed, rank, number of optimiser steps)`` after every step so resumed and
            distributed runs sample reproducibly.
        dtype (torch.dtype): dtype of R and of the statistics. Defaults to float32.
        update_rule (str): ``'paper'`` (the papers' ``diag(v) R`` whitening term),
            ``'reference'`` (the authors' code: ``R diag(v)``) or ``'reference_normalized'``
            (the authors' ``method='normalized'``); see :data:`UPDATE_RULES`. Defaults to
            ``'paper'``.
        stats_tf32 (bool): On Ampere+ GPUs, let the fp32 statistics and update matmuls (``R x``
            on the sub-sample, ``z^T z``, ``G R``) use TF32 tensor cores: R and the statistics
            stay fp32 tensors, the products lose precision to ~1e-3 relative, far below the
            sampling noise of the statistics, and these matmuls run several times faster than
            in full fp32. No effect on CPU. Defaults to True.
    """

    def __init__(self, model: nn.Module, decor_lr: float, kappa: float = 0., sample_frac: float = 0.1,
                 include: Sequence[str] = DEFAULT_INCLUDE, exclude: Sequence[str] = (),
                 layer_types: Sequence[str] = ('Linear', ), max_r_norm: float = 100.,
                 seed: int = 0, dtype: torch.dtype = torch.float32,
                 stats_tf32: bool = True, update_rule: str = 'paper',
                 update_interval: int = 1) -> None:
        check_hparams(decor_lr, kappa, sample_frac, max_r_norm, update_rule)
        check_update_interval(update_interval)
        self.update_rule = update_rule
        self.update_interval = int(update_interval)
        self.pending_steps = 0  # optimiser steps since the last R update
        self.decor_lr = float(decor_lr)
        self.kappa = float(kappa)
        self.sample_frac = float(sample_frac)
        self.max_r_norm = float(max_r_norm)
        self.seed = int(seed)
        self.stats_tf32 = bool(stats_tf32)
        self.num_updates = 0
        self._generators: Dict[torch.device, torch.Generator] = {}
        self.layers: 'OrderedDict[str, DecorrelatedLayer]' = OrderedDict()
        for name, module in select_layers(model, include, exclude, layer_types):
            if 'forward' in module.__dict__:
                raise RuntimeError(f'DBP: layer {name} already has a patched forward (is DBP '
                                   'attached twice?).')
            layer = DecorrelatedLayer(name, module, self, dtype)
            module.forward = layer.forward  # instance attribute: model code stays unchanged
            self.layers[name] = layer

    # -- sampling RNG ---------------------------------------------------------------------
    def generator(self, device: torch.device) -> torch.Generator:
        g = self._generators.get(device)
        if g is None:
            g = torch.Generator(device=device)
            g.manual_seed(self._step_seed())
            self._generators[device] = g
        return g

    def _step_seed(self) -> int:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        steps = self.num_updates * self.update_interval + self.pending_steps  # optimiser steps
        return (self.seed * 1_000_003 + rank * 7_919 + steps) % (2**63 - 1)

    def _reseed(self) -> None:
        for g in self._generators.values():
            g.manual_seed(self._step_seed())

    # -- update ---------------------------------------------------------------------------
    @property
    def next_step_updates(self) -> bool:
        """Whether the next :meth:`step` updates R."""
        return self.pending_steps + 1 >= self.update_interval

    @torch.no_grad()
    def step(self, keep_stats: bool = False) -> bool:
        """Call after every real optimiser step. Every ``update_interval``-th call runs
        :meth:`update` on the samples pooled since the last update; the other calls keep this
        step's samples for it. Returns whether R was updated."""
        if self.next_step_updates:
            self.update(keep_stats)
            return True
        self.pending_steps += 1
        for layer in self.layers.values():
            layer.committed = len(layer.samples)
        self._reseed()
        return False

    @torch.no_grad()
    def update(self, keep_stats: bool = False) -> None:
        """Apply the DBP update, at the rate ``update_interval * decor_lr``, to every layer from
        the samples recorded since the last update and clear them. Statistics are summed over
        ranks (one all-reduce per layer) when ``torch.distributed`` is initialised, so every rank
        computes the same R. No host-device synchronisation. ``keep_stats`` keeps this update's
        statistics for :meth:`correlations`."""
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        for layer in self.layers.values():
            if not distributed and not layer.samples:
                continue  # layer unused this step (a host-side list check, no sync)
            with cuda_tf32(self.stats_tf32):
                flat = layer.local_stats(with_X=keep_stats)
                if distributed:
                    dist.all_reduce(flat)
                layer.apply_stats(flat, self.decor_lr * self.update_interval, self.kappa,
                                  self.max_r_norm, keep_stats)
        self.num_updates += 1
        self.pending_steps = 0
        self._reseed()

    def discard(self) -> None:
        """Drop the samples recorded since the last optimiser step without updating R (a step
        the optimiser skipped, e.g. AMP's loss scaler on inf/NaN gradients); the samples of the
        earlier steps of an update interval stay."""
        for layer in self.layers.values():
            layer.samples = layer.samples[:layer.committed]

    def correlations(self) -> Dict[str, float]:
        """Mean |off-diagonal correlation| of z per layer, from the last update's statistics
        (one host-device sync)."""
        names, vals = [], []
        for name, layer in self.layers.items():
            if layer.last_stats is not None:
                names.append(name)
                vals.append(offdiag_correlation(*layer.last_stats))
        if not vals:
            return {}
        values = torch.stack(vals).tolist()
        for layer in self.layers.values():
            layer.last_stats = None
        return dict(zip(names, values))

    def check(self) -> None:
        """Raise if any R became non-finite or exceeded ``max_r_norm`` since the last check
        (one host-device sync; flags are sticky, so no bad step between checks is missed)."""
        if not self.layers:
            return
        bad = torch.stack([layer.bad for layer in self.layers.values()]).cpu()
        if not bool(bad.any()):
            return
        msgs = []
        for (name, layer), b in zip(self.layers.items(), bad.tolist()):
            if b:
                msgs.append(f'{name} (||R||_F/sqrt(d) = {float(layer.norm):.4g})')
        raise FloatingPointError(
            f'DBP: the decorrelation matrix R became non-finite or exceeded max_r_norm='
            f'{self.max_r_norm:g} (after {self.num_updates} updates) in layer(s): '
            f'{", ".join(msgs)}. Lower decor_lr (now {self.decor_lr:g}) or kappa (now '
            f'{self.kappa:g}), raise sample_frac, exclude the layer, or raise max_r_norm.')

    # -- folding --------------------------------------------------------------------------
    @torch.no_grad()
    def fold(self) -> None:
        """``W <- W R`` in every layer, then ``R <- I``: the model computes the same function
        and can be saved/used as a plain model (see also :meth:`detach`)."""
        for layer in self.layers.values():
            w = layer.module.weight
            w.copy_(fold_weight(w, layer.R))
            layer.R = torch.eye(layer.dim, dtype=layer.R.dtype, device=layer.R.device)

    def detach(self, fold: bool = True) -> None:
        """Fold R into the weights (unless ``fold=False``) and restore the original forwards."""
        if fold:
            self.fold()
        for layer in self.layers.values():
            layer.module.__dict__.pop('forward', None)
            layer.release()
        self.layers.clear()

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """R of every layer, the update count and seed, and the unfolded weights W; between
        two updates (``update_interval > 1``) also the steps and samples pooled so far.

        While attached, the model's own state dict holds the folded ``W R`` (see
        :class:`DecorrelatedLayer`), so any checkpoint loads as the function the model computes.
        Resuming needs W and R separately; W is kept here (``weights``) because recovering it as
        ``(W R) R^-1`` would not be exact. ``state_dict_folded`` marks this layout for the
        converters (checkpoints without it hold the unfolded W in the model state dict).
        """
        layers = self.layers.items()
        return dict(
            R=OrderedDict((name, layer.R.detach().cpu().clone()) for name, layer in layers),
            weights=OrderedDict(
                (name, layer.module.weight.detach().cpu().clone()) for name, layer in layers),
            state_dict_folded=True,
            num_updates=self.num_updates,
            pending_steps=self.pending_steps,
            pending_samples=OrderedDict(
                (name, torch.cat(layer.samples[:layer.committed]).cpu())
                for name, layer in layers if self.pending_steps and layer.committed),
            seed=self.seed,
            hparams=dict(decor_lr=self.decor_lr, kappa=self.kappa, sample_frac=self.sample_frac,
                         update_rule=self.update_rule, update_interval=self.update_interval))

    def load_state_dict(self, state: Mapping) -> None:
        saved = state['R']
        missing = [n for n in self.layers if n not in saved]
        unexpected = [n for n in saved if n not in self.layers]
        if missing or unexpected:
            raise KeyError(f'DBP state does not match the selected layers: missing R for '
                           f'{missing}, unexpected R for {unexpected}. Was the checkpoint '
                           'written with other include/exclude/layer_types?')
        weights = state.get('weights', {})
        for name, layer in self.layers.items():
            for what, saved_t, live in (('R', saved[name], layer.R),
                                        ('weight', weights.get(name), layer.module.weight)):
                if saved_t is not None and saved_t.shape != live.shape:
                    raise ValueError(f'DBP: saved {what} of {name} has shape '
                                     f'{tuple(saved_t.shape)}, the layer needs {tuple(live.shape)}.')
        pending_steps = int(state.get('pending_steps', 0))
        if pending_steps >= self.update_interval:
            saved_k = state.get('hparams', {}).get('update_interval')
            raise ValueError(f'DBP: the checkpoint was saved {pending_steps} optimiser step(s) '
                             f'after an R update (update_interval={saved_k}); this run has '
                             f'update_interval={self.update_interval}. Resume with an interval '
                             f'> {pending_steps}, or from a checkpoint saved right after an '
                             'update.')
        self._warn_changed_hparams(state.get('hparams', {}))
        pending = state.get('pending_samples') or {}
        for name, layer in self.layers.items():
            layer.R = saved[name].to(device=layer.R.device, dtype=layer.R.dtype).clone()
            layer.samples = ([pending[name].to(device=layer.R.device, dtype=layer.R.dtype)]
                             if name in pending else [])
            layer.committed = len(layer.samples)
            if name in weights:  # the model state dict loaded beside this one holds W R
                with torch.no_grad():
                    layer.module.weight.copy_(weights[name])
        self.num_updates = int(state.get('num_updates', 0))
        self.pending_steps = pending_steps
        self.seed = int(state.get('seed', self.seed))
        self._reseed()


    def _warn_changed_hparams(self, saved: Mapping) -> None:
        """Warn when the checkpoint was written with other DBP settings than this run's: the
        run goes on with this run's values (a deliberate change is allowed), so it no longer
        repeats the checkpoint's run."""
        now = dict(decor_lr=self.decor_lr, kappa=self.kappa, sample_frac=self.sample_frac,
                   update_rule=self.update_rule, update_interval=self.update_interval)
        changed = [f'{k} {saved[k]!r} -> {v!r}' for k, v in now.items()
                   if k in saved and saved[k] != v]
        if changed:
            print_log('DBP: the checkpoint was written with other DBP settings than this run '
                      f'uses ({", ".join(changed)}); training continues with this run\'s values, '
                      'so it does not repeat the checkpoint\'s run. Set them back in the config '
                      'to continue that run exactly.', logger='current', level=logging.WARNING)


def check_patterns(include: Sequence[str], exclude: Sequence[str],
                   layer_types: Sequence[str]) -> Tuple[list, list]:
    """Validate the layer-selection arguments; returns the compiled include/exclude regexes."""
    if isinstance(include, str) or isinstance(exclude, str) or isinstance(layer_types, str):
        raise TypeError('DBP: include, exclude and layer_types must be lists of strings, e.g. '
                        "include=['^backbone\\\\.'], not a single string.")
    unknown = [t for t in layer_types if t not in LAYER_TYPES]
    if unknown or not layer_types:
        raise ValueError(f'DBP: layer_types must be a non-empty subset of {sorted(LAYER_TYPES)}, '
                         f'got {list(layer_types)}.')
    compiled = []
    for name, patterns in (('include', include), ('exclude', exclude)):
        try:
            compiled.append([re.compile(p) for p in patterns])
        except (re.error, TypeError) as e:
            raise ValueError(f'DBP: {name} must be a list of regular expressions; {patterns!r} '
                             f'is not ({e}).') from None
    return compiled[0], compiled[1]


def check_update_interval(update_interval: int) -> None:
    """Validate ``update_interval`` (optimiser steps between R updates)."""
    if not (isinstance(update_interval, int) and not isinstance(update_interval, bool)
            and update_interval >= 1):
        raise ValueError(f'DBP: update_interval (optimiser steps between R updates) must be an '
                         f'int >= 1, got {update_interval!r}.')


def check_hparams(decor_lr: float, kappa: float, sample_frac: float, max_r_norm: float,
                  update_rule: str = 'paper') -> None:
    """Validate DBP hyper-parameters with messages saying what to do."""
    if update_rule not in UPDATE_RULES:
        raise ValueError(f'DBP: update_rule must be one of {UPDATE_RULES} (\'paper\': the '
                         f'papers\' diag(v) R whitening term; \'reference\' / '
                         f'\'reference_normalized\': artcogsys/decorbp\'s methods), got '
                         f'{update_rule!r}.')
    if not (isinstance(decor_lr, (int, float)) and decor_lr >= 0 and math.isfinite(decor_lr)):
        raise ValueError(f'DBP: decor_lr must be a finite number >= 0, got {decor_lr!r}.')
    if not (isinstance(kappa, (int, float)) and 0. <= kappa <= 1.):
        raise ValueError(f'DBP: kappa must be in [0, 1] (0 = pure decorrelation), got {kappa!r}.')
    if not (isinstance(sample_frac, (int, float)) and 0. < sample_frac <= 1.):
        raise ValueError(f'DBP: sample_frac must be in (0, 1], got {sample_frac!r}.')
    if not (isinstance(max_r_norm, (int, float)) and max_r_norm > 1.):
        raise ValueError(f'DBP: max_r_norm bounds ||R||_F/sqrt(d) (1 for the identity) and '
                         f'must be > 1, got {max_r_norm!r}.')


def fold_state_dict(state_dict: Mapping[str, torch.Tensor],
                    decor_R: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Fold saved DBP matrices into a model state dict: ``<name>.weight <- <name>.weight @ R``.

    Args:
        state_dict: model state dict (as saved by mmengine, keys like
            ``backbone.blocks.0.attn.qkv.weight``).
        decor_R: layer name -> R (``checkpoint['optimizer']['dbp']['R']``).
    """
    out = OrderedDict(state_dict)
    for name, R in decor_R.items():
        key = f'{name}.weight'
        if key not in out:
            raise KeyError(f'DBP fold: the state dict has no {key!r} for the saved R of layer '
                           f'{name!r} (a checkpoint of another model?).')
        out[key] = fold_weight(out[key], R)
    return out


def fold_dbp_checkpoint(checkpoint: Mapping) -> Tuple['OrderedDict[str, torch.Tensor]', int]:
    """The model state dict of a training checkpoint as plain layers, and its number of DBP
    layers (0 without DBP).

    Checkpoints written by ``DBPOptimWrapper`` save the folded ``W R`` in ``state_dict`` already
    (``optimizer['dbp']['state_dict_folded']``); older ones hold the unfolded W there and are
    folded here with ``optimizer['dbp']['R']`` (:func:`fold_state_dict`).
    """
    state = checkpoint.get('state_dict', checkpoint)
    optimizer = checkpoint.get('optimizer')
    dbp = optimizer.get('dbp') if isinstance(optimizer, Mapping) else None
    if not isinstance(dbp, Mapping) or not dbp.get('R'):
        return OrderedDict(state), 0
    if dbp.get('state_dict_folded', False):
        return OrderedDict(state), len(dbp['R'])
    return fold_state_dict(state, dbp['R']), len(dbp['R'])
