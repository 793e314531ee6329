"""Fuzzing the REST API from its own OpenAPI schema: no request gets a 5xx.

Schemathesis generates requests from `/openapi.json`, valid ones and invalid
ones (NUL bytes included), first per operation and then as stateful sequences
whose links it infers from the path parameters (an inbox's `id` feeds
`/inboxes/{inbox_id}`, and so on). The only check is `not_a_server_error`:
the responses declare no schema, and the priority is that bad input is a 4xx.

Runs on both databases: PostgreSQL is where 32-bit ids and NUL bytes bite,
SQLite where integers past 64 bits do. Seeded (`derandomize`), no shrinking
and bounded example counts keep it reproducible and around a minute a run on
two cores. The server is its own, since fuzzing fills it with agents and inboxes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky, FlakyStrategyDefinition, Unsatisfiable
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from tests.conftest import StartServer
from tests.harness import Api

EXAMPLES_PER_MODE = 25
# Each login is a deliberately slow password hash.
SLOW_EXAMPLES = {"POST /api/v1/auth/token": 8}
# These end the caller's own session, so they run on a throwaway agent's token
# per operation and stay out of the stateful sequences.
SELF_ENDING = {"POST /api/v1/auth/logout", "PUT /api/v1/agents/me/password"}
# An admin's changes to agents may end any session, the fuzzing admin's own
# included (id 1 is the first id tried): they are fuzzed on their own, last.
AGENT_CHANGES = {"PATCH /api/v1/agents/{agent_id}", "POST /api/v1/agents/{agent_id}/password"}
STATEFUL_SCENARIOS = 30
STATEFUL_STEPS = 10


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        # A failure is reported with the request that caused it; shrinking it
        # would cost minutes of requests against a live server.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


class Fuzz:
    """The server, seeded with rows the generated ids can hit, and its tokens."""

    def __init__(self, api: Api, widget_token: str, throwaway_token: str) -> None:
        self.api = api
        self.admin = api.auth(api.admin_token)
        self.widget = api.auth(widget_token)
        self.throwaway = api.auth(throwaway_token)
        # Every 5xx, recorded as it happens: Hypothesis may end a run on other
        # grounds (see _run) before it reports a failure.
        self.server_errors: list[str] = []

    def call(self, case: Case) -> None:
        self.check(case, case.call(headers=self.headers_for(case)))

    def check(self, case: Case, response: Response) -> None:
        if response.status_code >= 500:
            self.server_errors.append(
                f"{case.operation.label}: {response.status_code}\n{case.as_curl_command()}"
            )
        case.validate_response(response, checks=[not_a_server_error])

    def headers_for(self, case: Case) -> dict[str, str]:
        if case.operation.label in SELF_ENDING:
            return self.throwaway
        if case.operation.path.startswith("/api/v1/widget/conversations"):
            return self.widget
        return self.admin

    def schema(self) -> Any:
        return schemathesis.openapi.from_url(f"{self.api.server.url}/openapi.json")


@pytest.fixture(scope="module")
async def fuzz(start_server: StartServer) -> Fuzz:
    api = await start_server()
    inbox = await api.create_inbox(teams=["sales"])
    await api.create_agent(teams=["sales"])
    throwaway = await api.create_agent(role="admin")
    session: dict[str, Any] = {}
    for n in range(3):
        session = await api.new_session(inbox, name=f"Customer {n}")
        async with api.widget(session["session_token"]) as widget:
            await widget.send({"type": "message", "client_id": f"seed-{n}", "body": "hello"})
            await widget.expect("ack")
    return Fuzz(api, session["session_token"], throwaway["token"])


def _run(run: Callable[[], None], label: str) -> list[str]:
    """Runs one Hypothesis test; what went wrong, other than the 5xx that Fuzz.check recorded."""
    try:
        run()
    except Unsatisfiable:
        pass  # nothing to vary, e.g. a negative case for an operation without input
    except FailureGroup:
        pass  # not_a_server_error failed: the 5xx is in Fuzz.server_errors
    except Flaky as exc:
        # The live server's state steers generation (a bundle filled by an
        # earlier scenario, a list that grew), so a replay may draw otherwise.
        # Only a failure that did not reproduce is worth reporting.
        if not isinstance(exc, FlakyStrategyDefinition):
            return [f"{label}:\n{exc}"]
    except Exception as exc:  # noqa: BLE001 - the fuzzing itself broke: say how
        return [f"{label}:\n{exc!r}"]
    return []


def _fuzz_operations(fuzz: Fuzz, *, agent_changes: bool = False) -> list[str]:
    failures: list[str] = []
    operations = [
        op
        for op in (result.ok() for result in fuzz.schema().get_all_operations())
        if (op.label in AGENT_CHANGES) == agent_changes
    ]
    # The self-ending ones last, so a logout cannot cut the others short.
    operations.sort(key=lambda op: op.label in SELF_ENDING)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            examples = SLOW_EXAMPLES.get(operation.label, EXAMPLES_PER_MODE)

            @_settings(examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Case) -> None:
                fuzz.call(case)

            failures += _run(run, f"{operation.label} ({mode.value})")
    return failures


def _fuzz_sequences(fuzz: Fuzz) -> list[str]:
    schema = fuzz.schema()
    for label in SELF_ENDING | AGENT_CHANGES:
        method, path = label.split(" ")
        schema = schema.exclude(method=method, path=path)
    machine = schema.as_state_machine()

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": fuzz.headers_for(case)}

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            fuzz.check(case, response)

    config = settings(_settings(STATEFUL_SCENARIOS), stateful_step_count=STATEFUL_STEPS)
    return _run(lambda: Sequences.run(settings=config), "stateful sequences")


async def test_no_operation_answers_a_server_error(fuzz: Fuzz) -> None:
    fuzz.server_errors.clear()
    failures = await asyncio.to_thread(_fuzz_operations, fuzz)
    assert not fuzz.server_errors, "\n\n".join(fuzz.server_errors)
    assert not failures, "\n\n".join(failures)


async def test_no_sequence_of_operations_answers_a_server_error(fuzz: Fuzz) -> None:
    fuzz.server_errors.clear()
    failures = await asyncio.to_thread(_fuzz_sequences, fuzz)
    assert not fuzz.server_errors, "\n\n".join(fuzz.server_errors)
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in fuzz.api.server.log_text()


async def test_no_change_to_agents_answers_a_server_error(fuzz: Fuzz) -> None:
    fuzz.server_errors.clear()
    failures = await asyncio.to_thread(_fuzz_operations, fuzz, agent_changes=True)
    assert not fuzz.server_errors, "\n\n".join(fuzz.server_errors)
    assert not failures, "\n\n".join(failures)
