"""Pictures: the drawing models against tconv.conv_transpose (and PyTorch), and the files."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import tconv
from tconv.core.geometry import zero_insertion_geometry
from tconv.tools.cli import main
from tconv.tools.viz.commands import matrix_pictures, overlap_report, write_animation
from tconv.tools.viz.model import gather_model, overlap_map, scatter_model


@st.composite
def picture_cases(draw):
    nd = draw(st.sampled_from([1, 2]))
    seed = draw(st.integers(0, 2**16))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    full = [(i - 1) * s + dd * (kk - 1) + 1 for i, kk, dd in [(a, b, d) for a, b in zip(shape, k)]]
    pad = draw(st.integers(0, (min(full) - 1) // 2))
    op = draw(st.integers(0, max(s, d) - 1))
    rng = np.random.default_rng(seed)
    return (rng.integers(-3, 6, shape).astype(float), rng.integers(-3, 6, k).astype(float),
            dict(stride=s, padding=pad, output_padding=op, dilation=d))


@given(case=picture_cases())
def test_scatter_model_final_frame_is_conv_transpose(case):
    x, k, geom = case
    m = scatter_model(x, k, **geom)
    assert len(m.frames) == x.size + 2  # one per input cell plus intro and outro
    assert [f.kind for f in m.frames[:1] + m.frames[-1:]] == ["intro", "outro"]
    want = tconv.conv_transpose(x[None, None], k[None, None], **geom)[0, 0]
    final = m.frames[-1].canvas[m.keep]
    np.testing.assert_array_equal(final.reshape(want.shape), want)
    # and against the peer
    tfn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[x.ndim]
    peer = tfn(torch.from_numpy(x[None, None]), torch.from_numpy(k[None, None]), **geom).numpy()[0, 0]
    np.testing.assert_allclose(final.reshape(peer.shape), peer, atol=1e-12)
    assert not m.cropped[m.keep].any()


@given(case=picture_cases())
def test_gather_model_equals_scatter(case):
    x, k, geom = case
    g = gather_model(x, k, **geom)
    want = tconv.conv_transpose(x[None, None], k[None, None], **geom)[0, 0]
    assert len(g.frames) == want.size + 2
    np.testing.assert_allclose(g.frames[-1].canvas.reshape(want.shape), want, atol=1e-12)
    # every input value lands in the padded grid except those a negative front pad crops, counted per axis
    g2 = tconv.conv_transpose_geometry(k[None, None].shape, x.shape, geom["stride"], geom["padding"],
                                       geom["output_padding"], geom["dilation"])
    inner, _ = zero_insertion_geometry(g2)
    placed = 1
    for m, s, front, n, kk, dd in zip(x.shape, g2.stride, inner.pad_lo, g2.x_shape, g2.kernel, g2.dilation):
        size = n + dd * (kk - 1)
        placed *= sum(0 <= j * s + front < size for j in range(m))
    assert (g.origin == 2).sum() == placed


def test_seed_animation_file(tmp_path):
    from tconv.tools.seed import SEED_INPUT, SEED_KERNEL

    path, model = write_animation(tmp_path / "seed.gif", SEED_INPUT, SEED_KERNEL, frames_dir=tmp_path / "frames")
    assert path.stat().st_size < 1_000_000
    im = Image.open(path)
    assert im.n_frames == 4 + 2
    assert len(list((tmp_path / "frames").glob("*.png"))) == 6
    for n in range(im.n_frames):
        im.seek(n)
        assert im.size[0] > 300 and im.size[1] > 150


def test_matrix_taps_and_values():
    C, CT, tap = matrix_pictures((2, 2), np.arange(1.0, 10.0).reshape(3, 3))  # --input: the transposed conv's
    assert C.shape == (4, 16) and CT.shape == (16, 4)
    nz = tap >= 0
    np.testing.assert_array_equal(C[nz], tap[nz] + 1)  # the seed kernel holds its tap numbers
    assert (C[~nz] == 0).all()


def test_overlap_counts_match_torch_and_words():
    counts, words = overlap_report((4, 4), 3, stride=2)
    peer = torch.nn.functional.conv_transpose2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), stride=2)
    np.testing.assert_array_equal(counts, peer.numpy()[0, 0])
    assert "kernel 3 with stride 2: overlap alternates 1, 2: uneven" in words[0]
    assert "even" in overlap_report((8,), 4, stride=2)[1][0]
    assert overlap_map((4,), 4, stride=2).tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]


def test_cli_commands(tmp_path, capsys):
    assert main(["animate", "-o", str(tmp_path / "a.gif"), "--view", "gather", "--input", "3",
                 "--kernel", "3", "--stride", "2", "--padding", "1", "--output-padding", "1"]) == 0
    assert Image.open(tmp_path / "a.gif").n_frames == 6 + 2
    assert main(["matrix", "-o", str(tmp_path / "m.png")]) == 0  # the seed: input 2x2, kernel 3x3
    out = capsys.readouterr().out
    assert "[1 2 3 0 4 5 6 0 7 8 9 0 0 0 0 0]" in out
    Image.open(tmp_path / "m.png").verify()
    assert main(["overlap", "--input", "4,4", "--kernel", "3", "--stride", "2", "-o", str(tmp_path / "o.png")]) == 0
    assert "uneven" in capsys.readouterr().out
    assert main(["shape", "--input", "8", "--kernel", "4", "--stride", "2", "--padding", "1", "--want", "17"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch  ConvTranspose1d(kernel_size=4, stride=2, padding=1, output_padding=0) -> (16,)" in out
    assert "with padding=1 (as given): output_padding=1" in out
    assert "TF/Keras Conv1DTranspose(padding='valid') -> (18,)" in out
    assert "ONNX     output_shape=[17] -> generated pads=[1, 0]" in out
    assert main(["explain", "--batch", "2", "--channels", "4,4", "--input", "6,6", "--kernel", "3"]) == 0
    assert "<- chosen" in capsys.readouterr().out


def test_demo_writes_pictures(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "AB = C_K C_K^T (4x4)" in out and "yes, exactly" in out
    for name in ("seed-scatter.gif", "seed-gather.gif", "seed-matrix.png", "seed-overlap.png"):
        assert (tmp_path / name).exists(), name
        assert str(tmp_path / name) in out


@pytest.mark.parametrize("argv,fragment", [
    (["animate", "--stride", "0"], "stride"),
    (["animate", "--values", "nonsense"], "values='nonsense' must be one of"),
    (["animate", "--view", "sideways"], "invalid choice"),
    (["animate", "--input", "a,b"], "is not a list of integers"),
    (["matrix", "--input", "2,2", "--padding", "3"], "empty output"),
])
def test_cli_errors_are_one_line(argv, fragment, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tconv.tools.cli", *argv, "-o", str(tmp_path / "x.gif")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("cmd", ["demo", "shape", "explain", "animate", "matrix", "overlap", "bench"])
def test_help_has_examples(cmd):
    proc = subprocess.run([sys.executable, "-m", "tconv.tools.cli", cmd, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "example" in proc.stdout


def test_both_views_in_sequence(tmp_path):
    assert main(["animate", "--view", "both", "-o", str(tmp_path / "b.gif")]) == 0
    assert Image.open(tmp_path / "b.gif").n_frames == (4 + 2) + (16 + 2)  # the seed: scatter, then gather


def test_long_renders_show_a_progress_bar(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tconv.tools.cli", "animate", "--input", "7,6", "--kernel", "1",
                           "--values", "ones", "-o", str(tmp_path / "p.gif")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "rendering [" in proc.stderr and "44/44 frames" in proc.stderr
    assert Image.open(tmp_path / "p.gif").n_frames == 7 * 6 + 2


def test_picture_objects_show_in_notebooks_and_save(tmp_path):
    import base64
    import io

    a = tconv.viz.animate(np.ones((2, 2)), np.ones((2, 2)), view="both")
    html = a._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,')
    gif = Image.open(io.BytesIO(base64.b64decode(html.split(",", 1)[1].split('"')[0])))
    assert gif.n_frames == a.n_frames == (4 + 2) + (9 + 2)
    assert a._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.save(tmp_path / "a.gif").read_bytes() == a.gif_bytes()  # the file is the inline GIF
    m = tconv.viz.matrix((4,), np.ones((3,)), stride=2)
    assert m.C.shape == (4, 9) and m._repr_png_()[:4] == b"\x89PNG"
    peer = torch.nn.functional.conv_transpose1d(torch.eye(4)[:, None], torch.ones(1, 1, 3), stride=2)[:, 0]
    np.testing.assert_array_equal(m.C, peer.numpy())  # row i of C_K: the transposed conv of the one-hot input i
    Image.open(m.save(tmp_path / "m.png")).verify()
    o = tconv.viz.overlap((4, 4), 3, stride=2)
    assert "uneven" in o.words[0] and "<img" in o._repr_html_()
    Image.open(o.save(tmp_path / "o.png")).verify()


def test_every_frame_has_one_size_and_states_the_parameters():
    a = tconv.viz.animate(np.ones((3, 3)), np.ones((3, 3)), view="both", stride=2, padding=1, output_padding=1)
    sizes = {im.size for im in a.frames()}
    assert sizes == {a.size}  # the diagram never jumps: fixed title block, one layout per animation
    for p in a.painters:
        assert p.params == ("input 3x3, kernel 3x3, stride 2, padding 1, dilation 1, output_padding 1 -> output 6x6")
    big = tconv.viz.animate(np.ones((3, 3)), np.ones((3, 3)), scale=2)
    assert big.size[0] >= 1.9 * tconv.viz.animate(np.ones((3, 3)), np.ones((3, 3))).size[0]


def test_gather_frames_show_the_dilated_kernel_with_gaps():
    a = tconv.viz.animate(np.ones(3), np.ones(3), view="gather", dilation=2)
    assert a.painters[0].dil_shape == (1, 5)  # 3 taps, 2 gaps
    assert a.painters[0].labels[1] == "flipped kernel (dilated)"


def test_animation_refuses_too_many_frames_before_drawing():
    with pytest.raises(tconv.TconvError, match="would have 584 frames .258 scatter . 326 gather.*--max-frames 584"):
        tconv.viz.animate(np.ones((16, 16)), np.ones((3, 3)), view="both")
    assert tconv.viz.animate(np.ones((16, 16)), np.ones((3, 3)), view="both", max_frames=584).n_frames == 584


def test_overlap_words_follow_the_counts():
    o = tconv.viz.overlap((2,), 3)
    assert o.counts.tolist() == [1, 2, 2, 1]
    assert "everywhere" not in o.words[0] and "too short" in o.words[0]
    assert "3 everywhere in the interior: even" in tconv.viz.overlap((3,), 3).words[0]
    seed = tconv.viz.overlap((2, 2), (3, 3))  # the demo's seed-overlap.png caption
    assert all("too short" in w for w in seed.words)


def test_streamed_animation_memory(tmp_path):
    """Frames are written as drawn: a 66-frame and a 258-frame GIF need about the same memory."""
    def peak(n):  # VmHWM: this process's peak RSS (ru_maxrss would carry pytest's over the fork)
        code = ("from tconv.tools.cli import main; "
                f"main(['animate', '--input', '{n},{n}', '--values', 'ones', '--kernel-values', 'ones', '-o', "
                f"r'{tmp_path}/a{n}.gif']); "
                "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**__import__("os").environ, "TCONV_NO_PROGRESS": "1"})
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.split()[-1]) / 1024  # kB -> MiB

    small, large = peak(8), peak(16)
    assert Image.open(tmp_path / "a16.gif").n_frames == 258
    assert large < 300 and large - small < 60, (small, large)
