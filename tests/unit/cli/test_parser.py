"""`leads`'s parser: misspelled options and commands are named with their closest match."""

from __future__ import annotations

import pytest

from leads_import.cli.parser import build_parser


@pytest.mark.parametrize(
    ("argv", "usage", "said"),
    [
        (
            ["import", "f.csv", "--dry-rn"],
            "usage: leads import",
            "unknown option --dry-rn (did you mean --dry-run?)",
        ),
        (
            ["import", "f.csv", "--outcomez=x.csv"],
            "usage: leads import",
            "did you mean --outcomes?",
        ),
        (
            ["workspace", "create", "acme", "--contact-limt", "5"],
            "usage: leads workspace create",
            "did you mean --contact-limit?",
        ),
        (["imprt", "f.csv"], "usage: leads ", "did you mean import?"),
        (["workspace", "lst"], "usage: leads workspace", "did you mean list?"),
        (["import", "a.csv", "b.csv"], "usage: leads import", "unexpected argument 'b.csv'"),
        (["import", "f.csv", "--zzzz"], "usage: leads import", "unknown option --zzzz\n"),
    ],
)
def test_a_mistyped_command_line_names_the_closest_match(
    argv: list[str], usage: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage)
    assert said in err
    assert err.count("error:") == 1


def test_a_correct_command_line_still_parses() -> None:
    args = build_parser().parse_args(["import", "f.csv", "--dry", "--map", "E-Mail=email"])
    assert args.dry_run is True
    assert args.source == "f.csv"
