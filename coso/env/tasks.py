"""Tasks and their structured goals: what an AitW sentence asks the phone to do.

The goal classes below are the contract between the task parser (sentence -> goal), the judge
(goal + phone state -> success) and the scripted demonstrator (goal + phone state -> next action).
Names of sites, apps and queries are kept as written, lower-cased and with spaces collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

TASK_SETS = ("general", "webshop")


@dataclass(frozen=True)
class Goal:
    """Base of all structured goals; ``kind`` names the family for registries and reports."""

    kind: ClassVar[str] = "goal"


@dataclass(frozen=True)
class WebShopGoal(Goal):
    """Go to a shopping site, optionally search it for ``query``, optionally open the first result."""

    kind: ClassVar[str] = "webshop"
    site: str  # e.g. "bestbuy.com"
    query: str = ""
    select_first: bool = False


@dataclass(frozen=True)
class WebSearchGoal(Goal):
    """Answer a question with a Google search: success is a results page for a query with the keywords."""

    kind: ClassVar[str] = "web_search"
    query: str  # what the demonstrator types
    keywords: tuple[str, ...] = ()  # content words a successful query must contain


@dataclass(frozen=True)
class OpenAppGoal(Goal):
    """Open an installed app (e.g. "calculator", "camera", "gmail")."""

    kind: ClassVar[str] = "open_app"
    app: str


@dataclass(frozen=True)
class InstallAppGoal(Goal):
    """Install an app from the Play Store."""

    kind: ClassVar[str] = "install_app"
    app: str


@dataclass(frozen=True)
class AppSettingsGoal(Goal):
    """Show an app's settings (its App info page in Settings)."""

    kind: ClassVar[str] = "app_settings"
    app: str


@dataclass(frozen=True)
class SettingsPageGoal(Goal):
    """Open a page of the Settings app (e.g. "wifi", "bluetooth", "display", "notifications")."""

    kind: ClassVar[str] = "settings_page"
    page: str


@dataclass(frozen=True)
class ToggleSettingGoal(Goal):
    """Turn a switch on or off (``state`` None means toggle): e.g. wifi, or notifications of an app."""

    kind: ClassVar[str] = "toggle_setting"
    setting: str  # e.g. "wifi", "bluetooth", "notifications"
    app: str = ""  # for per-app settings such as notifications
    state: bool | None = None


@dataclass(frozen=True)
class YouTubeGoal(Goal):
    """Find and play a video on YouTube."""

    kind: ClassVar[str] = "youtube"
    query: str


@dataclass(frozen=True)
class MapsGoal(Goal):
    """Search Google Maps for places (``directions`` for "how do I get to" tasks)."""

    kind: ClassVar[str] = "maps"
    query: str
    directions: bool = False


@dataclass(frozen=True)
class AlarmGoal(Goal):
    """Set an alarm in the Clock app at ``hour:minute`` (24-hour clock)."""

    kind: ClassVar[str] = "alarm"
    hour: int
    minute: int = 0


@dataclass(frozen=True)
class ChromeTabGoal(Goal):
    """Open a new Chrome tab, incognito or not."""

    kind: ClassVar[str] = "chrome_tab"
    incognito: bool = False


@dataclass(frozen=True)
class NotificationsGoal(Goal):
    """Show the notification shade."""

    kind: ClassVar[str] = "notifications"


@dataclass(frozen=True)
class Task:
    """One task: the sentence the agent reads, its structured goal, and its task set."""

    text: str
    goal: Goal
    task_set: str  # "general" or "webshop"
