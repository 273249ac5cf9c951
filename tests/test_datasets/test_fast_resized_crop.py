"""FastRandomResizedCrop against mmpretrain's LoadImageFromFile + RandomResizedCrop.

Evidence that the augmentation is the same (issue 18):

- crop distribution: over 10,000 draws the crop's area fraction and aspect ratio (the box the
  transform cuts and reports, ``crop_box``, drawn without touching pixels) pass a two-sample Kolmogorov-Smirnov test
  at alpha = 0.001 against mmpretrain's ``RandomResizedCrop.rand_crop_params`` drawn with another
  seed (critical D = 1.949 * sqrt(2 / 10000) = 0.0276; seeded, so deterministic); the same
  threshold rejects a sampler with a uniform instead of log-uniform aspect ratio;
- pixels: with the same numpy seed the two pipelines cut the same box and flip alike; the
  outputs (uint8, all pixels and channels) differ by at most 1 grey level for Pillow bilinear,
  by a mean absolute difference <= 0.3 levels with <= 0.5% of values off by more than 1 for
  Pillow bicubic (Pillow's and PyTorch's fixed-point rounding of the same antialiased filter;
  single values next to clipped ones differ by up to ~10), and not at all for the cv2 backend;
- the opt-in reduced decode: same boxes, and a stated bound on the error it adds.
"""
import io
import math
import os.path as osp

import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from PIL import Image

import mmdbp  # noqa: F401  (registers FastRandomResizedCrop)
from mmdbp.datasets.file_errors import DataFileError
from mmdbp.datasets.transforms.fast_resized_crop import FastRandomResizedCrop

KS_ALPHA = 0.001
#: Pillow's filters computed by PyTorch: mean |difference| (grey levels) and the share of values
#: that differ by more than 1 (bicubic only: rare values next to clipped ones, up to ~10 levels)
MEAN_BOUND, OFF_BY_MORE_THAN_1 = 0.3, 0.005
PSNR_REDUCED = 33.0
N_DRAWS = 10_000


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side='right') / len(a)
    cdf_b = np.searchsorted(b, grid, side='right') / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def ks_critical(n: int, m: int, alpha: float = KS_ALPHA) -> float:
    """The asymptotic critical value c(alpha) * sqrt((n + m) / (n m))."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A colour texture with fine detail (1/f noise and edges), so resampling errors show."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1
    chans = [np.fft.irfft2(np.exp(2j * np.pi * rng.random(f.shape)) / f ** 0.8, s=(h, w))
             for _ in range(3)]
    img = np.stack(chans, -1)
    img = 128 + 45 * (img - img.mean()) / img.std()
    img[h // 3: h // 2, w // 4: w // 2] = (30, 200, 90)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpeg(path, img: np.ndarray, quality: int = 90) -> str:
    Image.fromarray(img).save(str(path), 'JPEG', quality=quality, subsampling=2)
    return str(path)


def assert_within_interpolation_error(out: np.ndarray, ref: np.ndarray, max_diff=None) -> None:
    """``max_diff`` given: every value within it; else the bicubic bounds above."""
    diff = np.abs(out.astype(int) - ref.astype(int))
    if max_diff is not None:
        assert diff.max() <= max_diff, diff.max()
    else:
        assert diff.mean() <= MEAN_BOUND and (diff > 1).mean() <= OFF_BY_MORE_THAN_1, \
            (diff.mean(), (diff > 1).mean())


def host_pipeline(**rrc):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', **rrc),
                        dict(type='RandomFlip', prob=0.5)])


def fast_pipeline(fused_flip: bool = False, **rrc):
    """mmdbp's transform followed by mmcv's RandomFlip, or (``fused_flip``) flipping itself."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        if fused_flip:
            return Compose([dict(type='FastRandomResizedCrop', flip_prob=0.5, **rrc)])
        return Compose([dict(type='FastRandomResizedCrop', **rrc),
                        dict(type='RandomFlip', prob=0.5)])


def box_stats(boxes: np.ndarray, h: int, w: int):
    """Area fraction and aspect ratio (w/h) of ``x0, y0, x1, y1`` boxes."""
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return bw * bh / (h * w), bw / bh


@pytest.mark.parametrize('hw,rrc', [
    ((375, 500), dict(crop_ratio_range=(0.2, 1.0))),                     # MAE, ImageNet's 4:3
    ((500, 333), dict(crop_ratio_range=(0.67, 1.0))),                    # SimMIM, portrait
    ((240, 600), dict(crop_ratio_range=(0.08, 1.0), aspect_ratio_range=(0.5, 1.2))),  # fallback
])
def test_crop_distribution_matches_mmpretrain(hw, rrc):
    """10,000 boxes of ``FastRandomResizedCrop.crop_box`` (the box every path of the transform
    cuts and reports; only parameters are drawn, no pixels) against 10,000 of mmpretrain's
    ``RandomResizedCrop.rand_crop_params`` drawn with another seed."""
    from mmpretrain.datasets.transforms import RandomResizedCrop
    h, w = hw
    fast = FastRandomResizedCrop(scale=4, **rrc)
    np.random.seed(1)
    ours = np.stack([fast.crop_box(h, w) for _ in range(N_DRAWS)])
    assert (ours[:, :2] >= 0).all() and (ours[:, 2] <= w).all() and (ours[:, 3] <= h).all()
    host = RandomResizedCrop(scale=4, **rrc)
    img = np.empty((h, w, 0), np.uint8)  # rand_crop_params reads the shape only
    np.random.seed(2)  # an independent sample
    ref = []
    for _ in range(N_DRAWS):
        oy, ox, ch, cw = host.rand_crop_params(img)
        ref.append((ox, oy, ox + cw, oy + ch))
    ref = np.array(ref)
    crit = ks_critical(N_DRAWS, N_DRAWS)
    for ours_stat, ref_stat in zip(box_stats(ours, h, w), box_stats(ref, h, w)):
        assert ks_statistic(ours_stat, ref_stat) < crit
    # offsets: the crop centre's horizontal position, relative to the image
    centre_x = [(b[:, 0] + b[:, 2]) / (2 * w) for b in (ours, ref)]
    assert ks_statistic(*centre_x) < crit


@pytest.mark.parametrize('given_img', [True, False])
def test_transform_cuts_and_reports_crop_box(tmp_path, given_img):
    """The transform's ``crop_bbox`` (image given, or decoded from a file) is the box
    ``crop_box`` draws from the same numpy state, so the distribution test above covers it."""
    h, w = 60, 80
    img = texture(h, w, seed=4)
    path = write_jpeg(tmp_path / 'a.jpg', img)
    fast = FastRandomResizedCrop(scale=8, crop_ratio_range=(0.2, 1.0))
    for seed in range(5):
        np.random.seed(seed)
        expected = fast.crop_box(h, w)
        np.random.seed(seed)
        out = fast.transform(dict(img=img.copy()) if given_img else dict(img_path=path))
        np.testing.assert_array_equal(out['crop_bbox'], expected)


def test_ks_threshold_rejects_a_wrong_sampler():
    """The test above can fail: a uniform (not log-uniform) aspect ratio is rejected."""
    rng = np.random.default_rng(0)
    h, w = 375, 500
    right, wrong = [], []
    for out, draw in ((right, lambda: math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))),
                      (wrong, lambda: rng.uniform(3 / 4, 4 / 3))):
        while len(out) < N_DRAWS:
            area, ratio = rng.uniform(0.2, 1.0) * h * w, draw()
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if cw <= w and ch <= h:
                out.append(cw / ch)
    fast = FastRandomResizedCrop(scale=4, crop_ratio_range=(0.2, 1.0))
    np.random.seed(3)
    ours = np.stack([fast.crop_box(h, w) for _ in range(N_DRAWS)])
    ours_ratio = box_stats(ours, h, w)[1]
    crit = ks_critical(N_DRAWS, N_DRAWS)
    assert ks_statistic(ours_ratio, np.array(right)) < crit
    assert ks_statistic(ours_ratio, np.array(wrong)) > crit


@pytest.mark.parametrize('interpolation,backend,bound', [
    ('bicubic', 'pillow', None), ('bilinear', 'pillow', 1), ('bilinear', 'cv2', 0)])
@pytest.mark.parametrize('hw,scale,ratio', [
    ((300, 400), 224, (0.2, 1.0)),   # mostly downscales, as MAE on ImageNet
    ((120, 90), 96, (0.5, 1.0)),     # upscales
    ((200, 260), (64, 48), (0.08, 1.0)),
])
@pytest.mark.parametrize('fused_flip', [False, True])
def test_output_equals_mmpretrain_within_interpolation_error(tmp_path, interpolation, backend,
                                                             bound, hw, scale, ratio, fused_flip):
    path = write_jpeg(tmp_path / 'a.jpg', texture(*hw, seed=hw[0]))
    rrc = dict(scale=scale, crop_ratio_range=ratio, interpolation=interpolation, backend=backend)
    host, fast = host_pipeline(**rrc), fast_pipeline(fused_flip, **rrc)
    flips = set()
    sampler = FastRandomResizedCrop(scale=scale, crop_ratio_range=ratio)
    for seed in range(6):
        np.random.seed(seed)
        ref = host(dict(img_path=path))
        np.random.seed(seed)
        out = fast(dict(img_path=path, sample_idx=0))
        assert out['img'].dtype == np.uint8 and out['img'].shape == ref['img'].shape
        assert out['flip'] == ref['flip'] and out['img_shape'] == ref['img_shape']
        assert out['flip_direction'] == ref['flip_direction']
        assert tuple(out['ori_shape']) == tuple(ref['ori_shape'])
        flips.add(out['flip'])
        assert_within_interpolation_error(out['img'], ref['img'], bound)
        # the same crop drawn by the host on the decoded image
        np.random.seed(seed)
        oy, ox, ch, cw = sampler.rand_crop_params(np.empty(tuple(ref['ori_shape']) + (0,)))
        assert list(out['crop_bbox']) == [ox, oy, ox + cw, oy + ch]
    assert flips == {True, False}


def test_decoded_image_given_equals_host_crop():
    """With ``img`` in the results (after LoadImageFromFile, or tools/benchmark.py's synthetic
    batches) nothing is decoded and the crop equals the host's within 1 grey level."""
    from mmpretrain.datasets.transforms import RandomResizedCrop
    img = texture(180, 240, seed=5)[..., ::-1].copy()
    for seed in range(4):
        np.random.seed(seed)
        ref = RandomResizedCrop(56, backend='pillow', interpolation='bicubic')(dict(img=img))
        np.random.seed(seed)
        out = FastRandomResizedCrop(56)(dict(img=img))
        assert_within_interpolation_error(out['img'], ref['img'])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * math.log10(255 ** 2 / mse)


def test_reduced_decode_same_boxes_bounded_error(tmp_path):
    """Opt-in DCT-scaled decode: the same boxes as the host; it applies only where the crop is
    >= 2x the output; PSNR against the host's output >= 33 dB on a high-detail texture (measured
    36-39 dB; the exact path: > 55 dB)."""
    path = write_jpeg(tmp_path / 'big.jpg', texture(600, 800, seed=1))
    rrc = dict(scale=96, crop_ratio_range=(0.2, 1.0), interpolation='bicubic', backend='pillow')
    host, fast = host_pipeline(**rrc), fast_pipeline(reduced_decode=True, **rrc)
    scales = []
    for seed in range(8):
        np.random.seed(seed)
        ref = host(dict(img_path=path))
        np.random.seed(seed)
        out = fast(dict(img_path=path))
        box = out['crop_bbox']
        k = out['decode_scale']
        scales.append(k)
        assert (box[2] - box[0]) >= k * 96 and (box[3] - box[1]) >= k * 96
        assert out['flip'] == ref['flip'] and out['img'].shape == ref['img'].shape
        assert psnr(out['img'], ref['img']) >= PSNR_REDUCED, (seed, k)
    assert max(scales) >= 2


def test_unreadable_file_names_path_and_index(tmp_path):
    bad = tmp_path / 'bad.JPEG'
    bad.write_bytes(b'not a jpeg')
    with pytest.raises(DataFileError, match=r"bad\.JPEG.*dataset index 7"):
        FastRandomResizedCrop(32)(dict(img_path=str(bad), sample_idx=7))
    assert FastRandomResizedCrop(32, skip_bad_samples=True)(
        dict(img_path=str(bad), sample_idx=7)) is None


def test_fused_flip_equals_a_following_random_flip(tmp_path):
    """flip_prob=p: bit-identical images, the same flip keys and the same numpy stream after the
    transform as FastRandomResizedCrop followed by RandomFlip(prob=p), for several p."""
    path = write_jpeg(tmp_path / 'a.jpg', texture(150, 210, seed=3))
    for prob in (0.5, 0.3, 1.0):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            separate = Compose([dict(type='FastRandomResizedCrop', scale=40),
                                dict(type='RandomFlip', prob=prob)])
        fused = FastRandomResizedCrop(40, flip_prob=prob)
        flips = []
        for seed in range(16):
            outs = []
            for pipe in (separate, fused):
                np.random.seed(seed)
                r = pipe(dict(img_path=path))
                outs.append((r['img'], r['flip'], r['flip_direction'], np.random.random_sample()))
            np.testing.assert_array_equal(outs[0][0], outs[1][0])
            assert outs[0][1:] == outs[1][1:]
            flips.append(outs[1][1])
        assert set(flips) == ({True} if prob == 1.0 else {True, False})
    no_flip = FastRandomResizedCrop(40)(dict(img_path=path))
    assert 'flip' not in no_flip  # flip_prob=0 (the default) draws and records nothing


def test_readme_pipeline_runs_as_written(tmp_path, repo_root):
    """The README's FastRandomResizedCrop block, executed as written, gives mmpretrain's MAE
    augmentation (same boxes and flips, pixels within interpolation rounding)."""
    import re
    readme = open(osp.join(repo_root, 'README.md')).read()
    block = next(b for b in re.findall(r'```python\n(.*?)```', readme, re.S)
                 if "type='FastRandomResizedCrop'" in b and b.startswith('train_pipeline'))
    scope: dict = {}
    exec(block, scope)
    path = write_jpeg(tmp_path / 'a.jpg', texture(300, 400, seed=4))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        fast = Compose(scope['train_pipeline'])
        host = Compose([dict(type='LoadImageFromFile'),
                        dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
                             backend='pillow', interpolation='bicubic'),
                        dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')])
    for seed in range(4):
        np.random.seed(seed)
        out = fast(dict(img_path=path, gt_label=1))
        np.random.seed(seed)
        ref = host(dict(img_path=path, gt_label=1))
        assert out['data_samples'].flip == ref['data_samples'].flip
        assert_within_interpolation_error(out['inputs'].permute(1, 2, 0).numpy(),
                                          ref['inputs'].permute(1, 2, 0).numpy())


def test_bad_arguments_say_what_to_use():
    with pytest.raises(ValueError, match="backend='cv2'"):
        FastRandomResizedCrop(32, interpolation='lanczos')
    with pytest.raises(ValueError, match="'pillow' or 'cv2'"):
        FastRandomResizedCrop(32, backend='torch')
    with pytest.raises(ValueError, match=r'flip_prob must be in \[0, 1\]'):
        FastRandomResizedCrop(32, flip_prob=50)


def test_mae_dataset_base_uses_fast_pipeline(repo_root):
    """MAE, GreenMIM and MIRL pre-training read ImageNet through the one fast base."""
    from mmengine.config import Config
    for cfg_path in ('configs/mae/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
                     'configs/greenmim/greenmim_swin-base-w7_8xb256-amp-coslr-800e_in1k.py',
                     'configs/mirl/mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py'):
        pipeline = Config.fromfile(osp.join(repo_root, cfg_path)).train_dataloader.dataset.pipeline
        assert [t['type'] for t in pipeline] == ['FastRandomResizedCrop', 'PackInputs'], cfg_path
        assert pipeline[0]['interpolation'] == 'bicubic' and pipeline[0]['flip_prob'] == 0.5
        assert tuple(pipeline[0]['crop_ratio_range']) == (0.2, 1.0)


def test_imagenet_like_jpegs(tmp_path, repo_root):
    """tools/benchmark_data.py's set: 4:2:0 JPEGs of ImageNet-like sizes and bytes per pixel."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_data', osp.join(repo_root, 'tools', 'benchmark_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(0)
    sizes = np.array([tool.imagenet_like_size(rng) for _ in range(4000)])
    assert 440 < sizes[:, 1].mean() < 500 and 360 < sizes[:, 0].mean() < 420  # ~470 x 390
    assert 200 <= sizes.max(1).min() and sizes.max() <= 1000
    stats = tool.make_imagenet_like(str(tmp_path / 'set'), 4, seed=0)
    assert 0.4 <= stats['bytes_per_pixel'] <= 0.9
    from PIL import JpegImagePlugin
    for line in (tmp_path / 'set' / 'meta' / 'train.txt').read_text().split('\n')[:-1]:
        with Image.open(tmp_path / 'set' / 'train' / line.split()[0]) as im:
            assert im.format == 'JPEG' and JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
