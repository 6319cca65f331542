"""`cityscale chaos`: faults injected into a running `cityscale up` under load, each checked against the
failure table (DESIGN.md section 1, docs/read-path.md), with a report. See docs/reliability.md."""
