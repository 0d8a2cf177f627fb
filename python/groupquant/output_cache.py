"""The cache of large output blocks behind the CPU operators' fresh outputs.

Outputs of 2 MiB and more come from 2 MiB-aligned mappings advised for huge pages, and a
freed one is kept for the next output of about its size (at most a quarter larger), so
that a loop of calls does not pay the operating system's first-touch faults and zeroing
each time: in a plain process that is most of a large call's time. The cache holds at
most ``GROUPQUANT_OUTPUT_CACHE_MIB`` MiB (default 256, read at the first large output;
0 turns it off), least recently freed blocks go first, and nothing is held that the
process did not free. ``GROUPQUANT_HUGE_PAGES=0`` turns the huge-page advice off.
"""

from . import _C


def output_cache_info() -> dict:
    """What the cache holds now: ``held_bytes``, ``held_blocks``, ``limit_bytes``, and
    ``hits`` / ``misses`` (large outputs served from it / mapped anew) so far."""
    return _C.output_cache_info()


def empty_cache() -> None:
    """Returns every block the cache holds to the operating system (like
    ``torch.cuda.empty_cache``); live outputs are unaffected, the limit stays."""
    _C.empty_cache()


def set_output_cache_limit(nbytes: int) -> None:
    """Sets the most bytes the cache may hold (0 turns it off), for this process; blocks
    beyond it are returned at once, least recently freed first.

    Raises:
        TypeError: ``nbytes`` is not an int.
        ValueError: ``nbytes`` is negative.
    """
    _C.set_output_cache_limit(nbytes)
