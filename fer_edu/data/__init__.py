"""FER-2013 in every format, the synthetic stand-in, quality checks and the PyTorch side."""

from .dataset import EXTRA_SPLITS, IMAGE_SIZE, SPLITS, UNLABELLED, FERData
from .formats import DOWNLOAD_HELP, DataFormatError, DataNotFoundError
from .labels import ALPHABETICAL, CLASSES, NUM_CLASSES, PAPER, convert_labels, order, permutation, reorder_per_class
from .load import cache_dir, default_data_path, load_dataset, load_fer2013
from .quality import (
    QualityReport,
    blank_images,
    conflicting_groups,
    drop_random_training,
    drop_test_duplicates,
    quality_report,
)
from .synthetic import BANNER, synthetic_faces
from .tensors import NO_AUGMENT, Augment, FERDataset, augment, normalize, split_tensors

__all__ = [
    "ALPHABETICAL", "BANNER", "NO_AUGMENT", "Augment", "FERDataset", "augment", "normalize", "split_tensors", "CLASSES",
    "DOWNLOAD_HELP", "EXTRA_SPLITS", "IMAGE_SIZE", "NUM_CLASSES", "PAPER",
    "SPLITS", "UNLABELLED", "DataFormatError", "DataNotFoundError", "FERData", "QualityReport", "blank_images",
    "cache_dir", "conflicting_groups",
    "convert_labels", "default_data_path", "drop_random_training", "drop_test_duplicates", "load_dataset",
    "load_fer2013", "order",
    "permutation", "quality_report", "reorder_per_class", "synthetic_faces",
]
