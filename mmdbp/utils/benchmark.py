"""Time training steps and inference of any OpenMMLab config (engine of ``tools/benchmark.py``).

What one measurement does (:func:`benchmark_configs`):

1. Load the config (a path, or ``'mmpretrain::mae/<file>.py'`` / ``'mmseg::...'`` for a config
   shipped inside a host package) and adapt it: ``--cfg-options``, mixed precision
   (:func:`set_amp`), fused AdamW (:func:`set_fused_optimizer`).
2. Build the model as the runner does (the config's top-level ``data_preprocessor`` merged into
   a model config that has none, ``MODELS.build`` under the config's ``default_scope``,
   ``init_weights``) and the optim wrapper (``mmengine.optim.build_optim_wrapper``, so
   ``paramwise_cfg`` and custom constructors are honoured exactly as by the runner).
3. Build one synthetic batch by running the config's own train (or test) pipeline, minus its
   ``Load*`` transforms, on random images (and label maps / labels where the pipeline loads
   annotations), collated by the config's ``collate_fn``: the shapes, data samples and masks the
   model gets are exactly those of real training. The batch is moved to the device once; every
   step then runs the model's own ``train_step`` (data preprocessor, forward, loss, backward,
   optimiser step: the runner's iteration minus data loading and logging) or ``test_step``.
4. Count the FLOPs of one (eager) step with :class:`torch.utils.flop_counter.FlopCounterMode`
   (forward + backward for training; matmuls, convolutions and attention, including the CPU
   flash-attention kernels registered below), optionally ``torch.compile`` the step function as
   mmengine's ``compile=True`` does, run the CPU memory step (5.), warm up, then time ``iters``
   steps between device synchronisations, ``rounds`` times; with a baseline the rounds of the
   two models alternate, so both see the same machine state.
5. Peak tensor memory of the model (weights, gradients, optimiser state, activations, the
   batch): on CUDA ``max_memory_allocated`` over build, FLOP step and warm-up, minus what was
   allocated before the build; on CPU the distinct tensor storages alive between steps plus the
   peak of what one profiled step allocates on top of them (allocation events of
   ``torch.profiler`` with ``profile_memory=True``). Both count tensors, not allocator caches or
   the process' resident size, so the two models of a run do not disturb each other.
"""
import contextlib
import copy
import datetime
import functools
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

aten = torch.ops.aten


# --------------------------------------------------------------------------------------------
# FLOP counting
# --------------------------------------------------------------------------------------------
def _register_cpu_sdpa_flops() -> None:
    """torch's flop counter knows the CUDA attention kernels but not the CPU flash kernel that
    ``scaled_dot_product_attention`` dispatches to on CPU; without this, CPU attention counts 0."""
    from torch.utils.flop_counter import (flop_registry, register_flop_formula,
                                          sdpa_backward_flop_count, sdpa_flop_count)
    fwd = aten._scaled_dot_product_flash_attention_for_cpu
    bwd = aten._scaled_dot_product_flash_attention_for_cpu_backward
    if fwd not in flop_registry:
        register_flop_formula(fwd)(
            lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v))
    if bwd not in flop_registry:
        register_flop_formula(bwd)(
            lambda go, q, k, v, *args, out_shape=None, **kwargs:
            sdpa_backward_flop_count(go, q, k, v))


_register_cpu_sdpa_flops()


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs (2 per multiply-add) of the matmuls, convolutions and attention run by ``fn()``."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


# --------------------------------------------------------------------------------------------
# Config handling
# --------------------------------------------------------------------------------------------
def resolve_config_path(path: str) -> str:
    """``'mmpretrain::mae/x.py'`` -> the file shipped in the installed package's ``.mim``."""
    if '::' not in path:
        if not osp.isfile(path):
            raise FileNotFoundError(f'Config file not found: {path}')
        return path
    package, rel = path.split('::', 1)
    from mmengine.utils import get_installed_path
    full = osp.join(get_installed_path(package), '.mim', 'configs', rel)
    if not osp.isfile(full):
        raise FileNotFoundError(f'{path}: no such config in the installed {package} ({full}).')
    return full


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    cfg = Config.fromfile(resolve_config_path(path))
    if cfg_options:
        cfg.merge_from_dict(copy.deepcopy(cfg_options))
    return cfg


def _inner_optim_wrapper_cfg(ow: dict) -> dict:
    """The dict that holds the wrapper type doing the AMP work (the wrapped one for wrappers
    such as ``DBPOptimWrapper`` that take an inner ``optim_wrapper``)."""
    inner = ow.get('optim_wrapper')
    return inner if isinstance(inner, dict) else ow


def model_config(cfg: Config) -> dict:
    """The model config as mmengine's ``Runner`` builds it: the config's top-level
    ``data_preprocessor`` (mmpretrain's and mmseg's dataset configs put the normalisation,
    ``to_rgb``, ``num_classes``, ... there) becomes the model's when the model config has none
    of its own (``Runner.__init__``: ``model.setdefault('data_preprocessor', ...)``); a model
    config with its own ``data_preprocessor`` keeps it unchanged, as in the runner."""
    model = copy.deepcopy(cfg.model)
    data_preprocessor = cfg.get('data_preprocessor')
    if isinstance(model, dict) and data_preprocessor is not None:
        model.setdefault('data_preprocessor', copy.deepcopy(data_preprocessor))
    return model


def drop_pretrained(node: Any) -> Any:
    """Remove ``Pretrained`` init configs and checkpoint paths (``pretrained=<path>``,
    ``<name>_ckpt=<path>`` such as a distillation teacher's ``teacher_ckpt``) from a model
    config (in place): a benchmark needs the architecture, not the weights, which may not be on
    this machine."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and str(init.get('type', '')).startswith('Pretrained'):
            node['init_cfg'] = None
        elif isinstance(init, list):
            node['init_cfg'] = [c for c in init if not (
                isinstance(c, dict) and str(c.get('type', '')).startswith('Pretrained'))]
        for key, value in node.items():
            if (key == 'pretrained' or key.endswith('_ckpt')) and isinstance(value, str):
                node[key] = None
        for value in node.values():
            drop_pretrained(value)
    elif isinstance(node, list):
        for value in node:
            drop_pretrained(value)
    return node


def set_amp(cfg: Config, amp: str, device: str) -> None:
    """Set the precision of ``cfg.optim_wrapper`` in place.

    ``'config'`` keeps the config's own choice (an ``AmpOptimWrapper`` becomes an autocast-only
    bf16 wrapper on CPU, where mmengine's refuses to run); ``'none'`` trains in fp32;
    ``'bf16'`` uses mmdbp's ``AutocastOptimWrapper`` (bf16 autocast, no loss scaling);
    ``'fp16'`` uses mmengine's ``AmpOptimWrapper`` with dynamic loss scaling (CUDA only).
    """
    ow = cfg.optim_wrapper
    inner = _inner_optim_wrapper_cfg(ow)
    if amp == 'config':
        if device == 'cpu' and inner.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            amp = 'bf16' if inner.get('dtype', ow.get('dtype')) == 'bfloat16' else 'none'
        else:
            return
    for d in (ow, inner):
        d.pop('loss_scale', None)
        d.pop('dtype', None)
    if amp == 'none':
        inner['type'] = 'OptimWrapper'
    elif amp == 'bf16':
        inner.update(type='AutocastOptimWrapper', dtype='bfloat16')
    elif amp == 'fp16':
        if device == 'cpu':
            raise ValueError('--amp fp16 needs a GPU (loss-scaled float16); use --amp bf16 on CPU.')
        inner.update(type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
    else:
        raise ValueError(f'amp must be one of config/none/bf16/fp16, got {amp!r}.')


def set_fused_optimizer(cfg: Config, fused: Optional[bool]) -> None:
    """``optimizer.fused = fused`` (one multi-tensor kernel for the whole AdamW/Adam/SGD update,
    on CUDA and, since torch 2.4, on CPU). ``None`` keeps the config's setting."""
    if fused is None:
        return
    opt = cfg.optim_wrapper.get('optimizer')
    if opt is None or opt.get('type') not in ('AdamW', 'Adam', 'SGD'):
        raise ValueError(f'--fused applies to AdamW/Adam/SGD, the config uses {opt}.')
    opt['fused'] = fused
    if fused:
        opt.pop('foreach', None)


def input_size_of(cfg: Config) -> Optional[int]:
    """The model's nominal input side, for sizing the synthetic source images."""
    bb = cfg.model.get('backbone', {}) or {}
    for key in ('img_size', 'input_size'):
        size = bb.get(key)
        if size is not None:
            return int(size[0] if isinstance(size, (tuple, list)) else size)
    crop = cfg.get('crop_size')
    if crop is not None:
        return int(max(crop) if isinstance(crop, (tuple, list)) else crop)
    return None


# --------------------------------------------------------------------------------------------
# Synthetic data through the config's own pipeline
# --------------------------------------------------------------------------------------------
def _dataset_cfg(dl_cfg: dict) -> dict:
    ds = dl_cfg['dataset']
    while 'pipeline' not in ds and isinstance(ds.get('dataset'), dict):
        ds = ds['dataset']  # dataset wrappers (subset, repeat, ...)
    if 'pipeline' not in ds:
        raise KeyError('The dataloader\'s dataset config has no pipeline.')
    return ds


def _num_classes(cfg: Config) -> int:
    model = model_config(cfg)
    for path in (('decode_head', 'num_classes'), ('head', 'num_classes'),
                 ('data_preprocessor', 'num_classes')):
        node = model
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int):
            return node
    return 1000


def synthetic_batch(cfg: Config, batch_size: int, mode: str = 'train',
                    src_size: Optional[int] = None, seed: int = 0) -> dict:
    """A collated batch from the config's pipeline applied to random images (see module doc)."""
    from mmengine.dataset import Compose
    dl_key = 'train_dataloader' if mode == 'train' else (
        'test_dataloader' if cfg.get('test_dataloader') else 'val_dataloader')
    dl_cfg = cfg.get(dl_key)
    if not dl_cfg:
        raise KeyError(f'The config has no {dl_key}: cannot build a {mode} batch.')
    ds_cfg = _dataset_cfg(dl_cfg)
    pipeline, load_ann = [], None
    for t in ds_cfg['pipeline']:
        t_type = t['type'] if isinstance(t['type'], str) else t['type'].__name__
        if t_type.startswith('Load'):
            if 'Annotation' in t_type:
                load_ann = t
            continue
        pipeline.append(copy.deepcopy(t))
    transform = Compose(pipeline)
    size = src_size or input_size_of(cfg) or 224
    num_classes = _num_classes(cfg)
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(batch_size):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        results = dict(img=img, img_shape=(size, size), ori_shape=(size, size),
                       img_path=f'synthetic_{i}.jpg', sample_idx=i, gt_label=i % num_classes)
        if load_ann is not None:  # segmentation maps, as mmseg's LoadAnnotations leaves them
            seg = rng.integers(0, num_classes, (size, size), dtype=np.uint8)
            seg[rng.random((size, size)) < 0.05] = 255
            results.update(gt_seg_map=seg, seg_fields=['gt_seg_map'],
                           reduce_zero_label=load_ann.get('reduce_zero_label', False),
                           seg_map_path=f'synthetic_{i}.png')
        out = transform(results)
        if out is None:
            raise RuntimeError('The pipeline dropped a synthetic sample; benchmark it on data.')
        samples.append(out)
    return build_collate_fn(dl_cfg)(samples)


def build_collate_fn(dl_cfg: dict) -> Callable:
    """The dataloader config's ``collate_fn`` (default ``pseudo_collate``), as the runner builds
    it; call inside the config's default scope."""
    from mmengine.registry import FUNCTIONS
    collate_cfg = copy.deepcopy(dl_cfg.get('collate_fn', dict(type='pseudo_collate')))
    collate_type = collate_cfg.pop('type')
    collate = FUNCTIONS.get(collate_type) if isinstance(collate_type, str) else collate_type
    if collate is None:
        raise KeyError(f'Unknown collate_fn {collate_type!r}.')
    return functools.partial(collate, **collate_cfg)


# --------------------------------------------------------------------------------------------
# Devices, timing and memory
# --------------------------------------------------------------------------------------------
def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def device_name(device: str) -> str:
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            names = re.findall(r'model name\s*:\s*(.*)', f.read())
            if names:
                cpu = names[0].strip()
    n = torch.get_num_threads()
    return f'CPU {cpu} ({n} thread{"s" if n > 1 else ""})'


def _tensors(obj):
    """Every tensor reachable through dicts, lists, tuples and mmengine data elements."""
    from mmengine.structures import BaseDataElement
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)
    elif isinstance(obj, BaseDataElement):
        for v in list(obj.values()) + list(obj.metainfo_values()):
            yield from _tensors(v)


def tensor_bytes(*objs, device_type: str = 'cpu') -> int:
    """Bytes of the distinct storages of the tensors in ``objs`` on ``device_type``."""
    seen, total = set(), 0
    for obj in objs:
        for t in _tensors(obj):
            if t.device.type != device_type:
                continue
            storage = t.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def cpu_step_peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak of (allocated - freed) CPU tensor bytes while ``fn()`` runs, from the profiler's
    allocation events (what ``torch.cuda.max_memory_allocated`` measures on GPU)."""
    from torch.profiler import ProfilerActivity, profile
    os.environ.setdefault('KINETO_LOG_LEVEL', '5')  # no "no GPU" error lines from kineto
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    running = peak = 0
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'
              and e.device_type() == torch.autograd.DeviceType.CPU]
    for e in sorted(events, key=lambda e: e.start_ns()):
        running += e.nbytes()
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def _quiet_mmengine():
    """Silence mmengine's INFO lines (one per parameter from ``init_weights``) while building."""
    import logging
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


# --------------------------------------------------------------------------------------------
# One model under test
# --------------------------------------------------------------------------------------------
class StepRunner:
    """Model + optim wrapper + synthetic batch of one config, and its timed step.

    Args:
        cfg (Config): Adapted config (see :func:`prepare_config`).
        batch_size (int): Images per step.
        mode (str): ``'train'`` (``train_step``: forward, loss, backward, optimiser step),
            ``'test'`` (``test_step`` under ``no_grad``: preprocessing, forward, post-processing)
            or ``'tensor'`` (the model's ``mode='tensor'`` forward under ``no_grad``).
        device (str): ``'cpu'`` or ``'cuda[:i]'``.
        amp_dtype (torch.dtype, optional): Autocast dtype for ``test``/``tensor`` modes (training
            takes it from the optim wrapper).
        compile (bool | dict): ``torch.compile`` the step function (as mmengine's
            ``compile=True`` compiles ``train_step``); a dict gives ``torch.compile`` kwargs.
        src_size (int, optional): Side of the synthetic source images.
    """

    def __init__(self, cfg: Config, batch_size: int, mode: str = 'train', device: str = 'cpu',
                 amp_dtype: Optional[torch.dtype] = None, compile: Any = False,
                 src_size: Optional[int] = None, seed: int = 0) -> None:
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import MODELS
        from mmengine.utils import import_modules_from_strings

        from mmdbp.engine.optimizers.autocast_optim_wrapper import plain_param_groups
        if mode not in ('train', 'test', 'tensor'):
            raise ValueError(f'mode must be train/test/tensor, got {mode!r}.')
        self.cfg, self.mode, self.device, self.batch_size = cfg, mode, device, batch_size
        self.amp_dtype = amp_dtype
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        self.scope = cfg.get('default_scope')
        with self._scope(), _quiet_mmengine():
            torch.manual_seed(seed)
            model = MODELS.build(model_config(cfg))
            if hasattr(model, 'init_weights'):
                model.init_weights()
            self.model = model.to(device).train(mode == 'train')
            self.optim_wrapper = (build_optim_wrapper(self.model, cfg.optim_wrapper)
                                  if mode == 'train' else None)
            batch = synthetic_batch(cfg, batch_size, mode, src_size, seed)
            self.batch = self.model.data_preprocessor.cast_data(batch)  # on the device once
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self._eager_fn = self._step_body()
        self._compiled_fn = None
        if compile:
            if self.optim_wrapper is not None:  # see AutocastOptimWrapper: ConfigDict groups
                plain_param_groups(self.optim_wrapper.optimizer)  # break the step's tracing
            kwargs = compile if isinstance(compile, dict) else {}
            self._compiled_fn = torch.compile(self._eager_fn, **kwargs)
        self.use_compiled = self._compiled_fn is not None

    def _scope(self):
        return DefaultScope.overwrite_default_scope(self.scope) if self.scope \
            else contextlib.nullcontext()

    def _autocast(self):
        if self.amp_dtype is None or self.amp_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.split(':')[0], dtype=self.amp_dtype)

    def _step_body(self) -> Callable[[], Any]:
        model, batch = self.model, self.batch
        if self.mode == 'train':
            return lambda: model.train_step(batch, self.optim_wrapper)
        if self.mode == 'test':
            return lambda: model.test_step(batch)

        def tensor_forward():
            data = model.data_preprocessor(batch, False)
            return model(**data, mode='tensor')
        return tensor_forward

    def step_fn(self) -> Any:
        """One step (compiled if asked for)."""
        fn = self._compiled_fn if self.use_compiled else self._eager_fn
        grad = contextlib.nullcontext() if self.mode == 'train' else torch.no_grad()
        with self._scope(), grad, self._autocast():
            return fn()

    def count_flops(self) -> int:
        """FLOPs of one eager step (it is a real step: parameters are updated)."""
        use_compiled, self.use_compiled = self.use_compiled, False
        try:
            return count_flops(self.step_fn)
        finally:
            self.use_compiled = use_compiled

    def cpu_peak_memory(self) -> int:
        """Peak CPU tensor memory of a step, in bytes: the distinct storages alive between steps
        (parameters, buffers, gradients, optimiser state, DBP's R matrices, the batch) plus the peak of what one
        more (profiled) step allocates on top of them."""
        model = self.model
        resident = [list(model.parameters()), list(model.buffers()),
                    [p.grad for p in model.parameters() if p.grad is not None], self.batch]
        if self.optim_wrapper is not None:
            resident.append(list(self.optim_wrapper.optimizer.state.values()))
            # state an optim wrapper keeps outside the model and the optimizer: DBP's R matrices
            decorrelator = getattr(self.optim_wrapper, 'decorrelator', None)
            if decorrelator is not None:
                resident.append([layer.R for layer in decorrelator.layers.values()])
        return tensor_bytes(*resident) + cpu_step_peak_bytes(self.step_fn)

    def time_steps(self, iters: int) -> Tuple[float, float]:
        """Wall-clock and process CPU seconds for ``iters`` steps, between device
        synchronisations. (On a CPU shared with other jobs the CPU time is the steadier
        measure of the work done; on a GPU only the wall-clock time means anything.)"""
        synchronize(self.device)
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(iters):
            self.step_fn()
        synchronize(self.device)
        return time.perf_counter() - start, time.process_time() - cpu_start


# --------------------------------------------------------------------------------------------
# The measurement
# --------------------------------------------------------------------------------------------
def prepare_config(path: str, *, cfg_options: Optional[dict] = None, amp: str = 'config',
                   fused: Optional[bool] = None, device: str = 'cpu',
                   mode: str = 'train') -> Config:
    cfg = load_config(path, cfg_options)
    drop_pretrained(cfg.model)
    if mode == 'train':
        set_amp(cfg, amp, device)
        set_fused_optimizer(cfg, fused)
    return cfg


def _amp_dtype(cfg: Config, amp: str, mode: str) -> Optional[torch.dtype]:
    if mode != 'train':
        return {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(amp)
    return None


def _precision_label(cfg: Config, mode: str, amp: str) -> str:
    if mode != 'train':
        return {'bf16': 'bf16', 'fp16': 'fp16'}.get(amp, 'fp32')
    inner = _inner_optim_wrapper_cfg(cfg.optim_wrapper)
    wtype = inner.get('type', 'OptimWrapper')
    if wtype == 'AutocastOptimWrapper':
        return 'bf16' if inner.get('dtype', 'bfloat16') == 'bfloat16' else 'fp32'
    if wtype == 'AmpOptimWrapper':
        return 'bf16+scaler' if inner.get('dtype') == 'bfloat16' else 'fp16'
    return 'fp32'


def git_commit(repo: str = '.') -> str:
    """Short commit of ``repo`` (``+dirty`` with uncommitted changes to tracked files); the
    environment variable ``MMDBP_COMMIT`` wins (a copy of the tree without ``.git``, e.g. on a
    lent GPU machine)."""
    if os.environ.get('MMDBP_COMMIT'):
        return os.environ['MMDBP_COMMIT']
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=repo, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=repo, capture_output=True, text=True).stdout.strip()
        return out + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def benchmark_configs(configs: Sequence[Dict[str, Any]], *, batch_size: int, mode: str = 'train',
                      device: str = 'cpu', amp: str = 'config', fused: Optional[bool] = None,
                      warmup: int = 3, iters: int = 10, rounds: int = 3,
                      src_size: Optional[int] = None,
                      flops: bool = True, seed: int = 0,
                      log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Measure each config of ``configs`` (dicts with ``name``, ``config`` and optionally
    ``cfg_options``, ``compile``, ``label`` for the Markdown row) side by side; the first is the target, the others are
    compared with it (``ratio_vs_<name>`` = target images/s over theirs)."""
    runners, results = [], []
    for spec in configs:
        cfg = prepare_config(spec['config'], cfg_options=spec.get('cfg_options'), amp=amp,
                             fused=fused, device=device, mode=mode)
        cuda = device.startswith('cuda')
        if cuda:
            torch.cuda.synchronize(device)
            cuda_base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        runner = StepRunner(cfg, batch_size, mode, device, _amp_dtype(cfg, amp, mode),
                            spec.get('compile', False), src_size, seed)
        n_flops = runner.count_flops() if flops else None
        # CPU: the profiled memory step runs before the warm-up, so that a recompilation it may
        # cause (profiling changes the compiled step's guards) happens before the timed rounds
        cpu_peak = None if cuda else runner.cpu_peak_memory()
        start = time.perf_counter()
        for _ in range(warmup):
            runner.step_fn()
        synchronize(device)
        warmup_s = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated(device) - cuda_base if cuda else cpu_peak
        log(f'[benchmark] {spec["name"]}: built {type(runner.model).__name__} '
            f'({runner.num_params / 1e6:.2f} M params), warm-up {warmup_s:.1f}s, '
            f'peak {peak / 2**20:.0f} MiB')
        runners.append(runner)
        results.append(dict(
            name=spec['name'], config=spec['config'], label=spec.get('label'),
            cfg_options=spec.get('cfg_options') or {},
            model=type(runner.model).__name__, params=runner.num_params,
            precision=_precision_label(cfg, mode, amp), compile=bool(spec.get('compile')),
            fused=(cfg.optim_wrapper.get('optimizer', {}).get('fused', False)
                   if mode == 'train' else None),
            flops_per_step=n_flops, peak_mem_mib=peak / 2**20, round_s=[], round_cpu_s=[]))
    for r in range(rounds):
        for runner, res in zip(runners, results):
            wall, cpu = runner.time_steps(iters)
            res['round_s'].append(wall)
            res['round_cpu_s'].append(cpu)
        log(f'[benchmark] round {r + 1}/{rounds}: ' + ', '.join(
            f'{res["name"]} {batch_size * iters / res["round_s"][-1]:.1f} img/s'
            for res in results))
    for res in results:
        step_s = statistics.median(res['round_s']) / iters
        res.update(step_time_ms=step_s * 1e3, images_per_s=batch_size / step_s,
                   images_per_s_range=[batch_size * iters / max(res['round_s']),
                                       batch_size * iters / min(res['round_s'])],
                   tflops=(res['flops_per_step'] / step_s / 1e12
                           if res['flops_per_step'] else None))
        if not device.startswith('cuda'):
            res['images_per_cpu_s'] = batch_size * iters / statistics.median(res['round_cpu_s'])
    target = results[0]
    for other in results[1:]:
        target[f'speed_ratio_vs_{other["name"]}'] = target['images_per_s'] / other['images_per_s']
        if 'images_per_cpu_s' in target:
            target[f'cpu_time_ratio_vs_{other["name"]}'] = \
                target['images_per_cpu_s'] / other['images_per_cpu_s']
        if other['peak_mem_mib'] > 0:
            target[f'mem_ratio_vs_{other["name"]}'] = target['peak_mem_mib'] / other['peak_mem_mib']
    return dict(
        date=datetime.date.today().isoformat(), device=device, device_name=device_name(device),
        load_avg=os.getloadavg(), cpu_count=os.cpu_count(),
        torch=torch.__version__, commit=git_commit(), mode=mode, batch_size=batch_size,
        amp=amp, warmup=warmup, iters=iters, rounds=rounds, results=results)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------
TABLE_HEADER = ('| date | workload | device | mode | batch | precision | img/s | peak MiB '
                '| TFLOP/s | baseline | baseline img/s | baseline MiB | speed ratio '
                '| memory ratio | commit |\n'
                '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n')


def config_label(path: str) -> str:
    """``'mmpretrain::mae/x.py'`` -> ``'mmpretrain x'``; a path -> its file stem."""
    package = path.split('::', 1)[0] + ' ' if '::' in path else ''
    return package + osp.splitext(osp.basename(path))[0]


def markdown_row(report: Dict[str, Any], workload: str) -> str:
    t = report['results'][0]
    b = report['results'][1] if len(report['results']) > 1 else None
    prec = t['precision'] + (' +fused' if t.get('fused') else '') + \
        (' +compile' if t['compile'] else '')
    if b is not None and (b['compile'] or b['precision'] != t['precision']):
        prec += f' (baseline {b["precision"]}{" +compile" if b["compile"] else ""})'
    tfl = f'{t["tflops"]:.3g}' if t['tflops'] else '-'
    cells = [report['date'], workload, report['device_name'], report['mode'],
             str(report['batch_size']), prec, f'{t["images_per_s"]:.1f}',
             f'{t["peak_mem_mib"]:.0f}', tfl]
    if b is None:
        cells += ['-', '-', '-', '-', '-']
    else:
        ratio = f'**{t["images_per_s"] / b["images_per_s"]:.2f}x**'
        if 'images_per_cpu_s' in t:  # CPU rows: the CPU-time ratio too
            ratio += f' (CPU time {t["images_per_cpu_s"] / b["images_per_cpu_s"]:.2f}x)'
        cells += [b.get('label') or config_label(b['config']), f'{b["images_per_s"]:.1f}',
                  f'{b["peak_mem_mib"]:.0f}', ratio,
                  (f'{t["peak_mem_mib"] / b["peak_mem_mib"]:.2f}x'
                   if b['peak_mem_mib'] > 0 else '-')]
    cells.append(report['commit'])
    return '| ' + ' | '.join(cells) + ' |\n'


def append_markdown_row(md_path: str, section: str, row: str,
                        header: str = TABLE_HEADER) -> None:
    """Append ``row`` to the results table of the ``## <section>`` heading of ``md_path``.

    The table is the first Markdown table after the heading whose header starts like ``header``
    (created right after the section's text if missing); the section is created at the end of
    the file if missing. The file is re-read just before writing so that edits made by others
    meanwhile are kept.
    """
    text = open(md_path).read() if osp.isfile(md_path) else '# Benchmarks\n'
    lines = text.splitlines(keepends=True)
    heading = f'## {section}'
    try:
        start = next(i for i, ln in enumerate(lines) if ln.rstrip() == heading)
    except StopIteration:
        lines += (['\n'] if lines and lines[-1].strip() else []) + [heading + '\n', '\n']
        start = len(lines) - 2
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('## ')), len(lines))
    first_header_line = header.splitlines()[0]
    table = next((i for i in range(start + 1, end) if lines[i].startswith(first_header_line)),
                 None)
    if table is None:
        insert_at = end
        while insert_at > start + 1 and not lines[insert_at - 1].strip():
            insert_at -= 1
        block = ['\n', header, row]
        if insert_at < len(lines) and lines[insert_at].strip():
            block.append('\n')
        lines[insert_at:insert_at] = block
    else:
        last = table
        while last + 1 < end and lines[last + 1].startswith('|'):
            last += 1
        lines.insert(last + 1, row)
    with open(md_path, 'w') as f:
        f.write(''.join(lines))


def append_section_text(md_path: str, section: str, text: str,
                        blank_line_after: bool = False) -> None:
    """Insert ``text`` (a paragraph, a table...) at the end of the ``## <section>`` of ``md_path``,
    before the section's trailing blank lines; the section is created at the end of the file if
    missing. Re-reads the file just before writing, so edits made by others meanwhile are kept.
    """
    lines = open(md_path).read().splitlines(keepends=True) if osp.isfile(md_path) else []
    heading = f'## {section}'
    try:
        start = next(i for i, ln in enumerate(lines) if ln.rstrip() == heading)
    except StopIteration:
        lines += ['\n', heading + '\n']
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('## ')), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = [text if text.endswith('\n') else text + '\n'] + ['\n'] * blank_line_after
    with open(md_path, 'w') as f:
        f.write(''.join(lines))
