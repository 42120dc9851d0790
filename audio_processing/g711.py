"""G.711 (μ-law, A-law) and 8 kHz ⇄ 24 kHz resampling for 16-bit mono PCM. No I/O.

Why audioop: it is C, exact G.711 and already a dependency (stdlib up to 3.12,
`audioop-lts` from 3.13). On 3.11/3.12 importing it warns about its removal; tests
turn warnings into errors, so this module is the one place that imports it, quietly
(frame_features measures frames with it through here: `native` and `audioop`).
AudioSocket samples are little-endian; audioop works in native order, so a
big-endian host swaps bytes around every call.
"""

from __future__ import annotations

import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop as audioop  # re-exported for frame_features

_SWAP = sys.byteorder != "little"
SAMPLE_WIDTH = 2


def native(pcm: bytes) -> bytes:
    """Little-endian slin in the host's byte order, as audioop reads it."""
    return _native(pcm)


def _native(pcm: bytes) -> bytes:
    if len(pcm) % SAMPLE_WIDTH:
        raise ValueError(f"{len(pcm)} bytes is not a whole number of 16-bit samples")
    return audioop.byteswap(pcm, SAMPLE_WIDTH) if _SWAP else pcm


def _little(pcm: bytes) -> bytes:
    return audioop.byteswap(pcm, SAMPLE_WIDTH) if _SWAP else pcm


def slin_to_ulaw(pcm: bytes) -> bytes:
    """16-bit little-endian PCM → μ-law, one byte per sample."""
    return audioop.lin2ulaw(_native(pcm), SAMPLE_WIDTH)


def ulaw_to_slin(data: bytes) -> bytes:
    """μ-law → 16-bit little-endian PCM."""
    return _little(audioop.ulaw2lin(data, SAMPLE_WIDTH))


def slin_to_alaw(pcm: bytes) -> bytes:
    return audioop.lin2alaw(_native(pcm), SAMPLE_WIDTH)


def alaw_to_slin(data: bytes) -> bytes:
    return _little(audioop.alaw2lin(data, SAMPLE_WIDTH))


class Resampler:
    """One direction of one audio stream (e.g. caller 8 kHz → model 24 kHz).

    The filter state carries across chunks, so converting a stream chunk by chunk gives
    the same samples as converting it whole; one instance per stream and direction.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def convert(self, pcm: bytes) -> bytes:
        if self.from_rate == self.to_rate:
            return _little(_native(pcm))
        out, self._state = audioop.ratecv(
            _native(pcm), SAMPLE_WIDTH, 1, self.from_rate, self.to_rate, self._state
        )
        return _little(out)

    def reset(self) -> None:
        """Forget the filter history (after a flush, so old audio does not bleed in)."""
        self._state = None
