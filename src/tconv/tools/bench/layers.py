"""The benchmark suite: ten transposed-convolution layers (float32, PyTorch weight layout)."""

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

    @property
    def nd(self) -> int:
        return len(self.input)

    @property
    def x_shape(self):
        return (self.n, self.c_in, *self.input)

    @property
    def w_shape(self):
        return (self.c_in, self.c_out // self.groups, *(self.kernel,) * self.nd)

    @property
    def kwargs(self):
        return dict(stride=self.stride, padding=self.pad, groups=self.groups, dilation=self.dilation)


SUITE = [
    Layer("L1", "DCGAN middle", 16, 512, 256, 4, 2, 1, 1, 1, (8, 8)),
    Layer("L2", "DCGAN last", 16, 64, 3, 4, 2, 1, 1, 1, (32, 32)),
    Layer("L3", "U-Net up-conv", 4, 256, 128, 2, 2, 0, 1, 1, (64, 64)),
    Layer("L4", "FCN depthwise 2x", 1, 21, 21, 4, 2, 1, 21, 1, (128, 128)),
    Layer("L5", "single channel", 1, 1, 1, 3, 1, 0, 1, 1, (1024, 1024)),
    Layer("L6", "single channel, strided", 1, 1, 1, 7, 3, 0, 1, 1, (512, 512)),
    Layer("L7", "1-D audio upsampler", 4, 256, 128, 16, 8, 4, 1, 1, (2048,)),
    Layer("L8", "3-D decoder", 1, 64, 32, 2, 2, 0, 1, 1, (32, 32, 32)),
    Layer("L9", "dilated", 4, 64, 64, 3, 1, 2, 1, 2, (64, 64)),
    Layer("L10", "long kernel 1-D (inverse STFT)", 1, 1026, 1, 1024, 256, 0, 1, 1, (224,)),
]
