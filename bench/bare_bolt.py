"""A bare Bolt app that only acks, on the same server stack as `golive serve` (gunicorn, gthread,
the same thread count): the baseline `bench/ack_latency.py` compares golive with.

    python bench/bare_bolt.py --port 3001 --threads 8

Reads SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_API_URL like golive does. It is Bolt as
Slack's documentation builds it: `App` with `process_before_response` off, behind
`slack_bolt.adapter.wsgi.SlackRequestHandler`, so an answer leaves at Bolt's next 10-ms poll
after the listener acks, as golive's do.
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


def make_app() -> Any:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=False)

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
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return make_app()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
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
        }
    ).run()


if __name__ == "__main__":
    main()
