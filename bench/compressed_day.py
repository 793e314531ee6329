"""A compressed day at the desk: chat, webhooks and mail at once, open loop.

Every stream runs at the same time against one `madoguchi serve` process on
the embedded default (SQLite; `--database-url` for a fresh PostgreSQL
database), pinned to core 0, with this load generator (and the platform/relay
sinks) on core 1. Each stream is open loop with its due times fixed in
advance, so a stalled server shows up as latency, not as a slower offer:

  chat     `--sockets` widget sockets, `--chat-rate` customer messages per
           second in all (round robin); `--agents` agent sockets, each
           replying on its own socket to every `--reply-every`th customer
           message it receives (a fifth by default).
  webhooks `--telegram-rate` Telegram and `--line-rate` LINE webhooks per
           second, signed as the platforms sign them, over
           `--webhook-connections` keep-alive connections per platform;
           `--new-share` of them from a chat never seen before (a new customer
           and conversation, answered by the inbox's greeting or away
           message), the rest from `--known-chats` chats primed before.
  mail     every `--mail-every` seconds a burst of `--mail-burst` new-thread
           mails from new senders (each gets the default acknowledgement)
           through the SMTP listener, over `--mail-clients` SMTP sessions.

The inboxes' default responders are on. Their replies leave for real, through
the outbox, to bench/platform_sink.py: one sink process for the Telegram and
LINE APIs (MADOGUCHI_TELEGRAM_API_BASE, MADOGUCHI_LINE_API_BASE), one as the
SMTP relay (MADOGUCHI_SMTP_RELAY), each counting what it got by recipient.

At the end: chat ack latency (scheduled send -> `ack` frame), webhook time
to 200 per platform, per mail burst the time from its start to its last 250
and to its last acknowledgement at the relay, the server's CPU (average and
per `--window`), its RSS per window and its slope after `--rss-warmup`, and an
exactly-once check: every acked chat message and agent reply, every webhook
answered 200 and every mail accepted is counted in the database (once), and
every automatic reply reached its sink once. The issue's targets (issue 32)
are printed beside the figures.

    python bench/compressed_day.py                       # the issue's day, 300 s
    python bench/compressed_day.py --duration 30 --sockets 200 --chat-rate 40 \\
        --telegram-rate 10 --line-rate 2 --mail-burst 20 --mail-every 10
    python bench/compressed_day.py --database-url postgresql+asyncpg://USER@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 - the bench's own folder, on the path above
import platform_sink  # noqa: E402
from chat_roundtrip import LoadGen, Target, assign_round_robin  # noqa: E402
from smtp_intake import ADDRESS, MX, Load, SmtpSession  # noqa: E402
from webhook_intake import Bodies, Connection, prime  # noqa: E402

now = time.monotonic
loads = json.loads
dumps = json.dumps

# The targets for the compressed day.
CHAT_P50_MS = 50.0
CHAT_P99_MS = 250.0
CHAT_SLOW_SHARE = 0.001  # share of chat acks over 1 s
WEBHOOK_P99_MS = 250.0
BURST_LAST_250_S = 2.0
RELAY_AFTER_BURST_S = 10.0  # every acknowledgement sent within 10 s of the burst's end
CORE_AVERAGE = 0.60
RSS_FLAT_MIB_PER_MIN = 1.0  # "flat": what this bench calls flat
BUSY_MACHINE = 0.25  # other processes' CPU, in cores, above which the run is flagged


# --------------------------------------------------------------------------
# Chat: chat_roundtrip's widget/agent load generator, with agents that reply


class Reply:
    __slots__ = ("acked", "sent")

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.acked = 0.0


class ChatDay(LoadGen):
    """Customers as in chat_roundtrip; each agent answers every `reply_every`th
    customer message it is the first to receive, on its own socket."""

    def __init__(self, target: Target, body_size: int, reply_every: int) -> None:
        super().__init__(target, body_size)
        self.reply_every = reply_every
        self.replying = False
        self.received = 0
        self.replies: dict[str, Reply] = {}
        self.reply_tasks: set[asyncio.Task[None]] = set()

    async def read_agent(self, ws: Any) -> None:
        msgs = self.msgs
        async for raw in ws:
            frame = loads(raw)
            kind = frame.get("type")
            if kind == "ack":
                reply = self.replies.get(str(frame.get("client_id")))
                if reply is not None and not reply.acked:
                    reply.acked = now()
                continue
            if kind == "error":
                self.errors["agent:" + str(frame.get("code"))] += 1
                continue
            if kind != "message.created":
                continue
            message: dict[str, Any] = frame.get("message") or {}
            msg = msgs.get(str(message.get("client_id")))
            if msg is None:
                continue
            msg.deliveries += 1
            if msg.delivered:
                continue
            msg.delivered = now()
            conversation_id = int(frame["conversation_id"])
            self.conversation_of.setdefault(msg.customer, conversation_id)
            if msg.acked:
                self.complete(msg, msg.delivered)
            if not self.replying:
                continue
            self.received += 1
            if self.received % self.reply_every == 0:
                task = asyncio.create_task(self.reply(ws, conversation_id))
                self.reply_tasks.add(task)
                task.add_done_callback(self.reply_tasks.discard)

    async def reply(self, ws: Any, conversation_id: int) -> None:
        client_id = f"agent-{uuid.uuid4()}"
        self.replies[client_id] = Reply(now())
        frame = {
            "type": "message",
            "conversation_id": conversation_id,
            "client_id": client_id,
            "body": "Thanks, let me check that for you.",
        }
        try:
            await ws.send(dumps(frame))
        except Exception:  # noqa: BLE001 - a closed socket counts as an error
            self.errors["agent send failed"] += 1

    async def run(self, t0: float, t_end: float, rate: float) -> None:
        self.replying = True
        if rate > 0:
            await self._open_loop(t0, t_end, rate, len(self.customers))


# --------------------------------------------------------------------------
# Webhooks: webhook_intake's signed bodies over raw keep-alive HTTP/1.1


@dataclass
class Post:
    sched: float
    new: bool
    done: float = 0.0
    status: int = 0


class WebhookStream:
    """Open loop: post n is due at t0 + n / rate, whatever came back before."""

    def __init__(
        self,
        platform_name: str,
        bodies: Bodies,
        port: int,
        rate: float,
        connections: int,
        new_share: float,
        known: int,
        seed: int,
    ) -> None:
        self.platform = platform_name
        self.bodies = bodies
        self.port = port
        self.rate = rate
        self.connections = connections
        self.new_share = new_share
        self.known = known
        self.rng = random.Random(seed)
        self.posts: list[Post] = []
        self.queue: asyncio.Queue[tuple[Post, bytes]] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.errors: Counter[str] = Counter()
        self.reconnects = 0  # posts sent again on a new connection (idle one closed)

    async def open(self) -> None:
        conns = [await Connection.open(self.port) for _ in range(self.connections)]
        self.workers = [asyncio.create_task(self.worker(c)) for c in conns]

    async def worker(self, conn: Connection) -> None:
        while True:
            post, request = await self.queue.get()
            # At a low rate a connection may sit idle past the server's
            # keep-alive timeout and be closed: like a platform, open a new
            # one and post again (a redelivered event is stored once anyway).
            for attempt in (1, 2):
                try:
                    post.status = await conn.post(request)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    if attempt == 2:
                        self.errors[type(exc).__name__] += 1
                    else:
                        self.reconnects += 1
                    conn.close()
                    try:
                        conn = await Connection.open(self.port)
                    except OSError:
                        self.errors["reconnect failed"] += 1
                        break
            post.done = now()
            self.queue.task_done()

    async def run(self, t0: float, t_end: float) -> None:
        if self.rate <= 0:
            return
        interval = 1.0 / self.rate
        n = 0
        while True:
            sched = t0 + n * interval
            if sched >= t_end:
                return
            delay = sched - now()
            if delay > 0:
                await asyncio.sleep(delay)
            new = self.known == 0 or self.rng.random() < self.new_share
            request = self.bodies.next(None if new else self.rng.randrange(self.known))
            post = Post(sched, new)
            self.posts.append(post)
            self.queue.put_nowait((post, request))
            n += 1

    async def drain(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.queue.join(), timeout=timeout)
        except TimeoutError:
            self.errors["not answered when the drain ended"] += self.queue.qsize()
        for task in self.workers:
            task.cancel()


# --------------------------------------------------------------------------
# Mail: bursts of new threads through the SMTP listener


@dataclass
class Burst:
    index: int
    start: float  # due time of every mail of the burst
    size: int
    accepted: int = 0
    failed: int = 0
    last_250_s: float | None = None
    p50_s: float | None = None
    relay_target: int = 0  # mail sink recipients once this burst is acknowledged
    last_ack_s: float | None = None  # burst start -> its acknowledgements all at the relay
    errors: dict[str, int] = field(default_factory=dict)


class MailStream:
    def __init__(
        self, smtp_port: int, sink_http: int, clients: int, size: int, every: float
    ) -> None:
        self.smtp_port = smtp_port
        self.sink_http = sink_http
        self.clients = clients
        self.size = size
        self.every = every
        self.load = Load(1, first_contact=True, verified=True)
        self.bursts: list[Burst] = []
        self.relay_base = 0
        self.accepted_total = 0
        self.watchers: list[asyncio.Task[None]] = []

    async def run(self, t0: float, t_end: float) -> None:
        if self.size <= 0 or self.every <= 0:
            return
        self.relay_base = (await platform_sink.counts(self.sink_http))["recipients"]
        tasks = []
        k = 0
        while True:
            start = t0 + (k + 0.5) * self.every
            if start >= t_end:
                break
            await asyncio.sleep(max(0.0, start - now()))
            burst = Burst(k, start, self.size)
            self.bursts.append(burst)
            tasks.append(asyncio.create_task(self.burst(burst)))
            k += 1
        await asyncio.gather(*tasks)

    async def burst(self, burst: Burst) -> None:
        mails = [self.load.mail() for _ in range(burst.size)]
        done: list[float] = []
        errors: Counter[str] = Counter()

        async def client() -> None:
            try:
                session = await SmtpSession.open(self.smtp_port)
            except (OSError, ConnectionError, RuntimeError) as exc:
                errors[f"connect: {exc}"[:80]] += 1
                return
            try:
                while mails:
                    sender, raw = mails.pop()
                    try:
                        await session.send(sender, raw)
                    except RuntimeError as exc:
                        burst.failed += 1
                        errors[str(exc)[:80]] += 1
                        await session.command(b"RSET\r\n", b"250")
                        continue
                    burst.accepted += 1
                    done.append(now() - burst.start)
            except (OSError, ConnectionError, RuntimeError) as exc:
                errors[f"session: {exc}"[:80]] += 1
            finally:
                await session.close()

        try:
            await asyncio.wait_for(
                asyncio.gather(*(client() for _ in range(min(self.clients, burst.size)))),
                timeout=120,
            )
        except TimeoutError:
            errors["burst not done in 120 s"] += 1
        burst.failed = burst.size - burst.accepted  # refused, or never sent
        done.sort()
        if done:
            burst.last_250_s = done[-1]
            burst.p50_s = harness.percentile(done, 50)
        burst.errors = dict(errors)
        # Acknowledgements at the relay: the sink counts recipients (each new
        # sender once); this burst is acknowledged when the count reaches
        # every mail accepted so far (bursts overlap only when one runs late).
        self.accepted_total += burst.accepted
        burst.relay_target = self.relay_base + self.accepted_total
        self.watchers.append(asyncio.create_task(self.watch_relay(burst)))

    async def watch_relay(self, burst: Burst, limit: float = 120.0) -> None:
        while now() - burst.start < limit:
            tally = await platform_sink.counts(self.sink_http)
            if tally["recipients"] >= burst.relay_target:
                burst.last_ack_s = now() - burst.start
                return
            await asyncio.sleep(0.1)

    async def drain(self) -> None:
        await asyncio.gather(*self.watchers)


# --------------------------------------------------------------------------
# CPU and memory of the server, sampled


@dataclass
class Sample:
    t: float  # seconds since the day started
    server_cpu_s: float
    rss_kib: int
    loadgen_cpu_s: float
    machine_busy_s: float


async def sample_until(pid: int, t0: float, t_end: float, every: float, out: list[Sample]) -> None:
    def take() -> None:
        busy, _steal = harness.system_cpu_seconds()
        out.append(
            Sample(
                now() - t0,
                harness.cpu_seconds(pid),
                harness.rss_kib(pid),
                harness.self_cpu_seconds(),
                busy,
            )
        )

    await asyncio.sleep(max(0.0, t0 - now()))
    take()
    k = 1
    while t0 + k * every <= t_end + 1e-6:
        await asyncio.sleep(max(0.0, t0 + k * every - now()))
        take()
        k += 1
    if t_end - (t0 + (k - 1) * every) > 0.5:  # the day's end, when not on a step
        await asyncio.sleep(max(0.0, t_end - now()))
        take()


def slope_mib_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, KiB) points, in MiB per minute."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if not sxx:
        return float("nan")
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return sxy / sxx * 60 / 1024


# --------------------------------------------------------------------------
# The database at the end


class Database:
    """Counts in the server's database: SQLite file or PostgreSQL."""

    def __init__(self, data_dir: Path, url: str | None) -> None:
        self.data_dir = data_dir
        self.url = url

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url is None:
            with sqlite3.connect(self.data_dir / "madoguchi.db") as db:
                return [tuple(r) for r in db.execute(sql).fetchall()]
        import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415

        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def one(self, sql: str) -> int:
        return int((await self.rows(sql))[0][0])

    async def by_client_id(self, inbox_id: int, author_kind: str) -> dict[str, int]:
        rows = await self.rows(
            f"SELECT client_id, count(*) FROM messages WHERE inbox_id = {int(inbox_id)}"  # noqa: S608
            f" AND author_kind = '{author_kind}' AND client_id IS NOT NULL GROUP BY client_id"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def customer_messages(self, inbox_id: int) -> int:
        return await self.one(
            f"SELECT count(*) FROM messages WHERE inbox_id = {int(inbox_id)}"  # noqa: S608
            " AND author_kind = 'customer'"
        )

    async def auto_replies(self, inbox_id: int) -> dict[str, int]:
        """The inbox's outbound automatic replies (greeting, away,
        acknowledgement: no agent writes there in this bench), by delivery status."""
        rows = await self.rows(
            "SELECT delivery_status, count(*) FROM messages"  # noqa: S608
            f" WHERE inbox_id = {int(inbox_id)} AND author_kind = 'system'"
            " AND delivery_status IS NOT NULL GROUP BY delivery_status"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def conversations(self, inbox_id: int) -> int:
        return await self.one(
            f"SELECT count(*) FROM conversations WHERE inbox_id = {int(inbox_id)}"  # noqa: S608
        )


# --------------------------------------------------------------------------
# The day


@dataclass
class Inboxes:
    web: int = 0
    widget_key: str = ""
    telegram: int = 0
    line: int = 0
    email: int = 0


async def setup(api: harness.Api, args: argparse.Namespace) -> tuple[Inboxes, list[int], list[str]]:
    await api.login_admin()
    agent_ids: list[int] = []
    agent_tokens: list[str] = []
    for j in range(args.agents):
        agent_id, token = await api.create_agent(j)
        agent_ids.append(agent_id)
        agent_tokens.append(token)
    inboxes = Inboxes()
    inboxes.web, inboxes.widget_key = await api.create_web_inbox(responders_off=False)
    for name in ("telegram", "line"):
        config = Bodies(name, 0, None).inbox_config()
        inbox = await api.call(
            "POST",
            "/api/v1/inboxes",
            {"name": f"Bench {name}", "channel": name, "mode": "live", "config": config},
        )
        inbox_id = int(inbox["id"])
        setattr(inboxes, name, inbox_id)
        # A shop's hours, as webhook_intake sets them: with them the default
        # responders greet each new chat while open and send the away
        # message while closed (a chat inbox without hours answers nothing).
        await api.call(
            "PUT",
            f"/api/v1/inboxes/{inbox_id}/business-hours",
            {
                "timezone": "Asia/Tokyo",
                "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            },
        )
    email = await api.call(
        "POST",
        "/api/v1/inboxes",
        {"name": "Support", "channel": "email", "config": {"address": ADDRESS}},
    )
    inboxes.email = int(email["id"])
    return inboxes, agent_ids, agent_tokens


def start_sink(name: str, core: int, smtp: bool) -> tuple[harness.ServerProcess, int]:
    http_port = harness.free_port()
    smtp_port = harness.free_port() if smtp else 0
    argv = [sys.executable, str(harness.BENCH_DIR / "platform_sink.py"), "--http", str(http_port)]
    if smtp:
        argv += ["--smtp", str(smtp_port)]
    sink = harness.ServerProcess(name, argv, http_port, core)
    sink.start()
    return sink, smtp_port


def pct_ms(values: list[float], q: float) -> float:
    return harness.percentile(values, q) * 1000 if values else float("nan")


def verdict(ok: bool) -> str:
    return "hit" if ok else "MISS"


async def amain(args: argparse.Namespace) -> int:
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    pinned = harness.pin_self(args.loadgen_core)
    storage = (
        "PostgreSQL (a fresh database)"
        if args.database_url
        else f"SQLite WAL, synchronous={args.sync}"
    )
    print(
        f"compressed day: {args.duration:.0f} s; machine {harness.cpu_count()} CPUs,"
        f" python {platform.python_version()}, load generator {loop_name}"
        f" pinned to core {args.loadgen_core if pinned else 'none'},"
        f" server on core {args.server_core}; {storage}; code {harness.code_version()}",
        flush=True,
    )
    print(
        f"  chat: {args.sockets} widget sockets, {args.chat_rate:g} msgs/s,"
        f" {args.agents} agents replying to 1 in {args.reply_every};"
        f" webhooks: Telegram {args.telegram_rate:g}/s, LINE {args.line_rate:g}/s,"
        f" {args.new_share:.0%} new chats ({args.known_chats} known chats each);"
        f" mail: {args.mail_burst} new threads every {args.mail_every:g} s",
        flush=True,
    )

    chat_sink, _ = start_sink("platform-sink", args.loadgen_core, smtp=False)
    mail_sink, relay_port = start_sink("relay-sink", args.loadgen_core, smtp=True)
    data_dir = harness.new_data_dir("bench-day-")
    database_url = (await harness.new_store(data_dir, args.database_url)).database_url
    env = {
        **platform_sink.sink_env(http_port=chat_sink.port, smtp_port=relay_port),
        "MADOGUCHI_TRUSTED_AUTHSERV_IDS": MX,
    }
    if database_url:
        env["MADOGUCHI_DATABASE_URL"] = database_url
    port, smtp_port = harness.free_port(), harness.free_port()
    server = harness.start_madoguchi(
        port, args.server_core, data_dir, args.sync, env, smtp_port=smtp_port
    )
    api = harness.Api(port)
    chat: ChatDay | None = None
    report: dict[str, Any] = {"args": vars(args)}
    try:
        await chat_sink.wait_ready("/counts")
        await mail_sink.wait_ready("/counts")
        await server.wait_ready(timeout=90)
        inboxes, agent_ids, agent_tokens = await setup(api, args)

        print("setup: widget sessions, sockets, one message each ...", flush=True)
        tokens = await api.create_sessions(inboxes.widget_key, args.sockets)
        chat = ChatDay(
            Target("madoguchi", port, server.pid, tokens, agent_tokens),
            args.body_size,
            args.reply_every,
        )
        await chat.open()
        await chat.warm_up(timeout=180)
        assigned = await assign_round_robin(api, chat, agent_ids)

        print(f"setup: priming {args.known_chats} known chats per platform ...", flush=True)
        telegram_bodies = Bodies("telegram", inboxes.telegram, None)
        line_bodies = Bodies("line", inboxes.line, None)
        await prime(port, telegram_bodies, args.known_chats)
        await prime(port, line_bodies, args.known_chats)
        await platform_sink.wait_for_replies(
            chat_sink.port, 2 * args.known_chats, settle=10.0, limit=120.0
        )
        sink_before = await platform_sink.counts(chat_sink.port)
        db = Database(data_dir, database_url)
        stored_before = {
            name: await db.customer_messages(getattr(inboxes, name))
            for name in ("telegram", "line", "email")
        }
        convs_before = {
            name: await db.conversations(getattr(inboxes, name))
            for name in ("telegram", "line", "email")
        }
        replies_before = {
            name: sum((await db.auto_replies(getattr(inboxes, name))).values())
            for name in ("telegram", "line", "email")
        }
        print(
            f"setup done ({assigned} chat conversations assigned by the bench;"
            f" sink holds {sink_before['recipients']} greeted chats); the day starts",
            flush=True,
        )

        streams = [
            WebhookStream(
                "telegram",
                telegram_bodies,
                port,
                args.telegram_rate,
                args.webhook_connections,
                args.new_share,
                args.known_chats,
                seed=1,
            ),
            WebhookStream(
                "line",
                line_bodies,
                port,
                args.line_rate,
                args.webhook_connections,
                args.new_share,
                args.known_chats,
                seed=2,
            ),
        ]
        for stream in streams:
            await stream.open()
        mail = MailStream(
            smtp_port, mail_sink.port, args.mail_clients, args.mail_burst, args.mail_every
        )
        chat.msgs.clear()
        chat.errors.clear()
        samples: list[Sample] = []
        t0 = now() + 0.2
        t_end = t0 + args.duration
        sampler = asyncio.create_task(
            sample_until(server.pid, t0, t_end, args.sample_every, samples)
        )
        profiler = None
        if args.profile:
            await asyncio.sleep(max(0.0, t0 - now()))
            profiler = harness.start_profiler(server.pid, args.duration, Path(args.profile))
        await asyncio.gather(
            chat.run(t0, t_end, args.chat_rate),
            *(s.run(t0, t_end) for s in streams),
            mail.run(t0, t_end),
        )
        await sampler
        print("load done; draining ...", flush=True)

        # Drain: what was sent in the day gets its answer (bounded).
        deadline = now() + args.drain
        day_msgs = [m for m in chat.msgs.values() if t0 <= m.sched < t_end]
        while now() < deadline and any(not m.acked for m in day_msgs):
            await asyncio.sleep(0.1)
        while now() < deadline and any(not r.acked for r in chat.replies.values()):
            await asyncio.sleep(0.1)
        for stream in streams:
            await stream.drain(max(1.0, deadline - now()))
        await mail.drain()
        chat.replying = False  # the day is over: no new agent replies from here on

        new_200 = {
            s.platform: sum(1 for p in s.posts if p.new and p.status == 200) for s in streams
        }
        expected_replies = sink_before["recipients"] + sum(new_200.values())
        sink_after, waited = await platform_sink.wait_for_replies(
            chat_sink.port, expected_replies, settle=15.0, limit=120.0
        )
        relay_after, relay_waited = await platform_sink.wait_for_replies(
            mail_sink.port, mail.relay_base + mail.accepted_total, settle=15.0, limit=120.0
        )
        # The database first, then the sinks: a reply sent in between counts
        # in both (never in neither), so "late, still queued" is not "lost".
        replies_after = {
            name: await db.auto_replies(getattr(inboxes, name))
            for name in ("telegram", "line", "email")
        }
        sink_after = await platform_sink.counts(chat_sink.port)
        relay_after = await platform_sink.counts(mail_sink.port)
        if profiler is not None:
            profiler.wait(timeout=60)

        def reply_facts(names: tuple[str, ...]) -> tuple[int, int, int]:
            """(stored during the day, still queued, failed) automatic replies."""
            stored = sum(sum(replies_after[n].values()) - replies_before[n] for n in names)
            sent = ("sent", "delivered", "read")
            queued = sum(
                v for n in names for k, v in replies_after[n].items() if k not in (*sent, "failed")
            )
            failed = sum(replies_after[n].get("failed", 0) for n in names)
            return stored, queued, failed

        # ---- integrity, from the database
        stored_chat = await db.by_client_id(inboxes.web, "customer")
        stored_agent = await db.by_client_id(inboxes.web, "agent")
        acked = [cid for cid, m in chat.msgs.items() if m.acked]
        chat_missing = sum(1 for cid in acked if stored_chat.get(cid, 0) == 0)
        chat_twice = sum(1 for cid in acked if stored_chat.get(cid, 0) > 1)
        replies_acked = [cid for cid, r in chat.replies.items() if r.acked]
        agent_missing = sum(1 for cid in replies_acked if stored_agent.get(cid, 0) == 0)
        agent_twice = sum(1 for cid in replies_acked if stored_agent.get(cid, 0) > 1)
        integrity: dict[str, Any] = {
            "chat": {
                "acked": len(acked),
                "missing": chat_missing,
                "twice": chat_twice,
            },
            "agent_replies": {
                "sent": len(chat.replies),
                "acked": len(replies_acked),
                "missing": agent_missing,
                "twice": agent_twice,
            },
        }
        for stream in streams:
            name = stream.platform
            ok = sum(1 for p in stream.posts if p.status == 200)
            stored = await db.customer_messages(getattr(inboxes, name)) - stored_before[name]
            convs = await db.conversations(getattr(inboxes, name)) - convs_before[name]
            integrity[name] = {
                "answered_200": ok,
                "stored": stored,
                "new_chats_200": new_200[name],
                "new_conversations": convs,
            }
        mail_stored = await db.customer_messages(inboxes.email) - stored_before["email"]
        mail_convs = await db.conversations(inboxes.email) - convs_before["email"]
        integrity["mail"] = {
            "accepted_250": mail.accepted_total,
            "stored": mail_stored,
            "new_conversations": mail_convs,
        }
        social = reply_facts(("telegram", "line"))
        integrity["platform_sink"] = {
            "expected_recipients": sum(new_200.values()),
            "replies_stored": social[0],
            "still_queued": social[1],
            "failed": social[2],
            "recipients": sink_after["recipients"] - sink_before["recipients"],
            "requests": sink_after["requests"] - sink_before["requests"],
            "repeated": sink_after["repeated"] - sink_before["repeated"],
            "waited_s": round(waited, 1),
        }
        acks = reply_facts(("email",))
        integrity["relay_sink"] = {
            "expected_recipients": mail.accepted_total,
            "replies_stored": acks[0],
            "still_queued": acks[1],
            "failed": acks[2],
            "recipients": relay_after["recipients"] - mail.relay_base,
            "requests": relay_after["requests"] - mail.relay_base,
            "repeated": relay_after["repeated"],
            "waited_s": round(relay_waited, 1),
        }
        rss_end = harness.rss_kib(server.pid)
    except BaseException:
        print(server.log_tail(40), file=sys.stderr)
        raise
    finally:
        if chat is not None:
            await chat.close()
        await api.close()
        server.stop()
        chat_sink.stop()
        mail_sink.stop()
        if args.keep_data:
            print(f"data kept in {data_dir}")
        else:
            harness.remove_dir(data_dir)

    # ---- figures
    day_msgs = [m for m in chat.msgs.values() if t0 <= m.sched < t_end]
    ack = sorted(m.acked - m.sched for m in day_msgs if m.acked)
    unacked = len(day_msgs) - len(ack)
    slow = sum(1 for v in ack if v > 1.0) + unacked
    lag = sorted(m.sent - m.sched for m in day_msgs)
    reply_lat = sorted(r.acked - r.sent for r in chat.replies.values() if r.acked)
    chat_fig = {
        "sent": len(day_msgs),
        "acked": len(ack),
        "p50_ms": pct_ms(ack, 50),
        "p90_ms": pct_ms(ack, 90),
        "p99_ms": pct_ms(ack, 99),
        "max_ms": (ack[-1] * 1000 if ack else float("nan")),
        "over_1s_share": slow / len(day_msgs) if day_msgs else float("nan"),
        "send_lag_p99_ms": pct_ms(lag, 99),
        "agent_frames_per_msg": (
            sum(m.deliveries for m in day_msgs) / len(day_msgs) if day_msgs else float("nan")
        ),
        "agent_replies": len(chat.replies),
        "agent_reply_ack_p50_ms": pct_ms(reply_lat, 50),
        "agent_reply_ack_p99_ms": pct_ms(reply_lat, 99),
        "errors": dict(chat.errors),
    }
    hooks: dict[str, Any] = {}
    for stream in streams:
        ok_lat = sorted(p.done - p.sched for p in stream.posts if p.status == 200)
        new_lat = sorted(p.done - p.sched for p in stream.posts if p.status == 200 and p.new)
        statuses = Counter(str(p.status) for p in stream.posts)
        hooks[stream.platform] = {
            "offered": len(stream.posts),
            "ok": len(ok_lat),
            "p50_ms": pct_ms(ok_lat, 50),
            "p99_ms": pct_ms(ok_lat, 99),
            "max_ms": ok_lat[-1] * 1000 if ok_lat else float("nan"),
            "new_chat_p99_ms": pct_ms(new_lat, 99),
            "statuses": dict(statuses),
            "reconnects": stream.reconnects,
            "errors": dict(stream.errors),
        }
    windows = []
    step = max(1, round(args.window / args.sample_every))
    for i in range(0, len(samples) - 1, step):
        a, b = samples[i], samples[min(i + step, len(samples) - 1)]
        span = b.t - a.t
        if span <= 0:
            continue
        server_cpu = (b.server_cpu_s - a.server_cpu_s) / span
        loadgen_cpu = (b.loadgen_cpu_s - a.loadgen_cpu_s) / span
        busy = (b.machine_busy_s - a.machine_busy_s) / span
        windows.append(
            {
                "from_s": round(a.t),
                "to_s": round(b.t),
                "server_cpu": server_cpu,
                "loadgen_cpu": loadgen_cpu,
                "other_cpu": max(0.0, busy - server_cpu - loadgen_cpu),
                "rss_mib": b.rss_kib / 1024,
            }
        )
    first, last = samples[0], samples[-1]
    cpu_avg = (last.server_cpu_s - first.server_cpu_s) / (last.t - first.t)
    other_avg = max(
        0.0,
        (last.machine_busy_s - first.machine_busy_s) / (last.t - first.t)
        - cpu_avg
        - (last.loadgen_cpu_s - first.loadgen_cpu_s) / (last.t - first.t),
    )
    warm = args.rss_warmup if args.rss_warmup < args.duration else args.duration / 2
    slope = slope_mib_per_min([(s.t, float(s.rss_kib)) for s in samples if s.t >= warm])
    items = (
        len(ack)
        + sum(1 for r in chat.replies.values() if r.acked)
        + sum(h["ok"] for h in hooks.values())
        + sum(b.accepted for b in mail.bursts)
    )
    resources = {
        "server_cpu_avg": cpu_avg,
        # Server CPU in the day per inbound item stored (chat message, agent
        # reply, webhook, mail): less sensitive to a busy machine than latency.
        "server_cpu_ms_per_item": (
            (last.server_cpu_s - first.server_cpu_s) * 1000 / items if items else float("nan")
        ),
        "other_cpu_avg": other_avg,
        "rss_start_mib": first.rss_kib / 1024,
        "rss_end_mib": last.rss_kib / 1024,
        "rss_after_drain_mib": rss_end / 1024,
        "rss_slope_mib_per_min": slope,
        "rss_slope_from_s": warm,
        "windows": windows,
    }
    report.update(
        chat=chat_fig,
        webhooks=hooks,
        mail=[{**asdict(b), "at_s": b.start - t0} for b in mail.bursts],
        resources=resources,
        integrity=integrity,
    )
    print_report(report)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2, default=str))
    return 0 if integrity_ok(integrity) else 1


def integrity_ok(it: dict[str, Any]) -> bool:
    ok = not any(it[k]["missing"] or it[k]["twice"] for k in ("chat", "agent_replies"))
    for name in ("telegram", "line"):
        ok = ok and it[name]["stored"] == it[name]["answered_200"]
        ok = ok and it[name]["new_conversations"] == it[name]["new_chats_200"]
    ok = ok and it["mail"]["stored"] == it["mail"]["accepted_250"]
    ok = ok and it["mail"]["new_conversations"] == it["mail"]["accepted_250"]
    for sink in ("platform_sink", "relay_sink"):
        x = it[sink]
        # One reply stored per new conversation, none sent twice, none lost:
        # each either reached the sink or is still queued (late, not lost).
        ok = ok and x["replies_stored"] == x["expected_recipients"]
        ok = ok and x["repeated"] == 0 and x["requests"] == x["recipients"]
        ok = ok and x["recipients"] + x["still_queued"] >= x["expected_recipients"]
        ok = ok and x["failed"] == 0
    return bool(ok)


def all_sent(it: dict[str, Any]) -> bool:
    return all(
        it[s]["recipients"] == it[s]["expected_recipients"] for s in ("platform_sink", "relay_sink")
    )


def ms(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def print_report(r: dict[str, Any]) -> None:
    chat, hooks, res, it = r["chat"], r["webhooks"], r["resources"], r["integrity"]
    print()
    print(
        f"chat: {chat['sent']} sent, {chat['acked']} acked; ack p50 {ms(chat['p50_ms'])} ms,"
        f" p90 {ms(chat['p90_ms'])}, p99 {ms(chat['p99_ms'])}, max {ms(chat['max_ms'])};"
        f" {chat['over_1s_share']:.2%} over 1 s (unacked counted);"
        f" send lag p99 {ms(chat['send_lag_p99_ms'])} ms;"
        f" {chat['agent_frames_per_msg']:.2f} message.created frames per message at the agents"
    )
    print(
        f"  agent replies: {chat['agent_replies']}, ack p50"
        f" {ms(chat['agent_reply_ack_p50_ms'])} ms, p99 {ms(chat['agent_reply_ack_p99_ms'])} ms"
        + (f"; errors {chat['errors']}" if chat["errors"] else "")
    )
    for name, h in hooks.items():
        bad = {k: v for k, v in h["statuses"].items() if k != "200"}
        print(
            f"webhooks {name}: {h['ok']}/{h['offered']} answered 200; time to 200 p50"
            f" {ms(h['p50_ms'])} ms, p99 {ms(h['p99_ms'])} ms, max {ms(h['max_ms'])} ms;"
            f" new chats p99 {ms(h['new_chat_p99_ms'])} ms"
            + (f"; not 200: {bad}" if bad else "")
            + (f"; {h['reconnects']} sent again on a new connection" if h["reconnects"] else "")
            + (f"; errors {h['errors']}" if h["errors"] else "")
        )
    print("mail bursts (from the burst's start):")
    print("  #   at s  mails  250s  failed  p50 s  last 250 s  last ack at relay s")
    for b in r["mail"]:
        last = f"{b['last_250_s']:.2f}" if b["last_250_s"] is not None else "-"
        p50 = f"{b['p50_s']:.2f}" if b["p50_s"] is not None else "-"
        relay = f"{b['last_ack_s']:.2f}" if b["last_ack_s"] is not None else "not all"
        print(
            f"  {b['index']:<3} {b['at_s']:>4.0f} {b['size']:>6} {b['accepted']:>5}"
            f" {b['failed']:>7}"
            f" {p50:>6} {last:>11} {relay:>20}" + (f"  {b['errors']}" if b["errors"] else "")
        )
    print(
        f"server CPU: {res['server_cpu_avg']:.0%} of one core on average"
        f" (other processes on the machine: {res['other_cpu_avg']:.0%} of a core);"
        f" {res['server_cpu_ms_per_item']:.2f} ms of server CPU per item stored"
        " (chat message, agent reply, webhook, mail)"
    )
    print("  window      server  loadgen  other   RSS MiB")
    for w in res["windows"]:
        print(
            f"  {w['from_s']:>4}-{w['to_s']:<4}  {w['server_cpu']:>6.0%} {w['loadgen_cpu']:>8.0%}"
            f" {w['other_cpu']:>6.0%} {w['rss_mib']:>9.1f}"
        )
    print(
        f"RSS: {res['rss_start_mib']:.1f} -> {res['rss_end_mib']:.1f} MiB"
        f" ({res['rss_after_drain_mib']:.1f} after the drain);"
        f" slope from {res['rss_slope_from_s']:.0f} s: {res['rss_slope_mib_per_min']:+.2f} MiB/min"
    )
    print("integrity (database and sinks at the end):")
    print(
        f"  chat: {it['chat']['acked']} acked, {it['chat']['missing']} missing,"
        f" {it['chat']['twice']} stored twice; agent replies: {it['agent_replies']['acked']}"
        f" acked of {it['agent_replies']['sent']}, {it['agent_replies']['missing']} missing,"
        f" {it['agent_replies']['twice']} twice"
    )
    for name in ("telegram", "line"):
        x = it[name]
        print(
            f"  {name}: {x['answered_200']} answered 200, {x['stored']} stored;"
            f" {x['new_chats_200']} new chats, {x['new_conversations']} new conversations"
        )
    m = it["mail"]
    print(
        f"  mail: {m['accepted_250']} accepted, {m['stored']} stored,"
        f" {m['new_conversations']} new conversations"
    )
    for sink, what in (("platform_sink", "greetings/away"), ("relay_sink", "acknowledgements")):
        s = it[sink]
        print(
            f"  {what}: {s['replies_stored']} stored for {s['expected_recipients']} new"
            f" conversations; at the sink {s['recipients']} recipients, {s['requests']} requests,"
            f" {s['repeated']} repeated ({s['waited_s']} s after the day);"
            f" {s['still_queued']} still queued, {s['failed']} failed"
        )
    print(
        f"  exactly once: {'yes' if integrity_ok(it) else 'NO'};"
        f" every automatic reply sent by the end: {'yes' if all_sent(it) else 'NO (late)'}"
    )

    bursts = r["mail"]
    last_250 = [b["last_250_s"] for b in bursts]
    relay_ok = all(
        b["last_ack_s"] is not None
        and b["last_250_s"] is not None
        and b["last_ack_s"] - b["last_250_s"] <= RELAY_AFTER_BURST_S
        for b in bursts
    )
    worst_250 = max((v for v in last_250 if v is not None), default=float("nan"))
    burst_ok = bool(bursts) and all(
        v is not None and v <= BURST_LAST_250_S and b["failed"] == 0
        for v, b in zip(last_250, bursts, strict=True)
    )
    hook_p99 = max((h["p99_ms"] for h in hooks.values()), default=float("nan"))
    rows = [
        ("chat ack p50 <= 50 ms", f"{ms(chat['p50_ms'])} ms", chat["p50_ms"] <= CHAT_P50_MS),
        ("chat ack p99 <= 250 ms", f"{ms(chat['p99_ms'])} ms", chat["p99_ms"] <= CHAT_P99_MS),
        (
            "chat acks > 1 s < 0.1 %",
            f"{chat['over_1s_share']:.2%}",
            chat["over_1s_share"] < CHAT_SLOW_SHARE,
        ),
        ("webhooks p99 <= 250 ms (worst)", f"{ms(hook_p99)} ms", hook_p99 <= WEBHOOK_P99_MS),
        ("each burst's last 250 within 2 s", f"worst {worst_250:.2f} s", burst_ok),
        ("burst acks at relay <= 10 s after", "see bursts", relay_ok and bool(bursts)),
        (
            "server core <= 60 % on average",
            f"{res['server_cpu_avg']:.0%}",
            res["server_cpu_avg"] <= CORE_AVERAGE,
        ),
        (
            f"memory flat (|slope| < {RSS_FLAT_MIB_PER_MIN:g} MiB/min)",
            f"{res['rss_slope_mib_per_min']:+.2f} MiB/min",
            abs(res["rss_slope_mib_per_min"]) < RSS_FLAT_MIB_PER_MIN,
        ),
        ("nothing lost or stored/sent twice", "", integrity_ok(it)),
    ]
    print()
    print("targets (issue 32):")
    if res["other_cpu_avg"] > BUSY_MACHINE:
        print(
            f"  (the machine was busy: other processes took {res['other_cpu_avg']:.0%} of a core"
            " on average, so the server did not have its core to itself; its latencies and"
            " CPU share are not its own: rerun on a quiet machine for the headline figures)"
        )
    for what, figure, ok in rows:
        print(f"  {what:<40} {figure:>18}   {verdict(ok)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the day")
    parser.add_argument("--sockets", type=int, default=1000, help="widget sockets")
    parser.add_argument("--chat-rate", type=float, default=100.0, help="customer msgs/s in all")
    parser.add_argument("--agents", type=int, default=10, help="agent sockets")
    parser.add_argument(
        "--reply-every", type=int, default=5, help="agents answer 1 in N customer messages"
    )
    parser.add_argument("--body-size", type=int, default=64, help="chat message bytes")
    parser.add_argument("--telegram-rate", type=float, default=50.0, help="webhooks/s")
    parser.add_argument("--line-rate", type=float, default=10.0, help="webhooks/s")
    parser.add_argument(
        "--new-share", type=float, default=0.3, help="share of webhooks from new chats"
    )
    parser.add_argument(
        "--known-chats", type=int, default=200, help="chats per platform primed before the day"
    )
    parser.add_argument(
        "--webhook-connections", type=int, default=40, help="keep-alive connections per platform"
    )
    parser.add_argument("--mail-burst", type=int, default=100, help="new-thread mails per burst")
    parser.add_argument("--mail-every", type=float, default=30.0, help="seconds between bursts")
    parser.add_argument("--mail-clients", type=int, default=10, help="SMTP sessions per burst")
    parser.add_argument("--sample-every", type=float, default=5.0, help="CPU/RSS sample seconds")
    parser.add_argument("--window", type=float, default=30.0, help="CPU/RSS report window")
    parser.add_argument(
        "--rss-warmup", type=float, default=60.0, help="RSS slope from this second on"
    )
    parser.add_argument(
        "--drain", type=float, default=30.0, help="seconds to wait for answers after the day"
    )
    parser.add_argument("--sync", default="NORMAL", choices=("OFF", "NORMAL", "FULL"))
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (a fresh database is made on it) instead of SQLite,"
        " e.g. postgresql+asyncpg://USER@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    parser.add_argument("--profile", default="", help="py-spy raw profile of the whole day")
    parser.add_argument("--json-out", default="", help="write the figures as JSON here")
    parser.add_argument("--keep-data", action="store_true", help="keep the server's data dir")
    args = parser.parse_args(argv)
    if args.duration > 900 or args.drain > 120 or args.reply_every < 1:
        parser.error("keep runs bounded: --duration <= 900, --drain <= 120; --reply-every >= 1")
    if not 0.0 <= args.new_share <= 1.0:
        parser.error("--new-share is a share, 0..1")
    return args


def main() -> None:
    args = parse_args()
    harness.raise_nofile(args.sockets + 4 * args.webhook_connections + 2048)
    harness.install_event_loop()
    raise SystemExit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
