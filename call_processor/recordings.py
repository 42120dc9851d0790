"""Call recordings: picked up from Asterisk when a recorded call ends, kept for their time.

Asterisk records (MixMonitor on the AudioSocket channel, both sides: the callee on the left,
the agent on the right) because only Asterisk hears both directions; our AudioSocket stream
carries the callee's side only. The dialplan's hangup handler stops the recording, which
closes the file, and then sends the UserEvent `OpenDeepRecording`; so the file is complete
when the event arrives (docs/protocols.md, Recording). This process then moves it from
RECORDING_PICKUP_DIR to DATA_DIR/recordings/<user>/<call>.wav and links it to the call row.
Only calls this process placed with recording on are collected: a name in the event is
never trusted as a path. A retention loop deletes recordings older than
RECORDING_RETENTION_DAYS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import wave
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.ami.events import UserEvent
from common.owned_tasks import TaskOwner
from config.settings import RecordingSettings
from database.repositories import calls
from database.types import utcnow

log = logging.getLogger(__name__)
RECORDING_EVENT = "OpenDeepRecording"
RATE = 8000  # MixMonitor's .raw is signed linear 16-bit at 8 kHz
CHANNELS = 2  # the D option: interleaved, callee left, agent right
FRAME_BYTES = 2 * CHANNELS
CHUNK = 1 << 16
EXPECT_FOR = 4 * 3600.0  # a recorded call longer than this is not waited for
RETENTION_EVERY = 3600.0
RETENTION_BATCH = 500


def asterisk_file(settings: RecordingSettings, call_id: str) -> str:
    """Where the dialplan's MixMonitor writes this call (a path on the Asterisk host)."""
    return f"{settings.asterisk_dir}/{call_id}.raw"


def raw_to_wav(source: Path, target: Path) -> float:
    """Stereo slin → a WAV file, streamed (an hour is 115 MB); returns its seconds.

    A trailing half frame (a file cut mid-write) is dropped rather than played as noise.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    frames = 0
    with source.open("rb") as raw, wave.open(str(partial), "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(2)
        out.setframerate(RATE)
        carry = b""
        while chunk := raw.read(CHUNK):
            data = carry + chunk
            whole = len(data) - len(data) % FRAME_BYTES
            out.writeframesraw(data[:whole])
            frames += whole // FRAME_BYTES
            carry = data[whole:]
    partial.replace(target)  # whole or not at all: a reader never sees half a file
    return frames / RATE


class RecordingStore:
    """Collects recordings of the calls this process placed, and deletes expired ones."""

    def __init__(
        self,
        settings: RecordingSettings,
        data_dir: Path,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self.settings = settings
        self.root = data_dir / "recordings"
        self.sessions = sessions
        self._expected: dict[str, tuple[int, float]] = {}  # call id → (user id, since)
        self._owner = TaskOwner("recordings")
        self.collected = 0

    async def start(self) -> None:
        self._owner = TaskOwner("recordings")
        if self.settings.retention_days:
            self._owner.spawn(self._retention_loop(), "retention")

    async def stop(self) -> None:
        await self._owner.aclose()

    def expect(self, call_id: str, user_id: int) -> str:
        """Before Originate: this call will be recorded; returns the file to record to."""
        now = time.monotonic()
        for stale in [c for c, (_u, t) in self._expected.items() if now - t > EXPECT_FOR]:
            del self._expected[stale]
        self._expected[call_id] = (user_id, now)
        return asterisk_file(self.settings, call_id)

    def on_event(self, event: UserEvent) -> None:
        """The AMI listener for `OpenDeepRecording` (synchronous, like every AMI listener)."""
        call_id = event.field("CallID") or ""
        expected = self._expected.pop(call_id, None)
        if expected is None:
            return  # another process's call, or not recorded by us
        self._owner.spawn(self.collect(call_id, expected[0]), f"collect:{call_id}")

    def path_of(self, relative: str) -> Path:
        return self.root / relative

    async def collect(self, call_id: str, user_id: int) -> None:
        source = self.settings.pickup / f"{call_id}.raw"
        relative = f"{user_id}/{call_id}.wav"
        try:
            seconds = await asyncio.to_thread(raw_to_wav, source, self.root / relative)
        except OSError as exc:
            log.error("recording not collected", extra={"call_id": call_id, "error": str(exc)})
            return
        async with self.sessions() as s, s.begin():
            row = await calls.update(
                s,
                user_id=user_id,
                call_id=call_id,
                recording_path=relative,
                recording_seconds=round(seconds, 3),
            )
        if row is None:  # the call's row is gone (its user deleted): keep nothing of it
            (self.root / relative).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            source.unlink()
        self.collected += 1
        log.info("recording collected", extra={"call_id": call_id, "seconds": round(seconds, 1)})

    async def delete_expired(self) -> int:
        """One pass of the retention job: files first, then the rows that pointed at them."""
        before = utcnow() - timedelta(days=self.settings.retention_days)
        deleted = 0
        async with self.sessions() as s, s.begin():
            for row in await calls.recordings_ended_before(s, before=before, limit=RETENTION_BATCH):
                if row.recording_path:
                    self.path_of(row.recording_path).unlink(missing_ok=True)
                row.recording_path, row.recording_seconds = None, None
                deleted += 1
        if deleted:
            log.info("expired recordings deleted", extra={"count": deleted})
        return deleted

    async def _retention_loop(self) -> None:
        while True:
            try:
                while await self.delete_expired() == RETENTION_BATCH:
                    pass
            except Exception:  # the next pass tries again; a bad hour loses nothing
                log.exception("recording retention pass failed")
            await asyncio.sleep(RETENTION_EVERY)
