"""Reliability around the core (issue 9): fork safety, no hangs, memory checked before it is
taken, clear errors for every bad input, dtypes, NaN/Inf in weights, accuracy, planner guards.

Anything that could hang or exhaust the machine runs in a subprocess with a timeout (and an
address-space limit where memory is the question)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import close, long_float32_reduction_errors

import tconv


def _run(code: str, timeout: float = 120, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    pre = ""
    if limit_bytes is not None:
        pre = ("import resource\n"
               f"resource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n")
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


# -- 1. fork after use
@pytest.mark.parametrize("core", ["native", "fallback"])
def test_pool_is_safe_for_threads_and_fork(core):
    """Eight Python threads call the parallel kernels at once (results exact; native and brgemm each
    reuse their calling thread's kept buffers, scratch.h), then a fork; on the compiled core's pool
    and on the NumPy fallback (TCONV_NATIVE=0)."""
    code = """
        import os, threading, numpy as np, tconv, tconv.core.machine as m
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 4, 96, 96)); w = rng.standard_normal((4, 3, 3, 3))
        want = tconv.conv_transpose(x, w, stride=2, method="scatter")
        gw_want = tconv.conv_transpose_vjp(want, x, w, stride=2, method="direct")[1]
        from tconv.core import _native
        methods = ("direct", "gemm") + (("native", "brgemm") if _native.available() else ())
        errs = []
        def work():
            for _ in range(5):
                for m_ in methods:
                    errs.append(float(np.abs(tconv.conv_transpose(x, w, stride=2, method=m_) - want).max()))
                gw = tconv.conv_transpose_vjp(want, x, w, stride=2, method="direct")[1]
                errs.append(float(np.abs(gw - gw_want).max() / np.abs(gw_want).max()))
        ts = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        assert len(errs) == 40 * (len(methods) + 1) and max(errs) < 1e-10, max(errs)
        pid = os.fork()
        if pid == 0:
            ok = np.abs(tconv.conv_transpose(x, w, stride=2, method="direct") - want).max() < 1e-10
            os._exit(0 if ok else 3)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        print(m.compiled_core())
    """
    env = {"PATH": "/usr/bin:/bin", **({"TCONV_NATIVE": "0"} if core == "fallback" else {})}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    want = "NumPy fallback (disabled by TCONV_NATIVE=0)" if core == "fallback" else "native "
    assert proc.stdout.strip().startswith(want), proc.stdout


@pytest.mark.parametrize("method", ["auto", "direct", "gemm"])
def test_pool_map_and_fork_after_a_call(method):
    code = f"""
        import os, multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        import numpy as np, tconv
        x = np.random.default_rng(0).standard_normal((2, 8, 32, 32)).astype(np.float32)
        w = np.random.default_rng(1).standard_normal((8, 4, 3, 3)).astype(np.float32)
        want = tconv.conv_transpose(x, w, stride=2, method={method!r})  # threads started here
        def child(i):
            return float(np.abs(tconv.conv_transpose(x, w, stride=2, method={method!r}) - want).max())
        ctx = mp.get_context("fork")
        with ctx.Pool(2) as pool:
            assert pool.map(child, range(4)) == [0.0] * 4
        with ProcessPoolExecutor(2, mp_context=ctx) as ex:
            assert list(ex.map(child, range(2))) == [0.0] * 2
        pid = os.fork()
        if pid == 0:
            os._exit(0 if child(0) == 0.0 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print("ok")
    """
    proc = _run(code, timeout=180)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_fft_tile_threads_and_fork():
    """fft's tile threads (a thread pool of the process): eight Python threads at once give exact
    results, and a forked child (which has no pool threads) makes its own pool."""
    code = """
        import os, threading, numpy as np, tconv
        from tconv.core.algorithms import fft
        y = np.random.default_rng(0).standard_normal((1, 1, 500, 500))
        w = np.random.default_rng(1).standard_normal((1, 1, 31, 31))
        g = tconv.conv_transpose_geometry(w.shape, (500, 500))
        p = fft.fft_plan(g, 1, 8, "conv_transpose")
        assert max(p.tiles) > 1 and fft._tile_threads(int(np.prod(p.tiles)), int(np.prod(p.sizes))) > 1, p
        want = tconv.conv_transpose(y, w, method="fft")
        errs = []
        def call():
            errs.append(float(np.abs(tconv.conv_transpose(y, w, method="fft") - want).max()))
        ts = [threading.Thread(target=call) for _ in range(8)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert errs == [0.0] * 8, errs
        pid = os.fork()
        if pid == 0:
            os._exit(0 if np.array_equal(tconv.conv_transpose(y, w, method="fft"), want) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print("ok")
    """
    proc = _run(code, timeout=180)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_threads_option_and_tiny_calls_stay_on_the_calling_thread():
    from tconv.core.machine import MIN_WORK_PER_THREAD, threads_for

    assert threads_for(MIN_WORK_PER_THREAD - 1) == 1
    old = tconv.set_options(threads=1)
    try:
        assert threads_for(10**12) == 1
        x = np.ones((1, 3, 64, 64))
        assert tconv.conv_transpose(x, np.ones((3, 1, 3, 3)), method="direct").shape == (1, 1, 66, 66)
    finally:
        tconv.set_options(**old)


# -- 2. ONNX output_shape, against ONNX Runtime
def _ort(x, w, **attrs):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x.shape),
                      helper.make_tensor_value_info("W", TensorProto.FLOAT, w.shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x, "W": w})[0]


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("out", [7, 9, 10, 11, 12, 13, 14, 15])
def test_onnx_output_shape_above_at_and_below_the_natural_size(auto_pad, out):
    x = np.arange(1, 5, dtype=np.float32)[None, None]  # natural size with k=3, s=3: 12
    w = np.ones((1, 1, 3), np.float32)
    try:
        want = _ort(x, w, strides=[3], output_shape=[out], auto_pad=auto_pad)
    except Exception as exc:  # noqa: BLE001  ORT refuses it: so must tconv, clearly
        assert "output_shape" in str(exc)
        with pytest.raises(tconv.TconvError, match="output_shape"):
            tconv.onnx.conv_transpose(x, w, strides=[3], output_shape=[out], auto_pad=auto_pad)
        return
    got = tconv.onnx.conv_transpose(x, w, strides=[3], output_shape=[out], auto_pad=auto_pad)
    np.testing.assert_array_equal(got, want)


def test_onnx_output_shape_validated_like_onnx_runtime_and_ints_accepted():
    x = np.ones((1, 1, 3), np.float32)
    w = np.ones((1, 1, 1), np.float32)
    with pytest.raises(Exception, match="inconsistent"):
        _ort(x, w, strides=[3], output_shape=[12])
    with pytest.raises(tconv.TconvError, match="output_shape=.*stride - 1"):
        tconv.onnx.conv_transpose(x, w, strides=[3], output_shape=[12])
    np.testing.assert_array_equal(tconv.onnx.conv_transpose(x, w, strides=3, pads=0),
                                  _ort(x, w, strides=[3]))
    with pytest.raises(tconv.TconvTypeError, match="strides='2'"):
        tconv.onnx.conv_transpose(x, w, strides="2")


# -- 3. no hang, whatever the parameters
def test_work_scales_with_the_output_not_the_stride_or_padding():
    code = """
        import numpy as np, tconv
        print(tconv.conv_transpose(np.ones((1, 1, 1)), np.ones((1, 1, 1)), stride=10**18, method="direct").tolist())
        y = tconv.conv_transpose(np.ones((1, 64, 2), np.float32), np.ones((64, 1, 1), np.float32),
                                 stride=10**8, padding=49999999, groups=64)
        print(y.shape)
        from tconv.core import _native
        for m in tconv.ALGORITHMS:
            if m != "zero_insertion" and (m not in ("native", "brgemm") or _native.available()):
                tconv.conv_transpose(np.ones((1, 1, 2)), np.ones((1, 1, 1)), stride=10**9, padding=499999999,
                                     method=m)
        print("done")
    """
    proc = _run(code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["[[[1.0]]]", "(1, 64, 3)", "done"]


def test_parameters_beyond_the_index_range_are_errors():
    x, w = np.ones((1, 1, 2)), np.ones((1, 1, 1))
    for stride in (2**63, 2**64):
        with pytest.raises(tconv.TconvError, match="stride=.*below 2\\*\\*62"):
            tconv.conv_transpose(x, w, stride=stride)
    with pytest.raises(tconv.TconvError, match="padding"):
        tconv.conv(x, w, padding=2**62)


# -- 4. memory checked before it is taken
def test_memory_is_checked_before_allocation_under_an_address_space_limit():
    code = """
        import numpy as np, tconv
        def refused(fn, *words):
            try:
                fn()
            except tconv.TconvError as exc:
                msg = str(exc)
                assert "bytes" in msg and "memory limit" in msg and all(w in msg for w in words), msg
                return
            raise SystemExit("no error")
        # gemm's scratch does not grow with the stride: a 3-element output needs no gigabytes
        y = tconv.conv_transpose(np.ones((1, 1, 2)), np.ones((1, 1, 1)), stride=10**9, padding=499999999,
                                 method="gemm")
        assert y.shape == (1, 1, 3)
        refused(lambda: tconv.conv_transpose(np.ones((1, 1026, 224), np.float32),
                                             np.ones((1026, 1, 1024), np.float32), stride=256,
                                             method="zero_insertion"), "scratch", "stride")
        refused(lambda: tconv.conv_transpose(np.ones((4, 8, 64, 64)), np.ones((8, 8, 3, 3)), stride=10**4),
                "result", "stride")
        refused(lambda: tconv.conv_matrix(np.ones((1, 1, 3)), (10**12,)), "sparse matrix", "entries")
        refused(lambda: tconv.ConvOperator(np.ones((4, 4, 5, 5)), (20000, 20000)).tosparse(), "sparse matrix")
        refused(lambda: tconv.ConvOperator(np.ones((1, 1, 3, 3)), (300, 300)).todense(), "dense")
        old = tconv.set_options(max_bytes=100)
        refused(lambda: tconv.conv_transpose(np.ones((1, 1, 40)), np.ones((1, 1, 3))), "result")
        tconv.set_options(**old)
        print("ok")
    """
    proc = _run(code, timeout=180, limit_bytes=3 << 30)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr + proc.stdout


def test_memory_limit_from_the_environment():
    proc = subprocess.run([sys.executable, "-c", "import numpy as np, tconv; "
                           "tconv.conv_transpose(np.ones((1, 1, 100)), np.ones((1, 1, 3)))"],
                          capture_output=True, text=True, timeout=120, env={"TCONV_MAX_BYTES": "100",
                                                                          "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "memory limit of 100 B" in proc.stderr


def test_planner_guard_never_excludes_small_absolute_scratch():
    """The inverse-STFT layer: gemm's 0.9 MiB scratch is many times the tiny output, but small."""
    p = tconv.explain((1, 1026, 224), (1026, 1, 1024), stride=256)
    gemm = next(c for c in p.candidates if c.name == "gemm")
    assert gemm.reason is None, str(p)  # not excluded by the scratch guard
    best = min((c for c in p.candidates if c.reason is None), key=lambda c: c.seconds)
    assert p.choice == best.name and (best.name == "gemm" or best.seconds <= gemm.seconds), str(p)


# -- 5. bad input
BAD = [
    (lambda: tconv.conv_transpose(np.ones((1, 3)), None), tconv.TconvTypeError, "weight is None"),
    (lambda: tconv.conv_transpose(None, np.ones((1, 1, 2))), tconv.TconvTypeError, "input is None"),
    (lambda: tconv.conv_transpose2d(np.ones((2, 5, 5)), np.ones((4, 3, 3, 3))), tconv.TconvError,
     "read as unbatched"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (8,), dtype="garbage"), tconv.TconvTypeError,
     "dtype='garbage' is not a NumPy dtype"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), "5"), tconv.TconvTypeError, "input_shape='5'"),
    (lambda: tconv.ConvOperator(np.ones((1, 1, 3)), (5.0,)), tconv.TconvTypeError, "must contain ints"),
    (lambda: tconv.conv_transpose(torch.ones(1, 1, 3, requires_grad=True), np.ones((1, 1, 2))),
     tconv.TconvTypeError, "requires grad"),
    (lambda: tconv.conv_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 2)), stride=np.array([2, 2])),
     tconv.TconvError, "stride=(2, 2) has 2 entries"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_a_clear_error(i):
    fn, exc, fragment = BAD[i]
    with pytest.raises(exc) as info:
        fn()
    assert fragment in str(info.value)


def test_zero_d_arrays_and_tensors_are_accepted():
    x, w = np.ones((1, 1, 3)), np.ones((1, 1, 2))
    want = tconv.conv_transpose(x, w, stride=2)
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, stride=np.array(2)), want)
    np.testing.assert_array_equal(tconv.conv_transpose(x, w, stride=(np.array(2),)), want)
    np.testing.assert_array_equal(tconv.conv_transpose(torch.ones(1, 1, 3, dtype=torch.float64),
                                                       torch.ones(1, 1, 2, dtype=torch.float64), stride=2), want)


def _refused_without_core(method: str) -> bool:
    """True when ``method`` runs on the compiled core only (``native``, ``brgemm``) and the core is off
    (``TCONV_NATIVE=0``, or it did not build): the call must then be refused with a TconvError saying
    why, which this asserts."""
    from tconv.core import _native

    if method not in ("native", "brgemm") or _native.available():
        return False
    with pytest.raises(tconv.TconvError, match="compiled core is unavailable"):
        tconv.conv(np.ones((1, 1, 4)), np.ones((1, 1, 2)), method=method)
    return True


@pytest.mark.parametrize("method", sorted(tconv.ALGORITHMS))
def test_empty_batch_for_every_algorithm_and_the_vjps(method):
    if _refused_without_core(method):
        return
    w = np.ones((3, 2, 3))
    y = tconv.conv(np.zeros((0, 2, 11)), w, method=method)
    assert y.shape == (0, 3, 9)
    x = tconv.conv_transpose(np.zeros((0, 3, 9)), w, method=method)
    assert x.shape == (0, 2, 11)
    gx, gw, gb = tconv.conv_vjp(np.zeros((0, 3, 9)), np.zeros((0, 2, 11)), w, np.ones(3), method=method)
    assert gx.shape == (0, 2, 11) and gw.shape == w.shape and not gw.any() and gb.shape == (3,)
    gx, gw, _ = tconv.conv_transpose_vjp(np.zeros((0, 2, 11)), np.zeros((0, 3, 9)), w, method=method)
    assert gx.shape == (0, 3, 9) and not gw.any()


# -- 6. dtypes, NaN/Inf in weights, deterministic auto
def test_byte_swapped_float32_stays_float32():
    x = np.arange(6, dtype=">f4").reshape(1, 2, 3)
    w = np.ones((2, 1, 2), dtype=">f4")
    got = tconv.conv_transpose(x, w)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, tconv.conv_transpose(x.astype(np.float32), w.astype(np.float32)))


@pytest.mark.parametrize("method", sorted(tconv.ALGORITHMS))
def test_nonfinite_weights_propagate_like_torch(method):
    if _refused_without_core(method):
        return
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 7, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    w[0, 1, 0, 0], w[2, 0, 2, 1], w[1, 1, 1, 2] = np.nan, np.inf, -np.inf
    cases = [
        (tconv.conv(x, w, stride=2, padding=1, method=method),
         F.conv2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1).numpy()),
        (tconv.conv_transpose(x[:, :, :, :], np.ascontiguousarray(w[:2, :2]), stride=2, padding=1, method=method),
         F.conv_transpose2d(torch.tensor(x), torch.tensor(w[:2, :2]), stride=2, padding=1).numpy()),
    ]
    for got, want in cases:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
        fin = np.isfinite(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-10)


def test_auto_is_the_same_in_every_process():
    code = """
        import tconv
        from tconv.tools.bench.layers import SUITE
        for layer in SUITE:
            for op in ("conv_transpose", "conv", "weight_grad"):
                shape = layer.x_shape
                if op == "conv":
                    g = tconv.conv_transpose_geometry(layer.w_shape, layer.input, layer.stride, layer.pad, 0,
                                                      layer.dilation, layer.groups)
                    shape = (layer.n, g.x_channels, *g.x_shape)
                print(layer.id, op, tconv.explain(shape, layer.w_shape, op=op, **layer.kwargs).choice)
    """
    runs = [_run(code, timeout=120) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    from tconv.tools.bench.layers import SUITE

    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.count("\n") == 3 * len(SUITE)


# -- 7. accuracy of long float32 reductions
@pytest.mark.parametrize("method", sorted(tconv.ALGORITHMS))
def test_long_float32_reductions_within_twice_torch_error(method):
    if _refused_without_core(method):
        return
    for name, err, torch_err in long_float32_reduction_errors(method):
        assert err <= 2 * torch_err, (name, err, torch_err)


# -- 10. set-up and first use
def test_no_jit_and_no_threading_runtime_at_import_or_first_use():
    """numba, llvmlite and TBB are gone: importing tconv and the first calls through every
    kernel load none of them, print nothing and take no compile pause."""
    code = """
        import sys, time
        t = time.perf_counter()
        import numpy as np, tconv
        x = np.ones((2, 3, 5, 5), np.float32); w = np.ones((3, 2, 3, 3), np.float32)
        for m in ("direct", "gemm"):
            y = tconv.conv_transpose(x, w, stride=2, method=m)
            tconv.conv(y, w, stride=2, method=m)
            tconv.conv_transpose_vjp(y, x, w, stride=2, method=m)
        tconv.conv_transpose(x, w.copy().view(), method="direct")  # a read-only-like weight: no recompile
        print(time.perf_counter() - t)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite", "tbb")))
    """
    proc = _run(code, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    seconds, loaded = proc.stdout.strip().splitlines()
    assert loaded == "[]"
    assert float(seconds) < 10  # no compile step (on a loaded 2-core machine import alone is ~1 s)


def test_float64_dot_test_of_the_new_kernels():
    """The kernels after the thread-pool change, on a multi-threaded size, against the sparse matrix."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2, 5, 5))
    geom = tconv.conv_transpose_geometry(w.shape, (40, 41), 2, 1, 1)
    y = rng.standard_normal((2, 3, 40, 41))
    for m in ("direct", "gemm"):
        got = tconv.conv_transpose(y, w, stride=2, padding=1, output_padding=1, method=m)
        C = tconv.core.sparse.matrix_from_geometry(w, geom)
        want = (C.T @ y.reshape(2, -1).T).T.reshape(got.shape)
        close(got, want, np.float64)
