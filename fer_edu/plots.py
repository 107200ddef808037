"""Figures the book and the command line share. Figures of synthetic data carry the banner."""

from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline",):
    matplotlib.use("Agg", force=False)  # headless unless a notebook already chose its backend
import matplotlib.pyplot as plt
import numpy as np

from .data import BANNER, CLASSES, FERData

# The book shows a figure at most this wide (inches, at 100 dpi) and shrinks a wider one, its
# text with it: 7-point titles on a 10-inch grid read as 5 points. Grids of faces are drawn within
# it, with no text below SMALL_TEXT points.
BOOK_WIDTH = 8.0
SMALL_TEXT = 8


def add_banner(fig: plt.Figure, data: FERData) -> None:
    """Stamp the synthetic-data banner on a figure made from synthetic faces (no-op for FER-2013)."""
    if data.synthetic:
        fig.text(0.5, 0.995, BANNER, ha="center", va="top", color="white", fontsize=9, weight="bold",
                 bbox={"facecolor": "crimson", "edgecolor": "none", "pad": 3})


def sample_grid(data: FERData, per_class: int = 8, split: str | None = "Training", seed: int = 0) -> plt.Figure:
    """A grid of random faces, one row per class (canonical order)."""
    part = data.split(split) if split else data
    rng = np.random.default_rng(seed)
    column = min(0.9, (BOOK_WIDTH - 0.8) / per_class)  # 0.8 inch for the class names
    fig, axes = plt.subplots(len(CLASSES), per_class, squeeze=False,
                             figsize=(0.8 + per_class * column, len(CLASSES) * column * 1.1 + 0.4))
    for row, name in enumerate(CLASSES):
        idx = np.flatnonzero(part.labels == row)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for col, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
            if col < len(chosen):
                ax.imshow(part.images[chosen[col]], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(f"{name}\n({len(idx):,})", rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{'Synthetic faces' if data.synthetic else 'FER-2013'}, {split or 'all splits'}", y=0.97, fontsize=10)
    add_banner(fig, data)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def class_distribution(data: FERData) -> plt.Figure:
    """Images per class in each split (the paper's Figure 2, for all three splits)."""
    counts = data.counts()
    splits = [s for s in ("Training", "PublicTest", "PrivateTest") if s in counts]
    fig, axes = plt.subplots(1, len(splits), figsize=(min(3.0 * len(splits), BOOK_WIDTH + 1), 3.0), squeeze=False)
    for ax, split in zip(axes[0], splits):
        values = [counts[split][c] for c in CLASSES]
        bars = ax.bar(CLASSES, values, color=plt.cm.tab10(np.arange(len(CLASSES))))
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], fontsize=SMALL_TEXT - 1)
        ax.set_title(f"{split} ({counts[split]['total']:,} images)", fontsize=10)
        ax.tick_params(labelsize=SMALL_TEXT + 1)
        ax.tick_params(axis="x", rotation=45)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].set_ylabel("images", fontsize=SMALL_TEXT + 1)
    add_banner(fig, data)
    fig.tight_layout(rect=(0, 0, 1, 0.93 if data.synthetic else 1))
    return fig


def face_row(images, titles: list[str], data: FERData | None = None, suptitle: str | None = None,
             size: float = 1.3) -> plt.Figure:
    """A row of faces with a title under each (e.g. duplicates, blank images, augmentations)."""
    n = max(len(images), 1)
    size = min(size, BOOK_WIDTH / n)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size + 0.6), squeeze=False)
    for ax, img, title in zip(axes[0], images, titles):
        ax.imshow(np.asarray(img), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=SMALL_TEXT)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if data is not None:
        add_banner(fig, data)
    fig.tight_layout()
    return fig


def augmentation_grid(images, aug, n_draws: int = 5, seed: int = 0, data: FERData | None = None) -> plt.Figure:
    """Each face (a row) and ``n_draws`` random augmentations of it, as the network sees them."""
    import torch

    from .data import augment

    x = torch.as_tensor(np.asarray(images))
    g = torch.Generator().manual_seed(seed)
    draws = [augment(x, aug, g)[:, 0].numpy() for _ in range(n_draws)]
    fig, axes = plt.subplots(len(x), n_draws + 1, figsize=(1.2 * (n_draws + 1), 1.25 * len(x)), squeeze=False)
    for r in range(len(x)):
        axes[r, 0].imshow(x[r], cmap="gray", vmin=0, vmax=255)
        for c in range(n_draws):
            axes[r, c + 1].imshow(draws[c][r], cmap="gray", vmin=-1, vmax=1)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].set_title("original", fontsize=8)
    for c in range(n_draws):
        axes[0, c + 1].set_title(f"draw {c + 1}", fontsize=8)
    if data is not None:
        add_banner(fig, data)
    fig.tight_layout()
    return fig


def training_curves(result: dict, title: str | None = None) -> plt.Figure:
    """Loss and accuracy per epoch, training (augmented) and PublicTest, one line per seed (Figures 7-8)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))  # about the book's width: its text stays legible
    for run in result["runs"]:
        h = run["history"]
        epochs = [e["epoch"] for e in h]
        label = f"seed {run['seed']}"
        ax_loss.plot(epochs, [e["train_loss"] for e in h], color="tab:blue", alpha=0.7, label=f"train, {label}")
        ax_loss.plot(epochs, [e["public_loss"] for e in h], color="tab:orange", alpha=0.7, label=f"PublicTest, {label}")
        ax_acc.plot(epochs, [e["train_accuracy"] for e in h], color="tab:blue", alpha=0.7)
        ax_acc.plot(epochs, [e["public_accuracy"] for e in h], color="tab:orange", alpha=0.7)
        ax_acc.axvline(run["selected_epoch"], color="grey", lw=0.6, ls=":")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy (dotted: epoch chosen on PublicTest)")
    ax_acc.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    handles, labels = ax_loss.get_legend_handles_labels()
    ax_loss.legend(handles[:2], ["train (augmented)", "PublicTest"], fontsize=8)
    for ax in (ax_loss, ax_acc):
        ax.spines[["top", "right"]].set_visible(False)
    seeds = [str(r["seed"]) for r in result["runs"]]
    fig.suptitle(title or f"{result['name']}, {result['scale']} scale, seed{'s' if len(seeds) > 1 else ''} "
                 f"{', '.join(seeds)}", fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrix_plot(result: dict, ax: plt.Axes | None = None, title: str | None = None) -> plt.Figure:
    """PrivateTest confusion matrix summed over seeds, each row normalised to the true class's recall."""
    import seaborn as sns

    m = np.sum([np.array(r["private"]["confusion"]) for r in result["runs"]], axis=0).astype(float)
    rows = m / m.sum(1, keepdims=True).clip(min=1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.4))
    else:
        fig = ax.figure
    sns.heatmap(rows, annot=True, fmt=".0%", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                xticklabels=CLASSES, yticklabels=CLASSES, annot_kws={"fontsize": 8})
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title or f"{result['name']}, {result['scale']} scale, PrivateTest", fontsize=9)
    fig.tight_layout()
    return fig


def attention_on_faces(images, weights, titles: list[str], data: FERData | None = None) -> plt.Figure:
    """Faces with the attention weight of each of their 48 rows drawn as a bar beside it.

    The dotted line is uniform attention (1/48 per row); a bar twice as long is twice that weight.
    """
    n = len(images)
    # At most four faces a row: seven in one row shrink to illegible titles at the book's width.
    columns = min(n, 4)
    grid_rows = -(-n // columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(1.9 * columns, 2.3 * grid_rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    rows = np.arange(48)
    for ax, img, w, title in zip(axes.flat, images, np.asarray(weights), titles):
        ax.imshow(np.asarray(img), cmap="gray", vmin=0, vmax=255, extent=(0, 48, 48, 0))
        bar = w * 48 * 4  # uniform attention (1/48 per row) is a 4-pixel bar
        ax.barh(rows + 0.5, bar, left=48, height=1.0, color="tab:orange")
        ax.axvline(52, color="black", lw=0.6, ls=":")  # the uniform weight
        ax.set_xlim(0, 48 + max(16.0, float(bar.max()) + 1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if data is not None:
        add_banner(fig, data)
    fig.tight_layout()
    return fig


def attribution_grid(images, maps: dict[str, np.ndarray], titles: list[str] | None = None,
                     data: FERData | None = None) -> plt.Figure:
    """Faces (first row) and one row of overlaid attribution maps per method."""
    n = len(images)
    column = min(1.45, (BOOK_WIDTH - 0.4) / n)  # 0.4 inch for the methods' names
    fig, axes = plt.subplots(len(maps) + 1, n, figsize=(0.4 + column * n, (column + 0.1) * (len(maps) + 1)),
                             squeeze=False)
    for c in range(n):
        axes[0, c].imshow(np.asarray(images[c]), cmap="gray", vmin=0, vmax=255)
        if titles:
            axes[0, c].set_title(titles[c], fontsize=SMALL_TEXT)
        for r, (method, m) in enumerate(maps.items(), start=1):
            heat = np.abs(m[c])
            axes[r, c].imshow(np.asarray(images[c]), cmap="gray", vmin=0, vmax=255)
            axes[r, c].imshow(heat / max(heat.max(), 1e-12), cmap="inferno", alpha=0.6, vmin=0, vmax=1)
    for r, method in enumerate(maps, start=1):
        axes[r, 0].set_ylabel(method.replace("_", "\n"), fontsize=SMALL_TEXT)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if data is not None:
        add_banner(fig, data)
    fig.tight_layout()
    return fig


def prediction_figure(image, faces) -> plt.Figure:
    """An annotated photo and, beside it, one probability bar chart per detected face."""
    n = max(len(faces), 1)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.5 + 2.6 * n, 3.2),
                             gridspec_kw={"width_ratios": [2.2] + [1] * n}, squeeze=False)
    img = np.asarray(image)
    axes[0, 0].imshow(img[..., ::-1] if img.ndim == 3 else img, cmap=None if img.ndim == 3 else "gray")
    for k, f in enumerate(faces, start=1):
        x, y, w, h = f.box
        axes[0, 0].add_patch(plt.Rectangle((x, y), w, h, fill=False, color="orange", lw=1.5))
        axes[0, 0].text(x, y - 3, str(k), color="orange", fontsize=9, weight="bold")
        probs = [f.probabilities[c] for c in CLASSES]
        axes[0, k].barh(CLASSES, probs, color=["tab:orange" if c == f.label else "tab:grey" for c in CLASSES])
        axes[0, k].set_xlim(0, 1)
        axes[0, k].invert_yaxis()
        axes[0, k].set_title(f"face {k}: {f.label}", fontsize=9)
        axes[0, k].tick_params(labelsize=7)
        if k > 1:
            axes[0, k].set_yticklabels([])
    if not faces:
        axes[0, 1].axis("off")
        axes[0, 1].text(0.5, 0.5, "no face found", ha="center")
    axes[0, 0].axis("off")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- misclassified faces


def confusion_pairs(labels, predicted) -> list[tuple[int, int, int]]:
    """Every (true class, predicted class, count) with a wrong prediction, most frequent first."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    counts = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    np.fill_diagonal(counts, 0)
    pairs = [(t, p, int(counts[t, p])) for t in range(len(CLASSES)) for p in range(len(CLASSES)) if counts[t, p]]
    return sorted(pairs, key=lambda x: (-x[2], x[0], x[1]))


def misclassified_indices(labels, predicted, true_class: int, predicted_class: int) -> np.ndarray:
    """Positions (in the split's order) of the faces of ``true_class`` predicted as ``predicted_class``."""
    return np.flatnonzero((np.asarray(labels) == true_class) & (np.asarray(predicted) == predicted_class))


def _title_under_banner(fig: plt.Figure, title: str | None, data: FERData | None) -> float:
    """Put the title below the synthetic banner (if any); returns the top for ``tight_layout``'s rect."""
    height = fig.get_size_inches()[1]
    top_in = 0.35 if data is not None and data.synthetic else 0.05  # inches the banner takes
    if data is not None:
        add_banner(fig, data)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - top_in / height, va="top")
        top_in += 0.3
    return 1 - top_in / height


def misclassified_faces(images, labels, predicted, true_class: int, predicted_class: int, start: int = 0,
                        n: int = 16, columns: int = 8, data: FERData | None = None) -> plt.Figure:
    """Up to ``n`` faces of one (true, predicted) pair from position ``start``, each titled with its index."""
    idx = misclassified_indices(labels, predicted, true_class, predicted_class)
    shown = idx[start:start + n]
    rows = max(1, -(-len(shown) // columns))
    # Laid out by hand: square 1-inch faces with room for their titles (tight_layout let rows overlap).
    fig, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.3 * rows + 0.7), squeeze=False,
                             gridspec_kw={"hspace": 0.3, "wspace": 0.1})
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, shown):
        ax.imshow(np.asarray(images[i]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"#{i}", fontsize=7)
    title = (f"true {CLASSES[true_class]}, predicted {CLASSES[predicted_class]}: "
             f"faces {start + 1 if len(shown) else 0}-{start + len(shown)} of {len(idx)}")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=_title_under_banner(fig, title, data) - 0.03)
    return fig


def misclassified_overview(images, labels, predicted, n_pairs: int = 4, per_pair: int = 8,
                           data: FERData | None = None, title: str | None = None) -> plt.Figure:
    """The ``n_pairs`` most frequent confusions, one row of their first ``per_pair`` faces each."""
    pairs = confusion_pairs(labels, predicted)[:n_pairs]
    rows = max(len(pairs), 1)
    # About 0.85 inch a face: a row of eight fits the book's text column without shrinking the labels.
    fig, axes = plt.subplots(rows, per_pair, figsize=(0.85 * per_pair + 1.1, 1.0 * rows + 0.7), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
    for row, (t, p, count) in enumerate(pairs):
        for ax, i in zip(axes[row], misclassified_indices(labels, predicted, t, p)[:per_pair]):
            ax.imshow(np.asarray(images[i]), cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"#{i}", fontsize=7, pad=2)
        axes[row, 0].set_ylabel(f"{CLASSES[t]}\ntaken for\n{CLASSES[p]}\n({count})", rotation=0, ha="right",
                                va="center", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, _title_under_banner(fig, title, data)))
    return fig


def misclassified_browser(images, labels, predicted, data: FERData | None = None, per_page: int = 16):
    """An ipywidgets browser: choose a (true, predicted) pair, page through its faces."""
    import ipywidgets as widgets
    from IPython.display import display

    pairs = confusion_pairs(labels, predicted)
    counts = {(t, p): n for t, p, n in pairs}
    pair = widgets.Dropdown(options=[(f"{CLASSES[t]} taken for {CLASSES[p]} ({n})", (t, p)) for t, p, n in pairs],
                            description="true, predicted", style={"description_width": "initial"})
    page = widgets.IntSlider(value=0, min=0, max=0, description="page")
    out = widgets.Output()

    def show(*_) -> None:
        out.clear_output(wait=True)
        with out:
            fig = misclassified_faces(images, labels, predicted, *pair.value, start=page.value * per_page,
                                      n=per_page, data=data)
            display(fig)
            plt.close(fig)  # shown once, by display, not again by the inline backend

    def select(*_) -> None:
        # Back to the first page before the new maximum, so that one change draws once.
        if page.value:
            page.value = 0  # the page observer draws
        else:
            show()
        page.max = max(0, (counts[pair.value] - 1) // per_page)

    pair.observe(select, "value")
    page.observe(show, "value")
    if pairs:
        select()
    return widgets.VBox([widgets.HBox([pair, page]), out])


def leak_curves(result: dict) -> plt.Figure:
    """Per epoch, PublicTest accuracy (the honest choice) and the paper's pooled test accuracy, one panel per seed.

    ``result`` is a results file trained with ``measure_leak=True`` (``final_leak``). The circle
    marks the epoch PublicTest chooses, the cross the epoch the paper's protocol chooses.
    """
    runs = result["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.0), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        h = run["history"]
        epochs = np.array([e["epoch"] for e in h])
        public = np.array([e["public_accuracy"] for e in h])
        pooled = np.array([e["leak_test_accuracy"] for e in h])
        ax.plot(epochs, public, color="tab:orange", label="PublicTest (chooses, honest)")
        ax.plot(epochs, pooled, color="tab:red", ls="--", label="PublicTest + PrivateTest (paper's code)")
        honest, leaky = run["selected_epoch"], int(pooled.argmax()) + 1
        ax.plot([honest], [public[honest - 1]], "o", color="tab:orange")
        ax.plot([leaky], [pooled[leaky - 1]], "x", color="tab:red", ms=9)
        ax.set(title=f"seed {run['seed']}", xlabel="epoch")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{result['name']}, {result['scale']} scale: the epoch each protocol chooses", fontsize=10)
    fig.tight_layout()
    return fig


def sweep_curves(sweeps: dict[str, dict[float, float | None]], chosen: dict[str, float | None] | None = None,
                 title: str | None = None) -> plt.Figure:
    """Seed 0's PublicTest accuracy against the learning-rate multiplier, one line per optimizer.

    ``sweeps`` maps an optimizer to ``{multiplier: accuracy or None}`` (``choices.sweep_public``);
    points still owed are left out. ``chosen`` marks each optimizer's choice with a ring.
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    rings = []
    for label, public in sweeps.items():
        done = sorted((m, a) for m, a in public.items() if a is not None)
        if not done:
            continue
        m, a = zip(*done)
        (line,) = ax.plot(m, a, "o-", label=label)
        pick = (chosen or {}).get(label)
        if pick is not None and public.get(pick) is not None:
            rings.append((pick, public[pick], line.get_color()))
    # The chosen points go on top, each with its own dot inside its ring: where two optimizers score
    # alike at one rate, the later line's dot would otherwise sit in the earlier one's ring.
    for pick, accuracy, color in rings:
        ax.plot([pick], [accuracy], "o", color=color, zorder=4)
        ax.plot([pick], [accuracy], "o", ms=13, mfc="none", color=color, zorder=4)
    ax.set_xscale("log", base=2)
    multipliers = sorted({m for public in sweeps.values() for m in public})
    ax.set_xticks(multipliers, [f"x{m:g}" for m in multipliers])
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set(xlabel="learning rate, times the paper's (mapped to this scale)", ylabel="PublicTest accuracy (seed 0)")
    ax.set_title(title or "each optimizer's learning-rate sweep; rings: the rate chosen", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_against_minutes(points: list[dict], labelled: tuple[str, ...] = (), floor: float = 0.5,
                             title: str | None = None) -> plt.Figure:
    """PrivateTest accuracy against CPU minutes per run, one marker per name (``report.cost_points``).

    Orange: the ``beyond`` group; blue: rebuilding the paper. Hollow markers are runs that ended
    with the machine busy, whose minutes overstate the cost. The names in ``labelled`` carry their
    name. A point below ``floor`` (a collapse) would squash the others into a line: it is drawn as a
    triangle on the bottom edge, with its name and accuracy.
    """
    fig, ax = plt.subplots(figsize=(7, 3.8))
    edge = floor - 0.01
    named = []
    for p in points:
        color = "tab:orange" if p["group"] == "beyond" else "tab:blue"
        below = p["accuracy"] < floor
        ax.plot(p["minutes"], edge if below else p["accuracy"], "v" if below else "o", ms=5, color=color,
                mfc="none" if p["shared"] else color, clip_on=False)
        if below:
            ax.annotate(f"{p['name']}: {p['accuracy']:.1%}, off the scale", (p["minutes"], edge), fontsize=8,
                        xytext=(6, 4), textcoords="offset points")
        elif p["name"] in labelled:
            named.append(p)
    if points:
        ax.set_ylim(edge, max(p["accuracy"] for p in points) + 0.02)
    ax.set_xscale("log")
    if points:
        low, high = min(p["minutes"] for p in points), max(p["minutes"] for p in points)
        ticks = [t for t in (1, 2, 3, 5, 10, 20, 30, 60, 120, 240, 480) if low / 1.5 <= t <= high * 1.5]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_major_locator(matplotlib.ticker.MultipleLocator(0.05))  # whole percents: no 62.5 % shown as 62 %
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set(xlabel="CPU minutes for one run (its fastest seed; 2 cores; log scale)", ylabel="PrivateTest accuracy")
    handles = [matplotlib.lines.Line2D([], [], marker="o", ls="", color=c, mfc=f, label=t) for c, f, t in (
        ("tab:blue", "tab:blue", "rebuilding the paper"), ("tab:orange", "tab:orange", "beyond it"),
        ("gray", "none", "ended with the machine busy: time overstated"))]
    # Under the axis: inside, any corner covers points or the collapses' names.
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    ax.set_title(title or "laptop scale: accuracy against training time", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    _name_apart(ax, named)  # after the layout, which moves the points
    return fig


def _name_apart(ax: plt.Axes, points: list[dict]) -> None:
    """Write each point's name beside it, above and right where it covers no name already written, else
    below, left or further out: the 45-minute networks and their students sit close together."""
    renderer = ax.figure.canvas.get_renderer()
    offsets = [(4, 2, "left"), (4, -10, "left"), (-4, 2, "right"), (-4, -10, "right"), (4, 12, "left"),
               (4, -20, "left")]
    written = []
    for p in sorted(points, key=lambda p: -p["accuracy"]):
        for dx, dy, ha in offsets:
            text = ax.annotate(p["name"], (p["minutes"], p["accuracy"]), fontsize=8, xytext=(dx, dy),
                               textcoords="offset points", ha=ha, zorder=5)  # above the markers
            box = text.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in written) or (dx, dy, ha) == offsets[-1]:
                break
            text.remove()
        written.append(box)
