"""``ValLossLoop``: validate a self-supervised model by its training loss on held-out data.

Self-supervised algorithms such as mmpretrain's ``MAE`` have no ``predict`` mode, so mmengine's
``ValLoop`` cannot validate them; what DBP-MAE's time-to-target measurement needs is the
*validation reconstruction loss*. This loop runs the model's ``loss`` mode (data preprocessed as
for evaluation, model in ``eval()``, no gradients) on the validation set and hands the per-batch
losses to the evaluator; pair it with :class:`mmdbp.evaluation.MeanLossMetric`, which averages
them over the whole (distributed) validation set. The total is reported as ``val_loss``
(mmengine's own name for a validation loss; the training log's ``loss`` keeps its meaning),
each loss term under its name::

    val_dataloader = dict(...)            # e.g. the ImageNet val split with the MAE pipeline
    val_cfg = dict(type='ValLossLoop')
    val_evaluator = dict(type='MeanLossMetric')

The logged validation losses are this validation's values (mmengine's log processor would
otherwise average every ``*loss*`` key over the previous validations).

Distributed validation scores every sample once: mmengine's ``DefaultSampler`` pads the last
ranks with repeated samples so all ranks get the same number, and since the loss is reported per
batch the evaluator cannot drop them afterwards; the loop leaves them out of the last batch.

The random masks drawn during validation come from a generator forked from the global RNG and
re-seeded with ``seed`` (+ rank) at every validation, so every validation of every run (baseline
or DBP) scores the same masks, and validating does not change the training run's random stream.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import get_rank
from mmengine.model import is_model_wrapper
from mmengine.runner import ValLoop
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader

from mmdbp.engine.utils import first_samples, seeded_rng
from mmdbp.registry import LOOPS


@LOOPS.register_module()
class ValLossLoop(ValLoop):
    """Validation loop that scores the model's loss (see the module docstring).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Validation dataloader (config).
        evaluator (Evaluator | dict | list): Normally ``dict(type='MeanLossMetric')``.
        fp16 (bool): Autocast the forward. Defaults to False.
        seed (int): Seed of the validation masks (and any other randomness of the loss).
            Defaults to 0.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], evaluator: Union[Dict, List],
                 fp16: bool = False, seed: int = 0) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.seed = seed
        # samples of this rank still to score in the running validation (None: no padding known)
        self._unscored: Optional[int] = None

    def run(self) -> dict:
        # mmengine's LogProcessor prints every key containing "loss" as a moving average over its
        # history; drop the previous validations' loss scalars so the log shows this one's value
        # (TimeToTargetHook keeps the whole curve).
        scalars = self.runner.message_hub.log_scalars
        for key in [k for k in scalars if k.startswith('val/') and 'loss' in k]:
            scalars.pop(key)
        self._unscored = self.real_samples_on_rank()
        with seeded_rng(self.seed + get_rank()):
            return super().run()

    def real_samples_on_rank(self) -> Optional[int]:
        """Samples of this rank that are not ``DefaultSampler``'s padding (its repeats sit at
        global positions >= len(dataset), i.e. last on their rank); None for other samplers."""
        sampler = getattr(self.dataloader, 'sampler', None)
        if not (isinstance(sampler, DefaultSampler) and sampler.round_up):
            return None
        return len(range(sampler.rank, len(sampler.dataset), sampler.world_size))

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Union[dict, Sequence]) -> None:
        self.runner.call_hook('before_val_iter', batch_idx=idx, data_batch=data_batch)
        unscored = self._unscored
        if unscored is not None and isinstance(data_batch, dict) and 'inputs' in data_batch:
            batch_size = len(data_batch['inputs'])
            if batch_size > unscored:  # the sampler's padding: already scored on another rank
                if unscored == 0:
                    self.runner.call_hook('after_val_iter', batch_idx=idx,
                                          data_batch=data_batch, outputs=[])
                    return
                data_batch = first_samples(data_batch, unscored)
                batch_size = unscored
            self._unscored = unscored - batch_size
        model = self.runner.model
        module = model.module if is_model_wrapper(model) else model
        with autocast(enabled=self.fp16):
            data = module.data_preprocessor(data_batch, False)
            losses = module(**data, mode='loss') if isinstance(data, dict) else module(*data, mode='loss')
        _, log_vars = module.parse_losses(losses)
        inputs = data['inputs'] if isinstance(data, dict) else data[0]
        # the total as ``val_loss`` (mmengine's name for it), the terms under their own names
        values = {('val_loss' if k == 'loss' else k): float(v) for k, v in log_vars.items()}
        outputs = [dict(batch_size=len(inputs), **values)]
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook('after_val_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs)
