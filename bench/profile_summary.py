"""Summarise a py-spy `--format raw` profile: the hottest frames, own and inclusive.

    py-spy record --pid PID --duration 10 --format raw --output prof.txt
    python bench/profile_summary.py prof.txt --top 25 [--app-only]

Samples of idle threads waiting in the event loop show up under the loop's
`run` frame; `--busy` drops stacks whose leaf is such a wait.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

IDLE_LEAVES = ("Runner.run (", "select (", "_worker (concurrent", "wait (threading")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--app-only", action="store_true", help="inclusive: app/ frames only")
    parser.add_argument("--busy", action="store_true", help="drop samples idling in the loop")
    parser.add_argument(
        "--root",
        default="",
        help="keep only stacks whose outermost frame contains this (e.g. '<module>': main thread)",
    )
    args = parser.parse_args()

    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        if args.busy and frames[-1].startswith(IDLE_LEAVES):
            continue
        if args.root and args.root not in frames[0]:
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        print("no samples")
        return
    print(f"{total} samples")
    print("--- own time")
    for frame, n in own.most_common(args.top):
        print(f"{n / total:7.1%}  {frame}")
    print("--- inclusive time" + (" (app/ frames)" if args.app_only else ""))
    shown = 0
    for frame, n in inclusive.most_common():
        if args.app_only and "(app/" not in frame:
            continue
        print(f"{n / total:7.1%}  {frame}")
        shown += 1
        if shown >= args.top:
            break


if __name__ == "__main__":
    main()
