"""Fixtures of the config tests."""
import os.path as osp

import pytest


@pytest.fixture(scope='session')
def config_demo_data(tmp_path_factory) -> dict:
    """Small generated sets for running configs: ImageNet layout with 4 classes x 6 training /
    1 validation images, ADE20K layout with 20 training / 2 validation scenes (the ``-10pct``
    segmentation configs then draw 2 scenes, the smallest batch UPerNet's BatchNorm layers train
    on), all 64 x 64.

    Returns:
        dict: ``in1k`` (with trailing slash, as configs use) and ``ade20k`` data roots.
    """
    from mmdbp.datasets.demo_data import make_demo_ade20k, make_demo_in1k
    root = str(tmp_path_factory.mktemp('config_data'))
    in1k, ade = osp.join(root, 'demo_in1k'), osp.join(root, 'demo_ade20k')
    make_demo_in1k(in1k, num_classes=4, train_per_class=6, val_per_class=1, img_size=64, seed=0)
    make_demo_ade20k(ade, num_train=20, num_val=2, img_size=64, seed=0)
    return dict(in1k=in1k + osp.sep, ade20k=ade)
