"""Packaging and repository contracts: README commands, CI entry, openmim index, configs, converters."""
import functools
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from collections import defaultdict

import pytest
import torch
import yaml


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one(repo_root):
    with open(osp.join(repo_root, 'README.md')) as f:
        text = f.read()
    first_block = re.search(r'```bash\n(.*?)```', text, re.S)
    assert text.index(first_block.group(0)) < text.index('\n\n', text.index('# mmdbp') + 7) + 3
    commands = [line.split('#')[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ['make demo', 'make test']
    with open(osp.join(repo_root, '.ci', 'run')) as f:
        lines = [line.strip() for line in f if line.strip()]
    assert lines[0] == '#!/usr/bin/env bash' and 'set -euo pipefail' in lines
    assert lines[-1] == 'make test' and os.access(osp.join(repo_root, '.ci', 'run'), os.X_OK)


def test_make_test_fails_when_pytest_collects_nothing(repo_root, tmp_path):
    """Exit code 5 (no tests collected) must not pass as success."""
    with open(osp.join(repo_root, 'Makefile')) as f:
        makefile = f.read()
    recipe = re.search(r'^test:.*?\n((?:\t.*\n)+)', makefile, re.M).group(1)
    recipe = recipe.replace('$(PY)', sys.executable).replace('$$', '$').replace('\t', '').replace('@', '', 1)
    recipe = recipe.replace('pytest tests', f'pytest {tmp_path}')  # an empty folder
    proc = subprocess.run(['bash', '-c', recipe.replace('\\\n', ' ')], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 5 and 'collected no tests' in proc.stderr


@pytest.mark.parametrize('venv', [None, '/opt/envs/mmdbp'])
def test_make_demo_and_test_use_the_environment_setup_built(repo_root, venv):
    """README: PYTHON picks the interpreter setup builds the venv from, MMDBP_VENV moves the venv.
    The demo and the tests must run in that venv, not with $PYTHON (a bare interpreter)."""
    env = dict(os.environ, PYTHON='/usr/bin/python3-bare')
    env.pop('MMDBP_VENV', None)
    if venv:
        env['MMDBP_VENV'] = venv
    want = f'{venv or ".venv"}/bin/python'
    demo = subprocess.run(['make', '-n', 'demo'], cwd=repo_root, env=env, capture_output=True, text=True)
    assert f'PYTHON="{want}" bash tools/run_demo.sh' in demo.stdout.splitlines(), demo.stdout
    test = subprocess.run(['make', '-n', 'test'], cwd=repo_root, env=env, capture_output=True, text=True)
    assert f'{want} -m pytest tests' in test.stdout, test.stdout


def test_shell_scripts_parse(repo_root):
    for script in ['tools/setup.sh', 'tools/run_demo.sh', 'tools/dist_train.sh', 'tools/dist_test.sh',
                   'tools/slurm_train.sh', 'tools/slurm_test.sh', '.ci/run']:
        proc = subprocess.run(['bash', '-n', osp.join(repo_root, script)], capture_output=True, text=True)
        assert proc.returncode == 0, f'{script}: {proc.stderr}'


@pytest.mark.parametrize('script, needed', [('tools/dist_train.sh', 2), ('tools/dist_test.sh', 3),
                                             ('tools/slurm_train.sh', 3), ('tools/slurm_test.sh', 4)])
def test_launcher_scripts_print_their_usage_when_arguments_are_missing(repo_root, tmp_path, script, needed):
    """Not bash's '$2: unbound variable'; run from another folder, nothing is launched."""
    for given in range(needed):
        proc = subprocess.run(['bash', osp.join(repo_root, script)] + ['x'] * given, cwd=tmp_path,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f'usage: bash {script} ') and 'unbound' not in proc.stderr


def test_model_index_lists_every_metafile(repo_root):
    with open(osp.join(repo_root, 'model-index.yml')) as f:
        listed = set(yaml.safe_load(f)['Import'])
    present = {osp.relpath(p, repo_root) for p in glob.glob(osp.join(repo_root, 'configs', '*', 'metafile.yml'))}
    assert listed == present, f'add to model-index.yml: {sorted(present - listed)}; ' \
                              f'missing files: {sorted(listed - present)}'
    for meta in sorted(present):
        with open(osp.join(repo_root, meta)) as f:
            for model in yaml.safe_load(f).get('Models', []):
                assert osp.isfile(osp.join(repo_root, model['Config'])), f'{meta}: {model["Config"]}'


def test_metafile_parameter_counts_match_the_built_models(repo_root, monkeypatch):
    """`Parameters` in a metafile is the whole model its config builds (classifier head and
    pre-training decoders included, as in mmpretrain's metafiles); built on the meta device."""
    from unittest import mock

    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import mmdbp  # noqa: F401
    from mmdbp.registry import MODELS
    cpu_linspace = functools.partial(torch.linspace, device='cpu')  # drop-path rates need values
    wrong = []
    for meta in sorted(glob.glob(osp.join(repo_root, 'configs', '*', 'metafile.yml'))):
        with open(meta) as f:
            models = yaml.safe_load(f).get('Models', [])
        for model in models:
            stated = (model.get('Metadata') or {}).get('Parameters')
            if stated is None:
                continue
            cfg = Config.fromfile(osp.join(repo_root, model['Config']))
            with DefaultScope.overwrite_default_scope(cfg.default_scope), torch.device('meta'), \
                    mock.patch('torch.linspace', cpu_linspace):
                built = sum(p.numel() for p in MODELS.build(cfg.model).parameters())
            if built != stated:
                wrong.append(f'{model["Name"]}: metafile {stated}, config builds {built}')
    assert not wrong, '\n'.join(wrong)

def test_config_names_are_unique_for_mim(repo_root):
    """`mim train mmdbp NAME.py` finds a config by its file name: names must be unique."""
    where = defaultdict(list)
    for path in glob.glob(osp.join(repo_root, 'configs', '**', '*.py'), recursive=True):
        if '_base_' not in path.split(os.sep):
            where[osp.basename(path)].append(osp.relpath(path, repo_root))
    assert not {k: v for k, v in where.items() if len(v) > 1}


def test_every_config_loads(repo_root):
    from mmengine.config import Config
    broken = []
    for path in sorted(glob.glob(osp.join(repo_root, 'configs', '**', '*.py'), recursive=True)):
        try:
            Config.fromfile(path)
        except Exception as e:  # noqa: BLE001 - report them all at once
            broken.append(f'{osp.relpath(path, repo_root)}: {type(e).__name__}: {e}'[:300])
    assert not broken, '\n'.join(broken)


def test_amp_in_a_config_name_means_amp_optim_wrapper(repo_root):
    """docs/design.md: the MAE schedule base is fp32 (CPU); configs with `amp` in their name
    switch on `AmpOptimWrapper` (as mmpretrain's), directly or as the wrapper DBP wraps."""
    from mmengine.config import Config
    fp32 = []
    for path in sorted(glob.glob(osp.join(repo_root, 'configs', '**', '*.py'), recursive=True)):
        if '_base_' in path.split(os.sep) or '-amp-' not in osp.basename(path):
            continue
        wrapper = Config.fromfile(path).optim_wrapper
        if wrapper.get('type') == 'DBPOptimWrapper':
            wrapper = wrapper.optim_wrapper
        if wrapper.get('type') != 'AmpOptimWrapper':
            fp32.append(f'{osp.relpath(path, repo_root)}: {wrapper.get("type")}')
    assert not fp32, '\n'.join(fp32)

def test_runtime_bases_import_mmdbp(repo_root):
    from mmengine.config import Config
    for name, scope in (('default_runtime.py', 'mmpretrain'), ('default_runtime_seg.py', 'mmseg')):
        cfg = Config.fromfile(osp.join(repo_root, 'configs', '_base_', name))
        assert cfg.default_scope == scope
        assert cfg.custom_imports == dict(imports=['mmdbp'], allow_failed_imports=False)


def test_mim_sees_configs_and_tools_in_the_installed_package():
    """openmim looks in <dist location>/mmdbp/.mim (see tools/setup.sh)."""
    from mim.utils import get_installed_path
    root = get_installed_path('mmdbp')
    for rel in ('.mim/configs/demo', '.mim/tools/train.py', '.mim/tools/test.py', '.mim/model-index.yml'):
        assert osp.exists(osp.join(root, rel)), rel


def test_extract_backbone_gives_an_mmseg_vit_checkpoint(repo_root, tmp_path):
    """A FastMAEViT training checkpoint converts to weights mmseg's ViT loads strictly."""
    import importlib.util

    from mmseg.models.backbones import VisionTransformer

    from mmdbp.models.backbones import FastMAEViT
    arch = dict(embed_dims=24, num_layers=2, num_heads=2, feedforward_channels=48)
    enc = FastMAEViT(arch=arch, img_size=32, patch_size=8)
    enc.init_weights()
    state = {f'backbone.{k}': v for k, v in enc.state_dict().items()}
    state['neck.decoder_embed.weight'] = torch.zeros(3, 3)  # dropped
    torch.save(dict(state_dict=state, meta=dict(iter=7)), tmp_path / 'iter_7.pth')

    spec = importlib.util.spec_from_file_location(
        'extract_backbone', osp.join(repo_root, 'tools/model_converters/extract_backbone.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([str(tmp_path / 'iter_7.pth'), str(tmp_path / 'vit.pth'), '--target', 'mmseg'])
    out = torch.load(tmp_path / 'vit.pth', map_location='cpu', weights_only=False)
    assert out['meta']['iter'] == 7 and out['meta']['target'] == 'mmseg'

    vit = VisionTransformer(img_size=32, patch_size=8, embed_dims=24, num_layers=2, num_heads=2, mlp_ratio=2,
                            qkv_bias=True, patch_bias=True, final_norm=True, with_cls_token=True)
    vit.load_state_dict(out['state_dict'], strict=True)
    torch.testing.assert_close(vit.layers[1].ffn.layers[1].weight, enc.blocks[1].mlp.fc2.weight)
    q, k, v = enc.blocks[0].attn.qkv.weight.chunk(3)
    torch.testing.assert_close(vit.layers[0].attn.attn.in_proj_weight, torch.cat([q, k, v]))

    with pytest.raises(SystemExit, match='no weights under'):
        tool.main([str(tmp_path / 'iter_7.pth'), str(tmp_path / 'x.pth'), '--prefix', 'encoder.'])


def test_plot_train_loss(repo_root, tmp_path):
    import importlib.util
    vis = tmp_path / 'run' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    records = [dict(loss=2.0, time=0.5, iter=10, step=10), dict(loss=1.0, time=0.25, iter=20, step=20),
               dict(mIoU=50.0, step=20)]
    (vis / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    spec = importlib.util.spec_from_file_location('plot', osp.join(repo_root, 'tools/analysis/plot_train_loss.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    run = tool.load_scalars(str(tmp_path / 'run'))
    assert run['iter'] == [10, 20] and run['value'] == [2.0, 1.0] and run['time'] == [5.0, 7.5]
    tool.main([f'A={tmp_path / "run"}', '--out', str(tmp_path / 'loss.png')])
    assert (tmp_path / 'loss.png').stat().st_size > 1000


def test_building_a_wheel_keeps_the_editable_installs_links(repo_root, tmp_path):
    """A wheel build copies configs/ and tools/ into mmdbp/.mim; in a checkout with an editable
    install (.mim holds symlinks) the links must come back, or `mim train mmdbp` would read
    frozen copies from then on."""
    clone = tmp_path / 'clone'
    subprocess.run(['git', 'clone', '-q', repo_root, str(clone)], check=True)
    shutil.copy(osp.join(repo_root, 'setup.py'), clone / 'setup.py')  # the working tree's
    mim = clone / 'mmdbp' / '.mim'
    mim.mkdir()
    for name in ('configs', 'tools', 'model-index.yml'):
        os.symlink(osp.join('..', '..', name), mim / name)
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                           '-w', str(tmp_path / 'wheels'), str(clone)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ('configs', 'tools', 'model-index.yml'):
        assert os.readlink(mim / name) == osp.join('..', '..', name)
    import zipfile
    wheel, = glob.glob(str(tmp_path / 'wheels' / 'mmdbp-*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    assert 'mmdbp/.mim/tools/train.py' in names and 'mmdbp/.mim/model-index.yml' in names
    assert any(n.startswith('mmdbp/.mim/configs/dbp_mae/') for n in names)
    assert not any('__pycache__' in n for n in names)


def test_demo_refuses_a_work_dir_with_spaces_before_running_anything(repo_root, tmp_path):
    """mmengine's --cfg-options parser deletes spaces from values, so the fine-tuning step would
    look for the converted checkpoint in another folder; the demo must stop at once instead."""
    env = dict(os.environ, DEMO_WORK_DIR=str(tmp_path / 'my demo'), PYTHON='/bin/false')
    proc = subprocess.run(['bash', 'tools/run_demo.sh'], cwd=repo_root, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and 'contains a space' in proc.stderr
    assert '[demo] ==' not in proc.stdout  # no step started
