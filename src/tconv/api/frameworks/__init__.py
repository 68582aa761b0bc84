"""Front ends with another framework's argument conventions (public as ``tconv.onnx``,
``tconv.keras`` and ``tconv.jax``), each mapping onto one validated geometry."""
