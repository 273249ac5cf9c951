from .mirl_residual_loss import MIRLResidualLoss  # noqa: F401
