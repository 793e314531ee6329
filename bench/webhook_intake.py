"""Signed webhook posts over loopback: Madoguchi against a bare uvicorn app.

Every post is a real platform webhook (LINE by default: one `message` event,
signed with X-Line-Signature over the raw body) with its own event id, from
one of `--customers` users. Madoguchi answers 200 only once the event is
committed, so a 200 is a stored event; the run ends by counting the stored
messages in the database to show none was lost. The baseline is a raw ASGI
app on uvicorn that reads the body and answers 200 without any work: the
cost of HTTP on this machine, measured in the same run.

Per target, two phases:
  (a) saturation: `--connections` keep-alive connections, each with one post
      in flight (closed loop): events stored per second;
  (b) open loop at `--rate` posts per second (default: half of Madoguchi's
      saturation), the same rate for the baseline: the time to 200, measured
      from each post's scheduled time (a stalled sender shows as latency).

Senders (`--senders`):
  new (the headline): every post comes from a user/chat id never seen before,
      so each one creates a customer, an identity and a conversation, and the
      inbox's default responders queue a reply with it (the inbox gets a
      shop's hours, weekdays 09:00-18:00 JST: a greeting while open, the away
      message while closed).
      The platform's send API is a local sink (bench/platform_sink.py, the
      server's *_API_BASE settings point there):
      at the end the bench waits for the replies and counts how many reached
      the sink, and whether any came twice.
  known: one of `--customers` users, each primed with one message before
      measuring: the common case of a customer writing again.
The server runs pinned to core 0, this load generator (and the sink) to core
1. Rate limits and the access log are off.

    python bench/webhook_intake.py
    python bench/webhook_intake.py --senders known
    python bench/webhook_intake.py --platform telegram --duration 20
    python bench/webhook_intake.py --rate 5000 --baseline none
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import platform as platform_module
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import platform_sink

now = time.monotonic

# Throwaway credentials of the bench's own inboxes.
LINE_SECRET = "bench-line-channel-secret"  # noqa: S105
META_SECRET = "bench-meta-app-secret"  # noqa: S105
TELEGRAM_SECRET = "bench-telegram-secret"  # noqa: S105
PAGE_ID = "104857600123456"
PHONE_NUMBER_ID = "106540352242922"


# --------------------------------------------------------------------------
# The bare baseline: run as `webhook_intake.py --serve-bare PORT`


def serve_bare(port: int) -> None:
    import uvicorn  # noqa: PLC0415

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # the whole body, as a webhook handler must read it
            message = await receive()
            more = message.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    uvicorn.run(
        app,
        host=harness.HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        backlog=4096,
    )


# --------------------------------------------------------------------------
# Webhook bodies, built and signed before measuring


class Bodies:
    """Signed requests for one platform, each with a fresh event id."""

    def __init__(self, platform: str, inbox_id: int, customers: int | None) -> None:
        """`customers` None: every post from a new sender."""
        self.platform = platform
        self.inbox_id = inbox_id
        self.customers = customers
        self.count = 0

    def path(self) -> str:
        slug = self.platform if self.platform in ("line", "telegram") else "meta"
        return f"/webhooks/{slug}/{self.inbox_id}"

    def next(self, customer: int | None = None) -> bytes:
        """One HTTP/1.1 request, ready to write."""
        self.count += 1
        n = self.count
        if customer is not None:
            who = customer
        elif self.customers is None:
            who = 1_000_000 + n  # nobody seen before
        else:
            who = n % self.customers
        text = f"bench message {n}: 配送状況を教えてください 📦"
        ms = int(time.time() * 1000)
        headers: dict[str, str]
        if self.platform == "line":
            body = _dumps(
                {
                    "destination": "Ubench",
                    "events": [
                        {
                            "type": "message",
                            "mode": "active",
                            "timestamp": ms,
                            "source": {"type": "user", "userId": f"U{who:032x}"},
                            "webhookEventId": f"01BENCH{uuid.uuid4().hex.upper()}",
                            "deliveryContext": {"isRedelivery": False},
                            "replyToken": uuid.uuid4().hex,
                            "message": {"id": str(n), "type": "text", "text": text},
                        }
                    ],
                }
            )
            digest = hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest()
            headers = {"x-line-signature": base64.b64encode(digest).decode()}
        elif self.platform == "telegram":
            body = _dumps(
                {
                    "update_id": n,
                    "message": {
                        "message_id": n,
                        "from": {"id": 10_000 + who, "is_bot": False, "first_name": "太郎"},
                        "chat": {"id": 10_000 + who, "type": "private"},
                        "date": ms // 1000,
                        "text": text,
                    },
                }
            )
            headers = {"x-telegram-bot-api-secret-token": TELEGRAM_SECRET}
        elif self.platform == "whatsapp":
            wa_id = f"1555{who:07d}"
            body = _dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [
                        {
                            "id": "102290129340398",
                            "changes": [
                                {
                                    "field": "messages",
                                    "value": {
                                        "messaging_product": "whatsapp",
                                        "metadata": {
                                            "display_phone_number": "15550783881",
                                            "phone_number_id": PHONE_NUMBER_ID,
                                        },
                                        "contacts": [
                                            {"profile": {"name": f"Bench {who}"}, "wa_id": wa_id}
                                        ],
                                        "messages": [
                                            {
                                                "from": wa_id,
                                                "id": f"wamid.BENCH{uuid.uuid4().hex}",
                                                "timestamp": str(ms // 1000),
                                                "type": "text",
                                                "text": {"body": text},
                                            }
                                        ],
                                    },
                                }
                            ],
                        }
                    ],
                }
            )
            headers = {"x-hub-signature-256": _hub(body)}
        else:  # messenger
            body = _dumps(
                {
                    "object": "page",
                    "entry": [
                        {
                            "id": PAGE_ID,
                            "time": ms,
                            "messaging": [
                                {
                                    "sender": {"id": str(6_000_000 + who)},
                                    "recipient": {"id": PAGE_ID},
                                    "timestamp": ms,
                                    "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text},
                                }
                            ],
                        }
                    ],
                }
            )
            headers = {"x-hub-signature-256": _hub(body)}
        head = (
            f"POST {self.path()} HTTP/1.1\r\nhost: {harness.HOST}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        return head.encode() + body

    def inbox_config(self) -> dict[str, Any]:
        if self.platform == "line":
            return {"channel_secret": LINE_SECRET, "channel_access_token": "bench-line-token"}
        if self.platform == "telegram":
            return {"bot_token": "123456:bench-bot-token", "secret_token": TELEGRAM_SECRET}
        if self.platform == "whatsapp":
            return {
                "phone_number_id": PHONE_NUMBER_ID,
                "app_secret": META_SECRET,
                "verify_token": "bench",
                "access_token": "bench-access-token",
            }
        return {
            "page_id": PAGE_ID,
            "app_secret": META_SECRET,
            "verify_token": "bench",
            "page_access_token": "bench-page-token",
        }


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _hub(body: bytes) -> str:
    return "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------
# The load generator: raw HTTP/1.1 keep-alive connections


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(harness.HOST, port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> int:
        """Writes one request, reads its whole answer; returns the status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


@dataclass
class PhaseResult:
    target: str
    phase: str
    offered_rate: float | None
    measured_s: float
    ok: int
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float
    loadgen_cpu: float
    other_cpu: float
    statuses: dict[str, int] = field(default_factory=dict)


async def run_phase(
    name: str,
    port: int,
    pid: int,
    requests: list[bytes],
    *,
    connections: int,
    warmup: float,
    duration: float,
    rate: float | None,
    cycle: bool = False,
    profile: Path | None = None,
) -> PhaseResult:
    """Closed loop (`rate` None) or open loop at `rate` posts per second.
    Only answers to posts scheduled inside the measured window count. With
    `cycle`, the prepared posts are used again (the bare app stores nothing,
    so a repeat costs it the same)."""
    conns = [await Connection.open(port) for _ in range(connections)]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    start = now()
    window = (start + warmup, start + warmup + duration)
    end = window[1]
    index = 0
    marks: dict[str, float] = {}

    def take() -> bytes | None:
        nonlocal index
        if index >= len(requests):
            if not cycle:
                return None
            index = 0
        index += 1
        return requests[index - 1]

    async def closed(conn: Connection) -> None:
        while now() < end:
            request = take()
            if request is None:
                statuses["ran out of prepared requests"] += 1
                return
            sched = now()
            status = await conn.post(request)
            done = now()
            if window[0] <= sched < window[1]:
                statuses[str(status)] += 1
                if status == 200:
                    latencies.append(done - sched)

    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def scheduler() -> None:
        assert rate is not None
        interval = 1.0 / rate
        n = 0
        while True:
            sched = start + n * interval
            if sched >= end:
                return
            delay = sched - now()
            if delay > 0:
                await asyncio.sleep(delay)
            request = take()
            if request is None:
                statuses["ran out of prepared requests"] += 1
                return
            queue.put_nowait((sched, request))
            n += 1

    async def open_loop(conn: Connection) -> None:
        while True:
            sched, request = await queue.get()
            status = await conn.post(request)
            done = now()
            if window[0] <= sched < window[1]:
                statuses[str(status)] += 1
                if status == 200:
                    latencies.append(done - sched)
            queue.task_done()

    async def meter() -> None:
        await asyncio.sleep(max(0.0, window[0] - now()))
        if profile is not None:
            harness.start_profiler(pid, duration, profile)
        marks["cpu0"] = harness.cpu_seconds(pid)
        marks["lg0"] = harness.self_cpu_seconds()
        marks["sys0"], _ = harness.system_cpu_seconds()
        await asyncio.sleep(max(0.0, window[1] - now()))
        marks["cpu1"] = harness.cpu_seconds(pid)
        marks["lg1"] = harness.self_cpu_seconds()
        marks["sys1"], _ = harness.system_cpu_seconds()

    metering = asyncio.create_task(meter())
    if rate is None:
        await asyncio.gather(*(closed(c) for c in conns))
    else:
        workers = [asyncio.create_task(open_loop(c)) for c in conns]
        await scheduler()
        await asyncio.wait_for(queue.join(), timeout=60)
        for worker in workers:
            worker.cancel()
    await metering
    for conn in conns:
        conn.close()
    latencies.sort()
    ok = statuses.get("200", 0)
    server = (marks["cpu1"] - marks["cpu0"]) / duration
    loadgen = (marks["lg1"] - marks["lg0"]) / duration
    busy = (marks["sys1"] - marks["sys0"]) / duration
    return PhaseResult(
        target=name,
        phase="saturation" if rate is None else "open loop",
        offered_rate=rate,
        measured_s=duration,
        ok=ok,
        throughput=ok / duration,
        p50_ms=harness.percentile(latencies, 50) * 1000,
        p90_ms=harness.percentile(latencies, 90) * 1000,
        p99_ms=harness.percentile(latencies, 99) * 1000,
        max_ms=(latencies[-1] if latencies else float("nan")) * 1000,
        server_cpu=server,
        loadgen_cpu=loadgen,
        other_cpu=max(0.0, busy - server - loadgen),
        statuses=dict(statuses),
    )


HEADER = (
    f"{'target':<11} {'phase':<11} {'offered/s':>9} {'events/s':>9} {'p50 ms':>7}"
    f" {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'server':>7} {'loadgen':>8} {'other':>6}"
    f" {'cpu ms/ev':>9}"
)


def cpu_per_event(result: PhaseResult) -> float:
    """Server CPU milliseconds per stored event: what the server spent on each,
    whatever else the machine was busy with (a loaded machine lowers the
    throughput, much less this)."""
    return result.server_cpu * 1000 / result.throughput if result.throughput else float("nan")


def show(result: PhaseResult) -> None:
    offered = f"{result.offered_rate:.0f}" if result.offered_rate else "closed"
    print(
        f"{result.target:<11} {result.phase:<11} {offered:>9} {result.throughput:>9.0f}"
        f" {result.p50_ms:>7.1f} {result.p90_ms:>7.1f} {result.p99_ms:>7.1f}"
        f" {result.max_ms:>7.1f} {result.server_cpu:>6.0%} {result.loadgen_cpu:>8.0%}"
        f" {result.other_cpu:>6.0%} {cpu_per_event(result):>9.2f}",
        flush=True,
    )
    bad = {k: v for k, v in result.statuses.items() if k != "200"}
    if bad:
        print(f"  not 200: {bad}", flush=True)


# --------------------------------------------------------------------------
# Targets


async def madoguchi_target(
    args: argparse.Namespace, saturation_requests: int, extra_env: dict[str, str]
) -> tuple[harness.ServerProcess, Bodies, harness.Store]:
    store = await harness.new_store(harness.new_data_dir("bench-webhook-"), args.database_url)
    port = harness.free_port()
    server = harness.start_madoguchi(
        port, args.server_core, store.data_dir, args.sync, {**extra_env, **store.server_env()}
    )
    await server.wait_ready()
    api = harness.Api(port)
    try:
        await api.login_admin()
        bodies = Bodies(args.platform, 0, args.customers if args.senders == "known" else None)
        inbox = await api.call(
            "POST",
            "/api/v1/inboxes",
            {
                "name": f"Bench {args.platform}",
                "channel": args.platform,
                "mode": "live",
                "config": bodies.inbox_config(),
            },
        )
        bodies.inbox_id = int(inbox["id"])
        if args.senders == "new":
            # A shop's business hours: with them the inbox's default
            # responders answer every new conversation, with the greeting
            # while open and the away message while closed (a chat inbox
            # without hours answers nothing automatically). Not open around
            # the clock: 24/7 hours make the calendar walk its whole search
            # horizon for every message (see docs/performance.md).
            await api.call(
                "PUT",
                f"/api/v1/inboxes/{bodies.inbox_id}/business-hours",
                {
                    "timezone": "Asia/Tokyo",
                    "weekly": {
                        d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
                    },
                },
            )
    finally:
        await api.close()
    del saturation_requests
    return server, bodies, store


async def prime(port: int, bodies: Bodies, count: int | None = None) -> None:
    """One message from each of the first `count` customers (all of them by
    default) before measuring: they are known customers."""
    count = bodies.customers if count is None else count
    conns = [await Connection.open(port) for _ in range(min(16, max(1, count)))]
    todo = list(range(count))

    async def work(conn: Connection) -> None:
        while todo:
            status = await conn.post(bodies.next(todo.pop()))
            if status != 200:
                raise RuntimeError(f"priming a customer answered {status}")

    await asyncio.gather(*(work(c) for c in conns))
    for conn in conns:
        conn.close()


async def messages_per_batch(port: int) -> float:
    """From /metrics: how many messages each of the writer's commits carried."""
    import httpx  # noqa: PLC0415

    async with httpx.AsyncClient(trust_env=False) as client:
        text = (await client.get(f"http://{harness.HOST}:{port}/metrics")).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("madoguchi_messages_stored_total", "madoguchi_message_batches_total"):
            values[name] = float(value)
    batches = values.get("madoguchi_message_batches_total", 0.0)
    return values.get("madoguchi_messages_stored_total", 0.0) / batches if batches else 0.0


async def stored_messages(store: harness.Store, inbox_id: int) -> int:
    return await store.scalar(
        "SELECT count(*) FROM messages WHERE inbox_id = ? AND author_kind = 'customer'", inbox_id
    )


def start_sink(core: int) -> harness.ServerProcess:
    port = harness.free_port()
    sink = harness.ServerProcess(
        "platform-sink",
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "platform_sink.py"),
            "--http",
            str(port),
        ],
        port,
        core,
    )
    sink.start()
    return sink


async def main_async(args: argparse.Namespace) -> int:
    pinned = harness.pin_self(args.loadgen_core)
    print(f"webhook intake benchmark, {args.platform} webhooks, one event per post")
    where = f"pinned to core {args.loadgen_core}" if pinned else "not pinned"
    print(
        f"machine: {harness.cpu_count()} CPUs, {platform_module.python_implementation()}"
        f" {platform_module.python_version()}, load generator {where}"
    )
    store_name = "PostgreSQL" if args.database_url else f"SQLite synchronous={args.sync}"
    print(f"server: {harness.code_version()}, {store_name}")
    who = (
        "every post from a new sender (replies to a local sink)"
        if args.senders == "new"
        else f"{args.customers} known customers"
    )
    print(
        f"phases: {args.warmup:.0f} s warm-up + {args.duration:.0f} s measured;"
        f" saturation with {args.connections} connections; {who}"
    )
    # Enough prepared posts for the fastest target we expect, and then some.
    budget = int(args.max_rate * (args.warmup + args.duration))
    results: list[PhaseResult] = []
    print()
    print(HEADER)

    sink = start_sink(args.loadgen_core)
    await sink.wait_ready("/counts")
    server, bodies, store = await madoguchi_target(
        args, budget, platform_sink.sink_env(http_port=sink.port)
    )
    replies: dict[str, int] = {}
    waited = 0.0
    try:
        if args.senders == "known":
            await prime(server.port, bodies)
        primed = await stored_messages(store, bodies.inbox_id)
        requests = [bodies.next() for _ in range(budget)]
        sat = await run_phase(
            "madoguchi",
            server.port,
            server.pid,
            requests,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
            rate=None,
            profile=args.profile,
        )
        show(sat)
        results.append(sat)
        rate = args.rate or max(100.0, round(sat.throughput / 2, -2))
        count = int(rate * (args.warmup + args.duration) * 1.1)
        requests = [bodies.next() for _ in range(count)]
        half = await run_phase(
            "madoguchi",
            server.port,
            server.pid,
            requests,
            connections=args.open_connections,
            warmup=args.warmup,
            duration=args.duration,
            rate=rate,
        )
        show(half)
        results.append(half)
        await asyncio.sleep(1)
        answered = sum(v for r in results for k, v in r.statuses.items() if k == "200")
        stored = await stored_messages(store, bodies.inbox_id) - primed
        per_batch = await messages_per_batch(server.port)
        if args.senders == "new":
            # Every new sender's first message queued one automatic reply.
            replies, waited = await platform_sink.wait_for_replies(
                sink.port, stored, settle=30.0, limit=240.0
            )
            facts = await store.first_contact_counts(bodies.inbox_id)
    except Exception:
        print(server.log_tail(40), file=sys.stderr)
        raise
    finally:
        server.stop()
        sink.stop()
        if args.keep_data:
            print(f"data kept in {store.data_dir}")
        else:
            harness.remove_dir(store.data_dir)

    if args.baseline == "uvicorn":
        port = harness.free_port()
        bare = harness.ServerProcess(
            "bare-uvicorn",
            [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)],
            port,
            args.server_core,
        )
        bare.start()
        try:
            await bare.wait_ready("/")
            baseline_bodies = Bodies(args.platform, bodies.inbox_id, args.customers)
            requests = [baseline_bodies.next() for _ in range(50_000)]
            b_sat = await run_phase(
                "bare",
                port,
                bare.pid,
                requests,
                connections=args.connections,
                warmup=args.warmup,
                duration=args.duration,
                rate=None,
                cycle=True,
            )
            show(b_sat)
            b_half = await run_phase(
                "bare",
                port,
                bare.pid,
                requests,
                connections=args.open_connections,
                warmup=args.warmup,
                duration=args.duration,
                rate=rate,
                cycle=True,
            )
            show(b_half)
        finally:
            bare.stop()
        print()
        print(
            f"ratios madoguchi / bare: saturation {sat.throughput / b_sat.throughput:.3f};"
            f" p99 at {rate:.0f}/s {half.p99_ms / b_half.p99_ms:.1f}x;"
            f" server CPU per event {cpu_per_event(sat) / cpu_per_event(b_sat):.1f}x"
        )
    print()
    print(f"madoguchi: {per_batch:.1f} messages per group commit over the whole run")
    verdict = "none lost" if stored >= answered else "SOME LOST"
    print(
        f"madoguchi: {answered} posts answered 200 in the measured windows;"
        f" {stored} new customer messages stored in all ({verdict})"
    )
    if args.senders == "new":
        print(
            f"first contact: {facts['customers']} customers, {facts['conversations']}"
            f" conversations, {facts['replies']} automatic replies stored"
            f" ({facts['delivered']} marked sent when the server stopped)"
        )
        twice = "none twice" if not replies.get("repeated") else f"{replies['repeated']} TWICE"
        print(
            f"sink: {replies.get('requests', 0)} replies reached it, for"
            f" {replies.get('recipients', 0)} of {stored} new senders ({twice});"
            f" {waited:.1f} s after the last phase"
        )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument(
        "--platform", choices=("line", "telegram", "messenger", "whatsapp"), default="line"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--open-connections", type=int, default=128)
    parser.add_argument(
        "--senders",
        choices=("new", "known"),
        default="new",
        help="new: every post from a sender never seen (the headline); known: --customers",
    )
    parser.add_argument("--customers", type=int, default=1000, help="with --senders known")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=None, help="open-loop posts/s")
    parser.add_argument(
        "--max-rate", type=float, default=10000, help="posts prepared per second of saturation"
    )
    parser.add_argument("--sync", choices=("NORMAL", "FULL"), default="NORMAL")
    parser.add_argument(
        "--database-url",
        default=None,
        help="run Madoguchi on a fresh database on this PostgreSQL server"
        " (postgresql+asyncpg://USER@HOST:PORT/ANY) instead of the embedded SQLite",
    )
    parser.add_argument("--baseline", choices=("uvicorn", "none"), default="uvicorn")
    parser.add_argument(
        "--profile", type=Path, help="py-spy raw profile of Madoguchi's saturation phase"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the server's data dir")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    harness.install_event_loop()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
