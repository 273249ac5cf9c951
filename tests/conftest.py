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


@pytest.fixture
def bad_demo_data(demo_data, tmp_path) -> dict:
    """A copy of ``demo_data`` with corrupt files (the originals are left intact).

    in1k train (by the line order of meta/train.txt): index 5 random bytes, 11 a truncated JPEG,
    17 an empty file; in1k val: index 3 empty. ade20k training (sorted file names, as mmseg lists
    them): index 4 a random-bytes annotation PNG, 7 an empty annotation PNG, 9 a truncated image
    JPEG; validation: index 2 a random-bytes image JPEG.

    Returns:
        dict: ``in1k`` / ``ade20k`` roots (as ``demo_data``) and ``bad``: for each of
        ``in1k_train``, ``in1k_val``, ``ade20k_train``, ``ade20k_val`` a dict
        ``{normalised path: (dataset index, kind)}``.
    """
    import random
    import shutil
    in1k, ade = str(tmp_path / 'demo_in1k'), str(tmp_path / 'demo_ade20k')
    shutil.copytree(demo_data['in1k'], in1k)
    shutil.copytree(demo_data['ade20k'], ade)
    rng = random.Random(0)

    def corrupt(path, kind):
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            if kind == 'garbage':
                f.write(bytes(rng.randrange(256) for _ in range(600)))
            elif kind == 'truncated':
                f.write(data[:len(data) * 3 // 5])
            # 'empty': nothing
        return osp.normpath(path)

    bad = {}
    for split, plan in (('train', {5: 'garbage', 11: 'truncated', 17: 'empty'}), ('val', {3: 'empty'})):
        with open(osp.join(in1k, 'meta', f'{split}.txt')) as f:
            rels = [line.split()[0] for line in f if line.strip()]
        bad[f'in1k_{split}'] = {corrupt(osp.join(in1k, split, rels[i]), kind): (i, kind)
                                for i, kind in plan.items()}
    for split, folder, plan in (('train', 'training', {4: ('annotations', 'garbage'),
                                                        7: ('annotations', 'empty'),
                                                        9: ('images', 'truncated')}),
                                ('val', 'validation', {2: ('images', 'garbage')})):
        stems = sorted(osp.splitext(n)[0] for n in os.listdir(osp.join(ade, 'images', folder)))
        bad[f'ade20k_{split}'] = {
            corrupt(osp.join(ade, sub, folder, stems[i] + ('.png' if sub == 'annotations' else '.jpg')),
                    kind): (i, kind)
            for i, (sub, kind) in plan.items()}
    return dict(in1k=in1k + os.sep, ade20k=ade, bad=bad)
