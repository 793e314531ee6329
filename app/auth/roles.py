from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def includes(self, other: Role) -> bool:
        """admin ⊃ supervisor ⊃ agent."""
        return self.rank >= other.rank


_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
