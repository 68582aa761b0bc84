import os

# Keras 3 runs on JAX in the tests (set before anything imports keras)
os.environ.setdefault("KERAS_BACKEND", "jax")

from hypothesis import HealthCheck, settings

# CI draws the same examples every run (derandomize): a peer's rare crash or wrong answer on a new example
# (PyTorch 2.13's float16 CPU convolution segfaults on a few shapes; XLA's batched conv_transpose is wrong on
# a few paddings) must not turn a run red at random; local runs keep exploring new examples
settings.register_profile(
    "default", max_examples=int(os.environ.get("TCONV_EXAMPLES", "150")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=bool(os.environ.get("TCONV_DERANDOMIZE") or os.environ.get("CI")),
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
