"""The garbage collector, set for a process that paces live audio.

Why: CPython's full (generation 2) collection walks every tracked object, and a started
platform holds millions of references (the SDKs' models, FastAPI, the password checker's
word lists). Measured with `make bench` at 100 calls: full collections stalled the event
loop for 150-240 ms, each one a gap of that length in every call's audio (frames late and
dropped), as soon as a background service (the webhook worker's once-a-second look)
allocated enough to trigger them. Freezing what start-up built moves it out of every later
collection (gen2 pauses then ~40 ms), and a larger young generation makes collections
rarer: 100 calls went from 100 late and ~900 dropped frames to none, and 200 calls to none
late or dropped (docs/architecture.md, The event loop and the garbage collector).

How large: a young collection walks what survived since the last one, and what survives
is mostly the state of calls set up meanwhile (~300 tracked objects a call). At 50,000 a
burst of call set-ups made one young collection of 10-30 ms, one late frame in every
call (measured at 200-250 calls); at 10,000 they measured 2-8 ms up to 250 calls per
process, with no late frame, and 12-23 ms at 300-400 calls, where a process is near its
limit anyway; no measurable CPU cost (collections stay under one per second).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # net new tracked objects between young collections (CPython: 700)
OLDER_THRESHOLDS = (20, 20)  # young collections per older one, and older per full


def settle_heap() -> None:
    """Once the platform has started: collect, then freeze what survived."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
