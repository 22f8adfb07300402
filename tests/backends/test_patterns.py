"""Pattern files: inheritance, prompt files, and a message naming file, line and key for each mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.runs.patterns import PatternError, load_patterns, write_patterns

DATA = Path(__file__).resolve().parent.parent / "data" / "patterns"
REPO = Path(__file__).resolve().parent.parent.parent
BAD = sorted(DATA.glob("bad_*.toml"))


def expectation(path: Path) -> tuple[int, str]:
    m = re.match(rb"# expect: (\d+): (.*)", path.read_bytes().splitlines()[0])
    assert m, f"{path.name} needs an '# expect: LINE: text' first line"
    return int(m.group(1)), m.group(2).decode()


def test_there_are_malformed_files_to_check() -> None:
    assert len(BAD) >= 10


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_each_malformed_file_names_the_line(path: Path) -> None:
    line, text = expectation(path)
    with pytest.raises(PatternError) as info:
        load_patterns(path)
    message = str(info.value)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert any(p.startswith(where) and text in p for p in message.splitlines()), message


def test_defaults_are_inherited_and_the_prompt_file_is_read_relative_to_the_file() -> None:
    pf = load_patterns(DATA / "good_inherit.toml")
    a, b = pf.patterns
    assert (a.backend, a.model, a.max_tokens, a.context_length, a.gpu_layers) == (
        "ollama",
        "gpt-oss:20b",
        100,
        8192,
        24,
    )
    assert a.prompt == "prompt from a file\n"
    assert a.repeat == 2 and b.repeat == 1
    assert b.prompt == "own prompt" and b.gpu_layers == "off" and b.context_length is None
    assert a.url == "http://127.0.0.1:11434"
    assert a.source.endswith("good_inherit.toml:8")  # the [[patterns]] line


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[[patterns]]\nname = "A"\nmodel = "m"\ngpu_layers = -2\ncontxt_length = 1\n')
    with pytest.raises(PatternError) as info:
        load_patterns(f)
    lines = str(info.value).splitlines()
    assert any(":4: " in x and "negative" in x for x in lines)
    assert any(":5: " in x and "did you mean 'context_length'" in x for x in lines)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PatternError, match=r"file not found.*gptoss-top init"):
        load_patterns(tmp_path / "nope.toml")


@pytest.mark.parametrize("path", sorted((REPO / "configs").rglob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    pf = load_patterns(path)
    assert pf.patterns


def test_seed_config_has_the_seed_patterns_and_prompt() -> None:
    pf = load_patterns(REPO / "configs" / "gpt-oss-20b.toml")
    assert [(p.name, p.context_length, p.gpu_layers) for p in pf.patterns] == [
        ("A", 4096, 24), ("B", 4096, 23), ("C", 4096, 20), ("D", 4096, 15)]  # fmt: skip
    prompt = pf.patterns[0].prompt
    assert prompt.startswith("ある都市で新型の感染症が流行し始めています。") and prompt.endswith(
        "論理的に説明してください。"
    )
    big = load_patterns(REPO / "configs" / "gpt-oss-120b.toml")
    assert [(p.name, p.gpu_layers) for p in big.patterns] == [("A", 36), ("B", 6)]


def test_written_patterns_read_back_the_same(tmp_path: Path) -> None:
    pf = load_patterns(DATA / "good_inherit.toml")
    out = tmp_path / "out.toml"
    write_patterns(out, pf.patterns)
    again = load_patterns(out)
    strip = [(p.name, p.model, p.prompt, p.gpu_layers, p.context_length, p.repeat) for p in pf.patterns]
    assert [(p.name, p.model, p.prompt, p.gpu_layers, p.context_length, p.repeat) for p in again.patterns] == strip
