"""The benchmark suite: the layers deep-learning and inverse-problem users run (PyTorch weight layout).

``L*`` rows are transposed convolutions, ``F*`` and ``R1`` convolutions; every row also times its
weight gradient against ``torch.autograd``. ``T1`` is a tiny call (the per-call overhead).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    id: str
    name: str
    n: int
    c_in: int
    c_out: int
    kernel: int
    stride: int
    pad: int
    groups: int
    dilation: int
    input: tuple[int, ...]
    op: str = "conv_transpose"  # or "conv"
    dtype: str = "float32"
    channel_heavy: bool = False  # a row of issue 18's targets (a GEMM-shaped layer)

    @property
    def nd(self) -> int:
        return len(self.input)

    @property
    def x_shape(self):
        return (self.n, self.c_in, *self.input)

    @property
    def w_shape(self):
        """conv_transpose: ``(C_in, C_out/g, *k)``; conv: ``(C_out, C_in/g, *k)``."""
        if self.op == "conv":
            return (self.c_out, self.c_in // self.groups, *(self.kernel,) * self.nd)
        return (self.c_in, self.c_out // self.groups, *(self.kernel,) * self.nd)

    @property
    def kwargs(self):
        return dict(stride=self.stride, padding=self.pad, groups=self.groups, dilation=self.dilation)


SUITE = [
    Layer("L1", "DCGAN middle", 16, 512, 256, 4, 2, 1, 1, 1, (8, 8), channel_heavy=True),
    Layer("L2", "DCGAN last", 16, 64, 3, 4, 2, 1, 1, 1, (32, 32), channel_heavy=True),
    Layer("L3", "U-Net up-conv", 4, 256, 128, 2, 2, 0, 1, 1, (64, 64), channel_heavy=True),
    Layer("L4", "FCN depthwise 2x", 1, 21, 21, 4, 2, 1, 21, 1, (128, 128)),
    Layer("L5", "single channel", 1, 1, 1, 3, 1, 0, 1, 1, (1024, 1024)),
    Layer("L6", "single channel, strided", 1, 1, 1, 7, 3, 0, 1, 1, (512, 512)),
    Layer("L7", "1-D audio upsampler", 4, 256, 128, 16, 8, 4, 1, 1, (2048,), channel_heavy=True),
    Layer("L8", "3-D decoder", 1, 64, 32, 2, 2, 0, 1, 1, (32, 32, 32), channel_heavy=True),
    Layer("L9", "dilated", 4, 64, 64, 3, 1, 2, 1, 2, (64, 64), channel_heavy=True),
    Layer("L10", "long kernel 1-D (inverse STFT)", 1, 1026, 1, 1024, 256, 0, 1, 1, (224,)),
    Layer("L11", "single channel k5, float64", 1, 1, 1, 5, 1, 2, 1, 1, (512, 512), dtype="float64"),
    Layer("F1", "conv single channel k3, float64", 1, 1, 1, 3, 1, 1, 1, 1, (1024, 1024), op="conv", dtype="float64"),
    Layer("F2", "conv dilated", 4, 64, 64, 3, 1, 2, 1, 2, (64, 64), op="conv", channel_heavy=True),
    Layer("R1", "conv ResNet 3x3", 8, 64, 64, 3, 1, 1, 1, 1, (56, 56), op="conv", channel_heavy=True),
]

#: the per-call overhead row: a tiny transposed convolution
TINY = Layer("T1", "tiny call", 1, 2, 2, 3, 2, 1, 1, 1, (8, 8))
