"""Re-chunk arbitrary byte chunks into exact N-byte frames, carrying the remainder. No I/O.

Why: the model sends audio deltas of any size (even odd byte counts), but Asterisk must
get whole 20 ms frames at a steady pace; the framer is the one place that cuts them.
"""

from __future__ import annotations


class AudioFramer:
    def __init__(self, frame_size: int = 320) -> None:
        if frame_size <= 0 or frame_size % 2:
            raise ValueError("frame_size must be a positive, even number of bytes")
        self.frame_size = frame_size
        self._rest = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held that do not yet fill a frame."""
        return len(self._rest)

    def push(self, chunk: bytes) -> list[bytes]:
        """Add a chunk; return every frame it completes (possibly none)."""
        size = self.frame_size
        if not self._rest and len(chunk) % size == 0:
            return [chunk[i : i + size] for i in range(0, len(chunk), size)]
        self._rest += chunk
        whole = len(self._rest) - len(self._rest) % size
        frames = [bytes(self._rest[i : i + size]) for i in range(0, whole, size)]
        del self._rest[:whole]
        return frames

    def pad(self) -> bytes | None:
        """The remainder completed with silence (an item's tail), or None if nothing is held.

        An odd trailing byte cannot be a sample; it is dropped rather than played as noise.
        """
        if not self._rest:
            return None
        usable = len(self._rest) - len(self._rest) % 2
        frame = bytes(self._rest[:usable]).ljust(self.frame_size, b"\x00")
        self._rest.clear()
        return frame if usable else None

    def clear(self) -> int:
        """Drop the remainder (barge-in); returns how many bytes were dropped."""
        dropped = len(self._rest)
        self._rest.clear()
        return dropped
