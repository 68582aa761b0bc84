"""Bounded-memory upsampling of a 3-D volume with tconv on Dask, into a Zarr store.

    python benchmarks/dask_volume.py                  # 1x1x512^3 float32 -> 1024^3 (4 GiB) output
    python benchmarks/dask_volume.py --size 128       # a quick run

The volume is generated lazily block by block (a smooth deterministic function of the global
coordinates), upsampled 2x by ``tconv.conv_transpose`` (trilinear kernel 4, stride 2, padding 1)
and written with ``dask.array.to_zarr`` under a progress bar. Reported: wall time, peak resident
memory of the process (``ru_maxrss``), throughput in output voxels/s against the in-memory
NumPy path on the largest volume given by ``--numpy-size``, and a sample of output blocks read
back from the store and compared with the NumPy result on the corresponding sub-volume.
``--markdown FILE`` appends the numbers as a table row block.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time

import numpy as np


def volume(z, y, x) -> np.ndarray:
    """The generated input at integer coordinates (broadcasting index arrays), float32."""
    return (np.sin(0.05 * z) * np.cos(0.07 * y) + 0.25 * np.sin(0.13 * x + 0.3 * z + 0.02 * y * x % 7)
            ).astype(np.float32)


def _block(block_info=None):
    (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"][2:]
    z, y, x = np.ogrid[z0:z1, y0:y1, x0:x1]
    return volume(z, y, x)[None, None]


def sub_volume(z0, z1, y0, y1, x0, x1) -> np.ndarray:
    z, y, x = np.ogrid[z0:z1, y0:y1, x0:x1]
    return volume(z, y, x)[None, None]


def trilinear() -> np.ndarray:
    k = np.array([1.0, 3.0, 3.0, 1.0], np.float32) / 4
    return (k[:, None, None] * k[None, :, None] * k[None, None, :])[None, None]


GEOM = dict(stride=2, padding=1)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(size: int, chunk: int, threads: int, store: str, numpy_size: int, samples: int,
        compression: str = "none") -> dict:
    import dask
    import dask.array as da
    from dask.diagnostics import ProgressBar

    import tconv

    w = trilinear()
    rss0 = rss_mib()
    x = da.map_blocks(_block, dtype=np.float32, chunks=((1,), (1,), *((chunk,) * (size // chunk),) * 3))
    y = tconv.dask.conv_transpose(x, w, out_chunks=2 * chunk, **GEOM)
    out_voxels = int(np.prod(y.shape))
    print(f"input {x.shape} float32 ({x.nbytes / 2**30:.2f} GiB) in {x.npartitions} chunks -> output {y.shape} "
          f"({y.nbytes / 2**30:.2f} GiB) in {y.npartitions} chunks")
    print(tconv.explain(x.shape, w.shape, chunks=x.chunks, **GEOM))
    with dask.config.set(scheduler="threads", num_workers=threads):
        # warm up on one block
        tconv.conv_transpose(sub_volume(0, chunk, 0, chunk, 0, chunk), w, **GEOM)
        shutil.rmtree(store, ignore_errors=True)
        t = time.perf_counter()
        with ProgressBar(dt=1):
            if compression == "none":  # noise-like data barely compresses; zstd would dominate the time
                import zarr

                target = zarr.create_array(store, shape=y.shape, chunks=tuple(c[0] for c in y.chunks),
                                           dtype=y.dtype, compressors=None, overwrite=True)
                da.to_zarr(y, target)
            else:
                da.to_zarr(y, store, overwrite=True)
        wall = time.perf_counter() - t
    peak = rss_mib()
    store_bytes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(store) for f in fs)
    # the in-memory NumPy path on the largest volume that fits: compute only (no store)
    xn = sub_volume(0, numpy_size, 0, numpy_size, 0, numpy_size)
    tconv.conv_transpose(xn[..., :8, :8, :8], w, **GEOM)
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        yn = tconv.conv_transpose(xn, w, **GEOM)
        best = min(best, time.perf_counter() - t)
    numpy_rate = yn.size / best
    del yn
    # the same chunked computation without the store (blocks reduced, nothing kept), for the ratio
    with dask.config.set(scheduler="threads", num_workers=threads):
        t = time.perf_counter()
        y.map_blocks(lambda b: np.zeros((1,) * b.ndim, b.dtype), chunks=(1,) * y.ndim).sum().compute()
        compute_wall = time.perf_counter() - t
    # verify a sample of blocks read back from the store against NumPy on the sub-volume (+ halo)
    import zarr

    z = zarr.open_array(store, mode="r")
    rng = np.random.default_rng(0)
    nblk = size * 2 // (2 * chunk)
    worst = 0.0
    for _ in range(samples):
        idx = rng.integers(0, nblk, 3)
        o0, o1 = idx * 2 * chunk, (idx + 1) * 2 * chunk
        # output cells [o0, o1) read inputs [(o0 + 1 - 3) // 2 ... ) : take a margin of 2 and crop
        i0, i1 = np.maximum(o0 // 2 - 2, 0), np.minimum(o1 // 2 + 2, size)
        ref = tconv.conv_transpose(sub_volume(i0[0], i1[0], i0[1], i1[1], i0[2], i1[2]), w, stride=2, padding=0)
        # uncropped output of the sub-volume starts at 2*i0 in uncropped coordinates (= 2*i0 - 1 cropped)
        s = tuple(slice(int(a + 1 - 2 * b), int(e + 1 - 2 * b)) for a, e, b in zip(o0, o1, i0))
        got = z[(0, 0, *(slice(int(a), int(e)) for a, e in zip(o0, o1)))]
        worst = max(worst, float(np.max(np.abs(got - ref[(0, 0, *s)]))))
    shutil.rmtree(store, ignore_errors=True)
    return dict(size=size, chunk=chunk, threads=threads, out_gib=y.nbytes / 2**30, wall=wall,
                rate=out_voxels / wall, compute_wall=compute_wall, compute_rate=out_voxels / compute_wall,
                numpy_size=numpy_size, numpy_rate=numpy_rate, peak_mib=peak, rss0_mib=rss0,
                store_gib=store_bytes / 2**30, samples=samples, max_err=worst, tasks=len(y.dask),
                compression=compression)


def report(r: dict) -> str:
    return "\n".join([
        f"| output | {r['out_gib']:.2f} GiB float32 ({2 * r['size']}^3), input chunks {r['chunk']}^3, "
        f"{r['threads']} threads |",
        "|---|---|",
        f"| wall time, generate + upsample + write Zarr | {r['wall']:.1f} s ({r['rate'] / 1e6:.0f} M output voxels/s) |",
        f"| wall time, generate + upsample (blocks dropped) | {r['compute_wall']:.1f} s "
        f"({r['compute_rate'] / 1e6:.0f} M voxels/s) |",
        f"| NumPy path in memory ({r['numpy_size']}^3 -> {2 * r['numpy_size']}^3) | "
        f"{r['numpy_rate'] / 1e6:.0f} M voxels/s |",
        f"| throughput vs NumPy | {r['compute_rate'] / r['numpy_rate']:.0%} without the store, "
        f"{r['rate'] / r['numpy_rate']:.0%} with the Zarr write |",
        f"| peak resident memory of the process | {r['peak_mib']:.0f} MiB (before the run: {r['rss0_mib']:.0f} MiB) |",
        f"| Zarr store on disk | {r['store_gib']:.2f} GiB "
        f"({'uncompressed' if r['compression'] == 'none' else 'Zarr default compression (zstd)'}) |",
        f"| sample blocks vs NumPy on the sub-volume | {r['samples']} blocks, max abs error {r['max_err']:.2g} |",
    ])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512, help="input edge (default %(default)s: 4 GiB output)")
    p.add_argument("--chunk", type=int, default=128, help="input chunk edge (default %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--store", default="/tmp/tconv-dask-volume.zarr")
    p.add_argument("--numpy-size", type=int, default=384, help="edge of the in-memory NumPy comparison")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--markdown", default=None, help="append the results table to this file")
    p.add_argument("--compression", choices=["none", "default"], default="none",
                   help="Zarr compression: none (default: the data is noise-like) or Zarr's default (zstd)")
    a = p.parse_args(argv)
    if a.size % a.chunk:
        p.error("--size must be a multiple of --chunk")
    r = run(a.size, a.chunk, a.threads, a.store, min(a.numpy_size, a.size), a.samples, a.compression)
    table = report(r)
    print(table)
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write(f"\n`python benchmarks/dask_volume.py --size {a.size} --chunk {a.chunk} "
                    f"--compression {a.compression}` "
                    f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]})\n\n")
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
