"""tools/benchmark_dbp.py analytic: DBP's extra multiply-adds, against counts worked out by hand
(the ViT-B/16 batch-256 figures of issue 17: 261 / 172 / 333 GMAC against a 7.48 TMAC step) and
against torch's FLOP counter on a micro MAE."""
import importlib.util
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_DBP = osp.join(ROOT, 'configs', 'dbp_mae', 'dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py')


def load_tool():
    path = osp.join(ROOT, 'tools', 'benchmark_dbp.py')
    spec = importlib.util.spec_from_file_location('benchmark_dbp', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vit_layers(width, rows, blocks=12):
    """(name, d_in, d_out, rows) of a ViT encoder's qkv, proj, fc1, fc2."""
    out = []
    for b in range(blocks):
        out += [(f'{b}.qkv', width, 3 * width, rows), (f'{b}.proj', width, width, rows),
                (f'{b}.fc1', width, 4 * width, rows), (f'{b}.fc2', 4 * width, width, rows)]
    return out


def test_layer_costs_by_hand():
    tool = load_tool()
    # fc2 of ViT-B/16 at batch 256: 12800 rows, 1280 sampled (< 3072: the z^T (z R) order)
    c = tool.layer_extra_macs(3072, 768, 12800, 0.1)
    assert c == dict(fold=2 * 768 * 3072**2, stats=1280 * 3072**2, update=2 * 1280 * 3072**2)
    # every 4 steps: 320 rows a step, 1280 pooled, the update once in 4 steps
    c = tool.layer_extra_macs(3072, 768, 12800, 0.1, 4)
    assert c == dict(fold=2 * 768 * 3072**2, stats=320 * 3072**2,
                     update=2 * 1280 * 3072**2 / 4)
    # qkv: 1280 pooled rows >= 768: (z^T z) R, N d^2 + d^3
    c = tool.layer_extra_macs(768, 2304, 12800, 0.1, 2)
    assert c['update'] == (1280 * 768**2 + 768**3) / 2 and c['stats'] == 640 * 768**2
    # fewer rows than d_out: the explicit R x path, 2 rows d^2
    assert tool.layer_extra_macs(16, 64, 10, 1.)['fold'] == 2 * 10 * 16**2


def test_vit_b16_batch_256_matches_the_issue_and_the_levers_reach_5_percent():
    tool = load_tool()
    step = 7.48e12
    layers = vit_layers(768, 256 * 50)
    m = tool.extra_macs(layers, 0.1)
    assert m['fold'] / 1e9 == pytest.approx(261, abs=0.5)
    assert m['stats'] / 1e9 == pytest.approx(172, abs=0.5)
    assert m['update'] / 1e9 == pytest.approx(333, abs=0.5)
    assert sum(m.values()) / step == pytest.approx(0.102, abs=0.001)
    # the statistics and update shrink by k, the fold does not: 4 steps 5.2%, 8 steps 4.3%
    assert sum(tool.extra_macs(layers, 0.1, 4).values()) / step > 0.05
    assert sum(tool.extra_macs(layers, 0.1, 8).values()) / step == pytest.approx(0.0433, abs=1e-3)
    no_fc2 = [layer for layer in layers if not layer[0].endswith('fc2')]
    assert sum(tool.extra_macs(no_fc2, 0.1).values()) / step == pytest.approx(0.0211, abs=1e-3)


def test_step_profile_and_lever_table_on_the_micro_mae():
    """Rows per encoder linear: 32 images x (64 visible patches + cls) = 2080; the plain step
    counted at batch 2 and scaled to 4 equals the FLOP counter's count at batch 4."""
    sys.path.insert(0, ROOT)
    from mmdbp.utils.benchmark import StepRunner, count_flops, prepare_config
    tool = load_tool()
    profile = tool.step_profile(DEMO_DBP, 32, probe_batch=2)
    assert profile['rows']['backbone.blocks.0.mlp.fc2'] == 32 * 65
    assert profile['dbp']['sample_frac'] == 0.1

    cfg = prepare_config(DEMO_DBP, amp='none', device='cpu')
    runner = StepRunner(cfg, 4, 'train', 'cpu')
    with runner._scope():
        flops4 = count_flops(lambda: runner.model.train_step(runner.batch,
                                                             runner.optim_wrapper.inner))
    assert tool.step_profile(DEMO_DBP, 4, probe_batch=2)['step_macs'] == pytest.approx(flops4 / 2)

    rows, text = tool.lever_table(profile, [('paper', dict(update_interval=1)),
                                            ('no fc2', dict(update_interval=1,
                                                            exclude=[tool.FC2])),
                                            ('half', dict(update_interval=1, sample_frac=0.05))])
    by_hand = tool.extra_macs(vit_layers(96, 2080, blocks=4), 0.1)
    assert rows[0]['layers'] == 16 and rows[0]['total'] == pytest.approx(sum(by_hand.values()))
    assert rows[1]['layers'] == 12
    half = tool.extra_macs(vit_layers(96, 2080, blocks=4), 0.05)  # the config's value overridden
    assert rows[2]['total'] == pytest.approx(sum(half.values()))
    assert rows[0]['percent'] == pytest.approx(100 * rows[0]['total'] / profile['step_macs'])
    assert '| paper | 0.1 | 1 | 16 |' in text


def test_layer_correlations_of_a_plain_checkpoint_are_those_of_the_inputs(demo_data, tmp_path):
    """A checkpoint without DBP state: every layer's value is the mean |off-diagonal| of
    torch.corrcoef of that layer's input rows in the same forward (same images and masks)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner import Runner

    from mmdbp.utils.benchmark import model_config
    tool = load_tool()
    cfg = Config.fromfile(DEMO_DBP)
    cfg.val_dataloader.dataset.data_root = demo_data['in1k']
    cfg.val_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(1)
        model = MODELS.build(model_config(cfg))
        ckpt = str(tmp_path / 'plain.pth')
        torch.save(dict(state_dict=model.state_dict()), ckpt)
        inputs = {}
        names = ['backbone.blocks.0.attn.qkv', 'backbone.blocks.3.mlp.fc2']
        for name in names:
            model.get_submodule(name).register_forward_pre_hook(
                lambda m, args, name=name: inputs.__setitem__(name, args[0].detach()))
        batch = next(iter(Runner.build_dataloader(cfg.val_dataloader, seed=0)))
        model.train()
        torch.manual_seed(0)
        with torch.no_grad():
            model(**model.data_preprocessor(batch, True), mode='loss')
    corr = tool.layer_correlations(DEMO_DBP, ckpt, demo_data['in1k'], images=8, seed=0)
    assert len(corr) == 16
    for name in names:
        c = torch.corrcoef(inputs[name].reshape(-1, inputs[name].shape[-1]).T.double())
        d = c.shape[0]
        expected = ((c.abs().sum() - c.diagonal().abs().sum()) / (d * (d - 1))).item()
        assert corr[name] == pytest.approx(expected, rel=1e-4), name
