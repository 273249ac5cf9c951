"""Carry benchmark rows from a GPU machine's copy of docs/benchmarks.md back into this one.

The benchmark tools append their Markdown rows to the results table of their section of
docs/benchmarks.md (``mmdbp.utils.benchmark.append_markdown_row``). On a lent GPU machine that
file is a throw-away copy; ``tools/device/run_gpu_benchmarks.sh`` therefore compares it with
the copy taken before the runs and writes only the new rows, each under its ``## `` section and
the header of the table it went to::

    python tools/device/paste_rows.py collect BEFORE.md AFTER.md ROWS.md   # on the GPU machine

and here the rows are appended to the same tables of the repository's file::

    python tools/device/paste_rows.py paste ROWS.md [--md docs/benchmarks.md]

``ROWS.md`` is itself Markdown (section heading, table header, rows) and can be read as it is.
"""
import argparse
import os.path as osp
import sys
from typing import List, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

Block = Tuple[str, str, List[str]]  # (section name, table header incl. separator, rows)


def new_rows(before: str, after: str) -> List[Block]:
    """Table rows of ``after`` that ``before`` does not have, grouped by ``## `` section and
    by the table (its two header lines) they belong to, in file order."""
    old = set(before.splitlines())
    lines = after.splitlines()
    blocks: List[Block] = []
    section, header = None, None
    for i, line in enumerate(lines):
        if line.startswith('## '):
            section, header = line[3:].strip(), None
            continue
        if not line.startswith('|'):
            header = None
            continue
        if header is None:  # first line of a table: its header (and the separator after it)
            header = line + '\n' + (lines[i + 1] if i + 1 < len(lines) else '') + '\n'
            continue
        if line.startswith('|---') or line in old:
            continue
        if section is None:
            raise ValueError(f'a new table row outside any "## " section: {line[:60]}')
        if not blocks or blocks[-1][:2] != (section, header):
            blocks.append((section, header, []))
        blocks[-1][2].append(line)
    return blocks


def format_blocks(blocks: List[Block]) -> str:
    return ''.join(f'## {section}\n\n{header}' + ''.join(r + '\n' for r in rows) + '\n'
                   for section, header, rows in blocks)


def parse_blocks(text: str) -> List[Block]:
    """Inverse of :func:`format_blocks`."""
    blocks: List[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith('## '):
            section = lines[i][3:].strip()
            j = i + 1
            while j < len(lines) and not lines[j].startswith('|'):
                j += 1
            if j + 1 >= len(lines):
                raise ValueError(f'section {section!r} has no table')
            header = lines[j] + '\n' + lines[j + 1] + '\n'
            rows, k = [], j + 2
            while k < len(lines) and lines[k].startswith('|'):
                rows.append(lines[k])
                k += 1
            blocks.append((section, header, rows))
            i = k
        else:
            i += 1
    return blocks


def paste(blocks: List[Block], md_path: str) -> int:
    """Append every row to its section's table in ``md_path``; returns the number of rows."""
    from mmdbp.utils.benchmark import append_markdown_row
    n = 0
    for section, header, rows in blocks:
        for row in rows:
            append_markdown_row(md_path, section, row + '\n', header=header)
            n += 1
    return n


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('collect', help='new rows of AFTER vs BEFORE -> ROWS.md')
    c.add_argument('before')
    c.add_argument('after')
    c.add_argument('rows')
    a = sub.add_parser('paste', help='append the rows of ROWS.md to their tables')
    a.add_argument('rows')
    a.add_argument('--md', default=osp.join(ROOT, 'docs', 'benchmarks.md'))
    args = p.parse_args(argv)
    for name in ('before', 'after', 'rows'):  # inputs must exist (collect writes ROWS)
        path = getattr(args, name, None)
        if path is not None and not (args.cmd == 'collect' and name == 'rows') and not osp.isfile(path):
            raise SystemExit(f'[paste_rows] {name.upper()} file {path!r} does not exist: pass the '
                             'benchmarks.md copies / rows file written by the device run.')
    if args.cmd == 'collect':
        with open(args.before) as f:
            before = f.read()
        with open(args.after) as f:
            after = f.read()
        blocks = new_rows(before, after)
        with open(args.rows, 'w') as f:
            f.write(format_blocks(blocks))
        print(f'[paste_rows] {sum(len(b[2]) for b in blocks)} new rows -> {args.rows}')
    else:
        with open(args.rows) as f:
            n = paste(parse_blocks(f.read()), args.md)
        print(f'[paste_rows] {n} rows appended to {args.md}')


if __name__ == '__main__':
    main()
