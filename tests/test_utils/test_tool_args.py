"""The pieces tools/train.py and tools/test.py share."""
import argparse
import os
import os.path as osp

import pytest
from mmengine.config import Config

from mmdbp.utils.tool_args import (add_launcher_args, converter_parser, set_local_rank,
                                   set_work_dir, write_checkpoint)


@pytest.mark.parametrize('cli,in_cfg,expected', [
    ('cli_dir', 'cfg_dir', 'cli_dir'),  # --work-dir wins
    (None, 'cfg_dir', 'cfg_dir'),  # then the config's
    (None, None, osp.join('./work_dirs', 'my_config')),  # then ./work_dirs/<config name>
])
def test_work_dir_precedence(cli, in_cfg, expected):
    cfg = Config(dict(work_dir=in_cfg) if in_cfg else {})
    set_work_dir(cfg, cli, 'configs/x/my_config.py')
    assert cfg.work_dir == expected


@pytest.mark.parametrize('flag', ['--local_rank', '--local-rank'])
def test_local_rank_is_exported_unless_the_launcher_set_it(flag, monkeypatch):
    parser = argparse.ArgumentParser()
    add_launcher_args(parser)
    args = parser.parse_args(['--launcher', 'pytorch', flag, '3'])
    assert args.launcher == 'pytorch'
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    set_local_rank(args)
    assert os.environ['LOCAL_RANK'] == '3'
    monkeypatch.setenv('LOCAL_RANK', '1')  # torchrun's value is kept
    set_local_rank(args)
    assert os.environ['LOCAL_RANK'] == '1'


def test_unknown_launcher_is_rejected():
    parser = argparse.ArgumentParser()
    add_launcher_args(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(['--launcher', 'ssh'])


def test_pytorch_launcher_without_torchrun_says_how_to_start(monkeypatch):
    """On CPU mmdbp starts the gloo group itself: a missing torchrun environment must be named,
    not surface as KeyError: 'RANK'."""
    import torch
    from mmdbp.utils import prepare_launcher
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match=r'--launcher pytorch: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT '
                       r'not set; start the job with tools/dist_train\.sh'):
        prepare_launcher(Config({}), 'pytorch')


@pytest.mark.parametrize('trust', [True, False])
def test_converter_parser_and_write_checkpoint(tmp_path, trust):
    import torch
    parser = converter_parser('convert', 'source', trust_pickle=trust)
    args = parser.parse_args(['a.pth', str(tmp_path / 'new' / 'dir' / 'b.pth')])
    assert (args.src, getattr(args, 'trust_pickle', None)) == ('a.pth', False if trust else None)
    if not trust:  # a converter that reads no torch pickle has no such flag
        with pytest.raises(SystemExit):
            parser.parse_args(['a.pth', 'b.pth', '--trust-pickle'])
    write_checkpoint({'state_dict': {'w': torch.arange(3)}}, args.dst)
    saved = torch.load(args.dst, map_location='cpu', weights_only=True)
    assert saved['state_dict']['w'].tolist() == [0, 1, 2]
