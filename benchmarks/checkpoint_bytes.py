"""Bytes one ``femur_app.train`` run writes to disk, to measure what the checkpoint interval saves (issue 12).

    python benchmarks/checkpoint_bytes.py --quick --out /tmp/quick-bytes --set run.jobs=1

The arguments are ``femur_app.train``'s; the run happens in this process (give ``--set run.jobs=1``: joblib
workers are other processes). Two counts are printed: the bytes of every file written through
``minicnn.serialize.write_atomic`` (checkpoints, training states, fold results, the outputs), and ``wchar`` of
``/proc/self/io`` (every ``write()`` of this process, pipes and the terminal included - so run it with a warm
prepared-data cache, or the preprocessing workers' input counts too).
"""
from __future__ import annotations

import contextlib
import sys

from minicnn import serialize

written = {"bytes": 0, "files": 0}
_write_atomic = serialize.write_atomic.__wrapped__


@contextlib.contextmanager
def counted_write_atomic(path):
    with contextlib.contextmanager(_write_atomic)(path) as f:
        yield f
        written["bytes"] += f.tell()
        written["files"] += 1


def wchar() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("wchar")).split()[1])


def main(argv) -> int:
    serialize.write_atomic = counted_write_atomic  # save, write_bytes_atomic, write_text_atomic look it up here
    from femur_app.train import main as train

    start = wchar()
    status = train(argv)
    print(f"exit {status}; {written['files']} files, {written['bytes']:,} bytes through write_atomic; "
          f"wchar {wchar() - start:,} bytes", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
