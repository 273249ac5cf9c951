"""End to end: the MIRL demo pre-training config runs a few iterations with tools/train.py
(saving a checkpoint and a reconstruction grid), and the demo fine-tuning config fine-tunes
from that checkpoint and evaluates."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
from PIL import Image

PRETRAIN = 'configs/mirl/mirl_vit-demo-d12-p4_1xb32-coslr-50e_demo-in1k-32px.py'
FINETUNE = 'configs/mirl/benchmarks/vit-demo-d12-p4_1xb32-coslr-30e_demo-in1k-32px.py'


def train(repo_root, config, work_dir, *options):
    cmd = [sys.executable, osp.join(repo_root, 'tools', 'train.py'), config, '--work-dir',
           str(work_dir), '--cfg-options', *options]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def pretrained(demo_data, repo_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('mirl_pretrain')
    log = train(repo_root, PRETRAIN, work,
                f'train_dataloader.dataset.data_root={demo_data["in1k"]}',
                'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
                'train_cfg.max_epochs=1', 'custom_hooks.0.interval=2',
                'default_hooks.logger.interval=1')
    return work, log


def test_demo_pretraining_logs_pairs_and_saves(pretrained):
    work, log = pretrained
    assert osp.isfile(work / 'epoch_1.pth')
    for key in ('loss:', 'pair0_mse:', 'pair1_mse:', 'pair2_mse:'):
        assert key in log
    grids = sorted(glob.glob(str(work / 'reconstructions' / '*.png')))
    assert grids, 'no reconstruction grid written'
    # 4 samples x 14 columns (input, masked, 3 pairs x main/residual/sum/sum_pasted), 32 px x4
    w, h = Image.open(grids[-1]).size
    assert (h, w) == (4 * (128 + 2) + 2, 14 * (128 + 2) + 2)


def test_demo_finetuning_from_the_checkpoint(pretrained, demo_data, repo_root, tmp_path):
    work, _ = pretrained
    root = demo_data['in1k']
    log = train(repo_root, FINETUNE, tmp_path,
                f'model.backbone.init_cfg.checkpoint={work / "epoch_1.pth"}',
                f'train_dataloader.dataset.data_root={root}',
                f'val_dataloader.dataset.data_root={root}',
                f'test_dataloader.dataset.data_root={root}',
                'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
                'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
                'train_cfg.max_epochs=1', 'train_cfg.val_interval=1')
    assert f'Loads checkpoint by local backend from path: {work / "epoch_1.pth"}' in log
    # Every encoder weight was loaded: only the new pooled-feature norm is missing.
    missing = [line for line in log.splitlines() if 'missing keys in source state_dict' in line]
    assert missing == ['missing keys in source state_dict: norm_avg.weight, norm_avg.bias']
    assert 'accuracy/top1' in log
    assert osp.isfile(tmp_path / 'epoch_1.pth')
