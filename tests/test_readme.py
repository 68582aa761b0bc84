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


def test_readme_dask_example_runs(capsys):
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Data larger than memory", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    import numpy as np

    import tconv

    assert scope["y"].shape == (1, 1, 512, 512, 512) and scope["y"].npartitions == 64
    x = scope["x"][0, 0, 98:107, 148:157, 48:57].compute()  # the inputs of the computed block (+ halo)
    ref = tconv.conv_transpose(x[None, None], scope["w"], stride=2)  # uncropped, from input cell 98
    np.testing.assert_allclose(scope["block"], ref[0, 0, 5:15, 5:15, 5:15], rtol=1e-5, atol=1e-6)
    assert "halo" in capsys.readouterr().out


def test_no_readme_heading_appears_twice():
    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    in_code, headings = False, []
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            headings.append(line.lstrip("#").strip())
    repeated = sorted({h for h in headings if headings.count(h) > 1})
    assert not repeated, f"README headings written twice: {repeated}"


def test_readme_names_only_modules_that_exist():
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    for path in set(re.findall(r"`(tconv/[\w/]+\.py)`", text)):
        assert (root / "src" / path).exists(), path
