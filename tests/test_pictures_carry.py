"""Pictures that carry their parameters (issue 21 items 11-13, issue 17's viz order and -o suffix): the
captions, legends and colours, read from the drawing models, the PNG text chunks and the pixels."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tconv
from tconv.tools.viz import render
from tconv.tools.viz.model import gather_model, scatter_model

SEED_K = np.arange(1.0, 10.0).reshape(3, 3)
X22 = np.arange(1.0, 5.0).reshape(2, 2)


def cli(*argv):
    env = {**os.environ, "TCONV_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "tconv", *argv], capture_output=True, text=True, timeout=300,
                          env=env)


# -- 11. the matrix picture: a parameter line and a tap-colour key --------------------------------------

def test_matrix_png_states_its_parameters_and_tap_key(tmp_path):
    seed = tconv.viz.matrix((2, 2), SEED_K)
    s2 = tconv.viz.matrix((2, 2), SEED_K, stride=2)
    assert seed.params == "input 2x2, kernel 3x3, stride 1, padding 0, dilation 1, output_padding 0 -> output 4x4"
    assert s2.params == "input 2x2, kernel 3x3, stride 2, padding 0, dilation 1, output_padding 0 -> output 5x5"
    assert seed.legend[0] == "tap 0 (kernel[0,0] = 1)" and seed.legend[8] == "tap 8 (kernel[2,2] = 9)"
    path = s2.save(tmp_path / "m.png")
    im = Image.open(path)
    assert im.text["tconv:parameters"] == s2.params
    assert im.text["tconv:legend"].startswith("tap 0 (kernel[0,0] = 1); tap 1 (kernel[0,1] = 2)")
    # the key: the kernel drawn in its taps' colours, under the parameter line
    rgb = im.convert("RGB")
    colours = {rgb.getpixel((x, y)) for x in range(20, 140) for y in range(30, 160)}
    assert set(render.TAP_COLOURS[:9]) <= colours
    assert render.PARAMS_TEXT in {rgb.getpixel((x, y)) for x in range(20, 500) for y in range(8, 26)} or any(
        abs(c[0] - 40) + abs(c[1] - 70) + abs(c[2] - 140) < 60 for c in
        {rgb.getpixel((x, y)) for x in range(20, 500) for y in range(8, 26)})
    assert "tap 4 (kernel[1,1] = 5)" in s2.text and s2.params in s2.text


def test_seed_and_stride_2_pictures_differ_in_their_first_line(tmp_path):
    a = Image.open(tconv.viz.matrix((2, 2), SEED_K).save(tmp_path / "a.png")).text["tconv:parameters"]
    b = Image.open(tconv.viz.matrix((2, 2), SEED_K, stride=2).save(tmp_path / "b.png")).text["tconv:parameters"]
    assert a != b and "stride 2" in b and "stride 1" in a


# -- 12. output_padding taught exactly ---------------------------------------------------------------------

def test_gather_view_colours_output_padding_and_says_the_padding():
    m = gather_model(X22, SEED_K, stride=2, padding=1, output_padding=1)
    assert (m.origin[-1] == 3).all() and (m.origin[:, -1] == 3).all()  # the extra row and column
    assert not (m.origin[:-1, :-1] == 3).any()
    intro, outro = m.frames[0].title, m.frames[-1].title
    assert ("pad d(k-1) - lo = (1, 1) before and d(k-1) - hi + output_padding = (2, 2) after (output_padding (1, 1) "
            "of it)") in intro
    assert "identical to the scatter view" not in outro and outro.startswith("result: the output of conv_transpose")
    assert m.frames[2].title == "step 2/16: output[0,1] = 1*6 + 2*4 (zero cells left out) = 14"
    a = tconv.viz.animate(X22, SEED_K, view="gather", stride=2, padding=1, output_padding=1)
    assert "zero added by output_padding" in a.legend()
    # the pixels: a cell of the last grid row is drawn in the output_padding colour
    p = a.painters[0]
    frame = p.draw(m.frames[0])
    top = p.top + render._line_h(p.st.fb)
    y = top + (m.grid.shape[0] - 1) * p.cell + 4
    assert frame.getpixel((p.st.px(20) + 4, y)) == render.OUTPAD
    assert frame.getpixel((p.st.px(20) + 4, top + 4)) == render.PAD_ZERO


def test_gather_without_output_padding_has_no_such_key():
    a = tconv.viz.animate(X22, SEED_K, view="gather", stride=2, padding=1)
    assert "zero added by output_padding" not in a.legend()
    assert not (a.model.origin == 3).any()


def test_scatter_view_tells_kept_sums_from_appended_zeros():
    kept = scatter_model(X22, SEED_K, stride=2, padding=(1, 2), output_padding=1)
    assert kept.outpad_kept.any() and not kept.outpad_zeros.any()
    assert kept.output[-1, -1] != 0 and kept.outpad_kept[kept.keep][-1, -1]  # a real sum, not an addition
    assert "light purple cells are sums that padding would crop, kept by output_padding" in kept.frames[-1].title
    assert "added by output_padding" not in kept.frames[-1].title
    zeros = scatter_model(np.arange(1.0, 4.0), np.array([1.0, 2.0]), stride=3, output_padding=2)
    assert zeros.outpad_zeros.sum() == 2 and not zeros.outpad_kept.any()
    assert "zeros appended by output_padding, beyond the scatter's reach" in zeros.frames[-1].title
    a = tconv.viz.animate(X22, SEED_K, stride=2, padding=(1, 2), output_padding=1)
    assert "kept by output_padding (padding would crop it)" in a.legend()
    assert "zero appended by output_padding" not in a.legend()
    p = a.painters[0]
    last = p.draw(kept.frames[-1])
    x0 = p.st.px(20) + p.widths[0] + p.gap + p.widths[1] + p.gap + p.st.px(20)
    top = p.top + p.label_h
    assert last.getpixel((x0 + 3 * p.cell + 5, top + 4 * p.cell + 5)) == render.OUTPAD_KEPT


# -- 13. formats, repr, captions --------------------------------------------------------------------------

def test_animation_saves_png_frames_or_refuses(tmp_path):
    a = tconv.viz.animate(stride=2, padding=1, output_padding=1, view="both")
    assert repr(a) == ("Animation(view='both', input 2x2, kernel 3x3, stride 2, padding 1, dilation 1, "
                       "output_padding 1 -> output 4x4, 24 frames)")
    png = Image.open(a.save(tmp_path / "g.png"))
    assert png.format == "PNG" and png.n_frames == a.n_frames
    assert png.text["tconv:parameters"].startswith("input 2x2, kernel 3x3, stride 2")
    gif = Image.open(a.save(tmp_path / "g.gif"))
    assert gif.format == "GIF" and gif.n_frames == a.n_frames
    with pytest.raises(tconv.TconvError, match=r"output='.*g\.txt': an animation is written as \.gif \(a GIF\) or "
                       r"\.png \(an animated PNG, every frame\); '\.txt' is neither"):
        a.save(tmp_path / "g.txt")
    assert not (tmp_path / "g.txt").exists()


def test_cli_animate_refuses_an_unknown_suffix_and_says_what_it_wrote(tmp_path):
    proc = cli("animate", "-o", str(tmp_path / "x.txt"))
    assert proc.returncode == 2 and "'.txt' is neither" in proc.stderr and not (tmp_path / "x.txt").exists()
    proc = cli("animate", "--stride", "2", "-o", str(tmp_path / "x.png"))
    assert proc.returncode == 0 and "(an animated PNG, 6 frames, scatter view)" in proc.stdout
    assert Image.open(tmp_path / "x.png").n_frames == 6
    proc = cli("animate", "-o", str(tmp_path / "x.gif"))
    assert "(a GIF, 6 frames, scatter view)" in proc.stdout


def test_gather_captions_name_terms_only_for_small_kernels():
    big = gather_model(np.ones((2, 2)), np.ones((4, 4)))
    assert "= sum(window * flipped kernel) =" in big.frames[1].title
    one = gather_model(np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]), stride=2, padding=1)
    assert one.frames[1].title == "step 1/3: output[0] = 1*2 (zero cells left out) = 2"
    assert "pad d(k-1) - lo = 1 before and d(k-1) - hi + output_padding = 1 after" in one.frames[0].title


# -- issue 17: one argument order for the three pictures ------------------------------------------------------

def test_viz_takes_input_then_kernel_everywhere():
    x = np.arange(1.0, 5.0)
    k = np.array([1.0, 2.0, 3.0])
    a = tconv.viz.animate(x, k, stride=2)
    m = tconv.viz.matrix(x, k, stride=2)  # the input array (its shape is used), then the kernel
    assert tconv.viz.matrix((4,), k, stride=2).C.tolist() == m.C.tolist()
    o = tconv.viz.overlap(x, k, stride=2)
    assert o.counts.tolist() == tconv.viz.overlap((4,), 3, stride=2).counts.tolist()
    np.testing.assert_array_equal(m.CT @ x, a.output.ravel())
    np.testing.assert_array_equal(o.counts, tconv.conv_transpose(np.ones((1, 1, 4)), np.ones((1, 1, 3)), stride=2)[0, 0])
    with pytest.raises(tconv.TconvError, match="matrix takes the input first, then the kernel"):
        tconv.viz.matrix(SEED_K, (2, 2))  # the old order (kernel, input_shape)


# -- 14 (pictures part): the overlap words and counts have no cap, only the picture has ---------------------

def test_cli_overlap_prints_words_for_any_size(tmp_path):
    proc = cli("overlap", "--input", "200", "--kernel", "3", "--stride", "2", "-o", str(tmp_path / "o.png"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "taps landing on each output cell (401 cells, too many to list): 1 taps: 202 cells, 2 taps: 199 cells" in out
    assert "kernel 3 with stride 2: overlap alternates 1, 2: uneven (checkerboard artifacts)" in out
    assert "no picture written: the overlap map would be 401 cells; pictures draw at most 100" in out
    assert not (tmp_path / "o.png").exists()


# -- 14. the command line's words -------------------------------------------------------------------------

def test_shape_want_answers_once_each_in_the_generic_vocabulary():
    out = cli("shape", "--input", "8", "--kernel", "3", "--stride", "2", "--want", "16").stdout
    answers = out.split("to get output (16,):\n", 1)[1].splitlines()
    assert answers == [
        "  PyTorch, as usually written: ConvTranspose1d(kernel_size=3, stride=2, padding=1, output_padding=1)",
        "  with padding=0 (as given): output_padding alone cannot (axis 0 would need -1; it can be 0..1, giving "
        "sizes 17..18)",
        "  padding=((0, 1),) (lo, hi per axis: tconv's padding, ONNX's pads) with output_padding=0",
    ]
    assert out.count("padding=1, output_padding=1") == 1


def test_shape_want_unreachable_is_an_answer_not_an_onnx_error():
    proc = cli("shape", "--input", "8", "--kernel", "3", "--stride", "2", "--want", "40")
    assert proc.returncode == 0, proc.stderr
    assert "to get output (40,):\n  not reachable: the largest output of this input, kernel, stride and dilation is " \
           "(18,)" in proc.stdout
    assert "ONNX     output_shape=[40]: not accepted" in proc.stdout  # ONNX's own rule, on ONNX's line only
    assert "ONNX Runtime" not in proc.stdout.split("to get output", 1)[1]


def test_demo_says_stride_2_once(tmp_path):
    out = cli("demo", "--out", str(tmp_path)).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("the same kernel with stride 2"))
    assert line == ("the same kernel with stride 2 (overlap-stride2.png): overlap alternates 1, 2: uneven "
                    "(checkerboard artifacts)")
