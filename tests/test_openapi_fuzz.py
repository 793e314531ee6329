"""Fuzzing the REST API from its own OpenAPI schema: the server answers as
the schema says, and no request gets a 5xx.

The schema's truth: schemathesis's `st run` with every check (status codes,
content types, response bodies and headers, bad input refused and good input
accepted, auth not ignored, deleted things gone, unsupported methods a 405
with its `Allow`, ...) through its coverage, fuzzing and stateful phases, as
an admin, as a plain agent and, on the widget's routes, as a widget session:
it authenticates per operation from the schema's `securitySchemes`. These
runs are on SQLite only: what they judge is the schema against the
answers, the same on both stores, and a run is minutes on two cores; what
differs by store (32-bit ids, NUL bytes) is the no-5xx runs' business, below.

Schemathesis generates requests from `/openapi.json`, valid ones and invalid
ones (NUL bytes included), first per operation and then as stateful sequences
whose links it infers from the path parameters (an inbox's `id` feeds
`/inboxes/{inbox_id}`, and so on). The only check is `not_a_server_error`:
the responses declare no schema, and the priority is that bad input is a 4xx.

A second run fuzzes as a plain `agent`: besides no 5xx, every operation a
route gates behind `Admin` or `Supervisor` (app/auth/dependencies.py, read
from the routes themselves) answers it 403 (or 400/422 for a body refused
before any dependency ran), and no answer to it carries an inbox's secret or
an admin's token.

Runs on both databases: PostgreSQL is where 32-bit ids and NUL bytes bite,
SQLite where integers past 64 bits do. Seeded (`derandomize`), no shrinking
and bounded example counts keep it reproducible and around a minute a run on
two cores. The server is its own, since fuzzing fills it with agents and inboxes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import schemathesis
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky, FlakyStrategyDefinition, Unsatisfiable
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from app.auth.dependencies import Admin, Supervisor
from app.config import Settings
from app.main import create_app
from tests.conftest import StartServer
from tests.harness import Api, base_database_url

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
# The plain agent's run: a few valid calls of each gated operation, then
# sequences; a few hundred requests in all, as the suite's time is shared.
AGENT_EXAMPLES_PER_GATED = 4
AGENT_STATEFUL_SCENARIOS = 15
# What a gated operation may answer a plain agent: refused, or its body
# refused before the role dependency ran (FastAPI parses JSON first).
REFUSED_TO_AGENTS = {403, 400, 422}
# Secrets the fuzzing inbox holds: no answer to the plain agent may carry one.
BOT_TOKEN = "fuzz-bot-token-4b1f9a"
SECRET_TOKEN = "fuzz-secret-token-7c2e"


def gated_operations() -> frozenset[str]:
    """`METHOD path` of every route that depends on the Admin or Supervisor role,
    as the routes declare it (any depth of dependencies)."""
    gates = {get_args(Admin)[1].dependency, get_args(Supervisor)[1].dependency}

    def gated(dependant: Dependant) -> bool:
        return any(sub.call in gates or gated(sub) for sub in dependant.dependencies)

    def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
        # FastAPI keeps an included router as a route of its own that holds it.
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif isinstance(getattr(route, "original_router", None), APIRouter):
                yield from api_routes(route.original_router.routes)

    app = create_app(Settings()).app
    return frozenset(
        f"{method} {route.path_format}"
        for route in api_routes(app.routes)
        if gated(route.dependant)
        for method in route.methods
    )


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
        # The caller of every other operation: the admin, or a plain agent.
        self.caller = self.admin
        # Set for the plain agent's run: the gated operations it must be refused.
        self.gated: frozenset[str] | None = None
        # What no answer to the caller may contain.
        self.secrets: tuple[str, ...] = ()
        # Every 5xx, recorded as it happens: Hypothesis may end a run on other
        # grounds (see _run) before it reports a failure. The same for every
        # gated operation not refused, and every secret let out.
        self.server_errors: list[str] = []
        self.role_failures: list[str] = []

    def as_plain_agent(self, agent_token: str, throwaway_token: str) -> None:
        self.caller = self.api.auth(agent_token)
        self.throwaway = self.api.auth(throwaway_token)
        self.gated = gated_operations()
        self.secrets = (BOT_TOKEN, SECRET_TOKEN, self.api.admin_token)

    def call(self, case: Case) -> None:
        self.check(case, case.call(headers=self.headers_for(case)))

    def check(self, case: Case, response: Response) -> None:
        if response.status_code >= 500:
            self.server_errors.append(
                f"{case.operation.label}: {response.status_code}\n{case.as_curl_command()}"
            )
        if self.gated is not None:
            self.check_role(case, response)
        case.validate_response(response, checks=[not_a_server_error])

    def check_role(self, case: Case, response: Response) -> None:
        label = case.operation.label
        what = ""
        if label in (self.gated or ()) and response.status_code not in REFUSED_TO_AGENTS:
            what = f"a plain agent got {response.status_code} from a gated operation"
        elif any(secret in response.text for secret in self.secrets):
            what = "a secret in an answer to a plain agent"
        if what:
            self.role_failures.append(f"{label}: {what}\n{case.as_curl_command()}")

    def headers_for(self, case: Case) -> dict[str, str]:
        if case.operation.label in SELF_ENDING:
            return self.throwaway
        if case.operation.path.startswith("/api/v1/widget/conversations"):
            return self.widget
        return self.caller

    def schema(self) -> Any:
        schema = schemathesis.openapi.from_url(f"{self.api.server.url}/openapi.json")
        # The schema declares its bearer schemes: generated Authorization
        # headers would replace the caller's token (`headers_for`).
        schema.config.generation.update(with_security_parameters=False)
        return schema


async def _seeded(start_server: StartServer) -> Fuzz:
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


@pytest.fixture(scope="module")
async def fuzz(start_module_server: StartServer) -> Fuzz:
    return await _seeded(start_module_server)


@pytest.fixture(scope="module")
async def agent_fuzz(start_module_server: StartServer) -> Fuzz:
    """A server of its own: the admin's runs may end the admin's session and
    change any agent's role, the plain agent's included."""
    fuzz = await _seeded(start_module_server)
    api = fuzz.api
    # An inbox with secrets, in the plain agent's team: readable, never its secrets.
    r = await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": "Bot",
            "channel": "telegram",
            "config": {"bot_token": BOT_TOKEN, "secret_token": SECRET_TOKEN},
            "teams": ["sales"],
        },
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    agent = await api.create_agent(role="agent", teams=["sales"])
    throwaway = await api.create_agent(role="agent")
    fuzz.as_plain_agent(agent["token"], throwaway["token"])
    return fuzz


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


def _fuzz_operations(
    fuzz: Fuzz,
    *,
    agent_changes: bool | None = False,
    only: frozenset[str] | None = None,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    examples_per_mode: int = EXAMPLES_PER_MODE,
) -> list[str]:
    """`agent_changes`: those only (True), none of them (False), or either (None);
    `only`: these operations' labels only."""
    failures: list[str] = []
    operations = [
        op
        for op in (result.ok() for result in fuzz.schema().get_all_operations())
        if (agent_changes is None or (op.label in AGENT_CHANGES) == agent_changes)
        and (only is None or op.label in only)
    ]
    # The self-ending ones last, so a logout cannot cut the others short.
    operations.sort(key=lambda op: op.label in SELF_ENDING)
    for operation in operations:
        for mode in modes:
            examples = min(SLOW_EXAMPLES.get(operation.label, examples_per_mode), examples_per_mode)

            @_settings(examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Case) -> None:
                fuzz.call(case)

            failures += _run(run, f"{operation.label} ({mode.value})")
    return failures


def _fuzz_sequences(
    fuzz: Fuzz, *, scenarios: int = STATEFUL_SCENARIOS, excluded: frozenset[str] | None = None
) -> list[str]:
    schema = fuzz.schema()
    for label in SELF_ENDING | AGENT_CHANGES if excluded is None else excluded:
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

    config = settings(_settings(scenarios), stateful_step_count=STATEFUL_STEPS)
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


async def test_a_plain_agent_is_refused_what_its_role_does_not_allow(agent_fuzz: Fuzz) -> None:
    """The gated operations first (a few valid calls each, so every one is
    tried), then sequences; changes to agents are in both, as a refused one
    changes nothing."""
    fuzz = agent_fuzz
    assert fuzz.gated is not None
    assert "POST /api/v1/inboxes" in fuzz.gated
    assert "GET /api/v1/conversations" not in fuzz.gated
    # Labels as the schema's own, so none is missed for a spelling.
    schema_labels = {op.ok().label for op in fuzz.schema().get_all_operations()}
    assert fuzz.gated <= schema_labels, fuzz.gated - schema_labels
    failures = await asyncio.to_thread(
        _fuzz_operations,
        fuzz,
        agent_changes=None,
        only=fuzz.gated,
        modes=(GenerationMode.POSITIVE,),
        examples_per_mode=AGENT_EXAMPLES_PER_GATED,
    )
    failures += await asyncio.to_thread(
        _fuzz_sequences, fuzz, scenarios=AGENT_STATEFUL_SCENARIOS, excluded=SELF_ENDING
    )
    assert not fuzz.role_failures, "\n\n".join(fuzz.role_failures)
    assert not fuzz.server_errors, "\n\n".join(fuzz.server_errors)
    assert not failures, "\n\n".join(failures)
    assert "Traceback" not in fuzz.api.server.log_text()
    # Nothing legitimate was lost: the agent still reads its team's inboxes.
    r = await fuzz.api.http.get("/api/v1/inboxes", headers=fuzz.caller)
    assert r.status_code == 200, r.text
    assert "Bot" in [i["name"] for i in r.json()["items"]]


# -- the schema's truth: `st run --checks all` --------------------------------

ST = str(Path(sys.executable).with_name("st"))
ST_EXAMPLES = 10
ST_SEED = 1
# A rule JSON Schema cannot say, per operation: each states its rule in its
# schema's descriptions and answers 422 when broken, which the check that
# schema-valid input is accepted cannot know. Run with every other check.
NOT_SAYABLE: dict[str, tuple[str, str]] = {
    # Which channels exist is the registry's (plug-ins add kinds), and each
    # channel's config has rules of its own.
    "POST /api/v1/inboxes": ("positive_data_acceptance", "channel and config per registry"),
    # Whether a zone name or a country's holiday calendar exists.
    "PUT /api/v1/inboxes/{inbox_id}/business-hours": (
        "positive_data_acceptance",
        "zone and holiday calendar must exist",
    ),
    # Whether the conversation is open and the team serves its inbox.
    "POST /api/v1/conversations/{conversation_id}/escalate": (
        "positive_data_acceptance",
        "the conversation's state and inbox decide",
    ),
    # `from` before `to`: a rule across two parameters.
    "GET /api/v1/reports/agents": ("positive_data_acceptance", "from before to"),
    "GET /api/v1/reports/summary": ("positive_data_acceptance", "from before to"),
    "GET /api/v1/reports/timeseries": ("positive_data_acceptance", "from before to"),
    "GET /api/v1/reports/timeseries.csv": ("positive_data_acceptance", "from before to"),
    # Whether the agent serves the conversation's inbox (its teams).
    "POST /api/v1/conversations/{conversation_id}/assign": (
        "positive_data_acceptance",
        "the agent must serve the inbox",
    ),
    "POST /api/v1/conversations/{conversation_id}/transfer": (
        "positive_data_acceptance",
        "the agent or team must serve the inbox",
    ),
    # The path's id against the body's.
    "POST /api/v1/customers/{customer_id}/merge": ("positive_data_acceptance", "not into itself"),
    # The customer's state and the inbox's channel.
    "POST /api/v1/customers/{customer_id}/conversations": (
        "positive_data_acceptance",
        "the customer's state and the inbox's channel decide",
    ),
    # A file's kind is read from its first bytes.
    "POST /api/v1/conversations/{conversation_id}/attachments": (
        "positive_data_acceptance",
        "the file's kind is read from its bytes",
    ),
    "POST /api/v1/widget/attachments": (
        "positive_data_acceptance",
        "the file's kind is read from its bytes",
    ),
}


def _toml(value: object) -> str:
    return json.dumps(value)


def _st_config(path: Path, agent_token: str, widget_token: str) -> Path:
    lines = [
        "[auth.openapi.agentToken]",
        f"bearer = {_toml(agent_token)}",
        "[auth.openapi.widgetSession]",
        f"bearer = {_toml(widget_token)}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _st_run(
    fuzz: Fuzz,
    workdir: Path,
    *,
    agent_token: str,
    include: str | None = None,
    exclude: str | None = None,
    phases: str = "coverage,fuzzing,stateful",
    exclude_checks: str | None = None,
) -> tuple[int, str]:
    """`st run --checks all` against the fuzzing server; its exit status and report."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = _st_config(
        workdir / "schemathesis.toml",
        agent_token,
        fuzz.widget["authorization"].removeprefix("Bearer "),
    )
    command = [
        ST,
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{fuzz.api.server.url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        phases,
        "--max-examples",
        str(ST_EXAMPLES),
        "--seed",
        str(ST_SEED),
        "--no-shrink",
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--output-truncate",
        "true",
    ]
    # `st run --checks all` overrides a config file's per-operation checks.
    if exclude_checks is not None:
        command += ["--exclude-checks", exclude_checks]
    # One regex each: `st run` keeps only the last of a repeated filter.
    if include is not None:
        command += ["--include-path-regex", include]
    if exclude is not None:
        command += ["--exclude-path-regex", exclude]
    done = subprocess.run(  # noqa: S603 - our own command line
        command,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _labels_regex(labels: Iterable[str]) -> str:
    paths = sorted({label.split(" ")[1] for label in labels})
    return "^(" + "|".join(path.replace("{", r"\{").replace("}", r"\}") for path in paths) + ")$"


only_sqlite = pytest.mark.skipif(
    base_database_url() is not None,
    reason="the schema's truth is the same on both stores: judged on SQLite (see the docstring)",
)


@pytest.fixture(scope="module")
async def truth_fuzz(start_module_server: StartServer) -> Fuzz:
    return await _seeded(start_module_server)


@only_sqlite
async def test_every_answer_is_what_the_schema_says(truth_fuzz: Fuzz, tmp_path: Path) -> None:
    """As an admin (a widget session on the widget's routes); the operations
    that end their caller's session on a throwaway admin's token; the changes
    to agents last, as they may end the admin's own session."""
    fuzz = truth_fuzz
    token = fuzz.admin["authorization"].removeprefix("Bearer ")
    status, report = await asyncio.to_thread(
        _st_run,
        fuzz,
        tmp_path / "admin",
        agent_token=token,
        exclude=_labels_regex(AGENT_CHANGES | SELF_ENDING | NOT_SAYABLE.keys()),
    )
    assert status == 0, report
    status, report = await asyncio.to_thread(
        _st_run,
        fuzz,
        tmp_path / "not-sayable",
        agent_token=token,
        include=_labels_regex(NOT_SAYABLE),
        phases="coverage,fuzzing",
        exclude_checks="positive_data_acceptance",
    )
    assert status == 0, report
    # The run was the admin's throughout: its token still works.
    assert (await fuzz.api.http.get("/api/v1/agents/me", headers=fuzz.admin)).is_success
    status, report = await asyncio.to_thread(
        _st_run,
        fuzz,
        tmp_path / "self-ending",
        agent_token=fuzz.throwaway["authorization"].removeprefix("Bearer "),
        include=_labels_regex(SELF_ENDING),
        phases="coverage,fuzzing",
    )
    assert status == 0, report
    status, report = await asyncio.to_thread(
        _st_run,
        fuzz,
        tmp_path / "agent-changes",
        agent_token=token,
        include=_labels_regex(AGENT_CHANGES),
        phases="coverage,fuzzing",
    )
    assert status == 0, report
    assert "Traceback" not in fuzz.api.server.log_text()


@only_sqlite
async def test_every_answer_to_a_plain_agent_is_what_the_schema_says(
    agent_fuzz: Fuzz, tmp_path: Path
) -> None:
    fuzz = agent_fuzz
    status, report = await asyncio.to_thread(
        _st_run,
        fuzz,
        tmp_path / "agent",
        agent_token=fuzz.caller["authorization"].removeprefix("Bearer "),
        # The rules not sayable in JSON Schema are the admin run's to check.
        exclude=_labels_regex(SELF_ENDING | NOT_SAYABLE.keys()),
        phases="coverage,fuzzing",
    )
    assert status == 0, report
    assert (await fuzz.api.http.get("/api/v1/agents/me", headers=fuzz.caller)).is_success
