"""A path argument of a tool that does not exist is a one-line error saying what to do, never a
traceback (issue 14, item 6)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAE_CFG = 'configs/demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py'


def load_tool(rel):
    name = osp.splitext(osp.basename(rel))[0]
    spec = importlib.util.spec_from_file_location(f'tool_{name}', osp.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize('args,message', [
    (['tools/train.py', 'no/such/config.py'],
     "config 'no/such/config.py' does not exist: pass the path of a config file"),
    (['tools/analysis/plot_train_loss.py', 'A=no/such/run', '--out', 'x.png'],
     'no */vis_data/scalars.json under no/such/run'),
])
def test_cli_prints_one_line_and_no_traceback(args, message):
    proc = run(args, ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_train_and_test_name_the_missing_config(tmp_path):
    ckpt = tmp_path / 'a.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit, match=r"config 'nope\.py' does not exist: pass the path"):
        load_tool('tools/test.py').main(['nope.py', str(ckpt)])
    with pytest.raises(SystemExit, match=r"config '.*' is a directory, not a file"):
        load_tool('tools/train.py').main([str(tmp_path)])


def test_missing_checkpoint(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit, match=r"checkpoint 'no/such/iter_1\.pth' does not exist\. Pass an "
                       r'existing checkpoint file \(or a URL\)\.$'):
        load_tool('tools/test.py').main([MAE_CFG, 'no/such/iter_1.pth'])
    # a work-dir checkpoint names the run that writes it
    missing = 'work_dirs/mae_vit-micro-p4_1xb32-300i_demo-in1k/iter_300.pth'
    with pytest.raises(SystemExit, match=rf"'{missing}' does not exist\. It is written by training "
                       rf'{MAE_CFG}: run `python tools/train.py {MAE_CFG}` first'):
        load_tool('tools/test.py').main([MAE_CFG, missing])


def test_make_subset_missing_data_root(tmp_path):
    with pytest.raises(SystemExit, match=r"--data-root '.*nowhere' does not exist: pass the root "
                       r'of the data set .*make_demo_data\.py'):
        load_tool('tools/make_subset.py').main(
            ['--layout', 'imagenet', '--data-root', str(tmp_path / 'nowhere'), '--split', 'train',
             '--fraction', '0.1'])


def test_benchmark_missing_config():
    with pytest.raises(SystemExit, match=r'\[benchmark\] Config file not found: no/such\.py '
                       r'Pass a config path'):
        load_tool('tools/benchmark.py').main(['no/such.py', '--no-md'])


def test_benchmark_pruning_missing_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tool changes to the repository; restored afterwards
    with pytest.raises(SystemExit, match=r"--in1k-root '.*nowhere' does not exist: leave it out"):
        load_tool('tools/benchmark_pruning.py').main(
            ['--no-md', 'demo', '--in1k-root', str(tmp_path / 'nowhere')])


def test_paste_rows_missing_inputs(tmp_path):
    tool = load_tool('tools/device/paste_rows.py')
    with pytest.raises(SystemExit, match=r"BEFORE file '.*b\.md' does not exist"):
        tool.main(['collect', str(tmp_path / 'b.md'), str(tmp_path / 'a.md'), str(tmp_path / 'r')])
    with pytest.raises(SystemExit, match=r"ROWS file '.*rows\.md' does not exist"):
        tool.main(['paste', str(tmp_path / 'rows.md'), '--md', str(tmp_path / 'x.md')])


def test_require_helpers(tmp_path):
    from mmdbp.utils.tool_args import require_config, require_dir, require_file
    (tmp_path / 'f.py').write_text('')
    require_file(str(tmp_path / 'f.py'), 'x')
    require_dir(str(tmp_path), 'x')
    require_config('mmpretrain::mae/anything.py')  # package configs are mmengine's to find
    with pytest.raises(SystemExit, match=r"--out-dir '.*f\.py' is not a directory: make it$"):
        require_dir(str(tmp_path / 'f.py'), '--out-dir', 'make it')
    with pytest.raises(SystemExit, match=r"ann '.*g\.txt' does not exist\.$"):
        require_file(str(tmp_path / 'g.txt'), 'ann')


def test_benchmark_dbp_missing_paths(tmp_path):
    tool = load_tool('tools/benchmark_dbp.py')
    with pytest.raises(SystemExit, match=r"--data-root: demo set '.*nowhere/demo_in1k' does not "
                       r'exist: pass the parent of demo_in1k/ and demo_ade20k/'):
        tool.main(['time-to-target', '--data-root', str(tmp_path / 'nowhere')])
    with pytest.raises(SystemExit, match=r"config 'no/such\.py' does not exist"):
        tool.main(['analytic', 'no/such.py'])


def test_benchmark_data_missing_paths(tmp_path):
    tool = load_tool('tools/benchmark_data.py')
    with pytest.raises(SystemExit, match=r"--config 'no/such\.py' does not exist"):
        tool.main(['--config', 'no/such.py', '--no-md'])
    with pytest.raises(SystemExit, match=r"--data-root '.*nowhere' does not exist: pass an "
                       r'existing data set root'):
        tool.main(['--config', osp.join(ROOT, MAE_CFG), '--data-root', str(tmp_path / 'nowhere'),
                   '--no-md'])


def test_compare_runs_missing_run_is_one_line(tmp_path):
    proc = run([osp.join(ROOT, 'tools/analysis/compare_runs.py'), str(tmp_path / 'a'),
                str(tmp_path / 'b')], str(tmp_path))
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().startswith('[compare_runs] ') and \
        len(proc.stderr.strip().splitlines()) == 1, proc.stderr
