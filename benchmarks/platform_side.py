"""The platform under load, in its own process (`python -m benchmarks.platform_side`).

The platform is built by `launcher.platform.build_platform`, as `main.py run` builds it
(without AMI, web app or task engine): its AudioSocket server, its command bus and its
Realtime client through the official SDK (to the fake model at --model-url). One
RealtimeBridge per call; one command published to every call. Each call holds a call slot
(Redis when --redis-url: the limit the workers share) and is registered with `expect()` the
way the call initiator does for a call it originated; the load generator then plays
Asterisk. With `--workers N --worker I` it is worker I of N as `main.py run --workers N`
starts it (`launcher.supervisor.worker_env`: AudioSocket port = --base-port + I, its own
node id); benchmarks/box.py says why the benchmark starts the workers itself.

Inbound latency is measured at both ends of the hot path: the call's inbound observer
(`CallAudio.observe_inbound`) timestamps each caller frame as the AudioSocket server hands
it over (frames handed over in one read are dated back 20 ms apart to when they arrived,
`arrivals`), and the SDK connection's `send` is wrapped (a benchmark-only hook on the SDK's
object, not ours) to timestamp each `input_audio_buffer.append` once written to the
websocket. Control is JSON lines: {"cmd": "prepare" | "measure" | "finish" | "quit"}.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import socket
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from pydantic import SecretStr

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallAudio
from audio_processing.expected_call import ExpectedCall
from audio_processing.realtime.bridge import BridgeOptions, RealtimeBridge
from audio_processing.realtime.session import RealtimeSession
from audio_processing.realtime.session_config import build_session_config
from audio_processing.talker_result import TalkerResult
from benchmarks.procstat import CpuWindow, rss_bytes
from benchmarks.stats import FRAME_S, summary_ms
from call_processor.call_slots import RedisCallSlots
from common.command_bus import CommandBus, CommandSubscription
from common.commands import SendDtmf
from common.owned_tasks import TaskOwner
from config.settings import (
    AppSettings,
    AudioSocketSettings,
    CallingSettings,
    OpenAISettings,
    RedisSettings,
    Settings,
    load_settings,
)
from launcher.heap import settle_heap
from launcher.platform import PlatformOverrides, build_platform
from launcher.supervisor import worker_env

log = logging.getLogger("benchmarks.platform")
PREPARE_CONCURRENCY = 50
APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"'
ULAW_FRAME = 160  # bytes of μ-law in one 20 ms caller frame
SLOT_LIMIT = 10_000  # MAX_CONCURRENT_CALLS: never the limit being measured
SLOTS_NAME = "bench"  # its own Redis key: a platform on the same Redis keeps its limit


class Recorder:
    """Inbound latency samples, recorded only inside the measurement window.

    Kept as packed doubles (8 bytes a sample, not a 32-byte float object in a list) and
    taken out of the memory per call (`harness_bytes`): 50 samples a second per call
    would otherwise count the harness's own memory as the platform's."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.active = False
        self.per_frame = array("d")  # frame pushed → its append written
        self.last_frame = array("d")  # newest frame of the batch → append written
        self.commands = array("d")  # publish → delivered to the call's subscription

    def harness_bytes(self) -> int:
        return 8 * (len(self.per_frame) + len(self.last_frame) + len(self.commands))


class GcPauses:
    """How long the garbage collector held the loop, per generation, inside the window:
    a full collection is a stall of every call at once (docs/architecture.md, The event
    loop and the garbage collector), so a level that fails on one stall can say if it was."""

    def __init__(self) -> None:
        self.active = False
        self._started = 0.0
        self.longest = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.active:
            generation = info["generation"]
            paused = time.perf_counter() - self._started
            self.count[generation] += 1
            self.longest[generation] = max(self.longest[generation], paused)

    def report(self) -> dict[str, Any]:
        return {
            "collections": list(self.count),
            "longest_ms": [round(s * 1000, 2) for s in self.longest],
        }


class BenchCall:
    """One call: the bridge as the talker, plus the call's command subscription."""

    def __init__(
        self,
        call_id: str,
        session: RealtimeSession | None,
        bus: CommandBus,
        rec: Recorder,
        options: BridgeOptions | None = None,
    ) -> None:
        """`session` None: an echo call (`--talker echo`), which has no bridge."""
        self.call_id = call_id
        self.session = session
        self.bus = bus
        self.rec = rec
        self.bridge = (
            None
            if session is None
            else RealtimeBridge(session, _NoTools(), None, options or BridgeOptions())
        )
        self.pushed: deque[float] = deque()
        self.commands = 0
        self.expected: ExpectedCall | None = None
        self.subscribed = asyncio.Event()

    def hook_send(self) -> None:
        """Time each caller frame to the moment its append is written to the websocket.

        The bridge sends appends as pre-built JSON text through `send_raw` (and anything
        else through `send`), so both are wrapped."""
        assert self.session is not None
        conn = self.session.connection
        original, original_raw = conn.send, conn.send_raw

        async def send(event: Any) -> None:
            await original(event)
            if isinstance(event, dict) and event.get("type") == "input_audio_buffer.append":
                self._on_append(len(event["audio"]) * 3 // 4 // ULAW_FRAME)

        async def send_raw(data: str | bytes) -> None:
            await original_raw(data)
            if isinstance(data, str) and data.startswith(APPEND_PREFIX):
                audio_chars = len(data) - len(APPEND_PREFIX) - 2  # the closing '"}'
                self._on_append(audio_chars * 3 // 4 // ULAW_FRAME)

        conn.send = send  # type: ignore[method-assign]
        conn.send_raw = send_raw  # type: ignore[method-assign]

    def _on_append(self, frames: int) -> None:
        now = time.monotonic()
        times = [self.pushed.popleft() for _ in range(min(frames, len(self.pushed)))]
        if self.rec.active and times:
            self.rec.per_frame.extend(now - t for t in arrivals(times))
            self.rec.last_frame.append(now - times[-1])

    async def run(self, audio: CallAudio) -> None:
        audio.observe_inbound(lambda _pcm: self.pushed.append(time.monotonic()))
        owner = TaskOwner(f"{self.call_id}:bench")
        try:
            async with self.bus.subscribe(self.call_id) as subscription:
                owner.spawn(self._commands(subscription), name="commands")
                self.subscribed.set()
                assert self.bridge is not None
                await self.bridge.run(audio)
        finally:
            await owner.aclose(timeout=1.0)

    async def _commands(self, subscription: CommandSubscription) -> None:
        async for command in subscription:
            if isinstance(command, SendDtmf):
                self.commands += 1
                sent_at = float(command.digits.replace("w", "") or 0) / 1e6
                if self.rec.active and sent_at:
                    self.rec.commands.append(time.monotonic() - sent_at)


def arrivals(handed_over: list[float]) -> list[float]:
    """When each frame reached the platform's socket, from when the server handed it over.

    Frames handed over together (within 5 ms) came in one read: the kernel had gathered
    them (batched reads, audio_socket_server.py) or the loop was busy. The load generator
    sends each call's frames 20 ms apart, so the frame before the newest of a read arrived
    20 ms before it, and so on; the batch's wait is then counted where it happened."""
    arrived = list(handed_over)
    for i in range(len(arrived) - 2, -1, -1):
        if handed_over[i + 1] - handed_over[i] < 0.005:
            arrived[i] = arrived[i + 1] - FRAME_S
    return arrived


class EchoTalker:
    """`--talker echo`: plays the caller's audio back; measures the AudioSocket side alone."""

    def __init__(self) -> None:
        self.subscribed = asyncio.Event()

    async def run(self, audio: CallAudio) -> None:
        self.subscribed.set()
        async for frame in audio.inbound():
            audio.enqueue(frame)


def _outcome(result: TalkerResult | None) -> str:
    """`completed:<reason>` or `ai_failure:<reason>`, as the results files have it."""
    if result is None:
        return "none"
    return f"{'ai_failure' if result.reason.is_failure else 'completed'}:{result.reason}"


class _NoTools:
    async def call_tool(self, name: str, args: dict[str, Any]) -> str:
        return "ok"


@dataclass(frozen=True)
class Worker:
    """Which worker of how many this process is, and worker 0's AudioSocket port (0: any
    free port, when it is the only one)."""

    index: int = 0
    count: int = 1
    base_port: int = 0


def bench_settings(
    model_url: str, redis_url: str | None, data_dir: Path, worker: Worker
) -> Settings:
    """What an operator's .env would say for this run, shifted for worker `worker.index` as
    the supervisor shifts it; a 2 s first-frame allowance so the saturated levels measure
    pacing rather than refused connections."""

    def settings(port: int, node_id: str) -> Settings:
        return load_settings(
            env_file=None,
            app=AppSettings(data_dir=data_dir, node_id=node_id),
            redis=RedisSettings(url=redis_url),
            calling=CallingSettings(max_concurrent_calls=SLOT_LIMIT),
            audiosocket=AudioSocketSettings(listen_port=port, first_frame_timeout=2.0),
            openai=OpenAISettings(api_key=SecretStr("bench-key"), base_url=model_url),
        )

    base = settings(worker.base_port or _free_port(), "bench")
    if worker.count == 1:
        return base
    env = worker_env(base, worker.index)
    return settings(int(env["AUDIOSOCKET_LISTEN_PORT"]), env["NODE_ID"])


def bridge_options(settings: Settings, batch_frames: int | None) -> BridgeOptions:
    """Caller frames per model append: `batch_frames` when given, else the product's
    OPENAI_INPUT_BATCH_FRAMES (a platform older than that setting, under --compare, runs
    its own BridgeOptions default)."""
    configured = getattr(settings.openai, "input_batch_frames", None)
    chosen = batch_frames or configured
    return BridgeOptions(input_batch_frames=chosen) if chosen else BridgeOptions()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BenchPlatform:
    def __init__(
        self,
        model_url: str,
        redis_url: str | None,
        talker: str = "bridge",
        worker: Worker | None = None,
        batch_frames: int | None = None,
    ) -> None:
        self.talker = talker
        self.scratch = tempfile.TemporaryDirectory(prefix="opendeep-bench-")
        settings = bench_settings(model_url, redis_url, Path(self.scratch.name), worker or Worker())
        self.options = bridge_options(settings, batch_frames)
        slots = None
        if redis_url:  # the product's Redis slots, under a key of the benchmark's own
            node = settings.app.node_id or "bench"
            slots = RedisCallSlots(redis_url, SLOT_LIMIT, node, name=SLOTS_NAME)
        overrides = PlatformOverrides(web=False, task_engine=False, slots=slots)
        self.platform = build_platform(settings, overrides)
        self.config = build_session_config(model="gpt-realtime", instructions="Be brief.")
        self.rec = Recorder()
        self.calls: list[BenchCall] = []
        self.lags = array("d")
        self.owner = TaskOwner("bench-platform")
        self.baseline_rss = 0
        self.gc = GcPauses()

    async def start(self) -> dict[str, Any]:
        await self.platform.start()
        settle_heap()  # as main.py run does after start-up

        assert self.platform.openai is not None
        self.server: AudioSocketServer = self.platform.audio_server
        if hasattr(self.server, "read_batch_frames"):  # reads batched as the model's appends
            self.server.read_batch_frames = self.options.input_batch_frames
        self.bus: CommandBus = self.platform.bus
        self.client: AsyncOpenAI = self.platform.openai.realtime
        self.owner.spawn(self._watch_lag(), name="lag")
        return {"port": self.server.port, "rss": rss_bytes()}

    async def _watch_lag(self) -> None:
        """The event loop's own lateness: a 10 ms sleep that wakes late is time stolen."""
        while True:
            due = time.monotonic() + 0.010
            await asyncio.sleep(0.010)
            if self.rec.active:
                self.lags.append(time.monotonic() - due)

    async def prepare(self, n: int) -> dict[str, Any]:
        gc.collect()
        self.baseline_rss = rss_bytes()
        started = time.monotonic()
        limit = asyncio.Semaphore(PREPARE_CONCURRENCY)
        calls = await asyncio.gather(*(self._prepare_one(limit) for _ in range(n)))
        self.calls = [c for c in calls if c is not None]
        return {
            "call_ids": [c.call_id for c in self.calls],
            "prepare_s": round(time.monotonic() - started, 2),
            "failed": n - len(self.calls),
        }

    async def _prepare_one(self, limit: asyncio.Semaphore) -> BenchCall | None:
        call_id = str(uuid.uuid4())
        async with limit:  # a few at a time, as the scheduler launches calls in batches
            await self.platform.slots.acquire(call_id, timeout=30)  # as the initiator does
        if self.talker == "echo":
            echo = BenchCall(call_id, None, self.bus, self.rec)
            echo.expected = self.server.expect(call_id, EchoTalker())
            echo.subscribed = echo.expected.talker.subscribed  # type: ignore[attr-defined]
            return echo
        session = RealtimeSession(self.client, self.config, name=f"{call_id}:realtime")
        async with limit:
            try:
                await session.ready()  # pre-warmed, as while the phone rings
            except Exception:
                log.exception("session did not open")
                await session.aclose()
                await self.platform.slots.release(call_id)
                return None
        call = BenchCall(call_id, session, self.bus, self.rec, self.options)
        call.hook_send()
        call.expected = self.server.expect(call_id, call)
        return call

    async def measure(self, warmup: float, seconds: float) -> dict[str, Any]:
        attached = await self._attached()
        await asyncio.sleep(warmup)
        self.rec.reset()
        del self.lags[:]
        cpu = CpuWindow()
        self.rec.active = True
        self.gc = GcPauses()
        self.gc.active = True
        gc.callbacks[:] = [c for c in gc.callbacks if not isinstance(c, GcPauses)] + [self.gc]
        cpu.start()
        t0 = time.monotonic()
        await self._publish_spread(seconds)
        cpu.stop()
        t1 = time.monotonic()
        self.rec.active = False
        self.gc.active = False
        rss = rss_bytes()
        n = max(1, attached)
        return {
            "window": [t0, t1],
            "attached": attached,
            "cpu_cores": round(cpu.cores, 3),
            "cpu_ms_per_call_second": round(cpu.cpu_s * 1000 / (n * cpu.wall_s), 3),
            "rss_mb": round(rss / 2**20, 1),
            "rss_kb_per_call": round(
                (rss - self.baseline_rss - self.rec.harness_bytes() - 8 * len(self.lags))
                / 1024
                / n,
                1,
            ),
            "inbound_latency_ms": summary_ms(self.rec.per_frame),
            "inbound_processing_ms": summary_ms(self.rec.last_frame),
            "command_latency_ms": summary_ms(self.rec.commands),
            "loop_lag_ms": summary_ms(self.lags),
            "gc": self.gc.report(),
            "inbound_dropped": sum(c.expected.audio.inbound_dropped for c in self._live()),
        }

    def _live(self) -> list[Any]:
        return [c for c in self.calls if c.expected is not None and c.expected.audio is not None]

    async def _attached(self, timeout: float = 60.0) -> int:
        waits = [c.expected.connected() for c in self.calls if c.expected is not None]
        subscribed = [c.subscribed.wait() for c in self.calls]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waits)
                await asyncio.gather(*subscribed)
        except TimeoutError:
            log.warning("not every call attached in time")
        return sum(1 for c in self.calls if c.subscribed.is_set())

    async def _publish_spread(self, seconds: float) -> None:
        """One command per call, spread over the window (the digits carry the send time)."""
        end = time.monotonic() + seconds
        step = seconds / max(1, len(self.calls))
        for call in self.calls:
            stamp = str(int(time.monotonic() * 1e6))[-32:]
            await self.bus.publish(call.call_id, SendDtmf(digits=stamp))
            await asyncio.sleep(step)
        await asyncio.sleep(max(0.0, end - time.monotonic()))

    async def finish(self, timeout: float = 30.0) -> dict[str, Any]:
        ended = [c.expected.ended() for c in self.calls if c.expected is not None]
        try:
            async with asyncio.timeout(timeout):
                reasons = Counter(str(r) for r in await asyncio.gather(*ended))
        except TimeoutError:
            reasons = Counter({"still_running": len(ended)})
        outcomes = Counter(_outcome(c.bridge.result if c.bridge else None) for c in self.calls)
        result = {
            "end_reasons": dict(reasons),
            "bridge_outcomes": dict(outcomes),
            "commands_delivered": sum(c.commands for c in self.calls),
            "sessions_active": self.server.sessions_active,
        }
        for call in self.calls:
            await self.platform.slots.release(call.call_id)
            if call.expected is not None and not call.expected.attached:
                self.server.forget(call.call_id)
            if call.session is not None:
                await call.session.aclose()
        self.calls = []
        return result

    async def stop(self) -> None:
        await self.owner.aclose(timeout=1.0)
        await self.platform.stop()
        self.scratch.cleanup()


async def serve(
    model_url: str, redis_url: str | None, talker: str, worker: Worker, batch_frames: int | None
) -> None:
    platform = BenchPlatform(model_url, redis_url, talker, worker, batch_frames)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _reply(await platform.start())
    try:
        while line := await reader.readline():
            order = json.loads(line)
            cmd = order["cmd"]
            if cmd == "prepare":
                _reply(await platform.prepare(order["n"]))
            elif cmd == "measure":
                _reply(await platform.measure(order["warmup"], order["seconds"]))
            elif cmd == "finish":
                _reply(await platform.finish())
            elif cmd == "quit":
                break
    finally:
        await platform.stop()


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-url", required=True)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--talker", choices=["bridge", "echo"], default="bridge")
    parser.add_argument("--worker", type=int, default=0, help="this worker's index")
    parser.add_argument("--workers", type=int, default=1, help="how many workers run")
    parser.add_argument("--base-port", type=int, default=0, help="worker 0's AudioSocket port")
    parser.add_argument("--batch-frames", type=int, default=None, help="caller frames per append")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    worker = Worker(args.worker, args.workers, args.base_port)
    main_task = serve(args.model_url, args.redis_url, args.talker, worker, args.batch_frames)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main_task)
    else:
        asyncio.run(main_task)


if __name__ == "__main__":
    main()
