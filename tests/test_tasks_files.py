"""Task files and parse reports, including the coverage target on the real AitW training lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from coso.env.task_parser import ParseFailure, load_task_file, parse_report, read_task_lines
from coso.env.tasks import AlarmGoal, OpenAppGoal, WebShopGoal
from coso.errors import TaskParseError, UserInputError

# The AitW lists live beside the repository: <repo>/../shared/data/aitw (the layout CI uses).
AITW_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "aitw"
PARSE_TARGET = 0.98


def _write(tmp_path: Path, text: str, name: str = "tasks.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_task_file_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    path = _write(tmp_path, "# my tasks\n\nGo to ebay.com\n   \n  # indented comment\nSet an alarm for 6am\n")
    tasks = load_task_file(path)
    assert [task.goal for task in tasks] == [WebShopGoal("ebay.com"), AlarmGoal(6, 0)]
    assert [task.task_set for task in tasks] == ["webshop", "general"]
    assert tasks.skipped == []
    assert [task.task_set for task in load_task_file(str(path), "general")] == ["general", "general"]


def test_unparseable_line_names_file_line_and_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "Open Reddit\n# comment\nPlease juggle three oranges\n")
    with pytest.raises(TaskParseError) as raised:
        load_task_file(path)
    message = str(raised.value)
    assert str(path) in message and "line 3" in message and "'Please juggle three oranges'" in message
    assert "skip_unparseable=True" in message


def test_skip_unparseable_keeps_the_rest_and_reports_skipped_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "Open Reddit\n# comment\nPlease juggle three oranges\nSet an alarm for 99pm\n")
    tasks = load_task_file(path, skip_unparseable=True)
    assert [task.goal for task in tasks] == [OpenAppGoal("reddit")]
    assert [(f.line_no, f.text) for f in tasks.skipped] == [(3, "Please juggle three oranges"),
                                                             (4, "Set an alarm for 99pm")]
    assert all(isinstance(f, ParseFailure) and f.reason for f in tasks.skipped)
    assert tasks.source == str(path)


def test_missing_or_unreadable_task_files_are_user_input_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        load_task_file(tmp_path / "nope.txt")
    with pytest.raises(UserInputError, match="is not a file"):
        load_task_file(tmp_path)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00Go to ebay.com")
    with pytest.raises(UserInputError, match="not UTF-8"):
        read_task_lines(binary)


def test_parse_report_counts_kinds_and_lists_failures() -> None:
    lines = ["Go to ebay.com", "", "# comment", "Open the camera", "Juggle", "Open the clock", "What?"]
    report = parse_report(lines)
    assert (report.total, report.parsed) == (5, 3)
    assert report.per_kind == {"webshop": 1, "open_app": 2}
    assert [(f.line_no, f.text) for f in report.failures] == [(5, "Juggle"), (7, "What?")]
    assert report.parse_rate == pytest.approx(0.6)
    markdown = report.to_markdown()
    assert "3 of 5 task lines parse (60.0%)" in markdown and "| open_app | 2 |" in markdown
    assert "line 5: `Juggle`" in markdown
    assert parse_report([]).parse_rate == 1.0


@pytest.mark.parametrize("name", ["general_train.txt", "webshop_train.txt"])
def test_aitw_training_lists_parse_above_target(name: str) -> None:
    path = AITW_DIR / name
    if not path.is_file():
        pytest.skip(f"the AitW task lists are not at {AITW_DIR} (expected beside the repository in ../shared)")
    report = parse_report(read_task_lines(path))
    assert report.total > 400
    assert report.parse_rate >= PARSE_TARGET, report.to_markdown(name)
    if name == "webshop_train.txt":
        assert report.per_kind == {"webshop": report.parsed}
    else:
        assert {"web_search", "open_app", "install_app", "app_settings", "youtube", "maps", "alarm", "chrome_tab",
                "notifications", "toggle_setting"} <= set(report.per_kind)
    tasks = load_task_file(path, skip_unparseable=True)
    assert len(tasks) == report.parsed
    expected_set = "webshop" if name.startswith("webshop") else "general"
    assert {task.task_set for task in tasks} == {expected_set}
