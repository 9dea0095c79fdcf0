"""Command line: ``python -m workbench list`` and ``train``. Few subprocesses (each starts an interpreter);
the rest calls ``workbench.__main__.main`` in-process, which returns the exit code."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from workbench import kinds, losses
from workbench.__main__ import main

PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, timeout=240):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def table_rows(out):
    lines = out.strip().splitlines()
    header, rule, rows = lines[0], lines[1], lines[2:]
    assert header.split() == ["name", "family", "kind", "paper"]
    assert set(rule.replace(" ", "")) == {"-"}
    return [row.split()[0] for row in rows], rows


def assert_outputs(out_dir, epochs=1):
    frame = pd.read_csv(out_dir / "history.csv", index_col="epoch")
    assert len(frame) == epochs and list(frame.index) == list(range(1, epochs + 1))
    assert {"loss", "test_acc", "grad_norm"} <= set(frame.columns)
    assert 0.0 <= frame["test_acc"].iloc[-1] <= 1.0
    for png in ("curves.png", "embeddings.png"):
        assert (out_dir / png).read_bytes()[:8] == PNG
    return frame


# --- subprocesses: the real entry point --------------------------------------------------------------


def test_list_subprocess():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    names, rows = table_rows(result.stdout)
    assert names == losses.available()
    for name, row in zip(names, rows, strict=True):
        entry = losses.info(name)
        assert row.split()[1:3] == [entry.family, entry.kind]
        assert str(entry.paper.year) in row


def test_train_subprocess(tmp_path):
    out = tmp_path / "ce"
    result = run_cli("train", "--loss", "cross_entropy", "--data", "digits", "--epochs", "1",
                     "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    frame = assert_outputs(out)
    assert "train_acc" in frame.columns
    assert f"{frame['test_acc'].iloc[-1]:.3f}" in result.stdout
    assert "%|" not in result.stderr  # --quiet: no progress bar


# --- in-process --------------------------------------------------------------------------------------


def test_list_family_pairs(capsys):
    assert main(["list", "--family", "pairs"]) == 0
    names, _ = table_rows(capsys.readouterr().out)
    assert names == losses.available(family="pairs")
    assert "contrastive" in names and "cross_entropy" not in names


def test_list_unknown_family(capsys):
    assert main(["list", "--family", "nope"]) == 2
    assert "pairs" in capsys.readouterr().err


def test_train_margin_kind(tmp_path, capsys):
    assert main(["train", "--loss", "normface", "--epochs", "1", "--dim", "3", "--out", str(tmp_path),
                 "--quiet"]) == 0
    frame = assert_outputs(tmp_path)
    assert "train_acc" in frame.columns
    assert "normface on digits" in capsys.readouterr().out


def test_train_views_kind_on_digits(tmp_path, capsys):
    assert main(["train", "--loss", "ntxent", "--data", "digits", "--epochs", "1", "--out", str(tmp_path),
                 "--quiet"]) == 0
    frame = assert_outputs(tmp_path)
    assert "train_acc" not in frame.columns  # a views loss is scored by a probe on the test set only
    assert "ntxent on digit_views" in capsys.readouterr().out


def test_param_is_passed_to_the_loss(tmp_path, monkeypatch):
    seen = []
    real_get = losses.get

    def spy(name, **params):
        seen.append((name, params))
        return real_get(name, **params)

    monkeypatch.setattr(losses, "get", spy)
    assert main(["train", "--loss", "cross_entropy", "--data", "moons", "--epochs", "1",
                 "--out", str(tmp_path), "--param", "temperature=0.2", "--param", "label_smoothing=0.1",
                 "--quiet"]) == 0
    assert seen == [("cross_entropy", {"temperature": 0.2, "label_smoothing": 0.1})]


def test_unknown_param_lists_the_valid_ones(tmp_path, capsys):
    code = main(["train", "--loss", "ntxent", "--epochs", "1", "--out", str(tmp_path), "--param", "tau=0.2",
                 "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "tau" in err and "temperature" in err
    assert not (tmp_path / "history.csv").exists()


def test_malformed_param(tmp_path, capsys):
    assert main(["train", "--loss", "ntxent", "--out", str(tmp_path), "--param", "temperature"]) == 2
    assert "name=value" in capsys.readouterr().err


def test_unknown_loss(tmp_path, capsys):
    assert main(["train", "--loss", "no_such_loss", "--epochs", "1", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "no_such_loss" in lines[0]
    assert all(name in lines[0] for name in losses.available())
    assert captured.out == ""
    assert not (tmp_path / "history.csv").exists()


def test_unknown_dataset(tmp_path, capsys):
    assert main(["train", "--loss", "cross_entropy", "--data", "imagenet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "imagenet" in err and "digits" in err


def test_every_trainable_kind_trains_from_the_command_line(tmp_path, capsys):
    # One registered loss of each kind the command line can train, one epoch, with the kind's defaults.
    trained = set()
    for name in losses.available():
        kind = losses.info(name).kind
        if kind in trained or kinds.get(kind).trainer is None:
            continue
        out = tmp_path / name
        assert main(["train", "--loss", name, "--epochs", "1", "--out", str(out), "--quiet"]) == 0, name
        assert (out / "history.csv").exists() and (out / "curves.png").read_bytes()[:8] == PNG
        assert "wrote history.csv" in capsys.readouterr().out
        trained.add(kind)
    assert trained == {"logits", "binary", "multilabel", "margin", "pairs", "views", "crossmodal", "distill",
                       "regression", "attention", "aggregate"}


@pytest.mark.parametrize("args, words", [
    (["--epochs", "0"], "--epochs"), (["--batch-size", "-1"], "--batch-size"), (["--lr", "nan"], "--lr"),
    (["--lr", "-0.1"], "--lr"), (["--dim", "1"], "--dim")])
def test_bad_values_are_one_line_errors(tmp_path, capsys, args, words):
    assert main(["train", "--loss", "cross_entropy", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    assert main(["train", "--loss", "cross_entropy", "--epochs", "1", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "directory" in err[0]


def test_help_shows_every_default_and_the_recipes(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--data", "--epochs", "--lr", "--batch-size", "--dim", "--projection", "--seed", "--out"):
        assert option in text
    assert text.count("default") >= 8
    for name, kind in kinds.KINDS.items():
        if kind.trainer is not None:
            assert f"{kind.recipe.lr:g}" in text and name in text


def test_embeddings_figure_projection_choice(tmp_path):
    assert main(["train", "--loss", "contrastive", "--epochs", "1", "--projection", "tsne", "--out", str(tmp_path),
                 "--quiet"]) == 0
    assert (tmp_path / "embeddings.png").read_bytes()[:8] == PNG
    with pytest.raises(SystemExit) as refused:  # argparse refuses an unknown choice itself
        main(["train", "--loss", "contrastive", "--projection", "lda", "--out", str(tmp_path)])
    assert refused.value.code == 2
