"""mmdbp's local checkpoint loader: loads mmengine checkpoints under torch >= 2.6, and a missing
demo checkpoint names the config that writes it."""
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

import mmdbp  # noqa: F401  (registers the loader)

PRODUCER = 'configs/dynamicvit/dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py'


def test_loads_a_checkpoint_with_non_tensor_objects(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=dict(obj={1, 2})), path)
    ckpt = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['obj'] == {1, 2} and torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_missing_work_dir_checkpoint_names_the_config_that_writes_it(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    missing = 'work_dirs/dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k/epoch_5.pth'
    with pytest.raises(FileNotFoundError, match=f'run `python tools/train.py {PRODUCER}` first'):
        CheckpointLoader.load_checkpoint(missing)


def test_missing_other_checkpoint_has_no_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'can not be found\.$'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'work_dirs' / 'no_such_config' / 'a.pth'))
    with pytest.raises(FileNotFoundError, match=r'can not be found\.$'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'x.pth'))
