"""``python -m tconv``: the same as the ``tconv`` command."""

from .tools.cli import main

raise SystemExit(main())
