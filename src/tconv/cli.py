"""The ``tconv`` command line: ``tconv demo``, ``tconv shape``, ``tconv explain`` ..."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .errors import TconvError

EPILOG_DEMO = "example:\n  tconv demo\n  tconv demo --out tconv-demo"


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
        mat, _ = write_matrix(out / "seed-matrix.png", ex.kernel, (4, 4))
        ovl, _ = write_overlap(out / "seed-overlap.png", (2, 2), (3, 3))
        ovl2, words = write_overlap(out / "overlap-stride2.png", (4, 4), (3, 3), stride=2)
        print("\nthe same kernel with stride 2: " + words.splitlines()[-1].split(": ", 1)[1])
        print("\npictures:")
        for p in (gif, gather, mat, ovl, ovl2):
            print(f"  {p}")
    return 0 if ok else 1


def _cmd_shape(args) -> int:
    from .shapes_report import shape_report

    print(shape_report(args))
    return 0


def _cmd_explain(args) -> int:
    from .planner import explain

    cin, cout = args.channels
    if cout % args.groups:
        raise TconvError(f"groups={args.groups} must divide C_out={cout}")
    weight = (cin, cout // args.groups, *_kernel_shape(args))
    print(explain((args.batch, cin, *args.input), weight, groups=args.groups, dtype=args.dtype,
                  **_geom_kwargs(args)))
    return 0


def _cmd_translate(args) -> int:
    from .translate import translate

    to = tuple(t for part in args.to for t in part.split(",") if t) if args.to else None
    kw = {} if to is None else {"to": to}
    t = translate(args.layer, getattr(args, "from"), input_shape=args.input, in_channels=args.in_channels, **kw)
    print(t)
    return 0 if t.max_error < 1e-9 else 1


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers like 4 or 4,4 or 4x4") from None


def _padding(text: str):
    if text.lower() in ("same", "valid"):
        return text.lower()
    vals = _ints(text)
    return vals[0] if len(vals) == 1 else vals


def add_geometry_args(p: argparse.ArgumentParser, *, input_default: str = "4,4", kernel_default: str = "3,3") -> None:
    p.add_argument("--input", type=_ints, default=_ints(input_default), help="input spatial size, e.g. 4 or 4,4 (default %(default)s)")
    p.add_argument("--kernel", type=_ints, default=_ints(kernel_default), help="kernel size, e.g. 3 or 3,3")
    p.add_argument("--stride", type=_ints, default=(1,), help="stride, one value or one per axis")
    p.add_argument("--padding", type=_padding, default=0, help="int, one per axis, 'same' or 'valid'")
    p.add_argument("--output-padding", type=_ints, default=(0,), help="output_padding, one value or one per axis")
    p.add_argument("--dilation", type=_ints, default=(1,), help="dilation, one value or one per axis")


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
        "  tconv explain --batch 16 --channels 512,256 --input 8,8 --kernel 4 --stride 2 --padding 1",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"tconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("demo", help="the seed article's example, end to end",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_DEMO)
    p.add_argument("--out", default="tconv-demo", help="folder for the pictures (default %(default)s)")
    p.add_argument("--no-pictures", action="store_true", help="print only, write no files")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("shape", help="output sizes under PyTorch, ONNX and TF/Keras conventions",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  tconv shape --input 8,8 --kernel 4 --stride 2 --padding 1\n"
                       "  tconv shape --input 7 --kernel 3 --stride 2 --want 14")
    add_geometry_args(p, input_default="2,2")
    p.add_argument("--want", type=_ints, default=None, help="a wanted output size: which output_padding / padding gives it?")
    p.set_defaults(func=_cmd_shape)

    p = sub.add_parser("explain", help="the planner's candidates, costs and choice",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  tconv explain --batch 16 --channels 512,256 --input 8,8 --kernel 4 --stride 2 --padding 1")
    add_geometry_args(p, input_default="8,8", kernel_default="4,4")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--channels", type=_ints, default=(1, 1), help="C_in,C_out (default 1,1)")
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
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
    p = sub.add_parser("bench", help="the layer suite against PyTorch and ONNX Runtime (needs tconv[test])",
                       add_help=False)
    p.set_defaults(func=None)
    return parser


def _kernel_shape(args) -> tuple[int, ...]:
    """--kernel as one size per input axis (a single value applies to every axis)."""
    return tuple(args.kernel * len(args.input) if len(args.kernel) == 1 else args.kernel)


def _geom_kwargs(args) -> dict:
    one = lambda v: v[0] if isinstance(v, tuple) and len(v) == 1 else v  # noqa: E731
    return dict(stride=one(args.stride), padding=args.padding, output_padding=one(args.output_padding),
                dilation=one(args.dilation))


def _cmd_animate(args) -> int:
    from .viz.commands import make_values, write_animation

    x = make_values(args.values, tuple(args.input), for_kernel=False)
    k = make_values(args.kernel_values, _kernel_shape(args), for_kernel=True)
    path, model = write_animation(args.output, x, k, view=args.view, frames_dir=args.frames,
                                  duration_ms=args.duration, **_geom_kwargs(args))
    print(f"wrote {path} ({len(model.frames)} frames, {args.view} view); output:")
    from .seed import format_matrix

    print(format_matrix(np.atleast_2d(model.output), "conv_transpose(input, kernel)"))
    return 0


def _cmd_matrix(args) -> int:
    from .viz.commands import make_values, write_matrix

    k = make_values(args.kernel_values, _kernel_shape(args), for_kernel=True)
    g = _geom_kwargs(args)
    path, text = write_matrix(args.output, k, tuple(args.input), stride=g["stride"], padding=g["padding"],
                              dilation=g["dilation"])
    print(text)
    print(f"wrote {path}")
    return 0


def _cmd_overlap(args) -> int:
    from .viz.commands import write_overlap

    k = args.kernel[0] if len(args.kernel) == 1 else args.kernel
    path, text = write_overlap(args.output, tuple(args.input), k, **_geom_kwargs(args))
    print(text)
    print(f"wrote {path}")
    return 0


def _picture_commands(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("animate", help="animated GIF of a 1-D or 2-D transposed convolution", formatter_class=fmt,
                       epilog="examples:\n  tconv animate -o out.gif                      # the seed example\n"
                       "  tconv animate --input 3,3 --kernel 3 --stride 2 --padding 1 --output-padding 1 -o s2.gif\n"
                       "  tconv animate --view gather --input 5 --kernel 3 --stride 2 -o gather1d.gif\n"
                       "  tconv animate --values random --kernel-values ones --frames frames/ -o r.gif")
    add_geometry_args(p, input_default="2,2")
    p.add_argument("-o", "--output", default="tconv-animation.gif", help="GIF path (default %(default)s)")
    p.add_argument("--view", choices=["scatter", "gather", "both"], default="scatter",
                   help="scatter: the definition (default); gather: zero insertion + flipped kernel; "
                   "both: one after the other")
    p.add_argument("--values", default="seed", help="input values: seed|ones|arange|random|FILE.npy")
    p.add_argument("--kernel-values", default="seed", help="kernel values: seed|ones|arange|random|FILE.npy")
    p.add_argument("--frames", default=None, help="also write every frame as PNG into this folder")
    p.add_argument("--duration", type=int, default=900, help="milliseconds per frame (default %(default)s)")
    p.set_defaults(func=_cmd_animate)

    p = sub.add_parser("matrix", help="draw C_K and C_K^T, each non-zero coloured by its kernel tap",
                       formatter_class=fmt, epilog="examples:\n  tconv matrix                 # the seed's 4x16\n"
                       "  tconv matrix --input 5 --kernel 3 --stride 2 -o m.png")
    add_geometry_args(p, input_default="4,4")
    p.add_argument("--kernel-values", default="seed", help="seed|ones|arange|random|FILE.npy")
    p.add_argument("-o", "--output", default="tconv-matrix.png")
    p.set_defaults(func=_cmd_matrix)

    p = sub.add_parser("overlap", help="how many kernel taps land on each output cell (checkerboards)",
                       formatter_class=fmt, epilog="examples:\n  tconv overlap --input 4,4 --kernel 3 --stride 2\n"
                       "  tconv overlap --input 8 --kernel 4 --stride 2 -o even.png")
    add_geometry_args(p, input_default="4,4")
    p.add_argument("-o", "--output", default="tconv-overlap.png")
    p.set_defaults(func=_cmd_overlap)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its own argument parser, in tconv.bench
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (TconvError, ValueError, TypeError, OSError) as exc:
        print(f"tconv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
