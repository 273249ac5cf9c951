"""Shared pytest fixtures: small embedded demo data sets, generated once per test session."""
import os
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    """Absolute path of the repository (configs/, tools/)."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory) -> dict:
    """Small demo sets in the ImageNet and ADE20K layouts (4 classes x 6/2 images, 12/4 scenes).

    Returns:
        dict: ``in1k`` and ``ade20k`` data roots (with trailing slash for in1k, as configs use).
    """
    from mmdbp.datasets.demo_data import make_demo_ade20k, make_demo_in1k
    root = tmp_path_factory.mktemp('demo_data')
    in1k, ade = str(root / 'demo_in1k'), str(root / 'demo_ade20k')
    make_demo_in1k(in1k, num_classes=4, train_per_class=6, val_per_class=2, img_size=64, seed=0)
    make_demo_ade20k(ade, num_train=12, num_val=4, img_size=64, seed=0)
    return dict(in1k=in1k + os.sep, ade20k=ade)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Give every test the mmengine default scope that was current before it.

    Building a Runner or calling ``init_default_scope`` creates a new current ``DefaultScope``
    (e.g. ``mmseg`` or ``mmengine``) that outlives the test; later tests that build by plain name
    would then look in the wrong host registry and pass or fail depending on the test order.
    """
    from mmengine.registry import DefaultScope
    saved = list(DefaultScope._instance_dict.items())
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)
