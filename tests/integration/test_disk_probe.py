"""The benchmark's disk probe (`bench.disk_probe`): real writes and flushes, while it is open."""

from __future__ import annotations

import os
import time

from bench.disk_probe import DiskProbe


def test_the_probe_times_real_flushes_while_open_and_leaves_no_file(tmp_path):
    with DiskProbe(every_s=0.005, directory=str(tmp_path)) as disk:
        deadline = time.monotonic() + 30  # a flush can stall for a while on this disk
        while len(disk.flushes_s) < 5:
            assert time.monotonic() < deadline, disk.flushes_s
            time.sleep(0.01)
        assert os.listdir(tmp_path)  # its file, being written
    flushed = len(disk.flushes_s)
    time.sleep(0.05)

    assert len(disk.flushes_s) == flushed  # stopped with the block
    assert all(0 < seconds < 30 for seconds in disk.flushes_s)
    assert os.listdir(tmp_path) == []
