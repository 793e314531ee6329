"""The domain events, their bus (in memory or over Redis) and publish-after-commit.

The ground floor: storage and every domain publish here; only the edges
(realtime, the wiring) subscribe to render frames."""
