import os

# Keras 3 runs on JAX in the tests (set before anything imports keras)
os.environ.setdefault("KERAS_BACKEND", "jax")

from hypothesis import HealthCheck, settings

# every run draws the same examples (derandomize), `make test` as CI: a peer's rare crash or wrong answer on a
# new example (PyTorch 2.13's float16 CPU convolution segfaults on a few shapes; XLA's batched conv_transpose is
# wrong on a few paddings; jaxlib 0.10.2's algebraic simplifier aborts the process on a few small dilated ones,
# tests/test_translate.py::test_xla_abort_is_contained) must not turn a user's run red at random.
# TCONV_EXPLORE=1 draws new examples each run (the way to look for new bugs, ours or a peer's).
settings.register_profile(
    "default", max_examples=int(os.environ.get("TCONV_EXAMPLES", "150")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("TCONV_EXPLORE", "") in ("", "0"),
)
settings.load_profile("default")

# registry tests ask each algorithm whether it supports a case; unsupported cases are skipped
# for that algorithm and counted here, reported at the end of the run (never failed, never dropped)
UNSUPPORTED: dict[str, int] = {}


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand the counts to the controller
        session.config.workeroutput["unsupported"] = dict(UNSUPPORTED)


def pytest_testnodedown(node, error):
    for k, v in getattr(node, "workeroutput", {}).get("unsupported", {}).items():
        UNSUPPORTED[k] = UNSUPPORTED.get(k, 0) + v


def pytest_terminal_summary(terminalreporter):
    if UNSUPPORTED:
        terminalreporter.write_line(
            "registry cases skipped as unsupported (algorithm/op: count): "
            + ", ".join(f"{k}: {v}" for k, v in sorted(UNSUPPORTED.items())))
