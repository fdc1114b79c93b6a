"""Resident memory of the writer core is bounded by result vectors, not images x size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = r"""
import json, resource, sys, tempfile
import numpy as np
from datetime import UTC, datetime
from jfjoch_hil.stream import EndMessage, ImageMessage, StartMessage, TypedArray
from jfjoch_hil.writer import RunWriter

n, ny, nx = int(sys.argv[1]), 512, 1024
rng = np.random.default_rng(0)
payloads = [TypedArray.from_numpy(rng.poisson(0.5, (ny, nx)).astype(np.uint16) + k, compression="bslz4")
            for k in range(4)]
start = StartMessage(image_size_x=nx, image_size_y=ny, number_of_images=n, images_per_file=200,
                     file_prefix="mem/run", file_format="NXmxVDS", arm_date=datetime.now(UTC),
                     max_spot_count=20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as tmp:
    writer = RunWriter(start, tmp)
    for i in range(n):
        spots = [{"x": float(k), "y": 1.0, "I": 5.0} for k in range(20)]
        message = ImageMessage(image_id=i, data={"default": payloads[i % 4]}, spots=spots,
                               az_int_profile=[1.0] * 100, strong_pixel_count=i)
        assert writer.put_image(message) is None
    result = writer.finish(EndMessage())
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"grown_kb": grown, "written": result.images_written, "error": result.error}))
"""


@pytest.mark.slow
def test_core_memory_does_not_grow_with_image_count():
    child = subprocess.run(
        [sys.executable, "-c", CHILD, "1500"], capture_output=True, text=True, timeout=600
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["written"] == 1500 and result["error"] is None
    raw_mb = 1500 * 512 * 1024 * 2 / 2**20  # 1.5 GB of pixels went through
    assert result["grown_kb"] / 1024 < 150, (
        f"peak RSS grew {result['grown_kb'] / 1024:.0f} MiB for {raw_mb:.0f} MiB of images"
    )
