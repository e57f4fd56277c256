"""femur_app.cli: every command reports a user's error as one line with status 2, --debug shows the traceback,
and a bug in the code keeps its traceback."""
import importlib
import subprocess
import sys

import pytest

from femur_app import cli
from femur_app.errors import ConfigError, DataError, UserError

COMMANDS = ("train", "compare", "predict", "explain", "synth", "preview")


def parser():
    p = cli.ArgumentParser(prog="python -m femur_app.example")
    p.add_argument("--n", type=int, default=1)
    return p


@pytest.mark.parametrize("error", [UserError("x.toml: bad (expected good)"), ConfigError("train.lr: got inf (e)"),
                                   DataError("a.png: not an image (expected PNG)")])
def test_a_user_error_is_one_line_and_status_2(error, capsys):
    def execute(args):
        raise error

    assert cli.run(parser(), execute, []) == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_a_multi_line_message_still_prints_one_line(capsys):
    def execute(args):
        raise DataError("a.png: broken\n  line two (expected an image)\n")

    assert cli.run(parser(), execute, []) == 2
    assert capsys.readouterr().err == "error: a.png: broken; line two (expected an image)\n"


def test_debug_reraises_the_user_error():
    def execute(args):
        raise ConfigError("train.lr: got inf (expected a finite learning rate > 0)")

    with pytest.raises(ConfigError, match="train.lr: got inf"):
        cli.run(parser(), execute, ["--debug"])


def test_a_bug_keeps_its_traceback():
    def execute(args):
        raise ZeroDivisionError("a bug, not the user's doing")

    with pytest.raises(ZeroDivisionError):
        cli.run(parser(), execute, [])


def test_a_bad_option_is_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.run(parser(), lambda args: 0, ["--n", "two"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("error: argument --n: invalid int value: 'two' "
                                       "(see python -m femur_app.example --help)\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_debug_and_uses_the_wrapper(command, capsys):
    module = importlib.import_module(f"femur_app.{command}")
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert "--debug" in capsys.readouterr().out
    assert isinstance(module.parser(), cli.ArgumentParser)


def test_a_refused_learning_rate_from_the_shell(tmp_path):
    """The whole path as a user meets it: a new process, one line on stderr, status 2, nothing written."""
    done = subprocess.run([sys.executable, "-m", "femur_app.train", "--set", "train.lr=inf", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: train.lr: got inf (expected a finite learning rate > 0, e.g. 0.01)\n"
    assert not (tmp_path / "r").exists()
