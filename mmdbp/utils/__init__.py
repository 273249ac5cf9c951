from .launcher import prepare_launcher  # noqa: F401

__all__ = ['prepare_launcher']
