"""A local stand-in for the platforms' send APIs and an SMTP relay, for benches
that let the server's automatic replies leave: every reply lands here, is
answered as the platform answers a success, and is counted by recipient, so
the bench can say at the end how many replies arrived and whether any arrived
twice.

    python bench/platform_sink.py --http PORT     # Telegram, LINE, Meta
    python bench/platform_sink.py --smtp PORT     # an SMTP relay (aiosmtpd)

Either way `GET /counts` on the HTTP port (for the SMTP sink: `--http` given
too) answers {"requests": n, "recipients": n, "repeated": n}. Point the server
at it with `sink_env(http_port, smtp_port)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from typing import Any

HOST = "127.0.0.1"


def sink_env(http_port: int | None = None, smtp_port: int | None = None) -> dict[str, str]:
    """The server's settings that send its replies here instead of the platforms."""
    env: dict[str, str] = {}
    if http_port:
        base = f"http://{HOST}:{http_port}"
        env["MADOGUCHI_TELEGRAM_API_BASE"] = base
        env["MADOGUCHI_LINE_API_BASE"] = base
        env["MADOGUCHI_GRAPH_API_BASE"] = base
    if smtp_port:
        env["MADOGUCHI_SMTP_RELAY"] = f"smtp://{HOST}:{smtp_port}"
    return env


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.by_recipient: Counter[str] = Counter()

    def add(self, recipient: str) -> None:
        self.requests += 1
        self.by_recipient[recipient] += 1

    def counts(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "recipients": len(self.by_recipient),
            "repeated": sum(1 for n in self.by_recipient.values() if n > 1),
        }


def _recipient(path: str, body: dict[str, Any]) -> str:
    if "chat_id" in body:  # Telegram sendMessage
        return f"telegram:{body['chat_id']}"
    if "replyToken" in body:  # LINE reply
        return f"line-reply:{body['replyToken']}"
    if isinstance(body.get("to"), str):  # LINE push, WhatsApp
        return f"to:{body['to']}"
    recipient = body.get("recipient")
    if isinstance(recipient, dict):  # Messenger, Instagram
        return f"meta:{recipient.get('id') or recipient.get('comment_id')}"
    return f"other:{path}"


def _answer(path: str, n: int) -> bytes:
    if "/sendMessage" in path:
        return json.dumps({"ok": True, "result": {"message_id": n}}).encode()
    if path.startswith("/v2/bot/message"):
        return json.dumps({"sentMessages": [{"id": str(n), "quoteToken": "q"}]}).encode()
    if path.endswith("/me/messages"):
        return json.dumps({"recipient_id": "r", "message_id": f"m_sink{n}"}).encode()
    whatsapp = {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.S{n}"}]}
    return json.dumps(whatsapp).encode()


async def _http(tally: Tally, port: int) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                raw = await reader.readexactly(length) if length else b""
                if method == "GET" and path == "/counts":
                    out = json.dumps(tally.counts()).encode()
                else:
                    try:
                        body = json.loads(raw) if raw else {}
                    except ValueError:
                        body = {}
                    tally.add(_recipient(path, body if isinstance(body, dict) else {}))
                    out = _answer(path, tally.requests)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(out)}\r\n\r\n".encode()
                    + out
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, HOST, port, backlog=1024)


async def _smtp(tally: Tally, port: int) -> Any:
    from aiosmtpd.smtp import SMTP, Envelope, Session  # noqa: PLC0415

    class Counting:
        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            for rcpt in envelope.rcpt_tos:
                tally.add(f"mail:{rcpt.lower()}")
            return "250 OK"

    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(Counting(), hostname="sink.test", loop=loop), HOST, port
    )


async def serve(http_port: int | None, smtp_port: int | None) -> None:
    tally = Tally()
    servers = []
    if smtp_port:
        servers.append(await _smtp(tally, smtp_port))
    if http_port:
        servers.append(await _http(tally, http_port))
    await asyncio.gather(*(s.serve_forever() for s in servers))


async def counts(http_port: int) -> dict[str, int]:
    """The sink's tally, over its HTTP port."""
    reader, writer = await asyncio.open_connection(HOST, http_port)
    writer.write(b"GET /counts HTTP/1.1\r\nhost: sink\r\ncontent-length: 0\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    body = await reader.readexactly(length)
    writer.close()
    result: dict[str, int] = json.loads(body)
    return result


async def wait_for_replies(
    http_port: int, expected: int, *, settle: float = 2.0, limit: float = 120.0
) -> tuple[dict[str, int], float]:
    """Polls the sink until `expected` recipients got a reply, or nothing new
    arrived for `settle` seconds (bounded by `limit`); returns the tally and
    the seconds waited."""
    loop = asyncio.get_running_loop()
    start = last_change = loop.time()
    seen = -1
    while True:
        tally = await counts(http_port)
        t = loop.time()
        if tally["requests"] != seen:
            seen, last_change = tally["requests"], t
        if tally["recipients"] >= expected or t - last_change > settle or t - start > limit:
            return tally, t - start
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, default=0)
    parser.add_argument("--smtp", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.http or None, args.smtp or None))


if __name__ == "__main__":
    main()
