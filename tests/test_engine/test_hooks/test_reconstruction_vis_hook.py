"""ReconstructionVisHook: grid layout and de-normalisation (the end-to-end use is in
tests/test_tools/test_mirl_demo_runs.py)."""
import numpy as np
import pytest
import torch

from mmdbp.engine.hooks import ReconstructionVisHook


class Preprocessor:
    mean = torch.tensor([10., 20., 30.]).view(3, 1, 1)
    std = torch.tensor([2., 4., 8.]).view(3, 1, 1)
    _channel_conversion = True  # inputs are RGB


def test_grid_layout_and_denormalisation():
    hook = ReconstructionVisHook(upscale=2)
    a = torch.zeros(2, 3, 3, 3)  # normalised 0 -> the mean colour
    b = torch.ones(2, 3, 3, 3)  # normalised 1 -> mean + std
    mask = torch.ones(2, 1, 3, 3)
    grid = hook.make_grid({'a': a, 'b': b, 'mask': mask}, Preprocessor())
    cell, pad = 3 * 2, 2
    assert grid.shape == (2 * (cell + pad) + pad, 3 * (cell + pad) + pad, 3)
    assert grid.dtype == np.uint8
    y = pad + (cell + pad)  # second row
    assert (grid[y:y + cell, pad:pad + cell] == [10, 20, 30]).all()
    x = pad + (cell + pad)  # second column
    assert (grid[y:y + cell, x:x + cell] == [12, 24, 38]).all()
    x = pad + 2 * (cell + pad)  # mask column: 1 -> white
    assert (grid[pad:pad + cell, x:x + cell] == 255).all()
    assert (grid[:pad] == 255).all()  # separators


def test_bgr_inputs_are_flipped_for_the_png():
    pre = Preprocessor()
    pre._channel_conversion = False
    grid = ReconstructionVisHook().make_grid({'a': torch.zeros(1, 3, 2, 2)}, pre)
    assert (grid[2, 2] == [30, 20, 10]).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match='interval'):
        ReconstructionVisHook(interval=0)


def test_fixed_samples_survive_a_checkpoint():
    hook = ReconstructionVisHook(num_samples=2)
    batch = dict(inputs=torch.arange(4 * 3 * 2 * 2, dtype=torch.uint8).view(4, 3, 2, 2),
                 data_samples=[object()] * 4)
    hook._batch = hook._first_samples(batch)
    checkpoint = {}
    hook.before_save_checkpoint(None, checkpoint)
    resumed = ReconstructionVisHook(num_samples=2)
    resumed.after_load_checkpoint(None, checkpoint)
    assert torch.equal(resumed._batch['inputs'], batch['inputs'][:2])


def test_checkpoint_holds_only_the_kept_samples():
    """A slice of the batch shares the batch's storage; torch.save writes the whole storage."""
    import io
    hook = ReconstructionVisHook(num_samples=2)
    batch = dict(inputs=torch.zeros(64, 3, 32, 32, dtype=torch.uint8), data_samples=[None] * 64)
    hook._batch = hook._first_samples(batch)
    checkpoint = {}
    hook.before_save_checkpoint(None, checkpoint)
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    kept = 2 * 3 * 32 * 32  # bytes of the two uint8 images
    assert len(buf.getvalue()) < kept + 4096  # not the 64-image batch (196 kB)


class _ToyMAE(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.data_preprocessor = lambda data, training: dict(inputs=data['inputs'].float())

    def reconstruct(self, inputs):
        return dict(pred=inputs + torch.rand(inputs.shape))


def test_grid_forks_the_gpu_generator_too(tmp_path, monkeypatch):
    """torch.manual_seed(seed) re-seeds every CUDA device: without forking the current GPU's
    generator, every grid would restart the training masks' random stream on rank 0."""
    from contextlib import contextmanager
    from types import SimpleNamespace
    forked = []

    @contextmanager
    def fork_rng(devices=None, enabled=True):
        forked.append(list(devices))
        yield

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 3)
    monkeypatch.setattr(torch.cuda, 'manual_seed_all', lambda seed: None)
    monkeypatch.setattr(torch.random, 'fork_rng', fork_rng)
    runner = SimpleNamespace(model=_ToyMAE(), work_dir=str(tmp_path), iter=9,
                             visualizer=SimpleNamespace(add_image=lambda *a, **k: None),
                             logger=SimpleNamespace(info=lambda *a: None))
    hook = ReconstructionVisHook(num_samples=1)
    hook._batch = dict(inputs=torch.zeros(1, 3, 2, 2), data_samples=None)
    assert hook.save_grid(runner, 'iter_10') is not None
    assert forked == [[3]]
