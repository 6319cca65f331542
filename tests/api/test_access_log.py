"""The access log's writer thread: requests never wait for the log stream, and lines are not lost silently."""

from __future__ import annotations

import io
import os
import threading
import time

import orjson

from cityscale.api.access_log import AccessLogWriter


def test_lines_are_written_in_order_and_all_of_them_by_close() -> None:
    stream = io.BytesIO()
    writer = AccessLogWriter(stream)
    for i in range(1000):
        writer.write(b'{"n":%d}\n' % i)
    writer.close()
    assert [orjson.loads(line)["n"] for line in stream.getvalue().splitlines()] == list(range(1000))


def test_a_stream_that_blocks_never_blocks_the_caller_and_drops_are_reported() -> None:
    read_end, write_end = os.pipe()  # nobody reads: once the pipe's 64 KiB are full, write(2) blocks
    stream = os.fdopen(write_end, "wb")
    writer = AccessLogWriter(stream, max_pending=100)
    line = b"x" * 1023 + b"\n"
    for _ in range(5000):  # 5 MB, far more than the pipe holds: were write() to block, this would hang
        writer.write(line)
    time.sleep(0.2)  # the writer thread is now blocked in write(2) on the full pipe
    for _ in range(200):
        writer.write(line)
    assert writer.dropped > 0

    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    writer.close(timeout=10)
    stream.close()
    reader.join(timeout=10)
    os.close(read_end)
    lines = bytes(received).splitlines()
    warnings = [orjson.loads(x) for x in lines if x.startswith(b"{")]
    assert sum(int(w["message"].split()[2]) for w in warnings) == writer.dropped
    assert lines.count(line.rstrip(b"\n")) + writer.dropped == 5200
