"""The README's first Python example runs as written (its shapes are the ones its comments state)."""

import pathlib
import re


def test_readme_quick_example_runs():
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["y"].shape == (16, 256, 16, 16)
    assert scope["z"].shape == (16, 512, 8, 8)
    assert scope["C"].shape == (8 * 8, 16 * 16)
