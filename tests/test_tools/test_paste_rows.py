"""tools/device/paste_rows.py: rows measured on a GPU machine's copy of docs/benchmarks.md are
carried back into the same tables here."""
import importlib.util
import os.path as osp

from mmdbp.utils import benchmark as bm

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPEED = '| date | model | keep |\n|---|---|---|\n'  # another table layout in the same section


def _tool():
    spec = importlib.util.spec_from_file_location(
        'paste_rows', osp.join(ROOT, 'tools', 'device', 'paste_rows.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BEFORE = ('# Benchmarks\n\n## MAE fast path\n\n| workload | command |\n|---|---|\n| a | b |\n\n'
          + bm.TABLE_HEADER + '| old mae row |\n\ntext after\n\n## DBP-MAE\n\nintro\n\n'
          '### Step time\n\n' + bm.TABLE_HEADER + '| old dbp row |\n\n'
          '## Token pruning\n\n' + SPEED + '| old speed row |\n\nreading\n')


def test_collect_then_paste_reproduces_the_gpu_copy(tmp_path):
    tool = _tool()
    gpu = tmp_path / 'gpu.md'
    gpu.write_text(BEFORE)
    # what the tools do on the GPU machine
    bm.append_markdown_row(str(gpu), 'MAE fast path', '| new mae 1 |\n')
    bm.append_markdown_row(str(gpu), 'DBP-MAE', '| new dbp |\n')
    bm.append_markdown_row(str(gpu), 'MAE fast path', '| new mae 2 |\n')
    bm.append_markdown_row(str(gpu), 'Token pruning', '| new speed |\n', header=SPEED)
    bm.append_markdown_row(str(gpu), 'Token pruning', '| new harness row |\n')  # new table
    before, rows = tmp_path / 'before.md', tmp_path / 'rows.md'
    before.write_text(BEFORE)
    tool.main(['collect', str(before), str(gpu), str(rows)])
    text = rows.read_text()
    assert '| old' not in text and text.count('| new') == 5
    assert text.startswith('## MAE fast path\n\n' + bm.TABLE_HEADER + '| new mae 1 |\n'
                           '| new mae 2 |\n')
    here = tmp_path / 'here.md'
    here.write_text(BEFORE)
    tool.main(['paste', str(rows), '--md', str(here)])
    assert here.read_text() == gpu.read_text()


def test_nothing_new_gives_an_empty_file(tmp_path):
    tool = _tool()
    assert tool.new_rows(BEFORE, BEFORE) == []
    assert tool.parse_blocks(tool.format_blocks([])) == []
