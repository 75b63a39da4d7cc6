"""The export formats: what leaves the bot as a file or a picture.

The timeline picture (`timeline_picture`) and the charts it and the report draw with matplotlib
(`charts`), the plan as an .ics calendar file (`calendar_ics`, icalendar), and the report as CSV
or one self-contained HTML page (`report_render`, its template in `messages/templates/`). Each
reads what `bot.engagement` computed and writes bytes. May import `bot.engagement`,
`bot.people`, the modules directly in `bot/`, `storage` and `messages`; never `slack`,
`reminders`, `handlers` or `golive`. matplotlib and icalendar are imported only when drawing or
writing, never when the bot starts: this package imports none of its modules.
"""
