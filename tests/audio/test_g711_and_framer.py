"""G.711, resampling and 20 ms framing: pure functions, checked exhaustively."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audio_processing.audio_framer import AudioFramer
from audio_processing.g711 import (
    Resampler,
    alaw_to_slin,
    slin_to_alaw,
    slin_to_ulaw,
    ulaw_to_slin,
)

ALL_SAMPLES = struct.pack("<65536h", *range(-32768, 32768))


def _samples(pcm: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(pcm) // 2}h", pcm)


def test_every_ulaw_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    back = slin_to_ulaw(ulaw_to_slin(codes))
    # 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF (positive zero).
    assert [c for c, b in zip(codes, back, strict=True) if c != b] == [0x7F]


def test_every_alaw_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    assert slin_to_alaw(alaw_to_slin(codes)) == codes


@pytest.mark.parametrize(
    ("encode", "decode"), [(slin_to_ulaw, ulaw_to_slin), (slin_to_alaw, alaw_to_slin)]
)
def test_g711_error_is_bounded_for_every_16_bit_sample(encode, decode) -> None:  # type: ignore[no-untyped-def]
    """G.711 keeps 4 mantissa bits: the error is within 1/32 of the value, plus the step floor."""
    back = _samples(decode(encode(ALL_SAMPLES)))
    worst = max(abs(b - x) - abs(x) / 32 for x, b in zip(range(-32768, 32768), back, strict=True))
    assert worst <= 8


def test_g711_samples_are_little_endian_on_the_wire() -> None:
    assert ulaw_to_slin(b"\x80") == struct.pack("<h", 32124)
    assert slin_to_ulaw(struct.pack("<h", 32124)) == b"\x80"


def test_odd_pcm_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        slin_to_ulaw(b"\x00\x01\x02")


def _tone(rate: int, ms: int, hz: float = 440.0) -> bytes:
    n = rate * ms // 1000
    return struct.pack(
        f"<{n}h", *(int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    )


@given(st.lists(st.integers(1, 200), min_size=1, max_size=20))
def test_resampling_in_chunks_equals_resampling_whole(chunk_samples: list[int]) -> None:
    pcm = _tone(8000, 200)[: 2 * sum(chunk_samples)]
    whole = Resampler(8000, 24000).convert(pcm)
    stream, pieces, pos = Resampler(8000, 24000), [], 0
    for n in chunk_samples:
        pieces.append(stream.convert(pcm[pos : pos + 2 * n]))
        pos += 2 * n
    assert b"".join(pieces) == whole


@pytest.mark.parametrize(("src", "dst"), [(8000, 24000), (24000, 8000)])
def test_resampling_keeps_duration_and_loudness(src: int, dst: int) -> None:
    pcm = _tone(src, 1000)
    out = Resampler(src, dst).convert(pcm)
    assert abs(len(out) // 2 - dst) <= 3  # one second stays one second
    rms_in = math.sqrt(sum(s * s for s in _samples(pcm)) / (len(pcm) // 2))
    rms_out = math.sqrt(sum(s * s for s in _samples(out)) / (len(out) // 2))
    assert rms_out == pytest.approx(rms_in, rel=0.05)


@given(st.lists(st.binary(max_size=1000), max_size=30), st.sampled_from([160, 320, 960]))
def test_framer_cuts_exact_frames_and_keeps_every_byte(chunks: list[bytes], size: int) -> None:
    framer = AudioFramer(size)
    out = [frame for chunk in chunks for frame in framer.push(chunk)]
    assert all(len(f) == size for f in out)
    joined = b"".join(chunks)
    assert b"".join(out) == joined[: len(out) * size]
    assert framer.pending == len(joined) - len(out) * size < size


def test_framer_pads_the_tail_with_silence_and_clear_drops_it() -> None:
    framer = AudioFramer(8)
    assert framer.push(b"abcdefghij") == [b"abcdefgh"]
    assert framer.pad() == b"ij" + bytes(6)
    assert framer.pad() is None
    framer.push(b"xyz")
    assert framer.clear() == 3
    assert framer.pending == 0


def test_framer_drops_an_odd_trailing_byte_instead_of_playing_it() -> None:
    framer = AudioFramer(8)
    framer.push(b"abc")
    assert framer.pad() == b"ab" + bytes(6)
    framer.push(b"a")
    assert framer.pad() is None
