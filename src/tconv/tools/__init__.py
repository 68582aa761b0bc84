"""Programs and pictures: the command line, the seed demo, the shape report, ``translate``,
``viz``, the explorer and the benchmark runner. Nothing in ``tconv.core`` or ``tconv.api``
imports them."""
