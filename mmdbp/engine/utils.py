"""Small pieces the engine's loops and hooks share."""
from contextlib import contextmanager
from typing import Iterator, Sequence, Union

import torch


@contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run the block with the global RNG seeded to ``seed``, then restore the caller's stream.

    Forks the CPU generator and the current GPU's: ``torch.manual_seed`` re-seeds every CUDA
    device, so without the GPU fork the block would restart the training run's GPU stream (e.g.
    the masks an MAE draws on the device).
    """
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def first_samples(data_batch: Union[dict, Sequence], n: int,
                  clone: bool = False) -> Union[dict, Sequence]:
    """The first ``n`` samples of a collated batch (lists, tuples or tensors per key, dicts
    recursively). ``clone`` copies the tensors: a slice shares the whole batch's storage, which
    ``torch.save`` would write in full and which would stay alive in memory."""
    if isinstance(data_batch, dict):
        return {k: first_samples(v, n, clone) for k, v in data_batch.items()}
    if isinstance(data_batch, torch.Tensor):
        return data_batch[:n].clone() if clone else data_batch[:n]
    if isinstance(data_batch, (list, tuple)):
        return data_batch[:n]
    return data_batch
