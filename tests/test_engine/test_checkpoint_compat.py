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


# ------------------------------------------------------------------ safe loading (weights_only)
class Payload:
    """Unpickling this creates ``path``: stands for a checkpoint that runs code when loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_payload_pickle_is_still_refused_with_mmdbp_imported(tmp_path):
    import pickle

    from mmengine.runner import load_checkpoint
    marker = tmp_path / 'payload_ran'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=Payload(marker)), path)
    with pytest.raises(pickle.UnpicklingError, match=r'(?s)Weights only load failed.*evil\.pth '
                       r'holds an object that is neither a tensor nor on the allow-list'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')  # load_from, resume, Pretrained
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        load_checkpoint(torch.nn.Linear(2, 2), path, map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch's own default is untouched, too
    assert not marker.exists()


class AttributeOfHistoryBuffer:
    """Pickles as ``getattr(HistoryBuffer, name)``, the way HistoryBuffer stores its statistics
    methods."""

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, self.name))


def test_getattr_resolves_only_history_buffer_statistics(tmp_path):
    import pickle

    from mmengine.logging import HistoryBuffer
    path = str(tmp_path / 'a.pth')
    torch.save(AttributeOfHistoryBuffer('mean'), path)
    assert torch.load(path, weights_only=True) is HistoryBuffer.mean
    for name in ('update', 'register_statistics', '__init__'):
        torch.save(AttributeOfHistoryBuffer(name), path)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, weights_only=True)


def test_rng_states_and_numpy_values_are_allow_listed(tmp_path):
    """What mmengine's message hub and a resume helper's RNG states store: numpy arrays,
    scalars and dtypes, numpy's RandomState tuple, python's random state, torch ByteTensors."""
    import random

    import numpy as np
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(np.float64(0.5))
    buf.update(2.0)
    values = dict(hist=buf, np_rng=np.random.RandomState(3).get_state(), py_rng=random.getstate(),
                  torch_rng=torch.get_rng_state(), f32=np.float32(1.5), i64=np.int64(7),
                  arr=np.arange(6, dtype=np.int32).reshape(2, 3), dt=np.dtype('float16'),
                  flag=np.bool_(True))
    path = str(tmp_path / 'values.pth')
    torch.save(values, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['hist'].data[0].tolist() == [0.5, 2.0]
    np_state = loaded['np_rng']
    rng = np.random.RandomState()
    rng.set_state(np_state)
    assert rng.randint(1 << 30) == np.random.RandomState(3).randint(1 << 30)
    replay, original = random.Random(), random.Random()
    replay.setstate(loaded['py_rng'])
    original.setstate(values['py_rng'])
    assert [replay.random() for _ in range(3)] == [original.random() for _ in range(3)]
    assert torch.equal(loaded['torch_rng'], values['torch_rng'])
    assert loaded['f32'] == np.float32(1.5) and loaded['i64'] == 7 and loaded['flag']
    assert loaded['arr'].dtype == np.int32 and loaded['dt'] == np.dtype('float16')


def _train_cfg(config, work_dir, max_iters, options):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    cfg.train_cfg.max_iters = max_iters
    cfg.work_dir = work_dir
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    return cfg


def _mae_options(root):
    return {'train_dataloader.batch_size': 4, 'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'train_dataloader.dataset.data_root': root}


def _seg_options(root):
    opts = {'model.backbone.init_cfg': None, 'train_cfg.val_interval': 100,
            'train_dataloader.batch_size': 2}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.num_workers': 0, f'{loader}.persistent_workers': False,
                     f'{loader}.dataset.data_root': root})
    return opts


def test_mmengine_checkpoints_of_demo_configs_resume_and_load_safely(repo_root, demo_data,
                                                                     tmp_path):
    """Real checkpoints (message hub HistoryBuffers, numpy values) of a 1-iteration run of an
    mmpretrain-scoped and an mmseg-scoped config load with weights_only=True through Runner's
    resume and load_from."""
    import os.path as osp

    from mmengine.logging import HistoryBuffer
    from mmengine.runner import Runner
    mae = osp.join(repo_root, 'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py')
    seg = osp.join(repo_root, 'configs/demo/upernet_vit-micro-p4_1xb8-400i_demo-ade20k-64x64.py')

    # mmpretrain scope: train 1 iteration, then resume to 2
    work = str(tmp_path / 'mae')
    Runner.from_cfg(_train_cfg(mae, work, 1, _mae_options(demo_data['in1k']))).train()
    ckpt = torch.load(osp.join(work, 'iter_1.pth'), weights_only=True)
    scalars = ckpt['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    cfg = _train_cfg(mae, work, 2, _mae_options(demo_data['in1k']))
    cfg.resume, cfg.load_from = True, osp.join(work, 'iter_1.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 2  # resumed history + 1

    # mmseg scope: train 1 iteration, then load_from into a fresh runner
    work = str(tmp_path / 'seg')
    Runner.from_cfg(_train_cfg(seg, work, 1, _seg_options(demo_data['ade20k']))).train()
    saved = torch.load(osp.join(work, 'iter_1.pth'), weights_only=True)['state_dict']
    cfg = _train_cfg(seg, str(tmp_path / 'seg2'), 1, _seg_options(demo_data['ade20k']))
    cfg.load_from = osp.join(work, 'iter_1.pth')
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    state = runner.model.state_dict()
    assert saved.keys() == state.keys()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
