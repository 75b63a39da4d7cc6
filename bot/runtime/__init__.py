"""The running process: configuration, wiring, servers, the sweep clock and the CLI.

Settings from the environment (`config`), building the services and the Bolt app (`app`), the
WSGI server and gunicorn (`server`, `gunicorn_app`), the listener thread pool (`executor`),
APScheduler as the clock that runs the sweep (`sweep_clock`), what runs beside the listeners
(`background`) and the `golive` console script (`cli`). The top of the stack: it may import
every other package of `bot`, and `handlers` (whose listeners `app` registers); only `cli`, the
entry point, also starts the sandbox. Nothing in `bot` imports this package at run time
(`bot.services` names its settings type for the type checker only).
"""
