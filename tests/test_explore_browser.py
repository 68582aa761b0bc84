"""The explorer page in a real browser: Playwright driving Debian's headless Chromium.

`make test` installs Chromium where it can (root + apt-get, as in CI). These tests skip, saying why,
only where Chromium is absent and TCONV_REQUIRE_BROWSER is unset; CI sets it, so there they fail instead.
Set TCONV_SHOTS_DIR to also copy the screenshots somewhere to look at them.
"""

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import tconv
from tconv.tools.explore.server import make_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (make test installs the Debian chromium package when run as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("TCONV_REQUIRE_BROWSER"):
            pytest.fail(f"TCONV_REQUIRE_BROWSER is set but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    srv = make_server(0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.url0 = server.url
    yield pg
    pg.close()
    assert not errors, errors  # no JavaScript error on any page


def open_page(pg, query: str = ""):
    pg.goto(pg.url0 + query)
    pg.wait_for_selector("body[data-state=ready]")


def cells(pg, selector: str) -> dict:
    """``data-y`` (or ``data-x``) index -> shown number, for the cells of a grid that show one."""
    out = {}
    for key, text in pg.eval_on_selector_all(selector, "els => els.map(e => [e.dataset.y ?? e.dataset.x, e.textContent])"):
        if text.strip():
            out[int(key)] = float(text)
    return out


def step_to_end(pg):
    total = int(pg.get_attribute("#slider", "max"))
    for _ in range(total):
        pg.click("#step")
    assert pg.input_value("#slider") == str(total)


def ct(x, k, **geom):
    fn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[x.ndim]
    return fn(torch.from_numpy(x[None, None]), torch.from_numpy(k[None, None]), **geom).numpy()[0, 0]


def test_set_parameters_step_and_read_values(page):
    open_page(page)
    page.fill("#input", "3,3")
    page.fill("#stride", "2")
    page.fill("#padding", "1")
    page.fill("#output_padding", "1")
    page.wait_for_function("document.getElementById('params-line').textContent.includes('output_padding 1')")
    page.wait_for_selector("body[data-state=ready]")
    x = np.arange(1.0, 10.0).reshape(3, 3)  # "seed" input values: 1, 2, 3, ...
    k = np.arange(1.0, 10.0).reshape(3, 3)  # the seed kernel
    # after 2 steps the scatter canvas holds x[0,0]*k and x[0,1]*k added at their windows
    page.click("#step")
    page.click("#step")
    assert "step 2/9" in page.text_content("#scatter-title")
    canvas = np.zeros((7, 7))  # uncropped: (3-1)*2 + 3 = 7
    canvas[0:3, 0:3] += x[0, 0] * k
    canvas[0:3, 2:5] += x[0, 1] * k
    shown = page.eval_on_selector_all("#scatter-output .cell", "els => els.map(e => [+e.dataset.r, +e.dataset.c, e.textContent])")
    written = {(r, c): float(t) for r, c, t in shown if t}
    assert written == {(r, c): canvas[r, c] for r, c in zip(*np.nonzero(canvas))}
    assert page.text_content("#scatter-kernel-label") == "kernel x 2"
    step_to_end(page)
    want = ct(x, k, stride=2, padding=1, output_padding=1)
    tc = tconv.conv_transpose(x[None, None], k[None, None], stride=2, padding=1, output_padding=1)[0, 0]
    np.testing.assert_array_equal(tc, want)
    for grid in ("#scatter-output", "#gather-output"):
        got = cells(page, f"{grid} .cell[data-y]")
        assert sorted(got) == list(range(want.size))
        np.testing.assert_array_equal(np.array([got[i] for i in range(want.size)]).reshape(want.shape), tc)


def test_hover_matrix_entry_lights_its_tap_input_and_output(page):
    open_page(page, "?input=2,2&kernel=3")
    entry = page.locator("#matrix-CT .cell[data-k='4']").first  # the kernel's centre tap
    y, x = int(entry.get_attribute("data-y")), int(entry.get_attribute("data-x"))
    entry.hover()
    lit = lambda sel, attr: page.eval_on_selector_all(f"{sel} .cell.hl", f"els => els.map(e => +e.dataset.{attr})")  # noqa: E731
    assert lit("#scatter-kernel", "k") == [4]
    assert lit("#scatter-input", "x") == [x]
    assert lit("#scatter-output", "y") == [y]
    assert lit("#vector-y", "y") == [y] and lit("#vector-x", "x") == [x]
    # the entry is the centre tap's value, and C^T maps input x to output y through it
    C = tconv.conv_matrix(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), (4, 4)).toarray()
    assert C[x, y] == 5.0 == float(entry.text_content())
    # and the other way round: hovering a kernel tap lights every matrix entry it makes
    page.hover("#scatter-kernel .cell[data-k='4']")
    lit_entries = page.eval_on_selector_all(".grid.matrix .cell.hl", "els => els.length")
    assert lit_entries == 2 * np.count_nonzero(C == 5.0)  # in C_K and in C_K^T


def test_url_parameters_load_a_configuration(page):
    open_page(page, "?input=4&kernel=3&dilation=2&values=ones&kernel_values=arange")
    assert page.input_value("#input") == "4" and page.input_value("#dilation") == "2"
    assert page.input_value("#values-kind") == "ones" and page.input_value("#kernel_values-kind") == "arange"
    assert "dilation 2" in page.text_content("#params-line")
    step_to_end(page)
    want = ct(np.ones(4), np.arange(3.0), dilation=2)
    got = cells(page, "#gather-output .cell[data-y]")
    np.testing.assert_array_equal([got[i] for i in range(want.size)], want)
    # the gather view draws the dilated kernel with its gaps: 3 taps, 2 gaps
    assert page.eval_on_selector_all("#gather-kernel .cell.gap", "els => els.length") == 2
    # and changes go back into the URL, so a teacher can link to them
    page.fill("#stride", "2")
    page.wait_for_function("location.search.includes('stride=2')")


def test_errors_show_next_to_their_control(page):
    open_page(page)
    with pytest.raises(tconv.TconvError) as exc:
        tconv.conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), output_padding=1)
    page.fill("#output_padding", "1")
    page.wait_for_selector("#err-output_padding:not(:empty)")
    assert page.text_content("#err-output_padding") == str(exc.value)  # the library's own words
    assert "bad" in page.get_attribute("#output_padding", "class")
    page.fill("#stride", "2")  # output_padding 1 is legal with stride 2: the message goes away
    page.wait_for_selector("body[data-state=ready]")
    page.wait_for_function("document.getElementById('err-output_padding').textContent === ''")
    page.fill("#input", "17,2")
    page.wait_for_selector("#err-input:not(:empty)")
    assert "16" in page.text_content("#err-input")


def test_download_gif_is_what_tconv_animate_writes(page, tmp_path):
    open_page(page, "?input=3&kernel=3&stride=2&padding=1&values=arange")
    page.select_option("#view", "gather")
    with page.expect_download() as dl:
        page.click("#download-gif")
    got = Path(dl.value.path()).read_bytes()
    from tconv.tools.cli import main

    assert main(["animate", "--input", "3", "--kernel", "3", "--stride", "2", "--padding", "1", "--values", "arange",
                 "--view", "gather", "-o", str(tmp_path / "cli.gif")]) == 0
    assert got == (tmp_path / "cli.gif").read_bytes()


SHOTS = {
    "seed": "?input=2,2&kernel=3",
    "stride2-padding1-outpad1": "?input=3,3&kernel=3&stride=2&padding=1&output_padding=1",
    "1d-dilation2": "?input=4&kernel=3&dilation=2",
}


@pytest.mark.parametrize("name", sorted(SHOTS))
def test_screenshots(page, tmp_path, name):
    open_page(page, SHOTS[name])
    for _ in range(3):
        page.click("#step")
    path = tmp_path / f"explore-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    from PIL import Image

    im = Image.open(path)
    assert im.width == 1400 and im.height > 1000
    assert len(im.convert("RGB").getcolors(1 << 20)) > 50  # drawn, not blank
    if os.environ.get("TCONV_SHOTS_DIR"):
        Path(os.environ["TCONV_SHOTS_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["TCONV_SHOTS_DIR"]) / path.name)


def test_same_call_elsewhere_is_translates_snippets_and_output_padding_is_keyed(page):
    """The page shows tconv.translate's checked snippets (one per framework, lines unwrapped) and keys
    output_padding's cells in both views."""
    from tconv.tools.translate import translate_call

    open_page(page, "?input=3,3&kernel=3&stride=2&padding=1&output_padding=1")
    want = translate_call((1, 1, 3, 3), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1, (1, 1))
    for box, name in (("pytorch", "torch"), ("onnx", "onnx"), ("keras", "keras"), ("jax", "jax"), ("tconv", "tconv")):
        text = page.text_content(f"#call-{box}")
        assert want.targets[name].code in text, box
        assert page.eval_on_selector(f"#call-{box}", "e => getComputedStyle(e).whiteSpace") == "pre"
    assert "each snippet runs as printed given NumPy arrays x = input[None, None]" in page.text_content("#call-given")
    assert page.locator("#gather-grid .cell.opz").count() == 8 + 8 - 1  # the 8x8 grid's last row and column
    assert "zero added by output_padding" in page.text_content("#gather .legend")
    assert "kept by output_padding (padding would crop it)" in page.text_content("#scatter .legend")
    assert page.locator("#scatter-output .cell.outkept").count() == 6 + 6 - 1  # the 6x6 output's last row, column
