"""tools/benchmark_data.py on a tiny generated ImageNet-format set (no timing assertions)."""
import json
import math
import os.path as osp

from shared_helpers import load_tool

from mmdbp.datasets.demo_data import make_demo_in1k

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_benchmark_data_reports_per_worker_rate_and_needed_workers(tmp_path):
    tool = load_tool('benchmark_data.py')
    root = tmp_path / 'in1k'
    make_demo_in1k(str(root), 2, 3, 1, 48, 0)
    md, out = tmp_path / 'b.md', tmp_path / 'd.json'
    report = tool.main([
        '--config', osp.join(ROOT, 'configs/_base_/datasets/demo_in1k_mae.py'),
        '--data-root', str(root), '--samples', '4', '--workers', '0', '1', '--batch', '2',
        '--rates', '100', '1000', '--md', str(md), '--out', str(out)])
    saved = json.loads(out.read_text())
    one = saved['per_worker_images_per_s']
    assert one > 0 and set(saved['loader_images_per_s']) == {'0', '1'}
    assert saved['workers_needed'] == {'100': math.ceil(100 / one), '1000': math.ceil(1000 / one)}
    assert report['pipeline'] == 'demo_in1k_mae.py'
    text = md.read_text()
    assert '## Data loading' in text and '| img/s per worker (per CPU s / wall s) |' in text
    assert saved['per_worker_images_per_wall_s'] > 0
    assert text.count('demo_in1k_mae.py') == 1
