"""What contacts add to the runtime: the mail that follows a widget reply the
customer did not read."""

from __future__ import annotations

from datetime import timedelta

from app.contacts import chat_link
from app.contacts.follow_up import FOLLOW_UP, MailUnreadReplies
from app.runtime import Runtime
from app.worker.runner import WORKER


def install(runtime: Runtime) -> None:
    settings = runtime.settings
    runtime[WORKER].register(
        FOLLOW_UP,
        MailUnreadReplies(
            runtime.db,
            runtime.channels,
            public_url=settings.public_url,
            link_secret=chat_link.server_secret(settings),
            link_lifetime=timedelta(hours=settings.chat_link_hours),
        ),
    )
