"""The notification budget: reminders are counted in notifications per person.

- Nobody gets more than `MAX_A_DAY` notifications from one day's reminders of an engagement (its
  local day). Every notification counts, also Slack's to the followers of a thread a reminder
  replies in (the people mentioned there before): a reply whose followers have no room left waits.
- Nobody is reminded twice about the same subject (an item, a sign-off) within
  `SPACING_BUSINESS_DAYS` business days — unless they snoozed it and the snooze has ended since
  (they asked to hear again), or the lead consultant asked to nudge again.
- The dry run's reminders are fixed in time and always go out: a flexible reminder (a nudge, the
  digest's mentions, a vendor's private reminder) leaves room for those still due later the same
  day.

What the budget holds back is not lost: the entry stays due and is reminded on the next working
day the budget allows. Edits and ephemeral messages notify nobody and are never counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from bot.people.notified import followers
from bot.reminders.dryrun import participants
from bot.reminders.working_hours import CustomerClock, clock_of
from storage.models import Engagement, Notification, Reminder

MAX_A_DAY = 2
SPACING_BUSINESS_DAYS = 2
LOOK_BACK = timedelta(days=21)  # the spacing rule's window, generously (holidays, long weekends)


class Budget:
    """What one engagement's reminders may still notify today, read once and kept current as
    messages are sent (`spend`)."""

    def __init__(
        self, session: Session, engagement: Engagement, now: datetime, *, reserve: bool = True
    ) -> None:
        self.engagement_id = engagement.id
        self.now = now
        self.clock: CustomerClock = clock_of(engagement)
        self.today: date = self.clock.today(now)
        self.day_start = self.clock.at_local(self.today, time(0, 0))
        self.day_end = self.clock.at_local(self.today + timedelta(days=1), time(0, 0))
        self._session = session
        self._today: dict[str, set[tuple[str, str]]] = {}
        self._last: dict[tuple[str, str], datetime] = {}
        self._reserved: dict[str, int] = defaultdict(int)
        self._spent: dict[str, int] = defaultdict(int)
        self._loaded_subjects: set[str] = set()
        self._followers: dict[tuple[str, str], set[str]] = {}
        if reserve:
            self._reserve(session, engagement)

    # -- reading ---------------------------------------------------------------------------
    def _reserve(self, session: Session, engagement: Engagement) -> None:
        """Dry-run reminders still to come today notify their participants: keep room for them."""
        later = session.exec(
            select(Reminder.id).where(
                col(Reminder.engagement_id) == engagement.id,
                col(Reminder.kind) == "dryrun",
                col(Reminder.status) == "pending",
                col(Reminder.due_at) > self.now,
                col(Reminder.due_at) < self.day_end,
            )
        ).all()
        if not later:
            return
        for user in participants(session, engagement).people:
            self._reserved[user] += len(later)

    def _day(self, user: str) -> set[tuple[str, str]]:
        if user not in self._today:
            rows = self._session.exec(
                select(Notification.channel_id, Notification.ts).where(
                    col(Notification.user_id) == user,
                    col(Notification.engagement_id) == self.engagement_id,
                    col(Notification.reminder).is_(True),
                    col(Notification.at) >= self.day_start,
                    col(Notification.at) < self.day_end,
                )
            ).all()
            self._today[user] = {(c, t) for c, t in rows}
        return self._today[user]

    def _load_subjects(self, subjects: Iterable[str]) -> None:
        wanted = [s for s in subjects if s not in self._loaded_subjects]
        if not wanted:
            return
        for user, subject, at in self._session.exec(
            select(Notification.user_id, Notification.subject, Notification.at).where(
                col(Notification.engagement_id) == self.engagement_id,
                col(Notification.subject).in_(wanted),
                col(Notification.reminder).is_(True),
                col(Notification.at) >= self.now - LOOK_BACK,
            )
        ).all():
            key = (user, subject)
            if key not in self._last or at > self._last[key]:
                self._last[key] = at
        self._loaded_subjects.update(wanted)

    def followers(self, channel: str, thread_ts: str | None) -> set[str]:
        """Who follows the thread (Slack notifies them of a reply there, mentioned or not)."""
        if not thread_ts:
            return set()
        if (channel, thread_ts) not in self._followers:
            self._followers[(channel, thread_ts)] = followers(self._session, channel, thread_ts)
        return self._followers[(channel, thread_ts)]

    # -- asking ----------------------------------------------------------------------------
    def used_today(self, user: str) -> int:
        return len(self._day(user)) + self._spent[user]

    def last(self, user: str, subject: str) -> datetime | None:
        self._load_subjects([subject])
        return self._last.get((user, subject))

    def spaced(self, user: str, subject: str, *, heard_since: datetime | None = None) -> bool:
        """True when `user` was not reminded of `subject` in the last business days, counting
        only reminders after `heard_since` (a snooze's end)."""
        last = self.last(user, subject)
        if last is None or (heard_since is not None and last < heard_since):
            return True
        return self.clock.business_days_since(last, self.now) >= SPACING_BUSINESS_DAYS

    def room(self, user: str, *, fixed: bool = False) -> bool:
        """May one more reminder notify `user` today? A fixed one (the dry run's) always may; a
        flexible one leaves room for the fixed ones still due today."""
        if fixed:
            return True
        return self.used_today(user) + self._reserved[user] < MAX_A_DAY

    def spend(self, user: str, subjects: Iterable[str] = ()) -> None:
        """A message that notifies `user` is being sent now."""
        self._spent[user] += 1
        for subject in subjects:
            self._last[(user, subject)] = self.now
