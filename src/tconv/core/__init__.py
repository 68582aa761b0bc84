"""tconv's core: numbers in, numbers out (the compiled kernels live in ``_native``)."""
