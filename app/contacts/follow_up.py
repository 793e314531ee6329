"""A widget customer who left gets the agent's reply by email.

Every agent reply in a web conversation carries a `widget_follow_up` job due
after MADOGUCHI_WIDGET_EMAIL_FOLLOW_UP_SECONDS. When it runs, a reply the
customer has read (the widget's `read`) is left alone, and so is one followed
by a later reply (that reply's own job sends them together). Otherwise every
unread reply not mailed before goes out in one mail from the first live email
inbox to the customer's verified address, else the one they gave in the
pre-chat form. The mail is part of the customer's history (a conversation of
the email inbox, kept resolved until they answer it).

Only mail to a verified address carries a signed link back to the chat
(app/contacts/chat_link.py): that address is the customer's. An address
merely typed into the widget may be anyone's: it first gets a request to
confirm it, with nothing of the chat in it (app/contacts/email_confirmation.py),
and the replies only once it is confirmed, still without a link into the chat
(whoever reads it must not be let in, nor the chat's customer into theirs).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.registry import ChannelRegistry
from app.contacts import chat_link, email_confirmation
from app.contacts.identities import email_key
from app.contacts.outreach import Recipient, send_on_channel
from app.conversations.service import FOLLOW_UP
from app.db import Database
from app.kit.clock import clock
from app.models import Conversation, Customer, Inbox, Message

log = logging.getLogger(__name__)

__all__ = ["FOLLOW_UP", "MailUnreadReplies"]


class MailUnreadReplies:
    """The `widget_follow_up` job's handler."""

    def __init__(
        self,
        db: Database,
        channels: ChannelRegistry,
        *,
        public_url: str | None,
        link_secret: str,
        link_lifetime: timedelta,
    ) -> None:
        self.db = db
        self.channels = channels
        self.public_url = public_url
        self.link_secret = link_secret
        self.link_lifetime = link_lifetime

    async def run(self, payload: dict[str, Any]) -> None:
        conversation_id = int(payload["conversation_id"])
        message_id = int(payload["message_id"])
        async with self.db.write() as session:
            conversation = (
                await session.execute(
                    select(Conversation).where(Conversation.id == conversation_id).with_for_update()
                )
            ).scalar_one_or_none()
            message = await session.get(Message, message_id)
            if conversation is None or message is None:
                return
            read_up_to = max(conversation.customer_last_read_seq, conversation.customer_emailed_seq)
            if read_up_to >= message.seq:
                return  # read in the widget, or mailed with an earlier reply
            unread = list(
                (
                    await session.execute(
                        select(Message)
                        .where(
                            Message.conversation_id == conversation.id,
                            Message.author_kind == "agent",
                            Message.private.is_(False),
                            Message.seq > read_up_to,
                        )
                        .order_by(Message.seq)
                    )
                ).scalars()
            )
            if unread and unread[-1].seq > message.seq:
                return  # a later reply's job mails them together
            customer = await session.get(Customer, conversation.customer_id)
            web_inbox = await session.get(Inbox, conversation.inbox_id)
            if customer is None or web_inbox is None or customer.erased_at is not None:
                return
            address = customer.email or customer.claimed_email
            if not address:
                return
            verified = customer.email is not None
            mail_inbox = (
                await session.execute(
                    select(Inbox)
                    .where(Inbox.channel == "email", Inbox.mode == "live")
                    .order_by(Inbox.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if mail_inbox is None:
                log.info(
                    "no live email inbox: follow-up of conversation %s not sent", conversation.id
                )
                return
            if not verified:
                standing = await email_confirmation.standing(
                    session, customer.id, address, clock.now()
                )
                if standing == "pending":
                    return  # the replies wait for the answer
                if standing == "none":
                    await self._ask(session, mail_inbox, web_inbox, customer, address)
                    return
            await send_on_channel(
                session,
                self.channels,
                inbox=mail_inbox,
                customer=customer,
                recipient=Recipient(
                    external_id=email_key(address), email=address, name=customer.name
                ),
                body=self._text(web_inbox, customer.id, unread, verified=verified),
                author=None,
                author_name=unread[-1].author_name or web_inbox.name,
                subject=f"Your chat with {web_inbox.name}",
            )
            conversation.customer_emailed_seq = unread[-1].seq

    def _text(
        self, web_inbox: Inbox, customer_id: int, replies: list[Message], *, verified: bool
    ) -> str:
        lines = [f"{m.author_name or web_inbox.name}: {m.body}" for m in replies]
        text = "You have a reply to your chat:\n\n" + "\n\n".join(lines)
        if not verified:
            return text + (
                f"\n\nYou confirmed this address for replies to your chat with {web_inbox.name}."
                " This mail carries no link into the chat: to continue, go back to the chat"
                " on the device where you started it, or answer this mail."
            )
        if self.public_url and web_inbox.widget_key:
            token = chat_link.sign(self.link_secret, customer_id, clock.now(), self.link_lifetime)
            text += (
                f"\n\nContinue the chat: {self.public_url.rstrip('/')}/chat/"
                f"{web_inbox.widget_key}?link={token}"
            )
        return text

    async def _ask(
        self,
        session: AsyncSession,
        mail_inbox: Inbox,
        web_inbox: Inbox,
        customer: Customer,
        address: str,
    ) -> None:
        """Asks a typed-in address whether it wants the chat's replies. The
        mail repeats nothing the visitor typed (not even their name): the
        reader may be a stranger whose address was typed in."""
        if not self.public_url:
            log.info("no MADOGUCHI_PUBLIC_URL: cannot ask customer %s to confirm", customer.id)
            return
        token = await email_confirmation.new_request(session, customer.id, address, clock.now())
        if token is None:
            log.info("confirmation of customer %s's address not sent: asked enough", customer.id)
            return
        url = f"{self.public_url.rstrip('/')}/email/confirm/{token}"
        _, message = await send_on_channel(
            session,
            self.channels,
            inbox=mail_inbox,
            customer=customer,
            recipient=Recipient(external_id=email_key(address), email=address, name=None),
            body=(
                f"Someone chatting with {web_inbox.name} gave this address to get the"
                f" answers by mail. If that was you, confirm it here:\n\n{url}\n\n"
                "If it was not you, ignore this mail: nothing more will be sent to you."
            ),
            author=None,
            author_name=web_inbox.name,
            subject=f"Confirm your address for {web_inbox.name}",
        )
        # The outbox then leaves out the name the visitor typed, too.
        message.meta = {**(message.meta or {}), "unverified_recipient": address}

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning(
            "follow-up mail for conversation %s not sent: %s", payload.get("conversation_id"), error
        )
