"""The program on top: the process that runs golive.

Building the services and the Bolt app (`app`), the WSGI server and gunicorn (`server`,
`gunicorn_app`), the inbox's replays of what a stopped process acked (`inbox`), APScheduler as the clock that runs the sweep (`sweep_clock`), what runs beside the listeners
(`background`), the modules preloaded before forking (`preload`) and the `golive` console script
(`cli`). It may import `bot`, `handlers` (whose listeners `app` registers), `storage` and
`messages`; only `cli`, the entry point, also starts the sandbox. Nothing in `bot` or `handlers`
imports it. The settings (`bot.config`) and the thread pools (`bot.executor`) stay in `bot`:
the services bundle every listener gets is made of them.
"""
