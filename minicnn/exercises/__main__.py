"""``python -m minicnn.exercises list | start NAME DIR | check NAME [--file PATH] [--show-solution]``."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from minicnn import exercises


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minicnn.exercises", description=exercises.__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the exercises and the chapter each one belongs to")
    start = commands.add_parser("start", help="copy an exercise's stub into DIR")
    start.add_argument("name")
    start.add_argument("dir", type=Path)
    check = commands.add_parser("check", help="check your file (exit 0 only when every check passes)")
    check.add_argument("name")
    check.add_argument("--file", type=Path, help="your file (default: ./NAME.py)")
    check.add_argument("--show-solution", action="store_true", help="print the worked solution instead")
    args = parser.parse_args(argv)

    if args.command == "list":
        for exercise in exercises.EXERCISES:
            print(f"{exercise.name:20s} {exercise.title}\n{'':20s} read first: {exercise.chapter}")
        return 0
    try:
        exercises.get(args.name)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    if args.command == "start":
        target = args.dir / f"{args.name}.py"
        if target.exists():
            print(f"error: {target} exists already; not overwriting your work", file=sys.stderr)
            return 2
        args.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exercises.stub_path(args.name), target)
        print(f"wrote {target}\nfill in the functions that raise NotImplementedError, then run\n"
              f"    python -m minicnn.exercises check {args.name} --file {target}")
        return 0
    if args.show_solution:
        print(exercises.solution_path(args.name).read_text(encoding="utf-8"))
        return 0
    path = args.file or Path(f"{args.name}.py")
    if not path.is_file():
        print(f"error: {path}: no such file; start with `python -m minicnn.exercises start {args.name} DIR` "
              f"and pass --file DIR/{args.name}.py", file=sys.stderr)
        return 2
    results = exercises.check_file(args.name, path)
    for result in results:
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.check}")
        if not result.passed or result.message != "ok":
            print("     " + result.message.replace("\n", "\n     "))
    done = exercises.passed(results)
    failed = sum(not r.passed for r in results)
    print(f"\n{args.name}: " + ("all checks pass" if done else f"{failed} of {len(results)} checks fail"))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
