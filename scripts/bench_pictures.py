"""What a picture's size costs: sampling 1,000 points in a disk drawn at 1,000 to 12,000 pixels a
side.

Each size runs in a fresh process (time and peak memory of that process); the anchor is the
1,000 x 1,000 picture, measured in the same run. Pictures larger than
``silhouette.MAX_SIDE`` are reduced before any per-pixel work, so the ratios stay near 1
(decoding the file remains: a few tenths of a second at 12,000 x 12,000).

    python scripts/bench_pictures.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SIDES = (1000, 3000, 6000, 12000)
CHILD = """
import resource, sys, time
from lagrangian_ot import load_silhouette
start = time.perf_counter()
load_silhouette(sys.argv[1], 1000)
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main() -> None:
    from PIL import Image, ImageDraw

    Image.MAX_IMAGE_PIXELS = None  # these pictures are ours
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in SIDES:
            path = Path(tmp) / f"disk{side}.png"
            img = Image.new("L", (side, side), 255)
            ImageDraw.Draw(img).ellipse([0.2 * side, 0.25 * side, 0.8 * side, 0.7 * side], fill=0)
            img.save(path)
            del img
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
            )
            seconds, mb = map(float, out.stdout.split())
            rows.append((side, seconds, mb))
    anchor_s, anchor_mb = rows[0][1], rows[0][2]
    print(f"{'picture':>15} {'seconds':>8} {'ratio':>6} {'peak MB':>8} {'ratio':>6}")
    for side, seconds, mb in rows:
        print(
            f"{side:>6} x {side:<6} {seconds:8.2f} "
            f"{seconds / anchor_s:5.1f}x {mb:8.0f} {mb / anchor_mb:5.1f}x"
        )


if __name__ == "__main__":
    main()
