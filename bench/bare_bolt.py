"""A bare Bolt app that only acks, on the same server stack as `golive serve` (gunicorn, gthread,
the same thread count): the baseline `bench/ack_latency.py` compares golive with.

    python bench/bare_bolt.py --port 3001 --threads 8 [--prompt-ack]

Reads SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_API_URL like golive does. With
`--prompt-ack` it answers at the ack as golive does (`golive.prompt_ack`), instead of at
Bolt's next 10-ms poll: the baseline for what golive's own work costs.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def make_app(prompt_ack: bool = False) -> Any:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    cls = App
    if prompt_ack:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from golive.prompt_ack import GoliveApp

        cls = GoliveApp
    app = cls(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=False)

    @app.command(re.compile(".*"))
    def command(ack: Any) -> None:
        ack()

    @app.action(re.compile(".*"))
    def action(ack: Any) -> None:
        ack()

    handler = SlackRequestHandler(app, path="/slack/events")

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        return handler(environ, start_response)

    return wsgi


class Bare(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], prompt_ack: bool = False) -> None:
        self.options = options
        self.prompt_ack = prompt_ack
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return make_app(self.prompt_ack)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--prompt-ack", action="store_true", help="answer at the ack, not at Bolt's next poll")
    args = ap.parse_args()
    Bare(
        {
            "bind": f"127.0.0.1:{args.port}",
            "workers": args.workers,
            "worker_class": "gthread",
            "threads": args.threads,
            "timeout": 60,
            "keepalive": 5,
            "loglevel": "warning",
            "accesslog": None,
        },
        prompt_ack=args.prompt_ack,
    ).run()


if __name__ == "__main__":
    main()
