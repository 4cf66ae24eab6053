"""Keep a benchmark's client off the core the local servers run on."""

import os


def pin_client() -> str:
    """Pin this process to the last CPU (the servers belong on the others), and say so.

    The local PostgreSQL, MariaDB and Redis are services this process does not start: pin them to
    the first CPU before the run (``taskset -a -p -c 0 PID``). Returns a line for the report.
    """
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return "client not pinned (one CPU, or no sched_setaffinity)"
    cpu = (os.cpu_count() or 1) - 1
    os.sched_setaffinity(0, {cpu})
    return f"client pinned to CPU {cpu}"
