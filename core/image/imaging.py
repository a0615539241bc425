"""Pictures in and out, headless: image grids and strips as PNG, morph strips as animated GIF, and
single image files read into a model's image shape.

Images travel as uint8 (N, C, H, W) arrays (C = 1 or 3) or float tensors in [0, 1]; a tiled picture is
a uint8 (H, W, 3) array, ready for Pillow or a QImage.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (tensor or array) or uint8 images, as a uint8 (N, C, H, W) array."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu()
        if images.dtype != torch.uint8:
            images = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return images.numpy()
    a = np.asarray(images)
    return a if a.dtype == np.uint8 else (np.clip(a, 0, 1) * 255).round().astype(np.uint8)


def tile(images: torch.Tensor | np.ndarray, ncols: int | None = None, pad: int = 1, pad_value: int = 40) -> np.ndarray:
    """(N, C, H, W) images as one (H', W', 3) uint8 picture, ``ncols`` per row (default: all in one row), laid
    out as torchvision's ``make_grid`` lays them out (importing torchvision would cost seconds of start-up)."""
    x = to_uint8(images)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"expected a non-empty (N, C, H, W) batch, got shape {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    if len(x) == 1:  # one image: no padding
        return np.ascontiguousarray(x[0].transpose(1, 2, 0))
    n, c, h, w = x.shape
    cols = min(ncols or n, n)
    rows = -(-n // cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i, image in enumerate(x):
        top, left = (i // cols) * (h + pad) + pad, (i % cols) * (w + pad) + pad
        grid[top:top + h, left:left + w] = image.transpose(1, 2, 0)
    return grid


def upscale(picture: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W, C) picture by an integer factor (small digits stay crisp)."""
    return picture if factor <= 1 else picture.repeat(factor, axis=0).repeat(factor, axis=1)


def export_scale(height: int, target: int = 256) -> int:
    """The integer enlargement that brings an image ``height`` pixels tall near ``target`` pixels."""
    return max(1, round(target / max(height, 1)))


def save_png(path: Path, picture: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 picture as PNG."""
    from PIL import Image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path, format="PNG")
    return path


def save_grid(path: Path, images: torch.Tensor | np.ndarray, ncols: int | None = None, cell: int = 96) -> Path:
    """Images tiled ``ncols`` per row (default: one row) as a PNG, each enlarged to about ``cell`` pixels."""
    return save_png(path, upscale(tile(images, ncols), export_scale(images.shape[-2], cell)))


def save_gif(path: Path, frames: torch.Tensor | np.ndarray, frame_ms: int = 80, bounce: bool = True,
             scale: int = 1) -> Path:
    """An animated GIF that loops through ``frames`` (N, C, H, W); ``bounce`` plays it forth and back."""
    from PIL import Image
    pictures = [upscale(tile(f[None], pad=0), scale) for f in to_uint8(frames)]
    if bounce and len(pictures) > 2:
        pictures += pictures[-2:0:-1]
    images = [Image.fromarray(p) for p in pictures]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                   disposal=2)
    return path

