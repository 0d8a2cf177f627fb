"""The README's Python snippets run as written, in order (each continues the one before),
and print what their comments say."""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_snippet_runs(capsys):
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert capsys.readouterr().out == "torch.int8 (6, 8)\ntorch.int32 (6, 1)\ntorch.int8 (6,)\n"
