"""How to compress store backups: speed × ratio of zstandard against the stdlib's gzip
and lzma on a real-shaped store (make_state.py), one store at a time, in memory.

    python benchmarks/compression.py benchmarks/out/state-3x10k/agents/main/sessions/sessions.json

Prints, per codec and level: compressed size as a share of the store, compression and
decompression speed (MB/s of the uncompressed store, CPU time of this process, median
of --runs). Numbers quoted in RESULTS.md come from this script.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _cpu(fn: Callable[[], bytes], runs: int) -> tuple[float, bytes]:
    times = []
    out = b""
    for _ in range(runs):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="a sessions.json")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    raw = Path(args.store).read_bytes()
    mb = len(raw) / 1e6
    codecs: list[tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = []
    try:
        import zstandard

        for level in (1, 3, 6, 9):
            c = zstandard.ZstdCompressor(level=level)
            codecs.append((f"zstd -{level}", c.compress, zstandard.ZstdDecompressor().decompress))
    except ImportError:
        print("zstandard not installed: skipped", file=sys.stderr)
    for level in (1, 6):
        codecs.append(
            (
                f"gzip -{level}",
                lambda b, lv=level: gzip.compress(b, compresslevel=lv, mtime=0),
                gzip.decompress,
            )
        )
    codecs.append(("lzma -0", lambda b: lzma.compress(b, preset=0), lzma.decompress))
    print(f"store: {args.store}, {mb:.1f} MB; CPU seconds, median of {args.runs}")
    print(f"{'codec':<10} {'ratio':>7} {'compress s':>11} {'MB/s':>7} {'decompress s':>13} {'MB/s':>7}")
    for name, comp, decomp in codecs:
        runs = 1 if name.startswith("lzma") else args.runs
        ct, packed = _cpu(lambda comp=comp: comp(raw), runs)
        dt, back = _cpu(lambda decomp=decomp, packed=packed: decomp(packed), runs)
        assert back == raw
        print(
            f"{name:<10} {len(packed) / len(raw) * 100:>6.2f}% {ct:>11.2f} {mb / ct:>7.0f} {dt:>13.2f} {mb / dt:>7.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
