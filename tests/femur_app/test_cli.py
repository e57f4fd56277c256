"""femur_app.cli: every command reports a user's error as one line with status 2, a fault of the machine (an
OSError of its outputs or caches) as one line naming the path with status 1, --debug shows the traceback, a
closed stdout ends quietly, and a bug in the code keeps its traceback."""
import errno
import importlib
import json
import os
import subprocess
import sys

import pytest

from femur_app import cli, synth, train
from femur_app.errors import ConfigError, DataError, UserError
from minicnn import serialize

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


# --- the machine's faults: one line naming the path and the cause, exit status 1 (issue 29, item 1) -------------
FAULT = ("(a fault of the machine or its files, not of the input: make the path a writable folder with free space "
         "and run the command again; --debug shows the traceback)")
SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--jobs", "1", "--set", "cv.bootstrap=50"]


@pytest.fixture
def full_disk(monkeypatch):
    """Every atomic write of the project fails as on a full disk: its fsync raises ENOSPC (no file named, as the
    kernel's own error names none). Tests run as root, where a chmod'ed folder is still writable, hence this."""
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(serialize.os, "fsync", no_space)


def test_an_oserror_is_one_line_naming_the_path_and_status_1(capsys):
    def execute(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/out/report.md")

    assert cli.run(parser(), execute, []) == 1
    assert capsys.readouterr().err == f"error: /srv/out/report.md: Permission denied {FAULT}\n"
    with pytest.raises(PermissionError):
        cli.run(parser(), execute, ["--debug"])


def test_a_full_disk_names_the_file_being_written_and_leaves_no_part_of_it(tmp_path, full_disk):
    target = tmp_path / "out.json"
    target.write_text("the previous content")
    with pytest.raises(OSError) as error:
        serialize.write_text_atomic(target, "new")
    assert (error.value.errno, error.value.filename) == (errno.ENOSPC, str(target))
    assert target.read_text() == "the previous content" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_train_on_a_full_disk(tmp_path, full_disk, capsys):
    """The first atomic write of a run is config.toml: one line naming it, exit 1, no .tmp file left."""
    out = tmp_path / "run"
    assert train.main([*SMOKE, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {out / 'config.toml'}: No space left on device {FAULT}\n"
    assert not list(out.rglob("*.tmp")) and not (out / "config.toml").exists()


def test_synth_on_a_full_disk_and_under_a_regular_file(tmp_path, full_disk, capsys):
    assert synth.main(["--out", str(tmp_path / "set"), "--n", "4"]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'set' / 'images'}/")
    assert not list((tmp_path / "set").rglob("*.tmp"))
    (tmp_path / "a_file").write_text("")
    assert synth.main(["--out", str(tmp_path / "a_file" / "set"), "--n", "4"]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'a_file' / 'set' / 'images'}: Not a directory {FAULT}\n"


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 256 KiB tmpfs (the kernel's own ENOSPC and EROFS, not a monkeypatched writer): mounting needs root
    and the right to mount, as CI and this project's machines have; elsewhere the tests skip."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def run_command(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300)


def test_a_real_full_disk_mid_run_is_one_line_and_the_run_resumes_when_there_is_room(small_tmpfs, tmp_path):
    """The run fills the tmpfs with its first training state: one line naming it, status 1, no .tmp file left, and
    the last line on stderr is that line. With room again the same command resumes to the predictions of a run
    that never met a full disk."""
    out = small_tmpfs / "run"
    full = run_command("femur_app.train", *SMOKE, "--out", str(out))
    assert full.returncode == 1, full.stderr
    line = f"error: {out / 'checkpoints' / 'fold_01.state.npz'}: No space left on device {FAULT}"
    assert full.stderr.splitlines()[-1] == line and full.stderr.count("error:") == 1, full.stderr
    assert not list(out.rglob("*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    resumed = run_command("femur_app.train", *SMOKE, "--out", str(out))
    reference = run_command("femur_app.train", *SMOKE, "--out", str(tmp_path / "reference"))
    assert resumed.returncode == reference.returncode == 0, resumed.stderr + reference.stderr
    assert (out / "predictions.csv").read_text() == (tmp_path / "reference" / "predictions.csv").read_text()


def test_a_real_read_only_disk_is_one_line(small_tmpfs):
    """Root writes through chmod, but not to a read-only mount: EROFS, named, status 1, for a run and a set."""
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    for argv, path in [(["femur_app.train", *SMOKE, "--out", str(small_tmpfs / "run")], small_tmpfs / "run"),
                       (["femur_app.synth", "--n", "4", "--out", str(small_tmpfs / "set")], small_tmpfs / "set")]:
        result = run_command(*argv)
        assert result.returncode == 1 and result.stderr.splitlines()[-1] == (
            f"error: {path}: Read-only file system {FAULT}"), result.stderr
    assert list(small_tmpfs.iterdir()) == []


def test_a_cache_blocked_by_a_file_and_a_run_lock_that_is_a_folder(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("FEMUR_APP_CACHE", str(blocked))
    assert train.main([*SMOKE, "--out", str(tmp_path / "run")]) == 1
    line = capsys.readouterr().err
    assert line.startswith(f"error: {blocked}") and line.endswith(f" {FAULT}\n") and line.count("\n") == 1, line
    out = tmp_path / "run2"
    out.mkdir()
    (out / "run_folder.json").write_text(json.dumps({"made_by": "femur_app run folder", "kind": "run",
                                                     "key": "0" * 64}))
    (out / "run.lock").mkdir()
    assert train.main([*SMOKE, "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"error: {out / 'run.lock'}: Is a directory {FAULT}\n"


def test_a_closed_stdout_ends_quietly(tmp_path):
    """``python -m femur_app.X ... | head -0``: the reader is gone before the command prints."""
    script = ("import sys\nfrom femur_app import cli\n"
              "sys.exit(cli.run(cli.ArgumentParser(prog='x'), lambda args: print('line\\n' * 100000) or 0, []))")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    assert process.wait(timeout=120) == 1
    assert process.stderr.read() == b""
