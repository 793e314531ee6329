"""Prometheus metrics read from the live runtime at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.agents.presence import PRESENCE
from app.conversations.writer import MESSAGE_WRITER
from app.realtime.hub import HUB
from app.routing.router import ROUTER
from app.runtime import Runtime


class RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        rt = self.runtime
        stored = CounterMetricFamily(
            "madoguchi_messages_stored", "Messages committed by this process's writer"
        )
        stored.add_metric([], rt[MESSAGE_WRITER].messages)
        yield stored
        batches = CounterMetricFamily(
            "madoguchi_message_batches", "Group commits made by this process's writer"
        )
        batches.add_metric([], rt[MESSAGE_WRITER].batches)
        yield batches
        sockets = GaugeMetricFamily("madoguchi_websockets", "Open WebSockets", labels=["kind"])
        sockets.add_metric(["widget"], rt[HUB].customer_connection_count())
        sockets.add_metric(["agent"], rt[HUB].agent_connection_count())
        yield sockets
        online = GaugeMetricFamily("madoguchi_agents_online", "Agents online in this process")
        online.add_metric([], len(rt[PRESENCE].online_agent_ids()))
        yield online
        router = rt[ROUTER]
        waiting = GaugeMetricFamily("madoguchi_queue_waiting", "Conversations waiting for an agent")
        waiting.add_metric([], router.waiting)
        yield waiting
        assigned = CounterMetricFamily(
            "madoguchi_routing_assignments", "Conversations this process's router assigned"
        )
        assigned.add_metric([], router.assignments)
        yield assigned
        timeouts = CounterMetricFamily(
            "madoguchi_routing_answer_timeouts",
            "Assignments moved on because the agent did not answer in time",
        )
        timeouts.add_metric([], router.answer_timeouts)
        yield timeouts
        limits = GaugeMetricFamily(
            "madoguchi_shared_limits_degraded",
            "1 while Redis is unreachable and each process enforces its share of the rate limits",
        )
        limits.add_metric([], 1 if rt.limits.degraded else 0)
        yield limits


def install_metrics(registry: CollectorRegistry, runtime: Runtime) -> None:
    registry.register(RuntimeCollector(runtime))
