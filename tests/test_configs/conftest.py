"""Fixtures of the config tests."""
import os.path as osp

import pytest


@pytest.fixture(scope='session')
def config_demo_data(demo_data, tmp_path_factory) -> dict:
    """The session's demo sets, with an ADE20K-format set of 20 training scenes instead of 12:
    the ``-10pct`` segmentation configs then draw 2 scenes, the smallest batch UPerNet's
    BatchNorm layers train on.

    Returns:
        dict: ``in1k`` and ``ade20k`` data roots, as ``demo_data``.
    """
    from mmdbp.datasets.demo_data import make_demo_ade20k
    ade = osp.join(str(tmp_path_factory.mktemp('config_data')), 'demo_ade20k')
    make_demo_ade20k(ade, num_train=20, num_val=2, img_size=64, seed=0)
    return dict(demo_data, ade20k=ade)
