from .mean_loss import MeanLossMetric  # noqa: F401
