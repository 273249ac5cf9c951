"""mmdbp.utils.benchmark.append_section_text, against hand-written expected files."""
from mmdbp.utils.benchmark import append_section_text


def test_text_goes_to_the_end_of_its_section(tmp_path):
    md = tmp_path / 'b.md'
    md.write_text('# B\n\n## MIRL\n\nold\n\n\n## GreenMIM\n\ng\n')
    append_section_text(str(md), 'MIRL', 'new')
    assert md.read_text() == '# B\n\n## MIRL\n\nold\nnew\n\n\n## GreenMIM\n\ng\n'
    append_section_text(str(md), 'GreenMIM', 'last\n', blank_line_after=True)
    assert md.read_text() == '# B\n\n## MIRL\n\nold\nnew\n\n\n## GreenMIM\n\ng\nlast\n\n'


def test_missing_section_and_file_are_created(tmp_path):
    md = tmp_path / 'new.md'
    append_section_text(str(md), 'EViT', 'row')
    assert md.read_text() == '\n## EViT\nrow\n'
