"""The answer timeout asks whether the customer was answered, not where: a
reply in another of the customer's conversations (by mail, say) answers
their chat too, and it is not reassigned for "no answer"."""

from __future__ import annotations

import contextlib

from tests.harness import Api
from tests.routing.helpers import Team, assigned_to, assignee_of, console, customer

# Long enough for one reply after the assignment on a loaded machine.
ANSWER_SECONDS = 5


async def test_a_reply_on_another_channel_counts_as_an_answer(api: Api) -> None:
    team = Team(api)
    chat_inbox = await team.inbox(answer_timeout_seconds=ANSWER_SECONDS, sticky_seconds=0)
    other_inbox = await team.inbox(sticky_seconds=0)
    sam = await team.agent(capacity=1, name="Sam")
    lee = await team.agent(capacity=1, name="Lee")
    async with contextlib.AsyncExitStack() as stack:
        chat = await customer(api, stack, chat_inbox, "Where is my order?")
        # The same customer wrote on another channel too (known as one person).
        elsewhere = await customer(api, stack, other_inbox, "I also sent a mail")
        r = await api.http.post(
            f"/api/v1/customers/{chat.session['customer_id']}/merge",
            json={"other_customer_id": elsewhere.session["customer_id"]},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
        sam_desk = await console(api, stack, sam)
        await assigned_to(sam_desk, chat.conversation_id, sam["id"])
        # Sam answers them there, at once.
        r = await api.http.post(
            f"/api/v1/conversations/{elsewhere.conversation_id}/messages",
            json={"body": "Your order ships today."},
            headers=api.auth(sam["token"]),
        )
        assert r.status_code == 201, r.text
        # A chat Lee takes after and never answers: its timeout, due after
        # the first chat's, takes it back from Lee.
        unanswered = await customer(api, stack, chat_inbox, "Hello?")
        lee_desk = await console(api, stack, lee)
        await assigned_to(lee_desk, unanswered.conversation_id, lee["id"])
        await assigned_to(lee_desk, unanswered.conversation_id, None)
        # The first chat's time ran out too, and it stays Sam's: answered.
        assert await assignee_of(api, chat.conversation_id) == sam["id"]
