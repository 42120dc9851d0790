"""The recording store's pure parts and its refusals, without Asterisk (the sandbox test in
tests/web/test_browser_recording.py follows a real recorded call)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from call_processor.ami.events import UserEvent
from call_processor.recordings import RECORDING_EVENT, RecordingStore, asterisk_file, raw_to_wav
from common.call_policy import CallPolicy, RecordingPolicy
from config.settings import RecordingSettings


@given(st.binary(max_size=5000))
def test_any_raw_stereo_becomes_a_wav_of_its_whole_frames(raw: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.raw", Path(folder) / "u" / "out.wav"
        source.write_bytes(raw)
        seconds = raw_to_wav(source, target)
        with wave.open(str(target), "rb") as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
            assert wav.getnframes() == len(raw) // 4
            assert wav.readframes(wav.getnframes()) == raw[: len(raw) - len(raw) % 4]
        assert seconds == len(raw) // 4 / 8000
        assert not target.with_suffix(".part").exists()


def test_a_file_that_is_not_there_fails_loudly_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        raw_to_wav(tmp_path / "missing.raw", tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


def test_the_asterisk_folder_must_be_a_plain_absolute_path() -> None:
    assert RecordingSettings(asterisk_dir="/rec/").asterisk_dir == "/rec"
    assert asterisk_file(RecordingSettings(asterisk_dir="/rec"), "abc") == "/rec/abc.raw"
    for bad in ("rec", "/rec,x", "/rec;x", "/a|b", "/a\nb"):
        with pytest.raises(ValidationError):
            RecordingSettings(asterisk_dir=bad)
    assert RecordingSettings(asterisk_dir="/rec").pickup == Path("/rec")


async def test_only_calls_this_process_expects_are_collected(tmp_path: Path) -> None:
    store = RecordingStore(RecordingSettings(pickup_dir=tmp_path), tmp_path, sessions=None)  # type: ignore[arg-type]  # no database: nothing is collected
    await store.start()
    try:
        assert store.expect("call-1", 7).endswith("/call-1.raw")
        store.on_event(UserEvent(RECORDING_EVENT, {"CallID": "someone-elses"}))
        store.on_event(UserEvent(RECORDING_EVENT, {"CallID": "../../etc/passwd"}))
        assert store.collected == 0
        assert "call-1" in store._expected
    finally:
        await store.stop()


@given(st.sampled_from(list(RecordingPolicy)))
def test_the_recording_policy_survives_a_calls_context(policy: RecordingPolicy) -> None:
    context = CallPolicy(recording=policy).to_context()
    assert CallPolicy.from_context(context).recording is policy
    assert RecordingPolicy.parse("loud") is RecordingPolicy.OFF
    assert policy.records is (policy is not RecordingPolicy.OFF)
