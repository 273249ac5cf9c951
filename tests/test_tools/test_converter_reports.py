"""tools/model_converters/*: no converter drops a weight silently.

The source is a checkpoint written by mmengine's Runner training mmpretrain's own MAE (the
``mmpretrain::mae`` config, tiny arch by overrides, 1 iteration on generated ImageNet-layout
data), as ``mim train mmpretrain`` writes it; not a hand-made dict. The converted encoder must
load strictly into mmseg's / mmpretrain's ViT and give the features of the trained MAEViT, and
the tools must say how many tensors they read, wrote and left out. Unknown keys are an error that
names them, and nothing is written.
"""
import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

from mmdbp.models.utils.ckpt_convert import MMSEG_VIT_KWARGS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCH = dict(embed_dims=24, num_layers=2, num_heads=3, feedforward_channels=48)
# per layer: ln1, attn.qkv, attn.proj, ln2, ffn.layers.0.0, ffn.layers.1 (weight and bias each);
# then cls_token, pos_embed, patch_embed.projection.{weight,bias} and the final ln1.{weight,bias}
NUM_ENCODER_TENSORS = 12 * ARCH['num_layers'] + 4 + 2


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'model_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mmpretrain_mae_config(data_root: str, work_dir: str) -> Config:
    """mmpretrain's own MAE recipe, shrunk: ViT 24 wide, 2 deep, 32 px, patch 8, fp32, 1 iter."""
    from mmdbp.utils.benchmark import resolve_config_path
    cfg = Config.fromfile(
        resolve_config_path('mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py'))
    cfg.model.backbone.update(arch=ARCH, img_size=32, patch_size=8)
    cfg.model.neck.update(num_patches=16, patch_size=8, embed_dim=24, decoder_embed_dim=16,
                          decoder_depth=1, decoder_num_heads=2)
    cfg.model.head.update(patch_size=8)
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'RandomResizedCrop':
            t['scale'] = 32
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False,
                                collate_fn=dict(type='default_collate'))
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    cfg.param_scheduler = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor = dict(by_epoch=False)
    cfg.work_dir = work_dir
    cfg.pop('auto_scale_lr', None)
    return cfg


@pytest.fixture(scope='module')
def mmpretrain_mae_ckpt(demo_data, tmp_path_factory):
    """(checkpoint path, the trained MAE model) of a 1-iteration Runner run."""
    from mmengine.runner import Runner
    work_dir = str(tmp_path_factory.mktemp('mmpretrain_mae'))
    runner = Runner.from_cfg(mmpretrain_mae_config(demo_data['in1k'], work_dir))
    runner.train()
    model = runner.model
    model.eval()
    return osp.join(work_dir, 'iter_1.pth'), model


def summary_counts(out: str):
    m = re.search(r'read (\d+) tensors, wrote (\d+) to .*, left out (\d+)', out)
    assert m, out
    return tuple(int(g) for g in m.groups())


def test_extract_backbone_converts_every_encoder_tensor_of_mmpretrain_mae(
        mmpretrain_mae_ckpt, tmp_path, capsys):
    """The known bug: 4 of the encoder's tensors were kept (mmpretrain's MAEViT names had no
    rule) and the tool exited 0. Now all of them, and the result computes MAEViT's features."""
    from mmseg.models.backbones import VisionTransformer as SegViT
    src, model = mmpretrain_mae_ckpt
    state = torch.load(src, map_location='cpu', weights_only=True)['state_dict']
    encoder_keys = [k for k in state if k.startswith('backbone.')]
    assert len(encoder_keys) == NUM_ENCODER_TENSORS

    dst = str(tmp_path / 'vit_mmseg.pth')
    load_tool('extract_backbone').main([src, dst, '--target', 'mmseg'])
    out = capsys.readouterr().out
    assert summary_counts(out) == (len(state), NUM_ENCODER_TENSORS,
                                   len(state) - NUM_ENCODER_TENSORS)
    left_out = [k for k in state if not k.startswith('backbone.')]
    assert all(k in out for k in left_out)  # which ones were left out, and why
    assert "not under 'backbone.'" in out

    seg = SegViT(img_size=32, patch_size=8, embed_dims=24, num_layers=2, num_heads=3,
                 mlp_ratio=2, out_indices=(1, ), qkv_bias=True, with_cls_token=True,
                 **MMSEG_VIT_KWARGS)
    seg.eval()
    seg.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.backbone(x, mask=None)[0][:, 1:]  # MAEViT unmasked: patch tokens, ln1
        got = seg(x)[0].flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('tool', ['extract_backbone', 'dbp_mae_to_vit'])
def test_mmpretrain_target_round_trip(tool, mmpretrain_mae_ckpt, tmp_path, capsys):
    from mmpretrain.models import VisionTransformer as PretrainViT
    src, model = mmpretrain_mae_ckpt
    dst = str(tmp_path / 'vit.pth')
    load_tool(tool).main([src, dst, '--target', 'mmpretrain'])
    read, wrote, left = summary_counts(capsys.readouterr().out)
    assert wrote == NUM_ENCODER_TENSORS and read == wrote + left
    vit = PretrainViT(arch=ARCH, img_size=32, patch_size=8, out_type='raw')
    vit.eval()
    vit.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], model.backbone(x, mask=None)[0])


def test_vit_to_mmdbp_keeps_every_encoder_tensor(mmpretrain_mae_ckpt, tmp_path, capsys):
    from mmdbp.models.backbones import FastVisionTransformer
    src, model = mmpretrain_mae_ckpt
    dst = str(tmp_path / 'mmdbp.pth')
    load_tool('vit_to_mmdbp').main([src, dst])
    read, wrote, left = summary_counts(capsys.readouterr().out)
    assert wrote == NUM_ENCODER_TENSORS and read == wrote + left
    state = torch.load(dst, weights_only=True)['state_dict']
    vit = FastVisionTransformer(arch=ARCH, img_size=32, patch_size=8, out_type='raw')
    vit.eval()
    vit.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()}, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], model.backbone(x, mask=None)[0],
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('tool,extra', [('extract_backbone', []), ('dbp_mae_to_vit', []),
                                        ('vit_to_mmdbp', []), ('mirl_to_vit', ['--num-heads', '3'])])
def test_unknown_key_is_an_error_naming_it_and_nothing_is_written(tool, extra,
                                                                  mmpretrain_mae_ckpt, tmp_path):
    src, _ = mmpretrain_mae_ckpt
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    ckpt['state_dict']['backbone.layers.1.attn.rel_pos_bias'] = torch.zeros(3)  # no rule knows it
    bad = str(tmp_path / 'bad.pth')
    torch.save(ckpt, bad)
    dst = tmp_path / 'out.pth'
    with pytest.raises(SystemExit, match=r'match no conversion rule: '
                       r'backbone\.layers\.1\.attn\.rel_pos_bias\. Nothing was written'):
        load_tool(tool).main([bad, str(dst)] + extra)
    assert not dst.exists()


def test_greenmim_to_swin_reports_and_rejects_foreign_keys(tmp_path, capsys):
    from mmdbp.models.backbones import GreenMIMSwin
    arch = dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2])
    swin = GreenMIMSwin(arch=arch, img_size=32, window_size=2, patch_size=4, out_indices=(1, ))
    state = {f'backbone.{k}': v for k, v in swin.state_dict().items()}
    state['neck.decoder_embed.weight'] = torch.zeros(2, 2)
    src = str(tmp_path / 'greenmim.pth')
    torch.save(dict(state_dict=state), src)
    tool = load_tool('greenmim_to_swin')
    tool.main([src, str(tmp_path / 'swin.pth')])
    read, wrote, left = summary_counts(capsys.readouterr().out)
    assert (read, left) == (len(state), 1) and wrote == len(state) - 1
    state['backbone.stages.0.blocks.0.attn.w_msa.lepe.weight'] = torch.zeros(2)
    torch.save(dict(state_dict=state), src)
    with pytest.raises(SystemExit, match=r'stages\.0\.blocks\.0\.attn\.w_msa\.lepe\.weight'):
        tool.main([src, str(tmp_path / 'bad.pth')])
    assert not (tmp_path / 'bad.pth').exists()


class Payload:
    """Unpickling this creates ``path``: a downloaded file that runs code when loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.mark.parametrize('tool', ['extract_backbone', 'dbp_mae_to_vit', 'vit_to_mmdbp',
                                  'mirl_to_vit', 'greenmim_to_swin'])
def test_converters_refuse_pickled_code_unless_trusted(tool, mmpretrain_mae_ckpt, tmp_path,
                                                       monkeypatch):
    src, _ = mmpretrain_mae_ckpt
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    marker = tmp_path / 'payload_ran'
    ckpt['meta']['note'] = Payload(marker)
    evil = str(tmp_path / 'evil.pth')
    torch.save(ckpt, evil)
    monkeypatch.delenv('MMDBP_TRUST_PICKLE', raising=False)
    with pytest.raises(SystemExit, match=r'was refused: .*could run code.*--trust-pickle or set '
                       r'MMDBP_TRUST_PICKLE=1'):
        load_tool(tool).main([evil, str(tmp_path / 'out.pth')])
    assert not marker.exists()
    if tool == 'extract_backbone':  # the opt-in (flag or environment) loads it, with a warning
        with pytest.warns(UserWarning, match='weights_only=False'):
            load_tool(tool).main([evil, str(tmp_path / 'out.pth'), '--trust-pickle'])
        assert marker.exists()
        marker.unlink()
        monkeypatch.setenv('MMDBP_TRUST_PICKLE', '1')
        with pytest.warns(UserWarning, match='Only do this for files from a source you trust'):
            load_tool(tool).main([evil, str(tmp_path / 'out2.pth')])
        assert marker.exists()


@pytest.mark.parametrize('tool', ['extract_backbone', 'dbp_mae_to_vit', 'vit_to_mmdbp',
                                  'mirl_to_vit', 'greenmim_to_swin', 'greenmim_official_to_mmdbp',
                                  'mirl_official_to_mmdbp'])
def test_missing_source_is_one_line(tool, tmp_path):
    with pytest.raises(SystemExit, match=r"checkpoint '.*no_such\.pth' does not exist: pass the "
                       r'path of (a checkpoint file|an official MIRL)'):
        load_tool(tool).main([str(tmp_path / 'no_such.pth'), str(tmp_path / 'out.pth')])


def test_mmseg_vit_checkpoint_converts_completely(tmp_path, capsys):
    """An mmseg segmentor checkpoint (ViT backbone + heads) -> mmdbp's ViT (vit_to_mmdbp) and
    mmpretrain's ViT (extract_backbone): every backbone tensor, same features."""
    from mmpretrain.models import VisionTransformer as PretrainViT
    from mmseg.models.backbones import VisionTransformer as SegViT

    from mmdbp.models.backbones import FastVisionTransformer
    torch.manual_seed(0)
    seg = SegViT(img_size=32, patch_size=8, embed_dims=24, num_layers=2, num_heads=3,
                 mlp_ratio=2, out_indices=(1, ), qkv_bias=True, with_cls_token=True,
                 **MMSEG_VIT_KWARGS)
    seg.init_weights()
    seg.eval()
    state = {f'backbone.{k}': v for k, v in seg.state_dict().items()}
    state.update({'decode_head.conv_seg.weight': torch.zeros(4, 8, 1, 1),
                  'decode_head.conv_seg.bias': torch.zeros(4)})
    src = str(tmp_path / 'upernet.pth')
    torch.save(dict(state_dict=state, meta=dict(iter=1)), src)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = seg(x)[0].flatten(2).transpose(1, 2)  # patch tokens after the final norm

    load_tool('vit_to_mmdbp').main([src, str(tmp_path / 'mmdbp.pth')])
    read, wrote, left = summary_counts(capsys.readouterr().out)
    assert (read, wrote, left) == (len(state), len(state) - 2, 2)
    out = torch.load(tmp_path / 'mmdbp.pth', weights_only=True)['state_dict']
    vit = FastVisionTransformer(arch=ARCH, img_size=32, patch_size=8, out_type='raw')
    vit.eval()
    vit.load_state_dict({k[len('backbone.'):]: v for k, v in out.items()}, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0][:, 1:], expected, atol=1e-5, rtol=1e-5)

    load_tool('extract_backbone').main([src, str(tmp_path / 'pre.pth'), '--target', 'mmpretrain'])
    assert summary_counts(capsys.readouterr().out) == (len(state), len(state) - 2, 2)
    pre = PretrainViT(arch=ARCH, img_size=32, patch_size=8, out_type='raw')
    pre.eval()
    pre.load_state_dict(torch.load(tmp_path / 'pre.pth', weights_only=True)['state_dict'],
                        strict=True)
    with torch.no_grad():
        torch.testing.assert_close(pre(x)[0][:, 1:], expected, atol=1e-5, rtol=1e-5)


def test_truncated_or_foreign_file_is_one_line(mmpretrain_mae_ckpt, tmp_path):
    src, _ = mmpretrain_mae_ckpt
    truncated = tmp_path / 'truncated.pth'
    with open(src, 'rb') as f:
        truncated.write_bytes(f.read(4000))  # an interrupted download
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint\n')
    for bad in (truncated, text):
        with pytest.raises(SystemExit, match=r'is not a readable torch checkpoint \(.*\); is it '
                           r'truncated or in another format\?'):
            load_tool('extract_backbone').main([str(bad), str(tmp_path / 'out.pth')])


def test_greenmim_to_swin_official_layout_converts_completely(tmp_path, capsys):
    """An official GreenMIM release ({'model': encoder.* + decoder}) through the tool: every
    encoder tensor written under the host Swin's names, the decoder left out and listed."""
    from mmpretrain.models.backbones import SwinTransformer

    from mmdbp.models.backbones import GreenMIMSwin
    arch = dict(embed_dims=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2])
    ours = GreenMIMSwin(arch=arch, img_size=64, window_size=2, merge_order='swin')
    official = {}
    for k, v in ours.state_dict().items():  # mmdbp -> the official timm-style names
        k = re.sub(r'^stages\.', 'layers.', k).replace('attn.w_msa.', 'attn.')
        k = k.replace('ffn.layers.0.0.', 'mlp.fc1.').replace('ffn.layers.1.', 'mlp.fc2.')
        k = k.replace('patch_embed.projection.', 'patch_embed.proj.')
        official[f'encoder.{re.sub(r"^norm3[.]", "norm.", k)}'] = v
    official.update({'mask_token': torch.zeros(1, 1, 16), 'decoder_pred.weight': torch.zeros(3, 3)})
    src = str(tmp_path / 'greenmim_official.pth')
    torch.save({'model': official, 'epoch': 800}, src)
    dst = str(tmp_path / 'swin.pth')
    load_tool('greenmim_to_swin').main([src, dst])
    read, wrote, left = summary_counts(capsys.readouterr().out)
    assert (read, wrote, left) == (len(official), len(official) - 2, 2)
    state = torch.load(dst, weights_only=True)['state_dict']
    host = SwinTransformer(arch=arch, img_size=64, window_size=2)
    missing, unexpected = host.load_state_dict(
        {k[len('backbone.'):]: v for k, v in state.items()}, strict=False)
    assert not unexpected and all('relative_position_index' in k for k in missing)
