"""``MeanLossMetric``: the sample-weighted mean of per-batch losses over a validation set."""
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric

from mmdbp.registry import METRICS


@METRICS.register_module()
class MeanLossMetric(BaseMetric):
    """Average the losses that :class:`mmdbp.engine.runner.ValLossLoop` reports per batch.

    Each result is a dict ``{'batch_size': n, 'val_loss': ..., <other loss terms>: ...}``;
    every term is averaged with the batch sizes as weights over the whole validation set (all
    ranks). The loop reports the total loss as ``val_loss`` (mmengine's name for it; ``val/val_loss``
    in the message hub, the key :class:`mmdbp.engine.hooks.TimeToTargetHook` and
    ``save_best='val_loss'`` refer to), so it never shares a name with the training ``loss`` in
    logs, ``scalars.json`` or TensorBoard.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """
    default_prefix: Optional[str] = None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'batch_size' not in sample:
                raise KeyError('MeanLossMetric expects dicts with "batch_size" and loss values, as '
                               'ValLossLoop reports them; use val_cfg=dict(type="ValLossLoop").')
            self.results.append(dict(sample))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        total = sum(r['batch_size'] for r in results)
        keys = [k for k in results[0] if k != 'batch_size']
        return {k: sum(r[k] * r['batch_size'] for r in results) / total for k in keys}
