"""Who is acting: a role and, for merchants, customers and staff, whose id."""

from __future__ import annotations

from dataclasses import dataclass

from bnpl.domain.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    role: str  # admin | merchant | customer | provider | system
    subject_id: int | None = None

    def __str__(self) -> str:
        return self.role if self.subject_id is None else f"{self.role}:{self.subject_id}"

    def require(self, *roles: str) -> None:
        if self.role not in roles and self.role != "admin":
            raise Forbidden(f"{self.role} may not do this")


SYSTEM = Actor("system")
ADMIN = Actor("admin")
