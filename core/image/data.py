"""Image data sources: built-in sets, torchvision downloads, ``.npz`` arrays, ``.mat`` faces, image folders.

Every source becomes an ``ImageData``: uint8 images (N, C, H, W), optional integer labels and class names
(and, for image folders, each item's file). Models see ``float_images`` in [0, 1]. The images of an
uncompressed ``.npz`` (``np.savez``) in the (N, H, W) or (N, C, H, W) layout are memory-mapped, not read:
a million 28x28 images open at once and take memory only as they are used; other files are read whole.

Sizes are checked before anything is decoded: an image file over ``MAX_IMAGE_PIXELS`` is refused (skipped
in a folder), and a data set whose arrays would take over ``MAX_DATASET_BYTES`` is refused from its header.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import DataError
from .split import train_test_split_indices

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
TORCHVISION_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10", "cifar100": "CIFAR100"}
BUILTIN = ("digits", *TORCHVISION_SETS, "olivetti")
MAX_IMAGE_PIXELS = 64_000_000  # one image file (a 64-megapixel photo decodes to 192 MB)
MAX_DATASET_BYTES = 4 << 30  # the arrays of one data set as stored
FOLDER_PROGRESS_EVERY = 500  # an image folder reports progress every this many files
GREY_MODES = ("L", "1", "I", "I;16", "F", "LA")


def data_root() -> Path:
    """Where downloaded data sets live: ``$LATENT_EXPLORER_DATA`` or ``~/.cache/latent-explorer/data``."""
    return Path(os.environ.get("LATENT_EXPLORER_DATA", Path.home() / ".cache" / "latent-explorer" / "data"))


@dataclass
class ImageData:
    name: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: np.ndarray | None = None  # int64 (N,)
    class_names: list[str] | None = None
    skipped: list[str] = field(default_factory=list)  # files that could not be read
    files: list[str] | None = None  # each item's file, relative to its folder (image folders only)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(f"{self.name}: images must be uint8 (N, C, H, W), got {tuple(self.images.shape)}")
        if len(self.images) == 0:
            raise DataError(f"{self.name}: no images")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise DataError(f"{self.name}: {len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def float_images(self, index=slice(None)) -> torch.Tensor:
        return self.images[index].float().div_(255.0)

    def channel_stats(self, index=slice(None)) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the selected images, in [0, 1] units."""
        x = self.float_images(index)
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Shuffled (train, validation) index arrays; stratified by label when there are labels."""
        if len(self) < 2:
            raise DataError(f"{self.name}: need at least 2 images to hold some out for validation, got {len(self)}")
        rng = np.random.default_rng(seed)
        n_val = min(len(self) - 1, max(1, int(round(len(self) * val_fraction))))
        if self.labels is None:
            perm = rng.permutation(len(self))
            return np.sort(perm[n_val:]), np.sort(perm[:n_val])
        counts = np.unique(self.labels, return_counts=True)[1]
        stratify = self.labels if counts.min() >= 2 and min(n_val, len(self) - n_val) >= len(counts) else None
        train, val = train_test_split_indices(len(self), n_val, seed, stratify)
        return np.sort(train), np.sort(val)


def to_uint8_nchw(array: np.ndarray, name: str) -> torch.Tensor:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) arrays as uint8 (N, C, H, W); other dtypes are read as [0, 1],
    0-255, or (above 255) scaled by their maximum."""
    a = np.asarray(array)
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[-1] in (1, 3, 4) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    if a.ndim != 4 or a.shape[1] not in (1, 3, 4) or min(a.shape[2:]) < 2 or len(a) == 0:
        raise DataError(f"{name}: expected images shaped (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1/3/4, "
                        f"N >= 1 and sides >= 2, got {a.shape}")
    a = a[:, :3]
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise DataError(f"{name}: images contain NaN or infinite values")
        top = float(a.max())
        scale = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else top  # [0, 1], bytes, or a wider range (16 bit)
        a = (np.clip(a / scale, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(a))


def load_digits() -> ImageData:
    """scikit-learn's 8x8 digits (1,797 images, values 0-16): embedded, no download. Read from the file
    scikit-learn ships (as its ``load_digits`` does) without importing it: that takes a second."""
    shipped = Path(importlib.util.find_spec("sklearn").submodule_search_locations[0]) / "datasets" / "data"
    if (shipped / "digits.csv.gz").is_file():
        table = np.loadtxt(shipped / "digits.csv.gz", delimiter=",")
        images, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:
        from sklearn.datasets import load_digits as sk_digits
        d = sk_digits()
        images, target = d.images, d.target
    return ImageData("digits", to_uint8_nchw(images / 16.0, "digits"), target.astype(np.int64),
                     [str(i) for i in range(10)])


def load_torchvision(name: str, root: Path | None = None) -> ImageData:
    """MNIST, Fashion-MNIST, CIFAR-10/100 (train + test) through torchvision, downloaded on first use."""
    import torchvision.datasets as tvd
    root = Path(root or data_root())
    cls = getattr(tvd, TORCHVISION_SETS[name])
    try:
        parts = [cls(str(root), train=train, download=True) for train in (True, False)]
    except Exception as exc:  # torchvision raises URLError, RuntimeError, OSError... when offline
        folder = root / (cls.__name__ if name in ("mnist", "fashion-mnist") else "")
        raise DataError(f"could not download {name} ({type(exc).__name__}: {exc}); with no internet, put the "
                        f"{cls.__name__} files in {folder} (torchvision's layout) and try again") from exc
    images = np.concatenate([np.asarray(p.data) for p in parts])
    labels = np.concatenate([np.asarray(p.targets) for p in parts]).astype(np.int64)
    return ImageData(name, to_uint8_nchw(images, name), labels, [str(c) for c in parts[0].classes])


def load_olivetti(root: Path | None = None) -> ImageData:
    """Olivetti faces: ``olivettifaces.mat`` from the data folder if present, else scikit-learn's fetch."""
    root = Path(root or data_root())
    mat = root / "olivetti" / "olivettifaces.mat"
    if mat.exists():
        return load_mat(mat)
    from sklearn.datasets import fetch_olivetti_faces
    try:
        d = fetch_olivetti_faces(data_home=str(root / "scikit_learn"))
    except Exception as exc:
        raise DataError(f"could not download the Olivetti faces ({type(exc).__name__}: {exc}); with no internet, "
                        f"put olivettifaces.mat in {mat.parent}") from exc
    return ImageData("olivetti", to_uint8_nchw(d.images, "olivetti"), d.target.astype(np.int64),
                     [f"person {i}" for i in range(40)])


def load_mat(path: Path) -> ImageData:
    """The Olivetti ``.mat`` layout: key ``faces``, (4096, 400) column-major 64x64 faces, person = i // 10."""
    from scipy.io import loadmat
    try:
        mat = loadmat(str(path))
    except Exception as exc:
        raise DataError(f"{path}: not a readable .mat file ({type(exc).__name__}: {exc})") from exc
    if "faces" not in mat:
        raise DataError(f"{path}: no 'faces' array (found: {', '.join(k for k in mat if not k.startswith('__'))})")
    faces = np.asarray(mat["faces"], dtype=np.float64)
    side = int(round(np.sqrt(faces.shape[0])))
    if faces.ndim != 2 or side * side != faces.shape[0]:
        raise DataError(f"{path}: expected 'faces' shaped (side*side, N), got {faces.shape}")
    images = faces.T.reshape(-1, side, side).transpose(0, 2, 1)  # columns are column-major faces
    images = (images - images.min()) / max(images.max() - images.min(), 1e-8)  # as scikit-learn scales them
    labels = np.arange(len(images)) // 10
    return ImageData(path.stem, to_uint8_nchw(images, str(path)), labels.astype(np.int64),
                     [f"person {i}" for i in range(labels.max() + 1)])


def _npz_array_bytes(path: Path) -> int:
    """What the arrays of an ``.npz`` take once loaded, from their headers (nothing is decompressed)."""
    total = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.filename.endswith(".npy"):
                with z.open(info) as f:
                    fmt = np.lib.format
                    header = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = header(f)
                total += math.prod(shape) * dtype.itemsize
    return total


def _mapped_npz_member(path: Path, name: str) -> np.ndarray | None:
    """Member ``name`` of an ``.npz`` memory-mapped (copy on write), if it is stored uncompressed in C order
    in the (N, H, W) or (N, C, H, W) uint8 layout; else None."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_length + extra_length)
        fmt = np.lib.format
        header = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = header(f)
        offset = f.tell()
    layout = len(shape) == 3 or (len(shape) == 4 and shape[1] in (1, 3))
    if fortran or dtype != np.uint8 or not layout or 0 in shape:
        return None
    return np.memmap(path, dtype, "c", offset=offset, shape=shape)


def load_npz(path: Path) -> ImageData:
    """Any ``.npz`` with ``images`` and optionally ``labels`` (and ``class_names``); uncompressed uint8
    images are memory-mapped."""
    try:
        size = _npz_array_bytes(path)
        if size > MAX_DATASET_BYTES:
            raise DataError(f"{path}: refused: its arrays would take {size / 2**30:.1f} GiB (the limit is "
                            f"{MAX_DATASET_BYTES / 2**30:.0f} GiB)")
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z:
                raise DataError(f"{path}: no 'images' array (found: {', '.join(z.files) or 'nothing'})")
            images = _mapped_npz_member(path, "images")
            images = z["images"] if images is None else images
            labels = z["labels"].astype(np.int64).ravel() if "labels" in z else None
            names = [str(c) for c in z["class_names"]] if "class_names" in z else None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    if labels is not None and names is None:
        values, labels = np.unique(labels, return_inverse=True)
        names = [str(v) for v in values]
    elif labels is not None and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(f"{path}: labels must index 'class_names' (0 to {len(names) - 1})")
    return ImageData(path.stem, to_uint8_nchw(images, str(path)), labels, names)


def open_image(path: Path):
    """A Pillow image of ``path``, not decoded yet, refused (``DataError``) when unreadable or over
    ``MAX_IMAGE_PIXELS``. Use it in a ``with`` block."""
    from PIL import Image
    path = Path(path)
    try:
        im = Image.open(path)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such image file") from exc
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: refused: over the limit of {MAX_IMAGE_PIXELS:,} pixels ({exc})") from exc
    except (OSError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise DataError(f"{path}: not a readable image ({exc})") from exc
    width, height = im.size
    if width * height > MAX_IMAGE_PIXELS:
        im.close()
        raise DataError(f"{path}: refused: {width:,} x {height:,} pixels, over the limit of {MAX_IMAGE_PIXELS:,}")
    return im


def read_image_file(path: Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """One picture from disk as uint8 (1, C, H, W) in ``image_shape``: centre-cropped to its aspect, resized,
    grey or RGB as asked. ``DataError`` for a missing, unreadable or oversized file (over
    ``MAX_IMAGE_PIXELS``: refused before it is decoded)."""
    from PIL import Image, ImageOps
    c, h, w = image_shape
    with open_image(path) as im:
        try:
            im = ImageOps.exif_transpose(im).convert("L" if c == 1 else "RGB")
            pixels = np.array(ImageOps.fit(im, (w, h), Image.BILINEAR))
        except (OSError, ValueError) as exc:  # a damaged file shows when it is decoded
            raise DataError(f"{path}: not a readable image ({exc})") from exc
    return to_uint8_nchw(pixels[None], str(path))


def load_image_folder(path: Path, size: int | None = None,
                      progress: Callable[[float, str], None] | None = None) -> ImageData:
    """PNG/JPEG/... files below ``path``; sub-folder names become labels. Grey stays grey unless any
    image has colour; every image is resized to ``size`` x ``size`` (default: the first image's size,
    capped at 64). Unreadable and oversized files are skipped and listed in ``skipped``. ``progress``
    (fraction, text) is told every ``FOLDER_PROGRESS_EVERY`` files."""
    from PIL import Image
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
    pixels, names, skipped, colour = None, [], [], False
    for k, f in enumerate(files):
        if progress is not None and k % FOLDER_PROGRESS_EVERY == 0:
            progress(k / len(files), f"reading images: {k:,} of {len(files):,}")
        try:
            with open_image(f) as im:
                if size is None:
                    size = max(2, min(64, max(im.size)) // 2 * 2)
                picture = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))
                grey = im.mode in GREY_MODES
        except (DataError, OSError, ValueError) as exc:  # a damaged file shows when it is decoded
            log.warning("skipping image %s: %s", f, exc)
            skipped.append(str(f))
            continue
        if pixels is None:  # (refused before the first image is kept) every image goes into one array
            if len(files) * size * size * 3 > MAX_DATASET_BYTES:
                raise DataError(f"{path}: refused: {len(files):,} images of {size} x {size} would take over "
                                f"{MAX_DATASET_BYTES / 2**30:.0f} GiB; choose a smaller image size")
            pixels = np.empty((len(files), size, size, 3), np.uint8)
        colour |= not grey
        pixels[len(names)] = picture
        names.append(f)
    if not names:
        raise DataError(f"{path}: none of the {len(files)} image files could be read")
    if progress is not None:
        progress(1.0, f"read {len(names):,} images")
    images = pixels[:len(names)].transpose(0, 3, 1, 2)[:, :3 if colour else 1]  # NCHW; grey was copied to R, G, B
    classes = sorted({f.parent.relative_to(path).as_posix() for f in names})
    labels = None
    if len(classes) > 1:
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[f.parent.relative_to(path).as_posix()] for f in names], dtype=np.int64)
    return ImageData(path.name, to_uint8_nchw(images, str(path)), labels,
                     classes if labels is not None else None, skipped, [f.relative_to(path).as_posix() for f in names])


def load_dataset(source: str, root: Path | None = None, image_size: int | None = None,
                 progress: Callable[[float, str], None] | None = None) -> ImageData:
    """Load a data source by name (``digits``, ``mnist``, ``olivetti`` ...) or path (.npz, .mat, folder);
    ``progress`` hears how an image folder's reading goes."""
    if source == "digits":
        return load_digits()
    if source in TORCHVISION_SETS:
        return load_torchvision(source, root)
    if source == "olivetti":
        return load_olivetti(root)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"unknown data set {source!r}: not one of {', '.join(BUILTIN)} and no such file or folder")
    if path.is_dir():
        return load_image_folder(path, image_size, progress)
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.suffix.lower() == ".mat":
        return load_mat(path)
    raise DataError(f"{path}: unsupported file type; use an .npz with 'images', an Olivetti .mat or an image folder")
