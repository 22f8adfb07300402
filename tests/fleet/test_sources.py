"""Telemetry source strings, and their check in pattern files (file:line messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.probes.remote import SourceError, parse_source
from backends.runs.patterns import PatternError, load_patterns


@pytest.mark.parametrize(
    ("text", "kind", "url"),
    [
        ("local", "local", None),
        ("agent+http://mini.local:9464", "agent", "http://mini.local:9464"),
        ("agent+https://mini.local", "agent", "https://mini.local:9464"),
        ("node-exporter+http://10.0.0.2:9100", "node-exporter", "http://10.0.0.2:9100"),
        ("macmon+http://mac-mini.local", "macmon", "http://mac-mini.local:9090"),
        ("exo+http://127.0.0.1:52415/", "exo", "http://127.0.0.1:52415"),
        ("agent+http://[::1]:9464", "agent", "http://[::1]:9464"),
    ],
)
def test_good_sources(text: str, kind: str, url: str | None) -> None:
    src = parse_source(text)
    assert (src.kind, src.url) == (kind, url)


def test_ssh_source_keeps_user_port_and_command() -> None:
    src = parse_source("ssh://me@mac-mini.local:2222?command=/opt/homebrew/bin/gptoss-top")
    assert (src.kind, src.user, src.host, src.port, src.destination) == (
        "ssh",
        "me",
        "mac-mini.local",
        2222,
        "me@mac-mini.local",
    )
    assert src.command == "/opt/homebrew/bin/gptoss-top"


def test_agent_token_variable_can_be_named() -> None:
    assert parse_source("agent+http://m:1?token_env=MINI_TOKEN").token_env == "MINI_TOKEN"
    assert parse_source("agent+http://m:1").token_env == "GPTOSS_TOP_AGENT_TOKEN"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("mini.local", "is not a source"),
        ("prometheus+http://x:9090", "unknown source kind 'prometheus'"),
        ("agent+ftp://x:1", "agent+http://HOST:PORT"),
        ("agent+http://:9464", "no host name"),
        ("agent+http://x:99999", "the port must be a number"),
        ("agent+http://x:1/metrics", "no path"),
        ("node-exporter+http://x:1?token_env=A", "unknown option 'token_env'"),
        ("ssh://me:pw@x", "no password"),
        ("agent+http://x:1?token_env=a-b", "must name an environment variable"),
    ],
)
def test_bad_sources_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(SourceError, match=None) as e:
        parse_source(text)
    assert says in str(e.value)


def test_a_bad_telemetry_in_a_pattern_file_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "two.toml"
    f.write_text(
        '[defaults]\nbackend = "openai"\nurl = "http://127.0.0.1:1"\nmodel = "m"\nprompt = "p"\n\n'
        '[hosts.mini]\ntelemetry = "agnet+http://mini:9464"\n\n[[patterns]]\nname = "C"\nhost = "mini"\n'
    )
    with pytest.raises(PatternError) as e:
        load_patterns(f)
    msg = str(e.value)
    assert f"{f}:8:" in msg
    assert "unknown source kind 'agnet'" in msg
    assert "not a [hosts.NAME] table" not in msg  # one mistake, one message


def test_the_shipped_two_machine_file_reads() -> None:
    pf = load_patterns(Path(__file__).resolve().parents[2] / "configs" / "gpt-oss-20b.toml")
    by_name = {p.name: p for p in pf.patterns}
    assert set(by_name) >= {"A", "B", "C", "D"}
    assert by_name["A"].host is not None and pf.hosts[by_name["A"].host].telemetry == "local"
    mini = pf.hosts[str(by_name["C"].host)]
    assert "mac-mini.local" in mini.telemetry and by_name["D"].host == by_name["C"].host
    assert parse_source(mini.telemetry).kind in ("agent", "ssh")
