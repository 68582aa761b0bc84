"""The ``tconv`` command line: ``tconv demo``, ``tconv shape``, ``tconv explain`` ...

Every command reads the geometry the same way: ``--input`` is the transposed convolution's input,
``--kernel`` defaults to 3 on every axis of the input, ``--padding`` is ``1``, ``1,2`` (per axis),
``0:1`` (``lo:hi``, per axis, comma-separated axes), ``same`` or ``valid``. Errors are one line on
stderr and exit status 2; no command ever ends in a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from ..errors import TconvError

EPILOG_DEMO = "example:\n  tconv demo\n  tconv demo --out tconv-demo"
MAX_EXPLAIN_ELEMENTS = 2**62  # explain only plans, but sizes past this overflow the cost model


def _cmd_demo(args) -> int:
    from .seed import format_matrix, seed_example

    ex = seed_example()
    print("tconv demo: the seed example (3x3 kernel K on a 4x4 image, stride 1, no padding)\n")
    print(format_matrix(ex.kernel, "kernel K"))
    print()
    print(format_matrix(ex.C, "C_K: the convolution as a matrix, A"))
    print()
    print(format_matrix(ex.CT, "C_K^T: the transposed convolution, B = A^T"))
    print()
    print(format_matrix(ex.AB, "AB = C_K C_K^T"))
    print()
    print(format_matrix(ex.BA, "BA = C_K^T C_K"))
    print("\nAB and BA are not identities: the transposed convolution is not an inverse.\n")
    print(format_matrix(ex.x, "x (2x2 input of the transposed convolution)"))
    print()
    print(format_matrix(ex.reference, "C_K^T x, reshaped to 4x4"))
    print()
    ok = True
    for name, res in ex.by_algorithm.items():
        err = float(np.max(np.abs(res - ex.reference)))
        same = err == 0.0
        ok &= same
        print(f"  conv_transpose(x, K, method={name!r}) == C_K^T x".ljust(58) + ": "
              f"{'yes, exactly' if same else f'NO (max error {err:.3g})'}")
    if not args.no_pictures:
        from pathlib import Path

        from .viz.commands import write_animation, write_matrix, write_overlap

        out = Path(args.out)
        gif, _ = write_animation(out / "seed-scatter.gif", ex.x, ex.kernel)
        gather, _ = write_animation(out / "seed-gather.gif", ex.x, ex.kernel, view="gather")
        mat, _ = write_matrix(out / "seed-matrix.png", ex.kernel, (2, 2))
        ovl, _ = write_overlap(out / "seed-overlap.png", (2, 2), (3, 3))
        ovl2, words = write_overlap(out / "overlap-stride2.png", (4, 4), (3, 3), stride=2)
        print("\nthe same kernel with stride 2: " + words.splitlines()[-1].split(": ", 1)[1])
        print("\npictures:")
        for p in (gif, gather, mat, ovl, ovl2):
            print(f"  {p}")
    return 0 if ok else 1


def _cmd_shape(args) -> int:
    from .shapes import shape_report

    print(shape_report(args))
    return 0


def _cmd_explain(args) -> int:
    from ..api.explain import explain

    cin, cout = args.channels
    if cout % args.groups or cin % args.groups:
        raise TconvError(f"groups={args.groups} must divide both channel counts (--channels {cin},{cout})")
    weight = (cin, cout // args.groups, *args.kernel)
    elements = args.batch * max(cin, cout) * math.prod(args.input)
    if elements > MAX_EXPLAIN_ELEMENTS:
        raise TconvError(f"--batch {args.batch} x --channels x --input {args.input} is {elements} elements: "
                         f"far beyond any machine")
    if args.chunks is not None:
        if args.op != "conv_transpose":
            raise TconvError(f"--chunks plans the chunked conv_transpose only, not --op {args.op}")
        print(explain((args.batch, cin, *args.input), weight, groups=args.groups, dtype=args.dtype,
                      chunks=args.chunks, **_geom_kwargs(args)))
        return 0
    p = explain((args.batch, cin, *args.input), weight, groups=args.groups, dtype=args.dtype, **_geom_kwargs(args))
    if args.op != "conv_transpose":  # the same geometry, the other operation (conv: the adjoint)
        from ..core.planner import plan

        p = plan(p.geometry, p.batch, p.dtype, args.op)
    print(p)
    return 0


def _cmd_translate(args) -> int:
    from .translate import translate

    to = tuple(t for part in args.to for t in part.split(",") if t) if args.to else None
    kw = {} if to is None else {"to": to}
    t = translate(args.layer, getattr(args, "from"), input_shape=args.input, in_channels=args.in_channels, **kw)
    print(t)
    return 0 if t.max_error < 1e-9 else 1


# ---------------------------------------------------------------------------- argument types

def _ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers like 4 or 4,4 or 4x4") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers like 4 or 4,4 or 4x4")
    return vals


def _sizes(text: str) -> tuple[int, ...]:
    vals = _ints(text)
    if any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive integers")
    return vals


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return v


def _duration(text: str) -> int:
    v = _positive(text)
    if not 10 <= v <= 60_000:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 10 and 60000 milliseconds")
    return v


def _scale(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.25 <= v <= 8:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0.25 and 8")
    return v


def _padding(text: str):
    """``same``/``valid``, or per-axis entries ``p`` or ``lo:hi`` separated by commas (one entry: every axis).

    Returned as a string or a tuple of ``(lo, hi)`` pairs (one pair: every axis)."""
    t = text.strip().lower()
    if t in ("same", "valid"):
        return t
    pairs = []
    for part in t.split(","):
        bits = part.split(":")
        try:
            vals = [int(b) for b in bits]
        except ValueError:
            vals = []
        if len(vals) not in (1, 2) or any(v < 0 for v in vals):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a padding: write p, p,q (per axis), lo:hi (e.g. 0:1), lo:hi,lo:hi, same or valid")
        pairs.append((vals[0], vals[-1]))
    return tuple(pairs)


def resolve_padding(pad, nd: int):
    """The CLI's padding for ``nd`` axes, in the form tconv takes: a string, one int (every axis,
    symmetric), a tuple of ints, or a tuple of ``(lo, hi)`` pairs.

    >>> resolve_padding(((1, 1),), 2), resolve_padding(((0, 1),), 1), resolve_padding(((1, 1), (2, 2)), 2)
    (1, ((0, 1),), (1, 2))
    """
    if isinstance(pad, (str, int)):
        return pad
    if len(pad) == 1:
        pad = pad * nd
    if len(pad) != nd:
        raise TconvError(f"--padding has {len(pad)} entries but the input has {nd} axis(es); give one entry "
                         f"(every axis) or {nd}, each p or lo:hi")
    if all(lo == hi for lo, hi in pad):
        return pad[0][0] if len(set(pad)) == 1 else tuple(lo for lo, _ in pad)
    return tuple(pad)


def add_geometry_args(p: argparse.ArgumentParser, *, input_default: str = "4,4", kernel_default: str | None = None
                      ) -> None:
    p.add_argument("--input", type=_sizes, default=_sizes(input_default),
                   help="the transposed convolution's input size, e.g. 4 or 4,4 (default %(default)s)")
    p.add_argument("--kernel", type=_sizes, default=_sizes(kernel_default) if kernel_default else None,
                   help="kernel size, one value (every axis) or one per axis (default 3 on every axis"
                   + (f"; here {kernel_default}" if kernel_default else "") + ")")
    p.add_argument("--stride", type=_sizes, default=(1,), help="stride, one value or one per axis")
    p.add_argument("--padding", type=_padding, default=((0, 0),),
                   help="p (every axis), p,q (per axis), lo:hi (asymmetric, e.g. 0:1 or 0:1,1:0), same or valid")
    p.add_argument("--output-padding", type=_ints, default=(0,), help="output_padding, one value or one per axis")
    p.add_argument("--dilation", type=_sizes, default=(1,), help="dilation, one value or one per axis")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one clear line (no usage dump, no traceback)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tconv",
        description="Transposed convolution, exact, fast and visible.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tconv demo\n  tconv shape --input 8,8 --kernel 4 --stride 2 --padding 1\n"
        "  tconv explain --batch 16 --channels 512,256 --input 8,8 --kernel 4 --stride 2 --padding 1\n"
        "  tconv explain --input 512,512,512 --kernel 4 --stride 2 --padding 1 --chunks 128,128,128\n"
        "  tconv explore\n\n--input is always the transposed convolution's input; --padding is p, p,q, lo:hi,"
        " same or valid.",
    )
    from importlib.metadata import version

    parser.add_argument("--version", action="version", version=f"tconv {version('tconv')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("demo", help="the seed article's example, end to end", formatter_class=fmt, epilog=EPILOG_DEMO)
    p.add_argument("--out", default="tconv-demo", help="folder for the pictures (default %(default)s)")
    p.add_argument("--no-pictures", action="store_true", help="print only, write no files")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("shape", help="output sizes under PyTorch, ONNX and TF/Keras conventions", formatter_class=fmt,
                       epilog="examples:\n  tconv shape --input 8,8 --kernel 4 --stride 2 --padding 1\n"
                       "  tconv shape --input 7 --stride 2 --want 14\n  tconv shape --input 5 --padding 0:1")
    add_geometry_args(p, input_default="2,2")
    p.add_argument("--want", type=_sizes, default=None, help="a wanted output size: which output_padding / padding gives it?")
    p.set_defaults(func=_cmd_shape)

    p = sub.add_parser("explain", help="the planner's candidates, costs and choice", formatter_class=fmt,
                       epilog="example:\n  tconv explain --batch 16 --channels 512,256 --input 8,8 --kernel 4 --stride 2 --padding 1")
    add_geometry_args(p, input_default="8,8", kernel_default="4")
    p.add_argument("--batch", type=_positive, default=1)
    p.add_argument("--channels", type=_sizes, default=(1, 1), help="C_in,C_out (default 1,1)")
    p.add_argument("--groups", type=_positive, default=1)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--op", choices=["conv_transpose", "conv", "weight_grad"], default="conv_transpose",
                   help="the operation to plan on this geometry: the transposed convolution (default), its "
                   "adjoint conv (ConvOperator's matvec, the input gradient) or the weight gradient")
    p.add_argument("--chunks", type=_ints, default=None,
                   help="Dask input chunks: one size per spatial axis (or per axis incl. batch, channels): "
                   "prints the chunked plan (halo, output chunks, block algorithm, memory per task, tasks)")
    p.set_defaults(func=_cmd_explain)
    p = sub.add_parser("translate", help="a layer in another framework's conventions, checked numerically",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  tconv translate --from torch --input 16,16 "
                       "\"ConvTranspose2d(64, 32, 4, stride=2, padding=1, output_padding=1)\"\n"
                       "  tconv translate --from keras --to torch,onnx --input 8,8 --in-channels 16 "
                       "\"Conv2DTranspose(8, 3, strides=2, padding='same')\"")
    p.add_argument("layer", help="the layer as a call, e.g. \"ConvTranspose2d(64, 32, 4, stride=2)\"")
    p.add_argument("--from", choices=["torch", "onnx", "keras", "jax"], default="torch",
                   help="the layer's convention (default %(default)s)")
    p.add_argument("--to", action="append", metavar="TARGETS",
                   help="torch, onnx, keras, jax, tconv (comma separated or repeated; default all)")
    p.add_argument("--input", type=_ints, default=None, help="spatial input sizes, e.g. 16,16")
    p.add_argument("--in-channels", type=int, default=None, help="input channels (needed --from keras)")
    p.set_defaults(func=_cmd_translate)
    _picture_commands(sub)

    p = sub.add_parser("explore", help="the interactive explorer in your browser (a local web server)",
                       formatter_class=fmt, epilog="examples:\n  tconv explore\n  tconv explore --port 8765 --no-browser")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    p.set_defaults(func=_cmd_explore)

    p = sub.add_parser("bench", help="the layer suite against PyTorch and ONNX Runtime (needs tconv[test])",
                       formatter_class=fmt, epilog="examples:\n  tconv bench\n  tconv bench --rounds 3 --layers L1,L9 --out r.md")
    p.add_argument("--rounds", type=_positive, default=5)
    p.add_argument("--layers", default="", help="comma-separated layer ids (default: all)")
    p.add_argument("--out", default="results.md")
    p.add_argument("--quick", action="store_true",
                   help="one BLAS configuration and no first-call measurement (a smoke run)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_bench)
    parser.commands = dict(sub.choices)  # type: ignore[attr-defined]
    return parser


def _cmd_bench(args) -> int:
    from .bench.runner import main as bench_main

    return bench_main(args.bench_argv)


def _cmd_explore(args) -> int:
    from .explore.server import serve

    return serve(port=args.port, open_browser=not args.no_browser)


def _normalise_geometry(args) -> None:
    """Fill the kernel default (3 on every input axis) and check per-axis lists against the input's rank."""
    if not hasattr(args, "input") or not hasattr(args, "kernel"):
        return
    nd = len(args.input)
    if args.kernel is None:
        args.kernel = (3,) * nd
    for name in ("kernel", "stride", "output_padding", "dilation"):
        v = getattr(args, name)
        if len(v) == 1:
            v = v * nd
        if len(v) != nd:
            flag = "--" + name.replace("_", "-")
            raise TconvError(f"{flag} {','.join(map(str, v))} has {len(v)} values but --input "
                             f"{','.join(map(str, args.input))} has {nd} axis(es); give one value or {nd}")
        setattr(args, name, tuple(v))
    args.padding = resolve_padding(args.padding, nd)


def _geom_kwargs(args) -> dict:
    one = lambda v: v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v  # noqa: E731
    return dict(stride=one(args.stride), padding=args.padding, output_padding=one(args.output_padding),
                dilation=one(args.dilation))


def _cmd_animate(args) -> int:
    from .seed import format_matrix
    from .viz.commands import make_values
    from .viz.pictures import animate, frame_count

    frame_count(args.input, args.kernel, view=args.view, **_geom_kwargs(args))  # sizes checked before values
    x = make_values(args.values, tuple(args.input), for_kernel=False)
    k = make_values(args.kernel_values, tuple(args.kernel), for_kernel=True)
    a = animate(x, k, view=args.view, duration_ms=args.duration, scale=args.scale, max_frames=args.max_frames,
                **_geom_kwargs(args))
    path = a.save(args.output, args.frames)
    print(f"wrote {path} ({a.n_frames} frames, {args.view} view)")
    print(a.painters[0].params)
    print(format_matrix(np.atleast_2d(a.output), "conv_transpose(input, kernel)"))
    return 0


def _cmd_matrix(args) -> int:
    from .viz.commands import make_values
    from .viz.pictures import matrix

    k = make_values(args.kernel_values, tuple(args.kernel), for_kernel=True)
    m = matrix(k, tuple(args.input), scale=args.scale, **_geom_kwargs(args))
    path = m.save(args.output)  # before printing: `tconv matrix | head` still writes the picture
    print(m.text)
    print(f"wrote {path}")
    return 0


def _cmd_overlap(args) -> int:
    from .viz.pictures import overlap

    o = overlap(tuple(args.input), tuple(args.kernel), scale=args.scale, **_geom_kwargs(args))
    path = o.save(args.output)
    print(o.text)
    print(f"wrote {path}")
    return 0


def _picture_commands(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("animate", help="animated GIF of a 1-D or 2-D transposed convolution", formatter_class=fmt,
                       epilog="examples:\n  tconv animate -o out.gif                      # the seed example\n"
                       "  tconv animate --input 3,3 --kernel 3 --stride 2 --padding 1 --output-padding 1 -o s2.gif\n"
                       "  tconv animate --view gather --input 5 --kernel 3 --dilation 2 -o gather1d.gif\n"
                       "  tconv animate --input 5 --padding 0:1 --scale 2 -o slides.gif\n"
                       "  tconv animate --values random --kernel-values ones --frames frames/ -o r.gif")
    add_geometry_args(p, input_default="2,2")
    p.add_argument("-o", "--output", default="tconv-animation.gif", help="GIF path (default %(default)s)")
    p.add_argument("--view", choices=["scatter", "gather", "both"], default="scatter",
                   help="scatter: the definition (default); gather: zero insertion + flipped kernel; "
                   "both: one after the other")
    p.add_argument("--values", default="seed", help="input values: seed|ones|arange|random|FILE.npy")
    p.add_argument("--kernel-values", default="seed", help="kernel values: seed|ones|arange|random|FILE.npy")
    p.add_argument("--frames", default=None, help="also write every frame as PNG into this folder")
    p.add_argument("--duration", type=_duration, default=900, help="milliseconds per frame (default %(default)s)")
    p.add_argument("--scale", type=_scale, default=1.0, help="enlarge everything, e.g. 2 for slides")
    p.add_argument("--max-frames", type=_positive, default=400,
                   help="refuse animations with more frames than this (default %(default)s)")
    p.set_defaults(func=_cmd_animate)

    p = sub.add_parser("matrix", help="draw C_K and C_K^T, each non-zero coloured by its kernel tap",
                       formatter_class=fmt, epilog="examples:\n  tconv matrix                 # the seed's 4x16\n"
                       "  tconv matrix --input 3 --kernel 3 --stride 2 -o m.png")
    add_geometry_args(p, input_default="2,2")
    p.add_argument("--kernel-values", default="seed", help="seed|ones|arange|random|FILE.npy")
    p.add_argument("--scale", type=_scale, default=1.0, help="enlarge everything, e.g. 2 for slides")
    p.add_argument("-o", "--output", default="tconv-matrix.png")
    p.set_defaults(func=_cmd_matrix)

    p = sub.add_parser("overlap", help="how many kernel taps land on each output cell (checkerboards)",
                       formatter_class=fmt, epilog="examples:\n  tconv overlap --input 4,4 --kernel 3 --stride 2\n"
                       "  tconv overlap --input 8 --kernel 4 --stride 2 -o even.png")
    add_geometry_args(p, input_default="4,4")
    p.add_argument("--scale", type=_scale, default=1.0, help="enlarge everything, e.g. 2 for slides")
    p.add_argument("-o", "--output", default="tconv-overlap.png")
    p.set_defaults(func=_cmd_overlap)


def _quiet_stdout() -> None:
    """After a broken pipe (``tconv matrix | head``): send what is left to /dev/null, so that the
    interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else "tconv"
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported by the command's own parser, so the line names it: "tconv bench: error: ..."
            sub = parser.commands.get(getattr(args, "command", None) or "", parser)
            sub.error(f"unrecognized arguments: {' '.join(extra)}")
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        if args.command == "bench":
            args.bench_argv = argv[1:]
        _normalise_geometry(args)
        return int(args.func(args) or 0)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"tconv {command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"tconv {command}: error: not enough memory for these sizes; use smaller ones", file=sys.stderr)
        return 2
    except (TconvError, ValueError, TypeError, OSError, OverflowError, ZeroDivisionError) as exc:
        print(f"tconv {command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # the front door never shows a traceback
        print(f"tconv {command}: error: {type(exc).__name__}: {_one_line(exc)} (unexpected: please report it)",
              file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
