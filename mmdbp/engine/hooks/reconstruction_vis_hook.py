"""Save image grids of a masked-image model's reconstructions during training."""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from PIL import Image

from mmdbp.engine.utils import first_samples, seeded_rng
from mmdbp.registry import HOOKS


@HOOKS.register_module()
class ReconstructionVisHook(Hook):
    """Every ``interval`` training iterations (and once after training) run
    ``model.reconstruct(inputs)`` on a fixed batch and save the outputs as one PNG grid: a row
    per sample, a column per output (e.g. MIRL's input, masked input, and every pair's main
    component, residual and their sum).

    Any algorithm whose ``reconstruct(inputs)`` returns a dict of (B, C, H, W) images in the
    data preprocessor's normalised pixel space works (single-channel entries such as a mask are
    skipped unless listed in ``keys``). The masking noise is drawn from a fixed seed in a forked
    RNG, so the grids of successive iterations are comparable and training randomness (and exact
    resumption) is untouched. The fixed images are saved in the checkpoint, so a resumed run
    keeps drawing the same samples. Only rank 0 writes.

    Args:
        interval (int): Iterations between grids. Defaults to 1000.
        num_samples (int): Rows (taken from the first training batch). Defaults to 4.
        keys (Sequence[str], optional): Columns in order; None = every multi-channel output in
            ``reconstruct``'s order. Defaults to None.
        out_dir (str): Folder under ``work_dir``. Defaults to ``'reconstructions'``.
        upscale (int): Nearest-neighbour enlargement of each cell, for tiny images. Defaults to 1.
        seed (int): Seed of the masking noise. Defaults to 0.
    """
    priority = 'LOW'

    def __init__(self, interval: int = 1000, num_samples: int = 4,
                 keys: Optional[Sequence[str]] = None, out_dir: str = 'reconstructions',
                 upscale: int = 1, seed: int = 0) -> None:
        if interval < 1 or num_samples < 1 or upscale < 1:
            raise ValueError('ReconstructionVisHook: interval, num_samples and upscale must be '
                             f'>= 1, got {interval}, {num_samples}, {upscale}.')
        self.interval = interval
        self.num_samples = num_samples
        self.keys = list(keys) if keys is not None else None
        self.out_dir = out_dir
        self.upscale = upscale
        self.seed = seed
        self._batch = None
        self.saved_files = []

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._batch is None and data_batch is not None:
            self._batch = self._first_samples(data_batch)
        if self.every_n_train_iters(runner, self.interval):
            self.save_grid(runner, f'iter_{runner.iter + 1}')

    def after_train(self, runner) -> None:
        if runner.iter % self.interval:  # not saved at the last iteration already
            self.save_grid(runner, f'iter_{runner.iter}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._batch is not None:  # the raw (uint8) images only: small and plain tensors
            checkpoint['reconstruction_vis_hook'] = dict(inputs=self._batch['inputs'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('reconstruction_vis_hook')
        if state is not None:
            self._batch = dict(inputs=state['inputs'], data_samples=None)

    def _first_samples(self, data_batch: dict) -> dict:
        # copies: a slice's storage (the whole batch) would go into every checkpoint
        return first_samples(data_batch, self.num_samples, clone=True)

    @master_only
    def save_grid(self, runner, name: str) -> Optional[str]:
        model = self._model(runner)
        if self._batch is None or not hasattr(model, 'reconstruct'):
            return None
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), seeded_rng(self.seed):
                data = model.data_preprocessor(self._batch, False)
                images = model.reconstruct(data['inputs'])
        finally:
            model.train(was_training)
        keys = self.keys or [k for k, v in images.items() if v.dim() == 4 and v.shape[1] > 1]
        grid = self.make_grid({k: images[k] for k in keys}, model.data_preprocessor)
        path = osp.join(runner.work_dir, self.out_dir, f'{name}.png')
        self._write(grid, path)
        runner.visualizer.add_image('reconstruction', grid, step=runner.iter)
        if not self.saved_files:
            runner.logger.info(f'ReconstructionVisHook: grid columns = {" | ".join(keys)}')
        self.saved_files.append(path)
        return path

    def make_grid(self, images: Dict[str, torch.Tensor], preprocessor) -> np.ndarray:
        """(rows = samples, cols = keys) uint8 RGB grid with 2 px white separators."""
        mean = getattr(preprocessor, 'mean', None)
        std = getattr(preprocessor, 'std', None)
        # Model inputs are RGB when the preprocessor converted them (to_rgb=True), else BGR.
        is_bgr = not getattr(preprocessor, '_channel_conversion', True)
        cols = []
        for img in images.values():
            img = img.detach().float().cpu()
            if img.shape[1] == 3 and mean is not None and std is not None:
                img = (img * std.float().cpu().view(1, -1, 1, 1) +
                       mean.float().cpu().view(1, -1, 1, 1))
            elif img.shape[1] == 1:  # e.g. a 0/1 mask
                img = img.expand(-1, 3, -1, -1) * 255
            if is_bgr:
                img = img.flip(1)
            cols.append(img.clamp(0, 255).round().to(torch.uint8))
        B, _, H, W = cols[0].shape
        s, pad = self.upscale, 2
        grid = np.full((B * (H * s + pad) + pad, len(cols) * (W * s + pad) + pad, 3), 255,
                       dtype=np.uint8)
        for c, img in enumerate(cols):
            img = img.repeat_interleave(s, 2).repeat_interleave(s, 3).permute(0, 2, 3, 1).numpy()
            for r in range(B):
                y, x = pad + r * (H * s + pad), pad + c * (W * s + pad)
                grid[y:y + H * s, x:x + W * s] = img[r]
        return grid

    @staticmethod
    def _write(grid: np.ndarray, path: str) -> None:
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(grid).save(path)
