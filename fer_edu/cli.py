"""The command line: ``python -m fer_edu <command>``."""

from __future__ import annotations

import argparse
import os
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


def cmd_run(args: argparse.Namespace) -> int:
    from .choices import experiments_for
    from .experiments import SMOKE_NOTICE, default_scale
    from .runner import results_root, run_experiments

    scale = args.scale or default_scale()
    names = args.names or ["all"]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    if scale == "smoke":
        print(f"*** {SMOKE_NOTICE} ***")
    over_budget: set[tuple[str, int]] = set()  # runs this machine is too slow for: not retried below
    while True:
        # With --owed, finished sweeps can make tuned_* runs owed: look again until nothing is left.
        experiments = experiments_for(names, scale, results_root(scale))
        written = run_experiments(experiments, scale, seeds=seeds, owed_only=args.owed, data_path=args.data,
                                  device=args.device, dry_run=args.dry_run, jobs=args.jobs,
                                  ignore_budget=args.ignore_budget, over_budget=over_budget)
        if not (args.owed and written):
            break
    if over_budget:
        print("over budget on this machine, not finished: "
              + ", ".join(f"{n} seed {s}" for n, s in sorted(over_budget)))
        return 1
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .runner import reproduce

    r = reproduce(args.name, args.scale, args.seed, data_path=args.data, device=args.device)
    print(f"{r['name']} seed {r['seed']} ({r['scale']}, {r['device_kind']}): committed "
          f"{r['committed']['private_accuracy']:.2%} ({(r['committed']['commit'] or '?')[:7]}), repeated "
          f"{r['repeated']['private_accuracy']:.2%} ({(r['repeated']['commit'] or '?')[:7]}): "
          f"{'the same' if r['same'] else 'DIFFERENT'}")
    return 0 if r["same"] else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench
    from .data.load import default_data_path

    data = _load(args.data)
    source = Path(args.data) if args.data else default_data_path()
    run_bench(data, source, steps=args.steps, warmup=args.warmup, device=args.device)
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from .choices import ensemble, experiments_for
    from .experiments import prepare_data, seeds_for
    from .results import owed, result_path, write_json
    from .runner import results_root

    root = results_root(args.scale)
    if args.scale != "smoke":  # k is chosen among all the declared members, not those that happen to be done
        (exp,) = experiments_for([args.name], args.scale, root)
        missing = [e for e, _ in owed([exp], args.scale, "cpu", root)]
        if missing:
            raise ValueError(f"{args.name} at scale {args.scale}: {len(missing)} of its seeds {list(seeds_for(exp))} "
                             f"are owed; run `python -m fer_edu run --owed {args.name}` first")
    data = prepare_data(_load(args.data), args.scale)  # the splits the members were tested on
    out = ensemble(args.name, args.scale, data.split("PublicTest").labels, data.split("PrivateTest").labels, root)
    path = result_path(out["name"], args.scale, root)
    write_json(path, out)
    print(f"{out['name']}: k = {out['chosen_k']} of seeds {out['seeds']} chosen on PublicTest; "
          f"PrivateTest {out['private_accuracy']:.2%} -> {path}")
    return 0


def cmd_test_shifts(args: argparse.Namespace) -> int:
    from .choices import shift_choice
    from .experiments import prepare_data
    from .results import result_path, write_json
    from .runner import measure_test_shifts, results_root

    shifts = [int(s) for s in args.shifts.split(",")]
    if min(shifts) < 1:
        raise ValueError("--shifts takes positive pixel counts, such as 2,3")
    root = results_root(args.scale)
    data = prepare_data(_load(args.data), args.scale)
    out = measure_test_shifts(args.name, args.scale, shifts, data, args.device, root)
    path = result_path(out["name"], args.scale, root)
    write_json(path, out)
    choice = shift_choice(args.name, args.scale, root)
    verdict = "no seed 0 to judge by" if choice is None else (
        f"best shift {choice['pixels']} px: {100 * choice['gain']:+.2f} points on seed 0's PublicTest, "
        f"{'joins' if choice['joins'] else 'does not join'} by the search's margin")
    print(f"{out['name']}: {verdict} -> {path}")
    return 0


def cmd_export_demo(args: argparse.Namespace) -> int:
    from .runner import DEMO_WEIGHTS, export_demo_model

    meta = export_demo_model(args.scale, args.budget_mb, Path(args.out) if args.out else DEMO_WEIGHTS)
    if meta["kept"]:
        print(f"kept {args.out or DEMO_WEIGHTS}: its {meta['name']} seed {meta['seed']} (PublicTest "
              f"{meta['public_accuracy']:.2%}) is at least as accurate on PublicTest as the best of the "
              f"{len(meta['candidates'])} candidates here, {meta['best_candidate']} "
              f"({meta['best_candidate_public_accuracy']:.2%})")
        return 0
    print(f"{meta['name']} seed {meta['seed']} ({meta['scale']} scale): PublicTest {meta['public_accuracy']:.2%}, "
          f"best of {len(meta['candidates'])} candidates; PrivateTest {meta['private_accuracy']:.2%} "
          f"-> {args.out or DEMO_WEIGHTS}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from .report import ensemble_rows, ensemble_table, summary_rows, summary_table

    table = summary_table(summary_rows())
    ensembles = ensemble_table(ensemble_rows())
    print(table + (f"\n\n{ensembles}" if ensembles else ""))
    if args.markdown:
        out = Path(args.markdown)
        out.write_text("# Results summary\n\nWritten by `python -m fer_edu results --markdown`. "
                       "PrivateTest accuracy, epoch chosen on PublicTest, over every seed recorded: a network "
                       "that also feeds an ensemble has seeds 0-4 here, where the chapters report its single "
                       "network over seeds 0-2.\n\n" + table + "\n"
                       + (f"\n## Ensembles\n\nThe first k seeds of one network, their probabilities averaged; "
                          f"k chosen on PublicTest (`python -m fer_edu ensemble NAME`).\n\n{ensembles}\n"
                          if ensembles else ""))
        print(f"wrote {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .demo import DemoError, Predictor, annotate, notice, read_image

    predictor = Predictor(args.weights)
    print(notice(predictor.meta))
    status = 0
    for i, path in enumerate(args.images):
        try:
            image = read_image(path)
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        faces = predictor.predict(image)
        print(f"\n{path}: {len(faces)} face(s)")
        if not faces:
            print("  no face found (the detector looks for upright, frontal faces at least 36 pixels wide)")
        for f in faces:
            probs = "  ".join(f"{c} {p:.0%}" for c, p in sorted(f.probabilities.items(), key=lambda kv: -kv[1]))
            print(f"  box {f.box}: {f.label}   ({probs})")
        if args.out:
            import cv2

            out = Path(args.out)
            if len(args.images) > 1:
                out = out.with_name(f"{out.stem}-{i}{out.suffix}")
            cv2.imwrite(str(out), annotate(image, faces))
            print(f"  wrote {out}")
    return status


def cmd_webcam(args: argparse.Namespace) -> int:
    import cv2
    import torch

    from .demo import Predictor, gui_available, notice, run_video

    # The model sees one face at a time, where a second thread gains nothing, and OpenMP's threads,
    # left spinning after each forward pass, slow the OpenCV detection that follows: one torch
    # thread, OpenCV on every core (14.9 ms a frame against 17.2 with two torch threads, idle 2 cores).
    torch.set_num_threads(1)
    if args.threads:  # one thread for OpenCV too suits a machine busy with other work (e.g. training)
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    predictor = Predictor(args.weights)
    print(notice(predictor.meta))
    if args.bench:
        return _bench_webcam(predictor, args.bench, args.save)
    if not gui_available() and not args.out:
        print("OpenCV has no GUI here (the headless build): writing the annotated video to webcam.mp4. "
              "For a live window install the GUI build in its own environment: pip install 'opencv-python<5'")
    source = args.source if args.source is not None else 0
    result = run_video(predictor, source, out=args.out, max_frames=args.max_frames)
    print(f"{result['frames']} frames at {result['fps']:.1f} fps"
          + (f"; wrote {result['out']}" if result["out"] else ""))
    return 0


def _bench_webcam(predictor, repeats: int, save: str | None = None) -> int:
    """Per-frame latency of the live loop on a 640x480 frame holding the example photo's face: scanning
    every frame for faces, then tracking them between scans as the live loop does."""
    import os

    from .demo import FRAME_TARGET_MS, TRACK_EVERY, example_frame, frame_latency
    from .experiments import DEMO_FACE_MS
    from .report import face_time_verdict, verdict
    from .results import bench_path, demo_bench_kind, git_commit, write_json
    from .train import Runtime

    load = list(os.getloadavg())
    result = frame_latency(predictor, example_frame(), repeats=repeats)
    tracked = frame_latency(predictor, example_frame(), repeats=repeats, track_every=TRACK_EVERY)
    if save is not None:
        machine = {k: v for k, v in Runtime.auto("cpu").describe().items() if k != "threads"}
        save = save or bench_path(f"demo-{demo_bench_kind(machine)}")  # one file per instruction set
        keep = ("median_ms", "p90_ms", "mean_ms", "faces", "detect_median_ms", "model_median_ms", "track_every",
                "full_scans")
        # Which network the model's time is for: the demo weights change when a better run is exported.
        write_json(Path(save), {**machine, **result, "tracked": {k: tracked[k] for k in keep}, "repeats": repeats,
                                "frame": "640x480, the example photo's face", "model": predictor.network(),
                                "load_average_before": load, "commit": git_commit(), "target_ms": FRAME_TARGET_MS})
        print(f"wrote {save}")
    print(f"640x480 frame, {result['faces']} face(s), detection at width {result['detect_width']}: "
          f"median {result['median_ms']:.1f} ms, 90th percentile {result['p90_ms']:.1f} ms per frame "
          f"({repeats} frames; torch threads {result['threads']}, OpenCV threads {result['cv2_threads']}): "
          f"detection {result['detect_median_ms']:.1f} ms, the model {result['model_median_ms']:.1f} ms (medians)")
    print(f"tracked between whole-frame scans every {TRACK_EVERY} frames ({tracked['full_scans']} scans): "
          f"median {tracked['median_ms']:.1f} ms, 90th percentile {tracked['p90_ms']:.1f} ms, "
          f"mean {tracked['mean_ms']:.1f} ms per frame; detection {tracked['detect_median_ms']:.1f} ms (median)")
    print(f"against the course's budgets (medians): {FRAME_TARGET_MS} ms a frame, every frame scanned "
          f"{verdict(result['median_ms'], FRAME_TARGET_MS)}, tracked {verdict(tracked['median_ms'], FRAME_TARGET_MS)}; "
          f"{DEMO_FACE_MS:g} ms a face for the model, {face_time_verdict(result)}")
    return 0 if result["faces"] and tracked["faces"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_edu",
                                     description="fer-edu: facial-expression recognition course")
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

    run = commands.add_parser("run", help="train named experiments (or groups) and record their results")
    run.add_argument("names", nargs="*", help="experiment or group names (default: all = the reference suite)")
    run.add_argument("--scale", choices=("smoke", "laptop", "paper"),
                     help="default: $FER_EDU_SCALE, else paper with a GPU and laptop without")
    run.add_argument("--seeds", help="comma-separated seeds (default: the declared seeds 0,1,2)")
    run.add_argument("--owed", action="store_true", help="only runs whose result is missing or stale; resumes")
    run.add_argument("--data", help="FER-2013 path (default: $FER_EDU_DATA, data/)")
    run.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    run.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    run.add_argument("--ignore-budget", action="store_true",
                     help="train a budgeted run (budget_min) to the end even where this machine is projected "
                          "to exceed its budget (the result is then flagged over budget)")
    run.add_argument("--jobs", type=int, default=1,
                     help="runs at once, each in its own process (for a GPU; default 1)")
    run.set_defaults(func=cmd_run)

    repro = commands.add_parser("reproduce", help="train a committed run again in scratch folders and compare")
    repro.add_argument("name", help="a committed experiment name")
    repro.add_argument("--scale", default="laptop", choices=("laptop", "paper"))
    repro.add_argument("--seed", type=int, default=0)
    repro.add_argument("--data", help="FER-2013 path (default: $FER_EDU_DATA, data/)")
    repro.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    repro.set_defaults(func=cmd_reproduce)

    bench = commands.add_parser("bench", help="training throughput: this engine against the usual DataLoader loop")
    bench.add_argument("--data", help="FER-2013 path (default: $FER_EDU_DATA, data/)")
    bench.add_argument("--steps", type=int, default=60, help="timed steps per loop (default 60)")
    bench.add_argument("--warmup", type=int, default=10)
    bench.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    bench.set_defaults(func=cmd_bench)

    ens = commands.add_parser("ensemble",
                              help="average the seeds of a run that kept its probabilities; k chosen on PublicTest")
    ens.add_argument("name", help="an experiment trained with keep_probabilities (its seeds are the members)")
    ens.add_argument("--scale", default="laptop", choices=("smoke", "laptop", "paper"))
    ens.add_argument("--data", help="FER-2013 path (default: $FER_EDU_DATA, data/): the test labels")
    ens.set_defaults(func=cmd_ensemble)

    shifts = commands.add_parser("test-shifts", help="measure test-time shifts on PublicTest with a run's kept weights")
    shifts.add_argument("name", help="an experiment whose weights this machine kept (runs/models)")
    shifts.add_argument("--shifts", default="2,3", help="comma-separated pixel counts (default 2,3)")
    shifts.add_argument("--scale", default="laptop", choices=("smoke", "laptop", "paper"))
    shifts.add_argument("--data", help="FER-2013 path (default: $FER_EDU_DATA, data/)")
    shifts.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    shifts.set_defaults(func=cmd_test_shifts)

    export = commands.add_parser("export-demo", help="write the demo model: the kept run best on PublicTest")
    export.add_argument("--scale", default="laptop", choices=("laptop", "paper"))
    export.add_argument("--budget-mb", type=float, default=3.0, help="largest float16 file (default 3 MB)")
    export.add_argument("--out", help="default results/models/demo.safetensors")
    export.set_defaults(func=cmd_export_demo)

    results = commands.add_parser("results", help="one table of every committed result; flags stale or missing")
    results.add_argument("--markdown", help="also write the table to this Markdown file")
    results.set_defaults(func=cmd_results)

    from .demo import DEFAULT_WEIGHTS

    predict = commands.add_parser("predict", help="find faces in image files and predict their expressions")
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--out", help="write the annotated image here (numbered for several inputs)")
    predict.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="a fer_edu safetensors file")
    predict.set_defaults(func=cmd_predict)

    webcam = commands.add_parser("webcam", help="live demo on a camera, or a video file with --source")
    webcam.add_argument("--source", help="video file to replay instead of the camera")
    webcam.add_argument("--out", help="write the annotated video here (the default where OpenCV has no GUI)")
    webcam.add_argument("--max-frames", type=int, help="stop after this many frames")
    webcam.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="a fer_edu safetensors file")
    webcam.add_argument("--bench", type=int, nargs="?", const=100, metavar="FRAMES",
                        help="no camera: time the loop on a 640x480 frame with the example photo's face "
                             "(default 100 frames)")
    webcam.add_argument("--save", nargs="?", const="", metavar="PATH",
                        help="with --bench: also write the measurement to PATH "
                             "(default: results/bench-demo-cpu-<instruction set>.json, e.g. bench-demo-cpu-amx.json)")
    webcam.add_argument("--threads", type=int,
                        help="CPU threads for detection and model (default: OpenCV on all cores, the model on one)")
    webcam.set_defaults(func=cmd_webcam)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's mistake (bad input, a missing file or data set, a run not yet recorded)
    is one line and exit status 2; the package raises those as ValueError or FileNotFoundError (the data
    and demo errors derive from them). Anything else is a bug and keeps its traceback, as does every
    error with FER_EDU_DEBUG=1."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        if os.environ.get("FER_EDU_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
