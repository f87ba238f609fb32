"""The servers under test: PyTake (daphne or uvicorn; channels-redis core or pub/sub layer) and
the peers. Each ``start`` returns the running processes (all pinned to the server core) and the
WebSocket base URLs clients should use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import BENCH, PYTHON, ROOT, SERVER_CORE, Proc, free_port, wait_port

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def pytake_server_argv(port: int) -> list[str]:
    """PyTake as production runs it (``deploy/asgi-server``): ``python -m realtime.serve``, uvicorn
    with the project's own settings (``realtime.serve.config``) and graceful SIGTERM."""
    return [PYTHON, "-m", "realtime.serve", "127.0.0.1", str(port)]


def uvicorn_argv(app: str, port: int, ws: str = "websockets-sansio") -> list[str]:
    """uvicorn as the peers and the comparison targets run it: uvloop, httptools, ``ws`` (the
    production server uses ``websockets-sansio``; ``websockets`` is the legacy protocol), no
    compression."""
    return [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        ws,
        "--ws-per-message-deflate",
        "false",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


@dataclass
class Running:
    procs: list[Proc]
    urls: list[str]
    client_kind: str
    publisher_kind: str
    channel: str = ""
    env: dict[str, str] = field(default_factory=dict)  # what a PyTake publisher needs (same layer, prefix)

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


@dataclass
class Target:
    name: str
    family: str  # pytake | ws | sio | node
    server: str = ""  # daphne | uvicorn (pytake)
    layer: str = "core"  # pytake channel layer
    manager: str = "memory"  # socket.io manager/adapter
    processes: int = 1
    label: str = ""
    env: dict[str, str] = field(default_factory=dict)
    ws: str = ""  # pytake on uvicorn: "" runs the production server; else uvicorn's --ws with it

    def start(self, cfg: dict[str, str], log_dir: Path) -> Running:
        run_id = uuid.uuid4().hex[:8]
        channel = f"bench-{run_id}-events"
        procs: list[Proc] = []
        urls: list[str] = []
        pytake_env: dict[str, str] = {}
        try:
            for k in range(self.processes):
                port = free_port()
                name = f"{self.name}-{k}-{port}"
                if self.family == "pytake":
                    env = {
                        **cfg["pytake_env"],  # type: ignore[dict-item]
                        "PYTAKE_CHANNEL_LAYER": LAYERS[self.layer],
                        "PYTAKE_CHANNEL_PREFIX": f"bench-{run_id}",
                        "PYTAKE_PRESENCE_PREFIX": f"bench-presence-{run_id}",
                        **self.env,
                    }
                    pytake_env = env
                    if self.server == "daphne":
                        argv = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "pytake.asgi:application"]
                    elif not self.ws:
                        argv = pytake_server_argv(port)
                    else:
                        argv = uvicorn_argv("pytake.asgi:application", port, self.ws) + ["--lifespan", "off"]
                    proc = Proc(name, argv, core=SERVER_CORE, env=env, log_dir=log_dir)
                elif self.family == "ws":
                    argv = [
                        PYTHON,
                        "-m",
                        "bench.peers.ws_server",
                        "--port",
                        str(port),
                        "--redis",
                        cfg["redis_url"],
                        "--channel",
                        channel,
                    ]
                    proc = Proc(name, argv, core=SERVER_CORE, log_dir=log_dir)
                elif self.family == "sio":
                    env = {
                        "BENCH_REDIS_URL": cfg["redis_url"],
                        "BENCH_CHANNEL": channel,
                        "BENCH_SIO_MANAGER": self.manager,
                    }
                    argv = uvicorn_argv("bench.peers.sio_app:app", port)
                    proc = Proc(name, argv, core=SERVER_CORE, env=env, log_dir=log_dir)
                elif self.family == "node":
                    argv = ["node", str(BENCH / "peers" / "node" / "server.js"), str(port), cfg["redis_url"], channel]
                    proc = Proc(name, argv, core=SERVER_CORE, log_dir=log_dir, cwd=BENCH / "peers" / "node")
                else:
                    raise ValueError(self.family)
                procs.append(proc)
                wait_port(port, 60, proc)
                urls.append(f"ws://127.0.0.1:{port}")
        except BaseException:
            for p in procs:
                p.stop()
            raise
        client_kind = {"pytake": "pytake", "ws": "ws", "sio": "sio", "node": "sio"}[self.family]
        publisher_kind = "pytake-layer" if self.family == "pytake" else "redis"
        return Running(procs, urls, client_kind, publisher_kind, channel, pytake_env)


TARGETS = {
    t.name: t
    for t in [
        Target("pytake-daphne-core", "pytake", "daphne", "core", label="PyTake daphne, channels-redis core"),
        Target("pytake-daphne-pubsub", "pytake", "daphne", "pubsub", label="PyTake daphne, channels-redis pub/sub"),
        Target("pytake-uvicorn-core", "pytake", "uvicorn", "core", label="PyTake uvicorn, channels-redis core"),
        Target("pytake-uvicorn-pubsub", "pytake", "uvicorn", "pubsub", label="PyTake uvicorn, channels-redis pub/sub"),
        Target(
            "pytake-uvicorn-legacy-pubsub",
            "pytake",
            "uvicorn",
            "pubsub",
            ws="websockets",
            label="PyTake uvicorn (legacy websockets protocol), channels-redis pub/sub",
        ),
        Target("websockets-broadcast", "ws", label="websockets broadcast() (ceiling)"),
        Target("socketio-memory", "sio", manager="memory", label="python-socketio, uvicorn, in memory"),
        Target("socketio-redis", "sio", manager="redis", label="python-socketio, uvicorn, AsyncRedisManager"),
        Target("node-socketio-redis", "node", label="Node Socket.IO 4, Redis adapter"),
    ]
}
ROOT_DIR = ROOT
