"""``python -m minicnn.exercises list | start NAME DIR | check NAME [--file PATH] [--hint] [--show-solution]``."""
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
    check.add_argument("--file", type=Path, help="your file (default: ./NAME.py, or ./NAME.cu)")
    check.add_argument("--hint", action="store_true", help="also print a hint under each failed check")
    check.add_argument("--show-solution", action="store_true", help="print the worked solution instead")
    args = parser.parse_args(argv)

    if args.command == "list":
        for exercise in exercises.EXERCISES:
            kind = " (CUDA C)" if exercise.suffix == ".cu" else ""
            print(f"{exercise.name:20s} {exercise.title}{kind}\n{'':20s} read first: {exercise.chapter}")
        print("\nWith every exercise done, `python docs/capstone.py DIR` trains AlexNet-BN with your functions "
              "(docs/exercises.md).")
        return 0
    try:
        exercise = exercises.get(args.name)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    if args.command == "start":
        target = args.dir / f"{args.name}{exercise.suffix}"
        if target.exists():
            print(f"error: {target} exists already; not overwriting your work", file=sys.stderr)
            return 2
        args.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(exercises.stub_path(args.name), target)
        print(f"wrote {target}\nfill it in, then run\n    python -m minicnn.exercises check {args.name} --file {target}")
        return 0
    if args.show_solution:
        print(exercises.solution_path(args.name).read_text(encoding="utf-8"))
        return 0
    path = args.file or Path(f"{args.name}{exercise.suffix}")
    if not path.is_file():
        print(f"error: {path}: no such file; start with `python -m minicnn.exercises start {args.name} DIR` "
              f"and pass --file DIR/{args.name}{exercise.suffix}", file=sys.stderr)
        return 2
    results = exercises.check_file(args.name, path)
    hints = 0
    for result in results:
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.check}")
        if not result.passed or result.message != "ok":
            print("     " + result.message.replace("\n", "\n     "))
        if not result.passed and result.hint:
            hints += 1
            if args.hint:
                print("     hint: " + result.hint.replace("\n", "\n     "))
    done = exercises.passed(results)
    failed = [r for r in results if not r.passed]
    print(f"\n{args.name}: " + ("all checks pass" if done else
                                f"{len(failed)} of {len(results)} checks fail; the first: {failed[0].check}"))
    if hints and not args.hint:
        print(f"({hints} hint{'s' if hints > 1 else ''} available: add --hint)")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
