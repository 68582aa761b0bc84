import os

# Keras 3 runs on JAX in the tests (set before anything imports keras)
os.environ.setdefault("KERAS_BACKEND", "jax")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=int(os.environ.get("TCONV_EXAMPLES", "150")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("default")
