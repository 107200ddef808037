"""The command line: ``python -m fer_edu <command>``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import data as fd


def _load(path: str | None) -> fd.FERData:
    data = fd.load_dataset(path)
    if data.synthetic:
        print(f"*** {fd.BANNER} ***\n(no FER-2013 found: pass a path or set FER_EDU_DATA)\n")
    return data


def cmd_data_info(args: argparse.Namespace) -> int:
    data = _load(args.path)
    info = data.info
    print(f"source: {info.get('source')}  format: {info.get('format')}  sha256: {info.get('sha256')}")
    counts = data.counts()
    columns = [c for c in (*fd.CLASSES, "unlabelled") if any(c in row for row in counts.values())]
    print(f"\n{'split':<12}" + "".join(f"{c:>11}" for c in columns) + f"{'total':>11}")
    for split, row in counts.items():
        print(f"{split:<12}" + "".join(f"{row.get(c, 0):>11,}" for c in columns) + f"{row['total']:>11,}")
    print(f"{'all':<12}" + "".join(f"{sum(r.get(c, 0) for r in counts.values()):>11,}" for c in columns)
          + f"{len(data):>11,}")
    print("\nquality report")
    for line in fd.quality_report(data).lines():
        print(f"  {line}")
    return 0


def cmd_data_sample(args: argparse.Namespace) -> int:
    from .plots import sample_grid

    data = _load(args.path)
    fig = sample_grid(data, per_class=args.per_class, split=args.split, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_edu", description="fer-edu: facial-expression recognition course")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="inspect FER-2013 (or the synthetic faces)")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    info = data_commands.add_parser("info", help="counts per split and class, and the quality report")
    info.add_argument("path", nargs="?", help="FER-2013 folder, archive or CSV (default: $FER_EDU_DATA, data/)")
    info.set_defaults(func=cmd_data_info)
    sample = data_commands.add_parser("sample", help="save a grid of faces per class")
    sample.add_argument("path", nargs="?", help="FER-2013 folder, archive or CSV (default: $FER_EDU_DATA, data/)")
    sample.add_argument("--out", default="grid.png", help="image file to write (default grid.png)")
    sample.add_argument("--per-class", type=int, default=8)
    sample.add_argument("--split", default="Training", choices=fd.SPLITS)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=cmd_data_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (fd.DataNotFoundError, fd.DataFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
