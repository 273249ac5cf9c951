"""tools/benchmark_pruning.py speed: runs on tiny inputs, reports the exact token counts of the
configured keep ratios and writes its JSON report and Markdown rows."""
import glob
import importlib.util
import json
import os.path as osp


def load_tool(repo_root):
    path = osp.join(repo_root, 'tools', 'benchmark_pruning.py')
    spec = importlib.util.spec_from_file_location('benchmark_pruning', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_on_tiny_inputs(repo_root, tmp_path):
    tool = load_tool(repo_root)
    md = tmp_path / 'benchmarks.md'
    md.write_text('# Benchmarks\n\n## Token pruning\n\ntext\n')
    tool.main(['--out-dir', str(tmp_path), '--md', str(md), 'speed', '--archs', 'deit-small',
               '--batch', '1', '--img-size', '64', '--keeps', '0.5', '--iters', '1',
               '--rounds', '1', '--warmup', '0', '--seg-size', '64', '--seg-channels', '16'])
    report = json.load(open(glob.glob(str(tmp_path / 'pruning_speed_*.json'))[0]))
    rows = {(r['model'], r['keep']): r for r in report['rows']}
    # 64 px / 16 = 16 patches. DynamicViT: cls + int(16 * 0.5^s);
    # EViT: cls + ceil(0.5 (N - 1)) + the fused token
    assert rows[('dynamicvit deit-small', 0.5)]['tokens_after_stages'] == [9, 5, 3]
    assert rows[('evit deit-small', 0.5)]['tokens_after_stages'] == [10, 7, 5]
    assert rows[('upernet-dynamicvit deit-small', 0.5)]['tokens_after_stages'] == [9, 5, 3]
    for r in rows.values():
        assert r['dense_img_s'] > 0 and r['pruned_img_s'] > 0 and r['pruned_peak_mib'] > 0
    text = md.read_text()
    assert text.count('| dynamicvit deit-small |') == 1 and '| upernet-evit deit-small |' in text
