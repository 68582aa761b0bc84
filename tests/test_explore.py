"""The explorer's server and JSON, without a browser: numbers against PyTorch, garbage queries, the GIF."""

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from importlib import resources
from urllib.parse import quote, urlencode

import numpy as np
import pytest
import torch

import tconv
from tconv.tools.explore.api import MAX_INPUT, MAX_KERNEL, model_json
from tconv.tools.explore.server import make_server


@pytest.fixture(scope="module")
def server():
    srv = make_server(0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, path):
    try:
        with urllib.request.urlopen(srv.url.rstrip("/") + path, timeout=60) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def torch_ct(x, k, stride, padding, output_padding, dilation):
    fn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[x.ndim]
    return fn(torch.from_numpy(x[None, None]), torch.from_numpy(k[None, None]), stride=stride, padding=padding,
              output_padding=output_padding, dilation=dilation).numpy()[0, 0]


def test_page_and_static_files_are_served_from_the_package(server):
    status, ctype, body = get(server, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'<script src="/static/explore.js">' in body and b"http" not in body.replace(b"http-equiv", b"")  # no CDN
    for name, kind in (("explore.js", "javascript"), ("explore.css", "css")):
        status, ctype, body = get(server, f"/static/{name}")
        assert status == 200 and kind in ctype and len(body) > 1000
        assert b"https://" not in body and b"http://" not in body  # works offline
    assert resources.files("tconv.tools.explore").joinpath("static", "index.html").is_file()
    status, _, body = get(server, "/static/../api.py")
    assert status == 404 and b"error" in body


@pytest.mark.parametrize("q", [
    dict(input="2,2", kernel="3"),
    dict(input="3,3", kernel="3", stride="2", padding="1", output_padding="1"),
    dict(input="4", kernel="3", dilation="2", values="random", kernel_values="arange"),
    dict(input="3,2", kernel="2,3", stride="2,1", padding="1,0", dilation="1,2", values="1 2; 3 4; 5 6"),
])
def test_model_numbers_match_pytorch(server, q):
    status, _, body = get(server, "/api/model?" + urlencode(q))
    assert status == 200
    m = json.loads(body)
    x = np.array(m["x"], dtype=float)
    k = np.array(m["kernel"], dtype=float)
    if m["nd"] == 1:
        x, k = x[0], k[0]
    ints = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
    geom = {n: ints(q.get(n, "1" if n in ("stride", "dilation") else "0")) for n in
            ("stride", "padding", "output_padding", "dilation")}
    geom = {n: (v * x.ndim if len(v) == 1 else v) for n, v in geom.items()}
    want = torch_ct(x, k, **geom)
    np.testing.assert_allclose(np.array(m["output"]).reshape(want.shape), want, atol=1e-9)
    # the matrix-vector product is the same transposed convolution
    np.testing.assert_allclose(m["matrix"]["y"], want.ravel(), atol=1e-9)
    # the last gather step of each output cell holds that cell's value
    np.testing.assert_allclose([s["value"] for s in m["gather"]["steps"]], want.ravel(), atol=1e-9)
    # the shape formula ends on the output size, per axis
    assert [int(f.rsplit("= ", 1)[1]) for f in m["shape"]["formula"]] == list(want.shape)


@pytest.mark.parametrize("q", [
    dict(input="3,3", kernel="3", stride="2", padding="1", output_padding="1"),
    dict(input="4", kernel="3", stride="2", padding="1:0", dilation="2"),  # asymmetric: not one PyTorch call
])
def test_calls_run_and_agree(server, q):
    """The page's "same call elsewhere" is tconv.translate's (checked) snippets, each run verbatim in its framework."""
    m = json.loads(get(server, "/api/model?" + urlencode(q))[2])
    x = np.array(m["x"], np.float32).reshape(1, 1, *np.shape(m["x"])[-len(m["params"]["input"]):])
    w = np.array(m["kernel"], np.float32).reshape(1, 1, *m["params"]["kernel"])
    want = np.array(m["output"]).reshape(m["params"]["output"])
    assert "each snippet runs as printed given NumPy arrays x = input[None, None]" in m["calls"]["given"]
    for name in ("pytorch", "onnx", "keras", "jax", "tconv"):
        scope = {"x": x, "w": w, "b": None}
        exec(m["calls"][name], scope)  # the copyable text, as shown
        y = np.asarray(scope["y"])
        y = y[0, ..., 0] if name == "keras" else y[0, 0]
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-4, err_msg=name)
    assert m["calls"]["tconv"].count("tconv.conv_transpose(") == 1


GARBAGE = [
    "input=", "input=abc", "input=0", "input=-3", "input=17", "input=4,4,4", "input=99999999999999999999",
    "kernel=8", "kernel=3,3,3", "kernel=0", "stride=0", "stride=-1", "stride=1e9", "stride=9",
    "padding=x", "padding=1:2:3", "padding=-1", "padding=1,1,1", "padding=%00", "padding=9999999",
    "dilation=0", "dilation=100", "output_padding=5", "output_padding=-1", "values=1;2", "values=nan nan;nan nan",
    "values=1e400 1;1 1", "kernel_values=", "values=%ff%fe", "input=\u00e9", "view=sideways",
    "input=2&input=3&input=%20", "stride=2&padding=same&output_padding=1", "input=1&kernel=7&padding=5",
]


@pytest.mark.parametrize("query", GARBAGE)
def test_garbage_queries_get_an_error_naming_a_control(server, query):
    status, ctype, body = get(server, "/api/model?" + quote(query, safe="=&%;:,"))
    if status == 200:  # a few odd spellings are valid (e.g. repeated keys: the last one counts)
        assert "output" in json.loads(body)
        return
    assert status == 400 and ctype == "application/json"
    answer = json.loads(body)
    assert answer["error"] and answer["param"] in ("input", "kernel", "values", "kernel_values", "stride",
                                                    "padding", "dilation", "output_padding", "view")
    status, _, _ = get(server, "/api/model?input=2,2")  # still serving
    assert status == 200


def test_errors_name_the_control_and_carry_the_librarys_message():
    with pytest.raises(tconv.TconvError) as exc:
        tconv.conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), output_padding=1)
    answer = model_json({"output_padding": "1"})
    assert answer == {"error": str(exc.value), "param": "output_padding"}
    assert model_json({"input": str(MAX_INPUT + 1)})["param"] == "input"
    assert str(MAX_INPUT) in model_json({"input": str(MAX_INPUT + 1)})["error"]
    assert model_json({"kernel": str(MAX_KERNEL + 1)})["param"] == "kernel"
    assert "output" in model_json({"padding": "0:1"})  # asymmetric padding is a padding, not an error


def test_gif_is_exactly_what_tconv_animate_writes(server, tmp_path):
    q = dict(input="3", kernel="3", stride="2", padding="0:1", output_padding="1", values="arange", view="both")
    status, ctype, body = get(server, "/gif?" + urlencode(q))
    assert status == 200 and ctype == "image/gif"
    out = tmp_path / "cli.gif"
    proc = subprocess.run([sys.executable, "-m", "tconv", "animate", "--input", "3", "--kernel", "3", "--stride", "2",
                           "--padding", "0:1", "--output-padding", "1", "--values", "arange", "--view", "both",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == body


def test_gif_refuses_too_many_frames(server):
    status, _, body = get(server, "/gif?" + urlencode(dict(input="16,16", kernel="3", view="both")))
    assert status == 400
    answer = json.loads(body)
    assert answer["param"] == "view" and "584 frames" in answer["error"]


def test_unknown_path_is_a_json_404(server):
    status, ctype, body = get(server, "/nothing-here")
    assert status == 404 and ctype == "application/json" and json.loads(body)["error"]


def test_tconv_explore_command_serves_and_prints_its_address(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tconv", "explore", "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving on http://127.0.0.1:" in line
        url = line.split("serving on ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/model?input=2,2", timeout=60) as r:
            assert json.loads(r.read())["output"][0][0] == 1.0 * 1 * 1  # x[0,0] * k[0,0] of the seed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
