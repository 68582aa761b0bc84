"""An animated GIF written one frame at a time: memory does not grow with the number of frames.

Pillow's ``save(save_all=True)`` keeps every frame until the end; here each frame is quantised,
encoded with Pillow's frame encoder (:func:`PIL.GifImagePlugin.getdata`, a local colour table per
frame) and written to the file at once.

>>> import io
>>> from PIL import Image
>>> buf = io.BytesIO()
>>> with GifStream(buf, (20, 10), [100, 200]) as gif:
...     gif.add(Image.new("RGB", (20, 10), (255, 0, 0)))
...     gif.add(Image.new("RGB", (20, 10), (0, 0, 255)))
>>> im = Image.open(io.BytesIO(buf.getvalue())); im.n_frames, im.size
(2, (20, 10))
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import BinaryIO

from PIL import GifImagePlugin, Image

WHITE = (255, 255, 255)


class GifStream:
    """Write frames of ``size`` into ``fp`` (an open binary file); ``durations`` in ms, one per frame."""

    def __init__(self, fp: BinaryIO, size: tuple[int, int], durations: Sequence[int], colors: int = 64):
        self.fp, self.size, self.durations, self.colors = fp, tuple(size), list(durations), colors
        self.count = 0

    def __enter__(self) -> GifStream:
        w, h = self.size
        # header, logical screen (no global colour table), loop forever (NETSCAPE2.0)
        self.fp.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0))
        self.fp.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00")
        return self

    def add(self, frame: Image.Image) -> None:
        if frame.size != self.size:
            canvas = Image.new("RGB", self.size, WHITE)
            canvas.paste(frame, (0, 0))
            frame = canvas
        # fast octree quantisation, no dithering: flat cells and anti-aliased text stay clean (median cut
        # was ~0.3 s per large frame)
        p = frame.convert("RGB").quantize(colors=self.colors, method=Image.Quantize.FASTOCTREE,
                                          dither=Image.Dither.NONE)
        duration = self.durations[min(self.count, len(self.durations) - 1)]
        for chunk in GifImagePlugin.getdata(p, duration=duration, include_color_table=True):
            self.fp.write(chunk)
        self.count += 1

    def __exit__(self, *exc) -> None:
        self.fp.write(b";")
