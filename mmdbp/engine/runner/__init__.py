from .val_loss_loop import ValLossLoop  # noqa: F401
