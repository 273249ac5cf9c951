"""Named benchmark workloads of ``tools/benchmark.py`` (one row each in docs/benchmarks.md).

Each entry is a plain dict:

=====================  ======================================================================
key                    meaning
=====================  ======================================================================
name                   ``--workload`` name (unique).
section                docs/benchmarks.md section its row goes to (``## <section>``).
config                 the config under test (repo-relative path or ``pkg::path``); ``None``
                       while the method's config does not exist yet (listed as pending).
baseline               the config it is compared with in the same run, or ``None``.
mode                   ``'train'`` (train_step), ``'test'`` (test_step) or ``'tensor'``.
batch                  images per step.
device                 ``'cuda'`` or ``'cpu'``.
amp                    ``'config'``, ``'none'``, ``'bf16'`` or ``'fp16'``, applied to both configs
                       (see ``mmdbp.utils.benchmark.set_amp``).
fused                  ``True``/``False`` sets the optimizer's ``fused`` for both, ``None`` keeps.
compile                ``torch.compile`` the target's step (bool or compile kwargs).
compile_baseline       same for the baseline.
cfg_options            dotted-key overrides applied to both configs (e.g. a smaller model).
target_options /       overrides for one side only.
baseline_options
baseline_label         how the Markdown row names the baseline (default: its config's name),
                       e.g. when the baseline is a config with its backbone swapped.
iters, rounds, warmup  timing loop (defaults of the CLI when absent).
goal                   the issue's target, quoted in the docs.
=====================  ======================================================================

Method helpers add their rows to ``WORKLOADS`` (keep the section names of docs/benchmarks.md).
"""
import copy

MAE_B = 'configs/mae/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
MAE_L = 'configs/mae/mae_fast-vit-large-p16_8xb512-amp-coslr-300e_in1k.py'
DBP_MAE_B = 'configs/dbp_mae/dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'  # MAE_B + DBP
MMPRETRAIN_MAE_B = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'
MMPRETRAIN_MAE_L = 'mmpretrain::mae/mae_vit-large-p16_8xb512-amp-coslr-300e_in1k.py'
MMPRETRAIN_SIMMIM_B_192 = \
    'mmpretrain::simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py'
MMPRETRAIN_SIMMIM_L_192 = \
    'mmpretrain::simmim/simmim_swin-large-w12_16xb128-amp-coslr-800e_in1k-192px.py'


GREENMIM_B = 'configs/greenmim/greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py'
GREENMIM_L = 'configs/greenmim/greenmim_swin-large-w14_8xb256-amp-coslr-800e_in1k.py'
MIRL_S54 = 'configs/mirl/mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py'
MIRL_B48 = 'configs/mirl/mirl_vit-base-48-p16_8xb64-accum8-amp-coslr-300e_in1k.py'
NO_ACCUMULATION = {'optim_wrapper.accumulative_counts': 1}  # time every optimiser step


def simmim_at(img_size: int, window: int) -> dict:
    """Overrides that run mmpretrain's SimMIM Swin config at ``img_size`` px with ``window``."""
    return {
        'model.backbone.img_size': img_size,
        'model.backbone.stage_cfgs': dict(_delete_=True, block_cfgs=dict(window_size=window)),
        'train_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.67, 1.0)),
            dict(type='RandomFlip', prob=0.5),
            dict(type='SimMIMMaskGenerator', input_size=img_size, mask_patch_size=32,
                 model_patch_size=4, mask_ratio=0.6),
            dict(type='PackInputs'),
        ],
    }


def simmim_swin_t() -> dict:
    return {'model.backbone.arch': 'tiny', 'model.neck.in_channels': 768}


def greenmim_swin_t() -> dict:
    """GreenMIM Swin-B config -> Swin-T (decoder unchanged: 512 wide, 1 block)."""
    return {'model.backbone.arch': 'tiny', 'model.neck.embed_dims': 768}


def greenmim_at(img_size: int, window: int) -> dict:
    """GreenMIM at ``img_size`` px (32 px units) with ``window``."""
    return {
        'model.backbone.img_size': img_size,
        'model.backbone.window_size': window,
        'model.neck.grid_size': img_size // 32,
        'train_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0),
                 backend='pillow', interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ],
    }


def mae_small_options(img_size: int = 96, embed_dims: int = 384, num_layers: int = 12,
                      num_heads: int = 6, decoder_depth: int = 4) -> dict:
    """Overrides that turn an MAE ViT-B/16 config (mmdbp's or mmpretrain's) into a small CPU
    model: ViT-S/16 encoder at ``img_size`` px, a ``decoder_depth``-block 256-wide decoder, and
    the pipeline's crop at ``img_size``. Applied identically to the fast and the reference
    config."""
    return {
        'model.backbone.arch': dict(_delete_=True, embed_dims=embed_dims, num_layers=num_layers,
                                    num_heads=num_heads, feedforward_channels=4 * embed_dims),
        'model.backbone.img_size': img_size,
        'model.neck.num_patches': (img_size // 16)**2,
        'model.neck.embed_dim': embed_dims,
        'model.neck.decoder_embed_dim': 256,
        'model.neck.decoder_depth': decoder_depth,
        'model.neck.decoder_num_heads': 8,
        'train_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0),
                 backend='pillow', interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ],
    }


# MIRL vs MAE on CPU: every width (encoder, decoders, MLPs) divided by 4 with the head width
# kept, depths, patch size, image size and token counts as the real models. Encoder arch: (width,
# depth, heads); decoder: (width, depth, heads).
_REDUCED = {
    's54': ((96, 54, 3), (96, 1, 3)),  # ViT-S-54 (384, 12 heads), decoders 384/1/12
    'b48': ((192, 48, 3), (128, 2, 4)),  # ViT-B-48 (768, 12 heads), decoders 512/2/16
    'b16': ((192, 12, 3), (128, 8, 4)),  # ViT-B/16 (768, 12 heads), MAE decoder 512/8/16
    'l16': ((256, 24, 4), (128, 8, 4)),  # ViT-L/16 (1024, 16 heads), MAE decoder 512/8/16
}


def reduced_widths(key: str) -> dict:
    """Overrides that divide every width of a MIRL (``'s54'``, ``'b48'``) or mmpretrain MAE
    (``'b16'``, ``'l16'``) config by 4 (see ``_REDUCED``), timing every optimiser step. Both
    algorithms' necks take the same width arguments."""
    (dim, depth, heads), (ddim, ddepth, dheads) = _REDUCED[key]
    return {
        **NO_ACCUMULATION,
        'model.backbone.arch': dict(_delete_=True, embed_dims=dim, num_layers=depth,
                                    num_heads=heads, feedforward_channels=4 * dim),
        'model.neck.embed_dim': dim,
        'model.neck.decoder_embed_dim': ddim,
        'model.neck.decoder_depth': ddepth,
        'model.neck.decoder_num_heads': dheads,
    }


# Token pruning (issue 8): the pruned models against the dense DeiT with the same code path
# (mmdbp's SDPA FastVisionTransformer, same head), inference. The dense side is the EViT
# classifier config with its backbone swapped for the dense one (an ImageClassifier with the same
# head and data settings); UPerNet's dense side is the masked_finetune UPerNet config.
DYNAMICVIT_S = 'configs/dynamicvit/dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py'
DYNAMICVIT_B = 'configs/dynamicvit/dynamicvit_deit-base-p16_8xb128-keep0.7-30e_in1k.py'
EVIT_S = 'configs/evit/evit_deit-small-p16_8xb256-keep0.7-30e_in1k.py'
EVIT_B = 'configs/evit/evit_deit-base-p16_8xb256-keep0.7-30e_in1k.py'
UPERNET_DYNAMICVIT_S = \
    'configs/dynamicvit/upernet_dynamicvit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py'
UPERNET_DYNAMICVIT_B = \
    'configs/dynamicvit/upernet_dynamicvit-deit-base-p16_8xb2-keep0.7-160k_ade20k-512x512.py'
UPERNET_EVIT_S = 'configs/evit/upernet_evit-deit-small-p16_8xb2-keep0.7-160k_ade20k-512x512.py'
UPERNET_EVIT_B = 'configs/evit/upernet_evit-deit-base-p16_8xb2-keep0.7-160k_ade20k-512x512.py'
UPERNET_DENSE_S = 'configs/masked_finetune/upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py'
UPERNET_DENSE_B = 'configs/masked_finetune/upernet_deit-base-p16_8xb2-160k_ade20k-512x512.py'
# inference needs no distillation teacher (it would only add its weights to the peak memory)
NO_TEACHER = {'model.teacher': None, 'model.distill_weight': 0.0,
              'model.token_distill_weight': 0.0}
# single-process inference: plain BN in the heads on both sides (eval mode computes the same)
SEG_BN = {'model.decode_head.norm_cfg': dict(type='BN', requires_grad=True),
          'model.auxiliary_head.norm_cfg': dict(type='BN', requires_grad=True)}


def dense_deit(arch: str, img_size: int = 224, patch_size: int = 16) -> dict:
    """Overrides that swap a pruning classifier's backbone for the dense FastVisionTransformer
    of the same arch (everything else of the config unchanged)."""
    return {'model.backbone': dict(_delete_=True, type='FastVisionTransformer', arch=arch,
                                   img_size=img_size, patch_size=patch_size)}


def _pruning_cls(name: str, config: str, arch: str, **kw) -> dict:
    target = dict(NO_TEACHER) if 'dynamicvit' in config else {}
    return dict(name=name, section='Token pruning', config=config, baseline=EVIT_S
                if arch == 'deit-small' else EVIT_B, target_options=target,
                baseline_options=dense_deit(arch), baseline_label=f'dense {arch} (same code path)',
                mode='test', **kw)


def _pruning_seg(name: str, config: str, arch: str, **kw) -> dict:
    return dict(name=name, section='Token pruning', config=config,
                baseline=UPERNET_DENSE_S if arch == 'deit-small' else UPERNET_DENSE_B,
                baseline_label=f'UPerNet dense {arch}', mode='test',
                cfg_options=dict(SEG_BN, **kw.pop('cfg_options', {})), **kw)


def _gpu(**kw) -> dict:
    return dict(dict(device='cuda', amp='bf16', fused=True, mode='train', compile=False,
                     compile_baseline=False), **kw)


def _cpu(**kw) -> dict:
    return dict(dict(device='cpu', amp='none', fused=None, mode='train', compile=False,
                     compile_baseline=False, iters=3, rounds=3, warmup=2), **kw)


WORKLOADS = [
    # ---- issue 9: the ViT/MAE fast path vs mmpretrain's MAE -------------------------------
    _gpu(name='mae-vit-b16', section='MAE fast path', config=MAE_B, baseline=MMPRETRAIN_MAE_B,
         batch=256, goal='>= 1.3x mmpretrain MAE ViT-B/16 (bf16, fused AdamW, batch 256)'),
    _gpu(name='mae-vit-b16-compile', section='MAE fast path', config=MAE_B,
         baseline=MMPRETRAIN_MAE_B, batch=256, compile=True,
         goal='>= 1.3x; fast path with torch.compile vs eager mmpretrain'),
    _gpu(name='mae-vit-b16-compile-both', section='MAE fast path', config=MAE_B,
         baseline=MMPRETRAIN_MAE_B, batch=256, compile=True, compile_baseline=True,
         goal='control: both compiled'),
    _gpu(name='mae-vit-l16', section='MAE fast path', config=MAE_L, baseline=MMPRETRAIN_MAE_L,
         batch=256, goal='>= 1.3x mmpretrain MAE ViT-L/16'),
    _gpu(name='mae-vit-l16-compile', section='MAE fast path', config=MAE_L,
         baseline=MMPRETRAIN_MAE_L, batch=256, compile=True, goal='>= 1.3x'),
    _cpu(name='mae-vit-s16-96px-cpu', section='MAE fast path', config=MAE_B,
         baseline=MMPRETRAIN_MAE_B, batch=16, cfg_options=mae_small_options(96),
         goal='CPU ratio (ViT-S/16, 96 px, 4-block decoder)'),
    _cpu(name='mae-vit-s16-96px-cpu-compile', section='MAE fast path', config=MAE_B,
         baseline=MMPRETRAIN_MAE_B, batch=16, cfg_options=mae_small_options(96), compile=True,
         warmup=3, goal='CPU: fast path compiled (inductor) vs eager mmpretrain'),
    _cpu(name='mae-vit-s16-96px-cpu-compile-both', section='MAE fast path', config=MAE_B,
         baseline=MMPRETRAIN_MAE_B, batch=16, cfg_options=mae_small_options(96), compile=True,
         compile_baseline=True, warmup=3,
         goal='CPU: both compiled (mmpretrain graph-breaks per block)'),
    _cpu(name='mae-vit-s16-64px-cpu', section='MAE fast path', config=MAE_B,
         baseline=MMPRETRAIN_MAE_B, batch=8, cfg_options=mae_small_options(64), iters=5,
         goal='CPU ratio (ViT-S/16, 64 px: 4 visible patches)'),
    # ---- issue 5: DBP-MAE (config by the DBP helper) -------------------------------------
    _gpu(name='dbp-mae-vit-b16', section='DBP-MAE', config=DBP_MAE_B, baseline=MAE_B, batch=256,
         goal='DBP / plain step time <= 1.05 (must <= 1.10), ViT-B/16 bf16 batch 256'),
    _cpu(name='dbp-mae-vit-s16-cpu', section='DBP-MAE', config=DBP_MAE_B, baseline=MAE_B, batch=16,
         cfg_options=mae_small_options(96), goal='CPU ratio with a small ViT'),
    # issue 17: the CPU proxy of ViT-B/16 at batch 256 (same fold-to-step and sample-to-step
    # ratios: 6400 encoder rows per layer, 384 / 1536 wide inputs, a 256-wide 8-block decoder)
    _cpu(name='dbp-mae-vit-s16-224px-b128-cpu', section='DBP-MAE', config=DBP_MAE_B,
         baseline=MAE_B, batch=128, cfg_options=mae_small_options(224, decoder_depth=8),
         iters=1, rounds=3, warmup=1,
         goal='CPU proxy of ViT-B/16 batch 256: DBP / MAE CPU time <= 1.05 (must <= 1.10)'),
    # ---- issue 6: GreenMIM vs SimMIM (configs by the GreenMIM helper) ---------------------
    _gpu(name='greenmim-swin-b-vs-simmim-192', section='GreenMIM', config=GREENMIM_B,
         baseline=MMPRETRAIN_SIMMIM_B_192, batch=128,
         goal='>= 2.5x throughput at <= 35% memory (GreenMIM Swin-B/224 vs SimMIM Swin-B/192)'),
    _gpu(name='greenmim-swin-b-vs-simmim-224', section='GreenMIM', config=GREENMIM_B,
         baseline=MMPRETRAIN_SIMMIM_B_192, baseline_options=simmim_at(224, 7), batch=128,
         goal='same, SimMIM at 224 px'),
    _gpu(name='greenmim-swin-l-vs-simmim-192', section='GreenMIM', config=GREENMIM_L,
         baseline=MMPRETRAIN_SIMMIM_L_192, batch=128, goal='>= 2.7x (Swin-L)'),
    _cpu(name='greenmim-swin-t-cpu', section='GreenMIM', config=GREENMIM_B,
         baseline=MMPRETRAIN_SIMMIM_B_192, batch=8, target_options=greenmim_swin_t(),
         baseline_options=dict(simmim_swin_t()),
         goal='CPU ratio with Swin-T (GreenMIM 224 px vs SimMIM 192 px)'),
    _cpu(name='greenmim-swin-t-vs-simmim-224-cpu', section='GreenMIM', config=GREENMIM_B,
         baseline=MMPRETRAIN_SIMMIM_B_192, batch=8, target_options=greenmim_swin_t(),
         baseline_options=dict(simmim_swin_t(), **simmim_at(224, 7)),
         goal='CPU ratio with Swin-T, both at 224 px'),
    _cpu(name='greenmim-swin-t-128px-cpu', section='GreenMIM', config=GREENMIM_B,
         baseline=MMPRETRAIN_SIMMIM_B_192, batch=8,
         target_options=dict(greenmim_swin_t(), **greenmim_at(128, 4)),
         baseline_options=dict(simmim_swin_t(), **simmim_at(128, 4)),
         goal='CPU ratio with Swin-T and small images (both 128 px, window 4)'),
    # ---- issue 7: MIRL vs MAE (configs by the MIRL helper) ---------------------------------
    _gpu(name='mirl-vit-s54-vs-mae-vit-b16', section='MIRL', config=MIRL_S54,
         target_options=NO_ACCUMULATION, baseline=MMPRETRAIN_MAE_B, batch=256,
         goal='step time <= 1.15x MAE ViT-B/16 (speed ratio >= 0.87)'),
    _gpu(name='mirl-vit-b48-vs-mae-vit-l16', section='MIRL', config=MIRL_B48,
         target_options=NO_ACCUMULATION, baseline=MMPRETRAIN_MAE_L, batch=256,
         goal='step time <= 1.0x MAE ViT-L/16 (speed ratio >= 1.0)'),
    _cpu(name='mirl-vit-s54-vs-mae-vit-b16-cpu', section='MIRL', config=MIRL_S54,
         baseline=MMPRETRAIN_MAE_B, batch=8, target_options=reduced_widths('s54'),
         baseline_options=reduced_widths('b16'), goal='CPU ratio, all widths / 4 (224 px)'),
    _cpu(name='mirl-vit-b48-vs-mae-vit-l16-cpu', section='MIRL', config=MIRL_B48,
         baseline=MMPRETRAIN_MAE_L, batch=8, target_options=reduced_widths('b48'),
         baseline_options=reduced_widths('l16'), goal='CPU ratio, all widths / 4 (224 px)'),
    # ---- issue 8: token pruning inference vs the dense DeiT / UPerNet (same code path) -------
    _gpu(**_pruning_cls('dynamicvit-deit-s-keep0.7', DYNAMICVIT_S, 'deit-small', batch=256),
         fused=None, goal='>= 1.5x dense DeiT-S at keep 0.7 (bf16 inference, batch 256)'),
    _gpu(**_pruning_cls('dynamicvit-deit-b-keep0.7', DYNAMICVIT_B, 'deit-base', batch=256),
         fused=None, goal='>= 1.5x dense DeiT-B at keep 0.7'),
    _gpu(**_pruning_cls('evit-deit-s-keep0.7', EVIT_S, 'deit-small', batch=256), fused=None,
         goal='>= 1.5x dense DeiT-S at keep 0.7'),
    _gpu(**_pruning_cls('evit-deit-b-keep0.7', EVIT_B, 'deit-base', batch=256), fused=None,
         goal='>= 1.5x dense DeiT-B at keep 0.7'),
    _gpu(**_pruning_seg('upernet-dynamicvit-deit-s-512', UPERNET_DYNAMICVIT_S, 'deit-small',
                        batch=8), fused=None,
         goal='UPerNet 512x512 fps >= 1.25x dense backbone (test_step, batch 8)'),
    _gpu(**_pruning_seg('upernet-dynamicvit-deit-s-512-bs1', UPERNET_DYNAMICVIT_S, 'deit-small',
                        batch=1, iters=20), fused=None,
         goal='same at batch 1 (mmseg fps convention)'),
    _gpu(**_pruning_seg('upernet-evit-deit-s-512', UPERNET_EVIT_S, 'deit-small', batch=8),
         fused=None, goal='UPerNet 512x512 fps >= 1.25x dense backbone'),
    _gpu(**_pruning_seg('upernet-dynamicvit-deit-b-512', UPERNET_DYNAMICVIT_B, 'deit-base',
                        batch=8), fused=None, goal='UPerNet 512x512 fps >= 1.25x dense backbone'),
    _gpu(**_pruning_seg('upernet-evit-deit-b-512', UPERNET_EVIT_B, 'deit-base', batch=8),
         fused=None, goal='UPerNet 512x512 fps >= 1.25x dense backbone'),
    _cpu(**_pruning_cls('dynamicvit-deit-s-keep0.7-cpu', DYNAMICVIT_S, 'deit-small', batch=4),
         goal='CPU ratio (fp32 inference, batch 4)'),
    _cpu(**_pruning_cls('evit-deit-s-keep0.7-cpu', EVIT_S, 'deit-small', batch=4),
         goal='CPU ratio (fp32 inference, batch 4)'),
]


def get_workload(name: str) -> dict:
    for w in WORKLOADS:
        if w['name'] == name:
            return copy.deepcopy(w)
    raise KeyError(f'Unknown workload {name!r}; `python tools/benchmark.py --list` lists them.')
