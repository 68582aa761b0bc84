"""``tconv.viz``: the pictures, :mod:`tconv.tools.viz`, under their public name (loaded on first
import: ``import tconv`` imports no Pillow)."""

import sys

from .tools import viz as _viz

sys.modules[__name__] = _viz
