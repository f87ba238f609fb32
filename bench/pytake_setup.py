"""Prepares PyTake's bench database: creates it if missing, migrates, and makes a tenant with
``--agents`` agents (one user per socket, as in a real team) and one supervisor. Prints one JSON
line: the tenant id and the path of a file with one fresh access token per agent."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.common import setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--tokens", required=True)
    args = parser.parse_args()
    setup_django(os.environ["DATABASE_URL"])
    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import RefreshToken

    from conversations.models import Role, Tenant, User

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    unusable = make_password(None)
    have = set(User.objects.filter(tenant=tenant, role=Role.AGENT).values_list("email", flat=True))
    User.objects.bulk_create(
        [
            User(email=f"agent{i}@bench.invalid", name=f"Agent {i}", tenant=tenant, role=Role.AGENT, password=unusable)
            for i in range(args.agents)
            if f"agent{i}@bench.invalid" not in have
        ]
    )
    User.objects.get_or_create(
        email="supervisor@bench.invalid",
        defaults={"tenant": tenant, "role": Role.SUPERVISOR, "name": "Bench Supervisor", "password": unusable},
    )
    agents = User.objects.filter(
        tenant=tenant, role=Role.AGENT, email__in=[f"agent{i}@bench.invalid" for i in range(args.agents)]
    )
    tokens = [str(RefreshToken.for_user(user).access_token) for user in agents]
    Path(args.tokens).write_text("\n".join(tokens) + "\n")
    print(json.dumps({"event": "setup", "tenant": tenant.pk, "agents": len(tokens), "tokens": args.tokens}), flush=True)


if __name__ == "__main__":
    main()
