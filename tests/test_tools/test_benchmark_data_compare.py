"""tools/benchmark_data.py --compare on a tiny ImageNet-like set (structure only, no timing
assertions): every pipeline of the comparison is timed, profiled per transform and read through
a DataLoader, and the baseline's ratio to itself is 1."""
import json

from shared_helpers import load_tool


def test_compare_reports_every_pipeline(tmp_path):
    tool = load_tool('benchmark_data.py')
    out = tmp_path / 'c.json'
    report = tool.main(['--compare', 'mae-224', '--num-images', '3', '--data-dir', str(tmp_path),
                        '--rounds', '1', '--samples', '2', '--workers', '0', '--batch', '2',
                        '--loader-batches', '1', '--resized-copy', '160', '--out', str(out)])
    saved = json.loads(out.read_text())
    res = saved['comparisons']['mae-224']
    names = list(tool.COMPARISONS['mae-224']) + ['fast, pre-resized copy (short side 160; '
                                                  'other pixels)']
    assert list(res['pipelines']) == names
    assert res['pipelines']['mmpretrain']['cpu_ratio'] == 1.0
    assert all(r['cpu_images_per_s'] > 0 for r in res['pipelines'].values())
    assert set(res['profile_ms']['fast']) == {'FastRandomResizedCrop', 'PackInputs'}  # flip fused
    assert set(res['loaders']) == set(names) - {'decode only (LoadImageFromFile)'}
    assert saved['images']['subsampling'] == '4:2:0' and report['threads'] == 1
    from PIL import Image
    copy = tmp_path / 'imagenet_like_3_short160' / 'train'
    sides = [min(Image.open(p).size) for p in copy.rglob('*.JPEG')]
    assert len(sides) == 3 and max(sides) == 160


def test_repeated_runs_summarise_the_spread(tmp_path):
    """--runs 2: two comparisons in fresh processes; the summary's median, min and max are
    those of the per-run ratios the two reports hold."""
    tool = load_tool('benchmark_data.py')
    out = tmp_path / 'r.json'
    report = tool.main(['--compare', 'simmim-192', '--num-images', '3', '--data-dir',
                        str(tmp_path), '--rounds', '1', '--samples', '2', '--workers', '0',
                        '--batch', '2', '--loader-batches', '1', '--runs', '2', '--out', str(out)])
    saved = json.loads(out.read_text())
    assert len(saved['runs']) == 2 and saved['summary'] == report['summary']
    for name, stats in saved['summary']['simmim-192'].items():
        per_run = [r['comparisons']['simmim-192']['pipelines'][name]['cpu_ratio']
                   for r in saved['runs']]
        assert stats['cpu']['runs'] == per_run
        assert stats['cpu']['min'] == min(per_run) and stats['cpu']['max'] == max(per_run)
        assert stats['cpu']['median'] == sum(per_run) / 2
    assert saved['summary']['simmim-192']['mmpretrain']['cpu']['median'] == 1.0


def test_device_decode_mode_on_cpu(tmp_path):
    """--device-decode cpu: the worker side and the preprocessor (torchvision's CPU decoder)."""
    tool = load_tool('benchmark_data.py')
    out = tmp_path / 'd.json'
    report = tool.main(['--device-decode', 'cpu', '--num-images', '3', '--data-dir', str(tmp_path),
                        '--samples', '2', '--batch', '2', '--rounds', '1', '--out', str(out)])
    saved = json.loads(out.read_text())
    assert saved['output_shape'] == [2, 3, 224, 224] == report['output_shape']
    assert saved['worker_images_per_cpu_s'] > 0 and saved['preprocessor_images_per_s'] > 0
