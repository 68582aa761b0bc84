"""Process-wide options and the memory guard (no array data here).

``max_bytes`` bounds every allocation tconv plans (outputs, scratch, sparse matrices):
anything larger raises :class:`~tconv.TconvError` *before* memory is taken, saying how
many bytes it would need and which parameter drives it. Default: half of the memory
available when the check runs (``MemAvailable``, and the address-space limit
``RLIMIT_AS`` when one is set); set it with :func:`set_options` or the environment
variable ``TCONV_MAX_BYTES``. ``threads`` caps the threads one call uses (default: the
CPUs this process may run on; environment variable ``TCONV_NUM_THREADS``). ``tune=True`` makes
``method="auto"`` time the candidates its cost model puts near the best, once per shape, and
run the measured fastest (FFTW's ``FFTW_MEASURE``, cuDNN's benchmark mode): for a shape met many
times, as in an iterative solver; the default chooses from the model alone, the same algorithm
in every process.

>>> old = set_options(max_bytes=2**30)
>>> get_options()["max_bytes"]
1073741824
>>> _ = set_options(**old)
"""

from __future__ import annotations

import os
import resource

from ..errors import TconvError, TconvTypeError

__all__ = ["set_options", "get_options", "memory_limit", "check_bytes", "format_bytes", "ALWAYS_FITS", "state",
           "tuning"]

_OPTIONS: dict[str, int | None] = {"max_bytes": None, "threads": None, "tune": False}


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = int(float(text))
    except ValueError:
        raise TconvError(f"environment variable {name}={text!r} must be a positive number") from None
    if value < 1:
        raise TconvError(f"environment variable {name}={text!r} must be a positive number")
    return value


def _positive(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TconvTypeError(f"{name}={value!r} must be a positive int or None, got {type(value).__name__}")
    v = int(value)  # type: ignore[call-overload]
    if v < 1:
        raise TconvError(f"{name}={v} must be a positive int or None")
    return v


def set_options(*, max_bytes: int | None = None, threads: int | None = None,
                tune: bool = False) -> dict[str, int | None]:
    """Set tconv's options; ``None`` (``False``) restores the default. Returns the previous options.

    ``max_bytes``: the largest allocation (output, scratch, sparse matrix) tconv may plan.
    ``threads``: the most threads one call uses.
    ``tune``: ``method="auto"`` times the candidates near the model's best once per shape (see the module).

    >>> old = set_options(tune=True); get_options()["tune"]
    True
    >>> _ = set_options(**old)
    """
    if type(tune) is not bool:
        raise TconvTypeError(f"tune={tune!r} must be True or False, got {type(tune).__name__}")
    old = dict(_OPTIONS)
    _OPTIONS["max_bytes"] = _positive("max_bytes", max_bytes)
    _OPTIONS["threads"] = _positive("threads", threads)
    _OPTIONS["tune"] = tune
    return old


def tuning() -> bool:
    """Whether ``method="auto"`` times its near candidates (``set_options(tune=True)``)."""
    return bool(_OPTIONS["tune"])


def get_options() -> dict[str, int | None]:
    """The options as set (``None``: the default applies)."""
    return dict(_OPTIONS)


def _available_bytes() -> int:
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            avail = 8 << 30
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        avail = min(avail, soft)
    return avail


def memory_limit() -> int:
    """The byte limit in force: ``set_options(max_bytes=...)``, ``TCONV_MAX_BYTES``, or half
    of the available memory."""
    explicit = _OPTIONS["max_bytes"] or _env_int("TCONV_MAX_BYTES")
    return explicit if explicit is not None else _available_bytes() // 2


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


#: allocations below this are never refused (and cost no look at the system's memory)
ALWAYS_FITS = 16 << 20


def check_bytes(nbytes: int, what: str, because) -> None:
    """Raise :class:`TconvError` if ``nbytes`` is above :func:`memory_limit`.

    ``what`` names the allocation, ``because`` (a string, or a function giving it) the parameters
    that drive its size.
    """
    if nbytes <= ALWAYS_FITS and not (_OPTIONS["max_bytes"] or "TCONV_MAX_BYTES" in os.environ):
        return
    limit = memory_limit()
    if nbytes > limit:
        because = because() if callable(because) else because
        raise TconvError(
            f"{what} would need {format_bytes(nbytes)} ({nbytes} bytes), above tconv's memory limit of "
            f"{format_bytes(limit)}: {because}. Raise the limit with tconv.set_options(max_bytes=...) "
            "or TCONV_MAX_BYTES if the machine really has the memory"
        )


def thread_cap() -> int | None:
    """``threads`` as set, or ``TCONV_NUM_THREADS``, or None (the machine decides)."""
    return _OPTIONS["threads"] or _env_int("TCONV_NUM_THREADS")


_ENVIRON = os.environ
_ENV_DATA = getattr(os.environ, "_data", None)
_ENV_KEYS = ("TCONV_NUM_THREADS", "TCONV_MAX_BYTES")
try:  # CPython keeps the environment in a dict of encoded names: read it without a KeyError per name
    _ENV_RAW = tuple(os.environ.encodekey(k) for k in _ENV_KEYS) if isinstance(_ENV_DATA, dict) else None
except (AttributeError, TypeError, ValueError):  # pragma: no cover - another Python
    _ENV_RAW = None


def state() -> tuple:
    """Everything the options make of a call, as one hashable tuple: ``max_bytes`` and ``threads`` as
    set, the values of ``TCONV_NUM_THREADS`` and ``TCONV_MAX_BYTES`` now, and ``tune`` (read on every call, as
    :func:`memory_limit` and :func:`thread_cap` read them). The per-call cache
    (:mod:`tconv.core.callcache`) keys on it, so a change of any of them takes effect at the next call.

    >>> old = set_options(threads=1); a = state(); _ = set_options(**old); a == state()
    False
    """
    if _ENV_RAW is not None and os.environ is _ENVIRON:
        get = _ENV_DATA.get  # type: ignore[union-attr]
        return (_OPTIONS["max_bytes"], _OPTIONS["threads"], get(_ENV_RAW[0]), get(_ENV_RAW[1]), _OPTIONS["tune"])
    env = os.environ
    return (_OPTIONS["max_bytes"], _OPTIONS["threads"], env.get(_ENV_KEYS[0]), env.get(_ENV_KEYS[1]),
            _OPTIONS["tune"])
