"""MeanLossMetric: batch-size weighted mean of every reported loss term."""
import pytest

from mmdbp.evaluation import MeanLossMetric


def test_weighted_mean_over_batches():
    metric = MeanLossMetric()
    metric.process(None, [dict(batch_size=4, loss=1.0, loss_rec=0.5)])
    metric.process(None, [dict(batch_size=2, loss=4.0, loss_rec=2.0)])
    out = metric.evaluate(size=6)
    assert out == pytest.approx(dict(loss=(4 * 1.0 + 2 * 4.0) / 6, loss_rec=(4 * 0.5 + 2 * 2.0) / 6))
    prefixed = MeanLossMetric(prefix='recon')
    prefixed.process(None, [dict(batch_size=1, loss=3.0)])
    assert prefixed.evaluate(size=1) == {'recon/loss': 3.0}


def test_needs_the_loop_outputs():
    with pytest.raises(KeyError, match='use val_cfg=dict\\(type="ValLossLoop"\\)'):
        MeanLossMetric().process(None, [dict(loss=1.0)])
