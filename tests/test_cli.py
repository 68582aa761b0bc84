"""The command line's front door (issue 9, item 9): never a traceback, sizes refused before they are
allocated, one meaning for --input and one spelling for asymmetric padding in every command."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

TIMEOUT = 120


def run(*argv, cwd=None, stdin=None):
    env = {**os.environ, "TCONV_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "tconv", *argv], capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=cwd, env=env)


def one_line_error(proc, fragment):
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("argv,fragment", [
    (["explain", "--channels", "5,5", "--groups", "0"], "--groups: '0' must be a positive integer"),
    (["explain", "--channels", "5,6", "--groups", "2"], "groups=2 must divide both channel counts"),
    (["animate", "--duration", "-5"], "--duration: '-5' must be a positive integer"),
    (["animate", "--duration", "99999999999"], "between 10 and 60000"),
    (["explain", "--batch", "-1"], "--batch: '-1' must be a positive integer"),
    (["animate", "--input", "100000,100000"], "at most 100 cells per axis"),
    (["animate", "--stride", "1000000000"], "1000000003x1000000003 cells"),
    (["matrix", "--input", "300,300"], "C_K would be 90000x91204"),
    (["overlap", "--input", "100000,100000"], "the overlap map would have 10000400004 cells"),
    (["shape", "--input", "7", "--stride", "1000000000", "--padding", "99999999999999999999999"], "tconv shape"),
    (["animate", "--input", "5", "--padding", "0,1"], "--padding has 2 entries but the input has 1 axis"),
    (["animate", "--padding", "1:2:3"], "is not a padding"),
    (["animate", "--input", "16,16", "--view", "both"], "would have 584 frames"),
    (["animate", "--scale", "100"], "between 0.25 and 8"),
    (["animate", "--input", "98,98", "--kernel", "1", "--max-frames", "100000"], "would keep 92256024 numbers"),
    (["animate", "--kernel", "3,3,3"], "--kernel 3,3,3 has 3 values but --input 2,2 has 2"),
    (["explore", "--port", "70000"], "port=70000"),
])
def test_bad_input_is_one_line_never_a_traceback(argv, fragment, tmp_path):
    one_line_error(run(*argv, "-o", str(tmp_path / "x.png")) if argv[0] in ("animate", "matrix", "overlap")
                   else run(*argv), fragment)


def test_bench_garbage_is_one_line_like_the_others():
    line = one_line_error(run("bench", "--garbage"), "unrecognized arguments: --garbage")
    assert line.startswith("tconv bench: error:") and "tconv bench --help" in line


def test_npy_header_is_checked_before_reading(tmp_path):
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as fp:  # a header that claims 100000x100000 float64 (80 GB), and no data
        np.lib.format.write_array_header_1_0(fp, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    one_line_error(run("animate", "--values", str(huge), "-o", str(tmp_path / "a.gif")), "has shape (100000, 100000)")
    cplx = tmp_path / "c.npy"
    np.save(cplx, np.ones((2, 2), complex))
    one_line_error(run("animate", "--values", str(cplx), "-o", str(tmp_path / "a.gif")), "complex128 values")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file")
    one_line_error(run("animate", "--kernel-values", str(bad), "-o", str(tmp_path / "a.gif")), "not a valid .npy")


def test_broken_pipe_is_quiet(tmp_path):
    png = tmp_path / "m.png"
    proc = subprocess.run(f"{sys.executable} -m tconv matrix --input 8,8 -o {png} | head -1", shell=True,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.stdout.startswith("input 8x8") and proc.stderr == "", proc.stderr
    assert png.exists()  # written before the text that head cuts off


def test_python_dash_m_tconv():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("tconv ")


def test_input_means_the_transposed_convolutions_input_everywhere(tmp_path):
    """--input 2,2 --kernel 3 is the seed in every command: output 4x4, C_K 4x16."""
    out = run("animate", "--input", "2,2", "--kernel", "3", "-o", str(tmp_path / "a.gif")).stdout
    assert "conv_transpose(input, kernel) (4x4)" in out
    out = run("matrix", "--input", "2,2", "--kernel", "3", "-o", str(tmp_path / "m.png")).stdout
    assert "C_K (4x16)" in out and "C_K^T (16x4)" in out
    out = run("overlap", "--input", "2,2", "--kernel", "3", "-o", str(tmp_path / "o.png")).stdout
    assert "taps landing on each output cell (4x4)" in out
    out = run("shape", "--input", "2,2", "--kernel", "3").stdout
    assert "tconv    conv_transpose(padding=0) -> (4, 4)" in out
    out = run("explain", "--input", "2,2", "--kernel", "3").stdout
    assert "operation: conv_transpose; input 1x2x2 -> output 1x4x4" in out


def test_asymmetric_padding_is_lo_hi_everywhere(tmp_path):
    x = np.arange(1.0, 6.0)
    peer = torch.nn.functional.conv_transpose1d(torch.from_numpy(x)[None, None], torch.arange(1.0, 4.0,
                                                dtype=torch.float64)[None, None]).numpy()[0, 0][0:-1]  # crop 0:1
    out = run("animate", "--input", "5", "--kernel", "3", "--padding", "0:1", "-o", str(tmp_path / "a.gif")).stdout
    assert "padding 0:1" in out
    assert "[" + " ".join(str(int(v)).rjust(2) for v in peer) + "]" in out
    out = run("shape", "--input", "5", "--padding", "0:1").stdout
    assert "tconv    conv_transpose(padding=((0, 1),)) -> (6,)" in out and "pads=[0, 1]" in out
    assert "crop y[..., 0:-1] -> (6,)" in out
    out = run("matrix", "--input", "5", "--padding", "0:1", "-o", str(tmp_path / "m.png")).stdout
    assert "C_K (5x6)" in out
    out = run("overlap", "--input", "4,4", "--padding", "0:1,1:0", "-o", str(tmp_path / "o.png")).stdout
    assert "(5x5)" in out
    proc = run("explain", "--input", "5,5", "--kernel", "3", "--padding", "0:1")
    assert proc.returncode == 0 and "input 1x5x5 -> output 1x6x6" in proc.stdout, proc.stderr


def test_shape_with_a_default_kernel_and_the_usual_pytorch_answer():
    proc = run("shape", "--input", "7", "--stride", "2", "--want", "14")
    assert proc.returncode == 0, proc.stderr
    assert "padding=1, output_padding=1" in proc.stdout
    assert "ConvTranspose1d(kernel_size=3, stride=2, padding=1, output_padding=1)" in proc.stdout
    layer = torch.nn.ConvTranspose1d(1, 1, kernel_size=3, stride=2, padding=1, output_padding=1)
    assert layer(torch.ones(1, 1, 7)).shape[-1] == 14  # the answer is right


def test_overlap_words_never_contradict_the_counts(tmp_path):
    out = run("overlap", "--input", "2", "--kernel", "3", "-o", str(tmp_path / "o.png")).stdout
    assert "[1 2 2 1]" in out and "everywhere" not in out and "too short for an interior" in out


def test_demo_seed_overlap_caption(tmp_path):
    from tconv.tools.viz.pictures import overlap

    words = overlap((2, 2), (3, 3)).words  # what seed-overlap.png says under its counts
    assert not any("3 everywhere" in w for w in words)
    proc = run("demo", "--out", str(tmp_path))
    assert proc.returncode == 0 and (tmp_path / "seed-overlap.png").exists()
