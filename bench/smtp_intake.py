"""SMTP intake: mails per second parsed, threaded and stored, and the time to 250.

Concurrent SMTP clients (a minimal client on asyncio streams, on loopback)
send realistic mail to one email inbox of a Madoguchi server on the
embedded default: plain-text and
multipart mails of about 2 KB from a pool of senders, a quarter of them
replies that thread into an earlier mail of the same sender. Each client
keeps its connection for many mails, as an MTA does. A mail counts when the
server said 250, which it says only after the commit.

Senders (`--senders`):
  new (the headline): every mail is a new thread from a sender never seen
      before, so each creates a customer, an identity and a conversation, and
      the inbox's default acknowledgement is queued with it. The outbound
      relay (MADOGUCHI_SMTP_RELAY) is a local aiosmtpd sink
      (bench/platform_sink.py): at the end the bench waits for the
      acknowledgements and counts how many reached it, and whether any came
      twice.
  known: from one of `--pool` senders, a quarter of them replies into an
      earlier mail of the same sender (the earlier figures).

In the same run, the same load goes to a bare aiosmtpd listener that stores
nothing and answers 250 at once: the ceiling of the SMTP layer on this
machine. The server runs on one core, the load generator (and the sink) on
the other.

    python bench/smtp_intake.py                # both targets, new senders
    python bench/smtp_intake.py --senders known
    python bench/smtp_intake.py --baseline none --clients 64
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import platform_sink  # noqa: E402 - the bench's own folder, on the path above
from harness import (  # noqa: E402 - the bench's own folder, on the path above
    HOST,
    Api,
    ServerProcess,
    code_version,
    cpu_seconds,
    free_port,
    install_event_loop,
    new_data_dir,
    new_store,
    percentile,
    pin_self,
    remove_dir,
    start_madoguchi,
    start_profiler,
)

ADDRESS = "support@shop.example"
# The MX in front of the listener, whose Authentication-Results the server
# believes (MADOGUCHI_TRUSTED_AUTHSERV_IDS): with `--verified` every mail
# carries its DMARC pass, as mail from a real provider through a real MX does.
MX = "mx.bench.test"


def _serve_bare(port: int) -> None:
    """The baseline: aiosmtpd with a handler that keeps nothing."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Bare:
        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            return "250 OK"

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Bare(), hostname="bare.test", loop=loop), HOST, port
        )
        async with server:
            await server.serve_forever()

    asyncio.run(run())


_BODY = (
    "Hello,\r\n\r\nmy order {order} has not arrived yet. "
    + ("Could you please check where it is? " * 4 + "\r\n") * 10
    + "\r\n\r\nThanks,\r\nCustomer {sender}\r\n"
)


@dataclass
class Load:
    """Mail as an MTA hands it over (CRLF), written as text: building each
    with the email package would cost the load generator more than the
    servers spend on it."""

    senders: int
    sent_ids: dict[int, list[str]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    # Every mail from a sender never seen before (a new thread each).
    first_contact: bool = False
    # Each mail says the MX verified its sender (DMARC pass).
    verified: bool = False
    count: int = 0

    def mail(self) -> tuple[str, bytes]:
        self.count += 1
        sender = 1_000_000 + self.count if self.first_contact else self.rng.randrange(self.senders)
        address = f"customer{sender}@example.com"
        mid = f"{uuid.uuid4().hex}@example.com"
        head = [
            *(
                [f"Authentication-Results: {MX}; dmarc=pass header.from=example.com"]
                if self.verified
                else []
            ),
            f"From: Customer {sender} <{address}>",
            f"To: {ADDRESS}",
            f"Date: Mon, 16 Nov 2026 09:{sender % 60:02d}:00 +0000",
            f"Message-ID: <{mid}>",
            "MIME-Version: 1.0",
        ]
        earlier = self.sent_ids.get(sender)
        if earlier and self.rng.random() < 0.25:
            head.append("Subject: Re: My order")
            head.append(f"In-Reply-To: <{earlier[-1]}>")
            head.append("References: " + " ".join(f"<{i}>" for i in earlier[-5:]))
        else:
            head.append("Subject: My order")
        body = _BODY.format(order=self.rng.randrange(10**6), sender=sender)
        if self.rng.random() < 0.3:
            head.append('Content-Type: multipart/alternative; boundary="alt"')
            text = (
                "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                f"{body}\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                f"<p>{body}</p>\r\n--alt--\r\n"
            )
        else:
            head.append("Content-Type: text/plain; charset=utf-8")
            text = body
        self.sent_ids.setdefault(sender, []).append(mid)
        return address, ("\r\n".join(head) + "\r\n\r\n" + text).encode()


@dataclass
class Result:
    name: str
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0


class SmtpSession:
    """A minimal SMTP client on asyncio streams: the load generator must cost
    less than the servers it measures (aiosmtplib costs ~4 ms a mail here)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> SmtpSession:
        reader, writer = await asyncio.open_connection(HOST, port)
        session = cls(reader, writer)
        await session.expect(b"220")
        await session.command(b"EHLO loadgen.test\r\n", b"250")
        return session

    async def expect(self, code: bytes) -> None:
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line[3:4] != b"-":
                if not line.startswith(code):
                    raise RuntimeError(line.decode(errors="replace").strip())
                return

    async def command(self, line: bytes, code: bytes) -> None:
        self.writer.write(line)
        await self.expect(code)

    async def send(self, sender: str, raw: bytes) -> None:
        await self.command(f"MAIL FROM:<{sender}>\r\n".encode(), b"250")
        await self.command(f"RCPT TO:<{ADDRESS}>\r\n".encode(), b"250")
        await self.command(b"DATA\r\n", b"354")
        # The mail is CRLF already and no line starts with a dot.
        await self.command(raw + b".\r\n", b"250")

    async def close(self) -> None:
        try:
            await self.command(b"QUIT\r\n", b"221")
        finally:
            self.writer.close()


async def _client(
    port: int, load: Load, per_connection: int, stop_at: float, measure_from: float, result: Result
) -> None:
    while time.monotonic() < stop_at:
        try:
            session = await SmtpSession.open(port)
        except OSError:
            result.failed += 1
            await asyncio.sleep(0.1)
            continue
        try:
            for _ in range(per_connection):
                if time.monotonic() >= stop_at:
                    break
                sender, raw = load.mail()
                started = time.monotonic()
                try:
                    await session.send(sender, raw)
                except RuntimeError:
                    if started >= measure_from:
                        result.failed += 1
                    await session.command(b"RSET\r\n", b"250")
                    continue
                if started >= measure_from:
                    result.ok += 1
                    result.latencies.append(time.monotonic() - started)
            await session.close()
        except (OSError, ConnectionError, RuntimeError):
            result.failed += 1


async def _drive(
    name: str,
    server: ServerProcess,
    smtp_port: int,
    args: argparse.Namespace,
    profile: Path | None = None,
) -> Result:
    load = Load(args.pool, first_contact=args.senders == "new", verified=args.verified)
    result = Result(name)
    start = time.monotonic()
    measure_from = start + args.warm
    stop_at = measure_from + args.duration
    cpu_before: float | None = None

    async def sample_cpu() -> None:
        nonlocal cpu_before
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        if profile is not None:
            start_profiler(server.pid, args.duration, profile)
        cpu_before = cpu_seconds(server.pid)

    sampler = asyncio.create_task(sample_cpu())
    await asyncio.gather(
        *(
            _client(smtp_port, load, args.per_connection, stop_at, measure_from, result)
            for _ in range(args.clients)
        )
    )
    await sampler
    result.seconds = time.monotonic() - measure_from
    if cpu_before is not None:
        result.server_cpu = (cpu_seconds(server.pid) - cpu_before) / result.seconds
    return result


def _report(result: Result) -> str:
    lat = sorted(result.latencies)
    rate = result.ok / result.seconds if result.seconds else 0.0

    def ms(q: float) -> str:
        return f"{percentile(lat, q) * 1000:7.1f}" if lat else "      -"

    # harness.percentile takes q in 0..100 (0.5 here read the fastest mail).
    per_mail = result.server_cpu * 1000 / rate if rate else float("nan")
    return (
        f"| {result.name:<28} | {rate:9.0f} | {ms(50)} | {ms(90)} | {ms(99)} |"
        f" {(lat[-1] * 1000 if lat else 0):7.1f} | {result.failed:6d} | {result.server_cpu:5.0%} |"
        f" {per_mail:6.2f} |"
    )


async def _stored(api: Api) -> int:
    response = await api.http.get("/metrics")
    for line in response.text.splitlines():
        if line.startswith("madoguchi_messages_stored_total"):
            return int(float(line.split()[-1]))
    return -1


async def amain(args: argparse.Namespace) -> int:
    loop_name = install_event_loop()
    pinned = pin_self(args.loadgen_core)
    print(f"code: {code_version()}; load generator: {loop_name}, pinned={pinned}")
    print(
        f"{args.clients} SMTP clients, {args.per_connection} mails per connection,"
        f" {args.senders} senders ({'verified' if args.verified else 'unverified'}),"
        f" {args.warm:.0f} s warm-up + {args.duration:.0f} s measured;"
        + (
            " Madoguchi on PostgreSQL"
            if args.database_url
            else f" Madoguchi on the embedded default, MADOGUCHI_SQLITE_SYNCHRONOUS={args.sync}"
        )
    )
    results: list[Result] = []
    store = await new_store(new_data_dir("bench-smtp-"), args.database_url)
    data_dir = store.data_dir
    sink_http, sink_smtp = free_port(), free_port()
    sink = ServerProcess(
        "mail-sink",
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "platform_sink.py"),
            "--http",
            str(sink_http),
            "--smtp",
            str(sink_smtp),
        ],
        sink_http,
        args.loadgen_core,
    )
    sink.start()
    await sink.wait_ready("/counts")
    tally: dict[str, int] = {}
    waited = 0.0
    facts: dict[str, int] = {}
    try:
        http_port, smtp_port = free_port(), free_port()
        server = start_madoguchi(
            http_port,
            args.server_core,
            data_dir,
            args.sync,
            {
                **platform_sink.sink_env(smtp_port=sink_smtp),
                "MADOGUCHI_TRUSTED_AUTHSERV_IDS": MX,
                **store.server_env(),
            },
            smtp_port=smtp_port,
        )
        try:
            await server.wait_ready()
            api = Api(http_port)
            await api.login_admin()
            await api.call(
                "POST",
                "/api/v1/inboxes",
                {"name": "Support", "channel": "email", "config": {"address": ADDRESS}},
            )
            before = await _stored(api)
            result = await _drive(
                "Madoguchi (stored, threaded)", server, smtp_port, args, args.profile
            )
            stored = await _stored(api) - before
            results.append(result)
            print(
                f"Madoguchi stored {stored} messages (warm-up included); answered 250 to",
                f"{result.ok} measured mails, refused {result.failed}",
            )
            if args.senders == "new":
                # Each new thread queued one acknowledgement.
                facts = await store.first_contact_counts()
                tally, waited = await platform_sink.wait_for_replies(
                    sink_http, facts["conversations"], settle=30.0, limit=240.0
                )
                facts = await store.first_contact_counts()
            await api.close()
        finally:
            server.stop()
            sink.stop()
        if args.baseline == "bare":
            bare_port = free_port()
            bare = ServerProcess(
                "bare-aiosmtpd",
                [sys.executable, __file__, "--serve-bare", str(bare_port)],
                bare_port,
                args.server_core,
            )
            bare.start()
            try:
                for _ in range(100):
                    try:
                        _, writer = await asyncio.open_connection(HOST, bare_port)
                        writer.close()
                        break
                    except OSError:
                        await asyncio.sleep(0.1)
                results.append(
                    await _drive("bare aiosmtpd (stores nothing)", bare, bare_port, args)
                )
            finally:
                bare.stop()
    finally:
        if not args.keep_data:
            remove_dir(data_dir)
    print()
    print(
        "| target | mails/s | p50 ms | p90 ms | p99 ms | max ms | failed | server CPU"
        " | CPU ms/mail |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        print(_report(result))
    if len(results) == 2 and results[1].ok:
        ratio = (results[0].ok / results[0].seconds) / (results[1].ok / results[1].seconds)
        per = [r.server_cpu * r.seconds / r.ok if r.ok else float("nan") for r in results]
        print(
            f"\nratio Madoguchi / bare aiosmtpd: {ratio:.3f} of the mails/s;"
            f" server CPU per mail {per[0] / per[1]:.1f}x"
        )
    if args.senders == "new":
        twice = "none twice" if not tally.get("repeated") else f"{tally['repeated']} TWICE"
        print(
            f"first contact: {facts.get('customers', 0)} customers,"
            f" {facts.get('conversations', 0)} conversations,"
            f" {facts.get('replies', 0)} acknowledgements stored;"
            f" relay sink got {tally.get('requests', 0)} mails for"
            f" {tally.get('recipients', 0)} senders ({twice}), {waited:.1f} s after the run"
        )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent SMTP connections")
    parser.add_argument("--per-connection", type=int, default=50, help="mails per connection")
    parser.add_argument(
        "--senders",
        choices=("new", "known"),
        default="new",
        help="new: every mail a new thread from a new sender (the headline); known: --pool",
    )
    parser.add_argument("--pool", type=int, default=500, help="distinct senders, with known")
    parser.add_argument(
        "--verified",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mails carry the trusted MX's DMARC pass; unverified senders get at most"
        " 10 automatic replies per domain and hour (anti-backscatter), so the"
        " acknowledgements are counted only with it",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warm", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--sync", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument(
        "--database-url",
        default=None,
        help="run Madoguchi on a fresh database on this PostgreSQL server"
        " (postgresql+asyncpg://USER@HOST:PORT/ANY) instead of the embedded SQLite",
    )
    parser.add_argument("--baseline", default="bare", choices=["bare", "none"])
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument(
        "--profile", type=Path, help="py-spy raw profile of Madoguchi's measured window"
    )
    parser.add_argument("--serve-bare", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.serve_bare:
        _serve_bare(args.serve_bare)
        return
    raise SystemExit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
