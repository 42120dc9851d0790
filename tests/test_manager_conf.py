"""asterisk/manager_opendeep.conf merges into an existing manager.conf: it holds the
`opendeep` user alone, with exactly the sandbox user's privileges, and the whole-file
example includes it instead of repeating it."""

from __future__ import annotations

from pathlib import Path

ASTERISK = Path(__file__).resolve().parents[1] / "asterisk"


def sections(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Asterisk's config layout: [section], key = value, ; comments, #include lines."""
    found: dict[str, dict[str, str]] = {}
    includes: list[str] = []
    current: dict[str, str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("#include"):
            includes.append(line.split(None, 1)[1])
        elif line.startswith("["):
            current = found.setdefault(line.strip("[]"), {})
        elif line:
            assert current is not None, f"{path.name}: {raw!r} outside a section"
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return found, includes


def test_the_user_file_holds_the_user_alone_with_the_sandbox_privileges() -> None:
    user, includes = sections(ASTERISK / "manager_opendeep.conf")
    assert (list(user), includes) == (["opendeep"], [])
    sandbox, _ = sections(ASTERISK / "sandbox" / "conf" / "manager.conf")
    wanted = ("read", "write", "deny", "permit")
    assert {k: user["opendeep"][k] for k in wanted} == {k: sandbox["opendeep"][k] for k in wanted}
    assert user["opendeep"]["secret"] == "change-me"  # refused at start until replaced


def test_the_whole_file_example_includes_the_user_and_binds_loopback() -> None:
    whole, includes = sections(ASTERISK / "manager.conf")
    assert list(whole) == ["general"]
    assert includes == ["manager_opendeep.conf"]
    assert (whole["general"]["enabled"], whole["general"]["bindaddr"]) == ("yes", "127.0.0.1")
