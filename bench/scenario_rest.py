"""REST at scale (issue 7, scenario 5): ``python -m bench.scenario_rest [--quick] [--reseed]``.

Seeds PostgreSQL database ``pytake_bench_rest`` with one large tenant (100,000 conversations and
1,000,000 messages; ``--quick``: 10,000 and 100,000) and a second tenant a fifth of its size, so
every query's tenant filter has rows to skip. The data follows what the services write: most
conversations resolved (last message the internal "resolved" system note), some open, pending,
waiting in the queue (with their queue ticket) or with the bot, a few with thousands of messages;
conversation counters (last message time and preview, unread count, customer window, event seq)
are derived from the messages themselves. Seeding is done in SQL (``COPY`` and
``INSERT ... SELECT generate_series``) and reused by later runs until the sizes change or
``--reseed``. Quick and full seeds share the database: switching between them reseeds (about
10 s and 70 s here); ``--seed-only`` seeds and stops.

Then: the SQL query count of each endpoint at page sizes 10, 50 and 100 (in process, through
DRF's test client: it must not grow with the page), ``EXPLAIN ANALYZE`` of every query, and the
load run: PyTake as production runs it (``python -m realtime.serve``) pinned to the server core,
the httpx client (``bench.rest_client``) pinned to the other, each endpoint at concurrency 1 and 8
after a warm-up.
Any non-200 answer fails the run; a run whose client used more than 90 % of its core is refused.

Output: ``var/bench/rest.json`` and ``rest.png``, a Markdown table on stdout. Runs with
``--quick``, ``--only`` or ``--extra-sql`` (an index to try) write to ``var/bench/rest-trials/``
instead, with a timestamp in the name.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.common import (
    CLIENT_CORE,
    PYTHON,
    ROOT,
    SERVER_CORE,
    Proc,
    command_line,
    free_port,
    new_log_dir,
    number_list,
    setup_django,
    stop_on_sigterm,
    wait_port,
)
from bench.report import machine, markdown_table, progress, pyplot, save_figure
from bench.run import pytake_env
from bench.targets import pytake_server_argv

DATABASE_URL = os.environ.get("BENCH_REST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pytake_bench_rest")
REDIS_URL = os.environ.get("BENCH_REST_REDIS_URL", "redis://127.0.0.1:6379/9")
OUT_DIR = ROOT / "var" / "bench"  # git-ignored; docs/bench/ keeps summaries (bench.summary)
SEED_VERSION = 1
P99_TARGET_MS = 50.0
CLIENT_LIMIT = 0.90
PAGE_SIZES = (10, 50, 100)
CONCURRENCIES = (1, 8)

# Message counts of the few very long conversations of the main tenant (all the measuring
# agent's: four still open). --quick divides them by ten, like the totals.
HUGE = (20_000, 15_000, 12_000, 10_000, 10_000, 8_000, 8_000, 7_000, 5_000, 5_000)
MIN_MESSAGES = 5  # first inbound, bot reply, assignment note, an exchange, resolution note

# What agents look for: a common word (thousands of matches), a rare one, two words, a number,
# a word no message has. (Contact names are added for the supervisor.)
SEARCH_TERMS = ["refund", "coupon WELCOME10", "48213", "subscription cancel", "tracking", "zzyzx"]

TEXTS_IN = [
    "Hi, I ordered a pair of running shoes last week and the tracking has not moved since Monday.",
    "Good morning! Can I change the delivery address of order 48213?",
    "The package arrived but one item is missing, what should I do?",
    "Do you have this jacket in size M? The site says out of stock.",
    "I was charged twice for the same purchase, please check.",
    "Thanks, that worked!",
    "How long does a refund usually take to show on my card?",
    "Is the store on Main Street open on Sunday?",
    "I'd like to cancel my subscription, how do I do that?",
    "Can you send me the invoice with my company tax number?",
    "ok",
    "The coupon WELCOME10 is not accepted at checkout.",
]
TEXTS_OUT = [
    "Hello! I'm checking your order now, one moment please.",
    "I've updated the address; you'll get a new confirmation by e-mail.",
    "Sorry about that. I've opened a claim with the carrier and will update you within 24 hours.",
    "Yes, size M is back in stock on Friday. Shall I reserve one for you?",
    "I can see the double charge; the second one has been voided and will disappear in 3-5 days.",
    "You're welcome! Is there anything else I can help with?",
    "Refunds take 5 to 10 business days depending on your bank.",
    "Yes, Sundays from 10am to 4pm.",
    "Done: your subscription ends at the end of the current period, no further charges.",
    "Here is the invoice with your tax number attached.",
    "Could you send me the order number, please?",
    "The coupon is valid from 100 onwards; your cart is 92. Want me to apply a 10% code instead?",
]
BOT_TEXT = "Hi! I'm the virtual assistant. Tell me what you need, or type 'agent' to talk to a person."


def server_env() -> dict[str, str]:
    """What the server and this process run with: the bench settings of ``bench.run``, this
    scenario's database and Redis db, and a user throttle high enough never to answer 429."""
    return {
        **pytake_env(),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "PYTAKE_DATA_DIR": str(ROOT / "var" / "bench-rest"),
        "PYTAKE_USER_THROTTLE": "100000000/min",
        # The default (60) keeps each request's connection open after the request under ASGI: every
        # request runs in a thread of its own, so connections pile up until "too many clients".
        "DATABASE_CONN_MAX_AGE": os.environ.get("BENCH_REST_CONN_MAX_AGE", "0"),
        "PYTAKE_CHANNEL_LAYER": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "PYTAKE_CHANNEL_PREFIX": "bench-rest",
        "PYTAKE_PRESENCE_PREFIX": "bench-rest-presence",
    }


# --- seeding --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    email_domain: str
    conversations: int
    messages: int
    agents: int
    huge: tuple[int, ...]


def tenant_specs(quick: bool) -> list[TenantSpec]:
    scale = 10 if quick else 1
    return [
        TenantSpec(
            "bench", "Bench", "rest.bench.invalid", 100_000 // scale, 1_000_000 // scale, 20,
            tuple(n // scale for n in HUGE),
        ),
        TenantSpec(
            "bench-other", "Bench (other tenant)", "other.bench.invalid", 20_000 // scale, 200_000 // scale, 5,
            tuple(n // scale for n in HUGE[:2]),
        ),
    ]  # fmt: skip


@dataclass
class PlanRow:
    """One conversation to seed; its messages are generated in SQL from ``n``, ``t0`` and ``step``."""

    tenant_id: int
    contact_index: int
    channel: str
    account_id: int | None
    status: str
    assignee_id: int | None
    assignee_name: str
    queued_at: datetime | None
    resolved_at: datetime | None
    n: int
    t0: datetime
    step: float
    end: datetime


def message_counts(spec: TenantSpec, rng: random.Random) -> list[int]:
    """Messages per ordinary conversation: at least MIN_MESSAGES, a long exponential tail, summing
    exactly to the tenant's total minus the huge conversations."""
    normal = spec.conversations - len(spec.huge)
    budget = spec.messages - sum(spec.huge)
    extra_mean = budget / normal - MIN_MESSAGES
    assert extra_mean > 0, "not enough messages for MIN_MESSAGES per conversation"
    counts = [MIN_MESSAGES + int(rng.expovariate(1 / extra_mean)) for _ in range(normal)]
    diff = budget - sum(counts)
    while diff:
        i = rng.randrange(normal)
        if diff > 0:
            counts[i] += 1
            diff -= 1
        elif counts[i] > MIN_MESSAGES:
            counts[i] -= 1
            diff += 1
    return counts


def plan_tenant(
    spec: TenantSpec, *, tenant_id: int, agents: list[tuple[int, str]], account_id: int, now: datetime
) -> list[PlanRow]:
    """The tenant's conversations. Shares: 96 % resolved (nine in ten by an agent, the rest by
    the bot or inactivity), 2 % open and 0.5 % pending with an agent, 1 % waiting in the queue,
    0.5 % open with the bot. The huge conversations all belong to ``agents[0]``, the agent who
    measures; the first four of them are open."""
    rng = random.Random(f"{spec.slug}-{spec.conversations}-{spec.messages}")
    rows: list[PlanRow] = []
    day = 86400.0
    for i, n in enumerate(spec.huge):
        status = "open" if i < 4 else "resolved"
        step = 300 * day / n
        end = now - timedelta(seconds=rng.uniform(60, 3600) if status == "open" else rng.uniform(day, 60 * day))
        rows.append(_row(tenant_id, "whatsapp", account_id, status, agents[0], None, n, step, end))
    for n in message_counts(spec, rng):
        r = rng.random()
        agent = rng.choice(agents)
        channel = "webchat" if rng.random() < 0.1 else "whatsapp"
        step = rng.uniform(20, 600)
        queued: datetime | None = None
        if r < 0.96:
            status, who = "resolved", agent if rng.random() < 0.9 else None
            end = now - timedelta(seconds=rng.uniform(3600, 365 * day))
        elif r < 0.98:
            status, who, end = "open", agent, now - timedelta(seconds=rng.uniform(0, 2 * day))
        elif r < 0.985:
            status, who, end = "pending", agent, now - timedelta(seconds=rng.uniform(0, 2 * day))
        elif r < 0.995:
            status, who, end = "open", None, now - timedelta(seconds=rng.uniform(0, 3 * 3600))
            queued = end - timedelta(seconds=(n - 3) * step)  # after the customer asked the bot for a person
        else:
            status, who, end = "open", None, now - timedelta(seconds=rng.uniform(0, 3600))
        rows.append(
            _row(tenant_id, channel, account_id if channel == "whatsapp" else None, status, who, queued, n, step, end)
        )
    rows.sort(key=lambda row: row.t0)  # ids follow creation time, as they would in production
    for index, row in enumerate(rows):
        row.contact_index = index
    return rows


def _row(
    tenant_id: int,
    channel: str,
    account_id: int | None,
    status: str,
    agent: tuple[int, str] | None,
    queued: datetime | None,
    n: int,
    step: float,
    end: datetime,
) -> PlanRow:
    return PlanRow(
        tenant_id=tenant_id,
        contact_index=0,
        channel=channel,
        account_id=account_id,
        status=status,
        assignee_id=agent[0] if agent else None,
        assignee_name=agent[1] if agent else "",
        queued_at=queued,
        resolved_at=end if status == "resolved" else None,
        n=n,
        t0=end - timedelta(seconds=(n - 1) * step),
        step=step,
        end=end,
    )


# One row per message, generated from the plan. ``kind``: in (customer), bot, agent, assign and
# resolve (internal system notes, as services.system_message_create_locked writes them). Rows are
# inserted in time order, so a conversation's messages are spread over the table as in production.
MESSAGES_SQL = """
INSERT INTO conversations_message (
    tenant_id, conversation_id, direction, sender_type, sender_id, type, content, status, error_code,
    error_title, whatsapp_account_id, whatsapp_message_id, client_id, internal, created_at, sent_at,
    delivered_at, read_at
)
SELECT tenant_id, conversation_id,
    CASE WHEN kind = 'in' THEN 'inbound' ELSE 'outbound' END,
    CASE kind WHEN 'in' THEN 'contact' WHEN 'bot' THEN 'bot' WHEN 'agent' THEN 'agent' ELSE 'system' END,
    CASE WHEN kind = 'agent' THEN assignee_id END,
    CASE WHEN image THEN 'image' ELSE 'text' END,
    CASE
        WHEN image THEN jsonb_build_object('wa_type', 'image', 'media', jsonb_build_object(
            'id', 'media.' || conversation_id || '.' || g, 'mime_type', 'image/jpeg', 'sha256', '',
            'filename', '', 'animated', false, 'voice', false))
        WHEN kind = 'in' AND channel = 'whatsapp' THEN
            jsonb_build_object('wa_type', 'text', 'text', (%(texts_in)s::text[])[1 + h %% %(n_in)s])
        WHEN kind = 'in' THEN jsonb_build_object('text', (%(texts_in)s::text[])[1 + h %% %(n_in)s])
        WHEN kind = 'bot' THEN jsonb_build_object('text', %(bot_text)s::text)
        WHEN kind = 'agent' THEN jsonb_build_object('text', (%(texts_out)s::text[])[1 + h %% %(n_out)s])
        WHEN kind = 'assign' THEN jsonb_build_object(
            'text', assignee_name || ' took the conversation.',
            'system', jsonb_build_object('event', 'assignment', 'from', NULL, 'to', assignee_id,
                                         'by', assignee_id, 'reason', ''))
        ELSE jsonb_build_object(
            'text', CASE WHEN assignee_id IS NULL THEN 'Conversation resolved (inactivity).'
                         ELSE 'Conversation resolved by ' || assignee_name || '.' END,
            'system', jsonb_build_object('event', 'resolved', 'by', assignee_id,
                                         'reason', CASE WHEN assignee_id IS NULL THEN 'inactivity' ELSE '' END))
    END,
    CASE WHEN kind IN ('assign', 'resolve') THEN 'sent' WHEN failed THEN 'failed' WHEN unread THEN 'delivered'
         ELSE 'read' END,
    CASE WHEN failed THEN 131047 END,
    CASE WHEN failed THEN 'Re-engagement message' ELSE '' END,
    CASE WHEN on_whatsapp THEN account_id END,
    CASE WHEN on_whatsapp AND NOT failed THEN 'wamid.' || conversation_id || '.' || g END,
    CASE WHEN kind = 'agent' THEN 'c' || conversation_id || '.' || g END,
    kind IN ('assign', 'resolve'),
    at,
    CASE WHEN kind IN ('bot', 'agent') AND NOT failed THEN at + interval '1 second' END,
    CASE WHEN kind IN ('in', 'bot', 'agent') AND NOT failed THEN at + interval '2 seconds' END,
    CASE WHEN kind IN ('in', 'bot', 'agent') AND NOT failed AND NOT unread THEN at + interval '40 seconds' END
FROM (
    SELECT *,
        kind = 'in' AND g > 1 AND h %% 25 = 7 AS image,
        kind IN ('bot', 'agent') AND h = 999 AS failed,
        kind = 'in' AND g = n AND status <> 'resolved' AS unread,
        channel = 'whatsapp' AND kind IN ('in', 'bot', 'agent') AS on_whatsapp
    FROM (
        SELECT p.*, g,
            p.t0 + (g - 1) * p.step * interval '1 second' AS at,
            (p.conversation_id * 7919 + g * 104729) %% 1000 AS h,
            CASE WHEN g = 1 THEN 'in'
                 WHEN g = 2 THEN 'bot'
                 WHEN g = 3 AND p.assignee_id IS NOT NULL THEN 'assign'
                 WHEN g = p.n AND p.status = 'resolved' THEN 'resolve'
                 WHEN g %% 2 = 0 THEN CASE WHEN p.assignee_id IS NULL THEN 'bot' ELSE 'agent' END
                 ELSE 'in' END AS kind
        FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.n) AS g
    ) generated
) flagged
ORDER BY at, conversation_id, g
"""

# The conversation rows, with every counter derived from the messages just written: the inbox
# order and preview follow the last non-system message (system notes do not move a conversation),
# the customer window the last inbound one, the unread count the inbound ones not read.
CONVERSATIONS_SQL = """
INSERT INTO conversations_conversation (
    id, tenant_id, contact_id, channel, whatsapp_account_id, status, assignee_id, queued_at,
    last_message_at, last_message_preview, unread_count, last_customer_message_at, resolved_at,
    event_seq, created_at, updated_at
)
SELECT p.conversation_id, p.tenant_id, p.contact_id, p.channel, p.account_id, p.status, p.assignee_id,
    p.queued_at, a.last_at, l.preview, a.unread, a.last_in, p.resolved_at, p.event_seq, p.t0, p.end_at
FROM bench_plan p
JOIN (
    SELECT conversation_id,
        max(created_at) FILTER (WHERE sender_type <> 'system') AS last_at,
        max(created_at) FILTER (WHERE direction = 'inbound') AS last_in,
        count(*) FILTER (WHERE direction = 'inbound' AND read_at IS NULL) AS unread
    FROM conversations_message GROUP BY conversation_id
) a USING (conversation_id)
JOIN (
    SELECT DISTINCT ON (conversation_id) conversation_id,
        CASE WHEN coalesce(content->>'text', '') <> '' THEN left(content->>'text', 255)
             WHEN coalesce(content->>'caption', '') <> '' THEN left(content->>'caption', 255)
             ELSE '[' || type || ']' END AS preview
    FROM conversations_message WHERE sender_type <> 'system'
    ORDER BY conversation_id, created_at DESC, id DESC
) l USING (conversation_id)
ORDER BY p.conversation_id
"""


def seed_marker(specs: list[TenantSpec]) -> dict[str, Any]:
    """What identifies a seed, as stored (JSON: tuples come back as lists)."""
    return json.loads(json.dumps({"version": SEED_VERSION, "tenants": [asdict(s) for s in specs]}))


def seeded_already(specs: list[TenantSpec]) -> dict[str, Any] | None:
    """The stored seed record, if the database holds exactly this seed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_seed (key text PRIMARY KEY, value jsonb NOT NULL)")
        cursor.execute("SELECT value FROM bench_seed WHERE key = 'seed'")
        row = cursor.fetchone()
        if row is None:
            return None
        stored = row[0] if isinstance(row[0], dict) else json.loads(row[0])
        if stored.get("marker") != seed_marker(specs):
            return None
        cursor.execute("SELECT count(*) FROM conversations_conversation")
        conversations = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM conversations_message")
        messages = cursor.fetchone()[0]
    want_c = sum(s.conversations for s in specs)
    want_m = sum(s.messages for s in specs)
    return stored if (conversations, messages) == (want_c, want_m) else None


def seed(specs: list[TenantSpec]) -> dict[str, Any]:
    """Empty the database's tenants (everything hangs from them) and seed ``specs``."""
    import psycopg
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from conversations.models import Role, Tenant, User, WhatsAppAccount

    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.monotonic()
        timings[name] = round(now - since, 2)
        progress(f"  seed: {name} {now - since:.1f}s")
        return now

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE conversations_tenant, bench_seed RESTART IDENTITY CASCADE")
    now = timezone.now().replace(microsecond=0)
    unusable = make_password(None)
    plans: list[PlanRow] = []
    tenants: list[dict[str, Any]] = []
    for spec in specs:
        tenant = Tenant.objects.create(slug=spec.slug, name=spec.name)
        agents = User.objects.bulk_create(
            [
                User(
                    email=f"agent{i}@{spec.email_domain}",
                    name=f"Agent {i}",
                    tenant=tenant,
                    role=Role.AGENT,
                    password=unusable,
                    max_open_conversations=200,
                )
                for i in range(spec.agents)
            ]
        )
        supervisor = User.objects.create(
            email=f"supervisor@{spec.email_domain}",
            name="Supervisor",
            tenant=tenant,
            role=Role.SUPERVISOR,
            password=unusable,
        )
        account = WhatsAppAccount.objects.create(
            tenant=tenant,
            name=f"{spec.name} support",
            phone_number_id=f"bench-{spec.slug}",
            display_phone_number=f"+55 11 4000-{len(tenants):04d}",
            app_secret=f"bench-secret-{spec.slug}",
            verify_token=f"bench-verify-{spec.slug}",
        )
        plans += plan_tenant(
            spec, tenant_id=tenant.pk, agents=[(a.pk, a.name) for a in agents], account_id=account.pk, now=now
        )
        tenants.append({"slug": spec.slug, "id": tenant.pk, "agent0": agents[0].pk, "supervisor": supervisor.pk})
    t = lap("plan", started)

    with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1)) as conn:
        # Foreign keys are consistent by construction: skip their per-row triggers (superuser only).
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET LOCAL work_mem = '256MB'")
        with conn.cursor().copy(
            "COPY conversations_contact (id, tenant_id, wa_id, phone, name, profile_name, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for i, p in enumerate(plans, start=1):
                wa_id = f"55119{p.contact_index:08d}" if p.channel == "whatsapp" else ""
                name = f"Customer {p.contact_index}" if p.channel == "whatsapp" else f"Visitor {p.contact_index}"
                profile = name if p.contact_index % 3 else ""
                copy.write_row((i, p.tenant_id, wa_id, f"+{wa_id}" if wa_id else "", name, profile, p.t0, p.end))
        conn.execute(
            """CREATE TEMP TABLE bench_plan (
                conversation_id bigint PRIMARY KEY, tenant_id bigint, contact_id bigint, channel text,
                account_id bigint, status text, assignee_id bigint, assignee_name text, queued_at timestamptz,
                resolved_at timestamptz, n int, t0 timestamptz, step double precision, end_at timestamptz,
                event_seq bigint)"""
        )
        with conn.cursor().copy("COPY bench_plan FROM STDIN") as copy:
            for i, p in enumerate(plans, start=1):
                copy.write_row(
                    (
                        i, p.tenant_id, i, p.channel, p.account_id, p.status, p.assignee_id, p.assignee_name,
                        p.queued_at, p.resolved_at, p.n, p.t0, p.step, p.end,
                        # conversation.new, one message.new per message, the assignment and resolution updates
                        1 + p.n + (p.assignee_id is not None) + (p.status == "resolved"),
                    )
                )  # fmt: skip
        t = lap("copy contacts and plan", t)
        conn.execute(
            MESSAGES_SQL,
            {
                "texts_in": TEXTS_IN,
                "texts_out": TEXTS_OUT,
                "n_in": len(TEXTS_IN),
                "n_out": len(TEXTS_OUT),
                "bot_text": BOT_TEXT,
            },
        )
        t = lap("messages", t)
        conn.execute(CONVERSATIONS_SQL)
        t = lap("conversations", t)
        conn.execute(
            """INSERT INTO conversations_queueticket (tenant_id, conversation_id, reason, entered_at, outcome)
               SELECT tenant_id, conversation_id, 'requested', queued_at, 'waiting'
               FROM bench_plan WHERE queued_at IS NOT NULL ORDER BY queued_at"""
        )
        # No event rows: the log counts as pruned up to its last seq, so a resuming socket resyncs.
        conn.execute(
            """INSERT INTO realtime_tenanteventcounter (tenant_id, last_seq, pruned_through)
               SELECT tenant_id, sum(event_seq), sum(event_seq) FROM bench_plan GROUP BY tenant_id"""
        )
        for table in ("conversations_contact", "conversations_conversation"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        orphans = conn.execute(
            """SELECT count(*) FROM conversations_message m
               WHERE NOT EXISTS (SELECT 1 FROM conversations_conversation c WHERE c.id = m.conversation_id)"""
        ).fetchone()
        assert orphans is not None and orphans[0] == 0, f"{orphans} messages without a conversation"
        conn.commit()
    t = lap("tickets, counters, check", t)
    with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # visibility map and statistics, as autovacuum would leave them
    lap("vacuum analyze", t)
    seconds = time.monotonic() - started
    record = {
        "marker": seed_marker(specs),
        "seeded_at": now.isoformat(),
        "seconds": round(seconds, 1),
        "timings": timings,
        "tenants": tenants,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_seed (key, value) VALUES ('seed', %s::jsonb)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(record)],
        )
    return record


def seed_summary() -> dict[str, Any]:
    """What the database holds, per tenant (read back, not assumed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.slug, c.status, (c.assignee_id IS NULL) AS unassigned, (c.queued_at IS NOT NULL) AS queued,
                      count(*)
               FROM conversations_conversation c JOIN conversations_tenant t ON t.id = c.tenant_id
               GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
        )
        shares = [
            {"tenant": s, "status": st, "unassigned": u, "queued": q, "conversations": n}
            for s, st, u, q, n in cursor.fetchall()
        ]
        cursor.execute(
            """SELECT t.slug, count(*) FROM conversations_message m JOIN conversations_tenant t ON t.id = m.tenant_id
               GROUP BY 1 ORDER BY 1"""
        )
        messages = dict(cursor.fetchall())
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('conversations_message')),"
            " pg_size_pretty(pg_total_relation_size('conversations_conversation'))"
        )
        sizes = cursor.fetchone()
    return {
        "messages_per_tenant": messages,
        "conversation_shares": shares,
        "message_table_size": sizes[0],
        "conversation_table_size": sizes[1],
    }


# --- endpoints ------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    label: str
    role: str  # agent | supervisor: whose token
    urls: list[str]
    page_param: str  # page_size (inbox) or limit (history): the query-count check varies it
    results_key: str = "results"  # where the answer's rows are ("messages" for search)


def endpoints(seed_record: dict[str, Any]) -> tuple[list[Endpoint], dict[str, str]]:
    """The inbox lists and history pages the web inbox asks for (static/pytake/inbox.js), as the
    main tenant's first agent (the one with the huge conversations) and its supervisor."""
    from rest_framework_simplejwt.tokens import RefreshToken

    from conversations.models import Contact, Conversation, Message, User

    main = seed_record["tenants"][0]
    agent = User.objects.get(pk=main["agent0"])
    supervisor = User.objects.get(pk=main["supervisor"])
    tokens = {
        "agent": str(RefreshToken.for_user(agent).access_token),
        "supervisor": str(RefreshToken.for_user(supervisor).access_token),
    }
    mine = Conversation.objects.filter(tenant_id=main["id"], assignee=agent)
    # Ordinary conversations have a few dozen messages at most; the huge ones 500 and more.
    huge = list(mine.filter(event_seq__gt=400).order_by("pk").values_list("pk", flat=True))
    rng = random.Random(7)
    ordinary = list(mine.filter(event_seq__lte=400).order_by("pk").values_list("pk", flat=True))
    sample = huge + rng.sample(ordinary, min(len(ordinary), 90))
    older: list[str] = []
    for pk in huge:
        ids = list(Message.objects.filter(conversation_id=pk).order_by("created_at", "id").values_list("pk", flat=True))
        for fraction in (0.9, 0.5, 0.1):  # scrolled up a little, half-way, nearly to the start
            query = urlencode({"before": ids[int(len(ids) * fraction)], "limit": 40})  # as inbox.js scrolls up
            older.append(f"/api/conversations/{pk}/messages/?{query}")
    inbox = "/api/conversations/"
    resolved_p1 = _get_json(tokens["supervisor"], f"{inbox}?status=resolved")
    assert resolved_p1["next"], "the resolved list has one page only"
    resolved_p2 = urlsplit(resolved_p1["next"])
    names = list(Contact.objects.filter(tenant_id=main["id"]).order_by("pk").values_list("name", flat=True))
    contact_names = rng.sample(names, 20)
    return [
        Endpoint(
            "inbox_mine_open", "inbox: mine, open (agent)", "agent", [f"{inbox}?status=open&assignee=me"], "page_size"
        ),
        Endpoint(
            "inbox_queue_open", "inbox: queue, open (agent)", "agent", [f"{inbox}?status=open&unassigned=true"],
            "page_size",
        ),
        Endpoint("inbox_mine_any", "inbox: mine, any status (agent)", "agent", [f"{inbox}?assignee=me"], "page_size"),
        Endpoint("inbox_all_open", "inbox: all, open (supervisor)", "supervisor", [f"{inbox}?status=open"], "page_size"),
        Endpoint(
            "inbox_all_resolved_p2", "inbox: all, resolved, page 2 (supervisor)", "supervisor",
            [f"{resolved_p2.path}?{resolved_p2.query}"], "page_size",
        ),
        Endpoint(
            "inbox_search", "inbox: search a name (supervisor)", "supervisor",
            [f"{inbox}?{urlencode({'search': name})}" for name in contact_names], "page_size",
        ),
        Endpoint(
            "history_latest", "history: latest page (agent)", "agent",
            [f"/api/conversations/{pk}/messages/?limit=50" for pk in sample], "limit",
        ),
        Endpoint("history_older", "history: older page, before= (agent)", "agent", older, "limit"),
        Endpoint(
            "search_agent", "search: words in messages (agent)", "agent",
            [f"/api/search/?{urlencode({'q': q})}" for q in SEARCH_TERMS], "limit", "messages",
        ),
        Endpoint(
            "search_supervisor", "search: words in messages (supervisor)", "supervisor",
            [f"/api/search/?{urlencode({'q': q})}" for q in SEARCH_TERMS + contact_names[:5]], "limit", "messages",
        ),
    ], tokens  # fmt: skip


def _get_json(token: str, url: str) -> dict[str, Any]:
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return response.json()


def with_param(url: str, name: str, value: int) -> str:
    from urllib.parse import parse_qsl

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[name] = str(value)
    return f"{parts.path}?{urlencode(query)}"


# --- query counts and plans -----------------------------------------------------------------------


def query_counts(eps: list[Endpoint], tokens: dict[str, str]) -> dict[str, Any]:
    """SQL queries per request at page sizes 10, 50 and 100 (first URL of each endpoint), and the
    queries themselves at the default size, for EXPLAIN."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    result: dict[str, Any] = {}
    for ep in eps:
        client = APIClient(SERVER_NAME="127.0.0.1")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[ep.role]}")
        counts: dict[str, int] = {}
        rows: dict[str, int] = {}
        sql: list[str] = []
        for size in PAGE_SIZES:
            url = with_param(ep.urls[0], ep.page_param, size)
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            counts[str(size)] = len(captured.captured_queries)
            rows[str(size)] = len(response.json()[ep.results_key])
            if size == 50:
                sql = [q["sql"] for q in captured.captured_queries]
        result[ep.name] = {
            "queries": counts,
            "rows": rows,
            "constant": len(set(counts.values())) == 1,
            "sql": sql,
        }
    return result


def explain(counts: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of every SELECT each endpoint makes at page size 50; the
    median execution time over ``repeat`` runs and the last plan."""
    from django.db import connection

    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for name, info in counts.items():
            plans = []
            for sql in info["sql"]:
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                times: list[float] = []
                plan = ""
                for _ in range(repeat):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    lines = [row[0] for row in cursor.fetchall()]
                    plan = "\n".join(lines)
                    times.append(next(float(x.split(":")[1].split()[0]) for x in lines if "Execution Time" in x))
                plans.append({"sql": sql, "execution_ms": statistics.median(times), "plan": plan})
            result[name] = {"total_ms": sum(p["execution_ms"] for p in plans), "queries": plans}
    return result


# --- load -----------------------------------------------------------------------------------------


def db_sessions() -> int:
    """Sessions ever opened on the bench database (pg_stat_database): a new one per request means
    no persistent connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def load(
    eps: list[Endpoint], tokens: dict[str, str], *, counts: dict[int, int], warmup: int, log_dir: Path
) -> list[dict[str, Any]]:
    port = free_port()
    server = Proc("pytake-rest", pytake_server_argv(port), core=SERVER_CORE, env=server_env(), log_dir=log_dir)
    client: Proc | None = None
    rows: list[dict[str, Any]] = []
    try:
        wait_port(port, 60, server)
        client = Proc(
            "rest-client",
            [PYTHON, "-m", "bench.rest_client", "--base-url", f"http://127.0.0.1:{port}"],
            core=CLIENT_CORE,
            log_dir=log_dir,
            stdin_pipe=True,
            stdout_pipe=True,
        )
        client.read_until("ready", 30)
        for ep in eps:
            for concurrency in CONCURRENCIES:
                run = {"name": ep.name, "urls": ep.urls, "concurrency": concurrency, "token": tokens[ep.role]}
                client.send(cmd="run", count=warmup, **run)
                warm = client.read_until("done", 300)
                if warm["errors"]:
                    raise RuntimeError(f"{ep.name}: {warm['errors']} errors in warm-up: {warm['first_errors']}")
                sessions0, cpu0, wall0 = db_sessions(), server.cpu(), time.monotonic()
                client.send(cmd="run", count=counts[concurrency], **run)
                stats = client.read_until("done", 600)
                cpu1, wall1, sessions1 = server.cpu(), time.monotonic(), db_sessions()
                if stats["errors"]:
                    raise RuntimeError(f"{ep.name}: {stats['errors']} errors: {stats['first_errors']}")
                row = {
                    **{k: v for k, v in stats.items() if k not in ("event", "first_errors")},
                    "endpoint": ep.name,
                    "label": ep.label,
                    "urls": len(ep.urls),
                    "server_cpu_s": cpu1 - cpu0,
                    "server_cpu_ms_per_request": (cpu1 - cpu0) / stats["requests"] * 1000,
                    "server_util": (cpu1 - cpu0) / (wall1 - wall0),
                    "db_sessions_per_request": (sessions1 - sessions0) / stats["requests"],
                    "client_bound": stats["client_util"] > CLIENT_LIMIT,
                }
                rows.append(row)
                progress(
                    f"  {ep.name:22} c={concurrency}: {row['requests']} req, p50 {row['p50_ms']:6.1f} "
                    f"p90 {row['p90_ms']:6.1f} p99 {row['p99_ms']:6.1f} max {row['max_ms']:6.1f} ms, "
                    f"{row['requests_per_s']:6.0f} req/s, server {row['server_cpu_ms_per_request']:.2f} CPU-ms/req "
                    f"({row['server_util']:.0%}), client {row['client_util']:.0%}, "
                    f"db sessions/req {row['db_sessions_per_request']:.2f}, rows {row['rows_min']}-{row['rows_max']}"
                )
                if row["client_bound"]:
                    raise RuntimeError(f"{ep.name}: client core at {row['client_util']:.0%}: figures refused")
        client.send(cmd="quit")
        client.read_until("bye", 30)
    finally:
        if client is not None:
            client.stop()
        server.stop()
    return rows


# --- output ---------------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], counts: dict[str, Any]) -> str:
    header = (
        "endpoint | conc. | requests | p50 ms | p90 ms | p99 ms | max ms | req/s | server CPU-ms / req"
        " | DB connections opened / req | SQL queries at page 10 / 50 / 100"
    )
    cells = [
        [
            r["label"],
            str(r["concurrency"]),
            str(r["requests"]),
            f"{r['p50_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            f"{r['requests_per_s']:.0f}",
            f"{r['server_cpu_ms_per_request']:.1f}",
            f"{r['db_sessions_per_request']:.2f}",
            " / ".join(str(counts[r["endpoint"]]["queries"][str(size)]) for size in PAGE_SIZES),
        ]
        for r in rows
    ]
    return markdown_table(header, "lrrrrrrrrrl", cells)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(CONCURRENCIES), figsize=(7 * len(CONCURRENCIES), 5), squeeze=False)
    for ax, concurrency in zip(axes[0], CONCURRENCIES, strict=True):
        these = [r for r in rows if r["concurrency"] == concurrency]
        names = [r["endpoint"] for r in these]
        ys = range(len(these))
        height = 0.27
        for k, (key, colour) in enumerate((("p50_ms", "#4c72b0"), ("p90_ms", "#dd8452"), ("p99_ms", "#c44e52"))):
            ax.barh([y + (k - 1) * height for y in ys], [r[key] for r in these], height, label=key[:3], color=colour)
        ax.axvline(P99_TARGET_MS, color="grey", linestyle="--", linewidth=1, label=f"{P99_TARGET_MS:.0f} ms target")
        ax.set_yticks(list(ys), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("latency (ms)")
        ax.set_title(f"concurrency {concurrency}")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def code_state() -> dict[str, Any]:
    """The commit measured and the files of the app changed on top of it (a figure measured on a
    working tree in flux says so)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    status = git("status", "--porcelain").splitlines()  # "XY path": the path starts at column 3
    dirty = [line[3:] for line in status if not line[3:].startswith(("bench/", "docs/", "tests/"))]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "dirty": dirty}


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 conversations, 100,000 messages, short runs")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the database holds this seed")
    parser.add_argument("--seed-only", action="store_true", help="seed (or check the seed) and stop")
    parser.add_argument("--only", default=None, help="comma-separated endpoint names")
    parser.add_argument(
        "--extra-sql",
        action="append",
        default=[],
        help="CREATE INDEX or CREATE EXTENSION statement to try: made before, dropped after; results go to "
        "var/bench/rest-trials/, not var/bench/rest.json",
    )
    parser.add_argument(
        "--requests",
        default=None,
        help="measured requests per endpoint at concurrency 1 and 8 (default 250,500; --quick 40,100)",
    )
    args = parser.parse_args()
    started = time.time()
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    code = code_state()
    os.environ.update(server_env())
    (ROOT / "var" / "bench-rest" / "static").mkdir(parents=True, exist_ok=True)  # whitenoise warns without it
    setup_django(DATABASE_URL)
    import logging

    from django.db import connection

    logging.getLogger("pytake.request").setLevel(logging.WARNING)  # the server logs its own requests
    specs = tenant_specs(args.quick)
    record = None if args.reseed else seeded_already(specs)
    reused = record is not None
    if record is None:
        progress(f"seeding {DATABASE_URL.rsplit('/', 1)[1]}: " + ", ".join(
            f"{s.slug} {s.conversations:,} conversations / {s.messages:,} messages" for s in specs))  # fmt: skip
        record = seed(specs)
        progress(f"seeded in {record['seconds']:.0f}s")
    else:
        progress(f"reusing the seed of {record['seeded_at']} (made in {record['seconds']:.0f}s; --reseed to redo)")
    summary = seed_summary()
    if args.seed_only:
        return
    from django.conf import settings

    database = settings.DATABASES["default"]
    code["conn_max_age"] = database.get("CONN_MAX_AGE")
    code["db_options"] = sorted(database.get("OPTIONS", {}))  # "pool" here means a psycopg pool

    log_dir = new_log_dir("rest-")
    progress(f"logs in {log_dir}")
    undo: list[str] = []
    try:
        with connection.cursor() as cursor:
            for statement in args.extra_sql:
                cursor.execute(statement)
                words = statement.replace("IF NOT EXISTS", "").split()
                kind, name = words[1].upper(), words[2]  # CREATE INDEX <name> / CREATE EXTENSION <name>
                undo.insert(0, f"DROP {kind} IF EXISTS {name}")
            if args.extra_sql:
                cursor.execute("ANALYZE")
        eps, tokens = endpoints(record)
        if args.only:
            wanted = set(args.only.split(","))
            eps = [ep for ep in eps if ep.name in wanted]
        t = time.time()
        counts = query_counts(eps, tokens)
        plans = explain(counts)
        for name, info in counts.items():
            progress(
                f"  {name:22} queries at page 10/50/100: "
                + " / ".join(str(info["queries"][str(s)]) for s in PAGE_SIZES)
                + f" (rows {' / '.join(str(info['rows'][str(s)]) for s in PAGE_SIZES)}), SQL time at 50: "
                f"{plans[name]['total_ms']:.2f} ms"
            )
        progress(f"query counts and plans in {time.time() - t:.0f}s")
        requests = number_list(args.requests or ("40,100" if args.quick else "250,500"))
        rows = load(
            eps,
            tokens,
            counts=dict(zip(CONCURRENCIES, requests, strict=True)),
            warmup=10 if args.quick else 20,
            log_dir=log_dir,
        )
    finally:
        with connection.cursor() as cursor:
            for statement in undo:
                cursor.execute(statement)
    slowest = sorted(
        ((name, q) for name, p in plans.items() for q in p["queries"]), key=lambda item: -item[1]["execution_ms"]
    )[:2]
    for name, q in slowest:
        progress(f"\nslowest query ({name}, {q['execution_ms']:.2f} ms):\n{q['sql']}\n{q['plan']}")
    inbox = [r for r in rows if r["endpoint"].startswith("inbox_")]
    payload = {
        "scenario": "rest",
        "mode": "quick" if args.quick else "full",
        "command": command_line("bench.scenario_rest"),
        "machine": {**machine(node=True), "loadavg_at_start": loadavg},
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "database": DATABASE_URL.rsplit("/", 1)[1],
        "code": code,
        "extra_sql": args.extra_sql,
        "seed": {"reused": reused, **record, **summary},
        "target": {
            "inbox_p99_ms": P99_TARGET_MS,
            "met": {
                str(c): all(r["p99_ms"] < P99_TARGET_MS for r in inbox if r["concurrency"] == c) for c in CONCURRENCIES
            },
            "inbox_over_target": [
                f"{r['endpoint']} c={r['concurrency']}: p99 {r['p99_ms']:.1f} ms"
                for r in inbox
                if r["p99_ms"] >= P99_TARGET_MS
            ],
        },
        "query_counts": {k: {kk: vv for kk, vv in v.items() if kk != "sql"} for k, v in counts.items()},
        "explain": plans,
        "results": rows,
    }
    # Only a full run of every endpoint on the code as it is replaces var/bench/rest.json.
    out_dir = OUT_DIR / "rest-trials" if (args.quick or args.extra_sql or args.only) else OUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / ("rest.json" if out_dir == OUT_DIR else f"rest-{time.strftime('%Y%m%d-%H%M%S')}.json")
    out.write_text(json.dumps(payload, indent=1, default=str))
    main_spec = specs[0]
    plot(
        rows,
        out.with_suffix(".png"),
        f"PyTake REST, {main_spec.conversations:,} conversations / {main_spec.messages:,} messages "
        f"(+ a second tenant), python -m realtime.serve on 1 core",
    )
    progress(f"wrote {out} and {out.with_suffix('.png')} in {time.time() - started:.0f}s (loadavg at start {loadavg})")
    print(table(rows, counts))


if __name__ == "__main__":
    main()
