"""The browser explorer: ``tconv explore`` serves one page that draws what :mod:`tconv.tools.explore.api`
computes with the library (scatter and gather views, ``C_K^T``, the overlap map, the shape formula)."""

from .api import model_json
from .server import make_server, serve

__all__ = ["make_server", "model_json", "serve"]
