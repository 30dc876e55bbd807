"""Masks: the one place that knows the lab's polarity.

In memory a mask is a ``bool`` array, True = cell. On disk it is the lab's PNG: black (0) =
cell, white (255) = background.
"""

import numpy as np

from blasto.errors import MaskError


def encode_lab_mask(cell: np.ndarray) -> np.ndarray:
    """Turn a boolean cell mask into the lab's uint8 image (black = cell).

    >>> encode_lab_mask(np.array([[True, False]]))
    array([[  0, 255]], dtype=uint8)
    """
    cell = np.asarray(cell, dtype=bool)
    return np.where(cell, 0, 255).astype(np.uint8)


def decode_lab_mask(image: np.ndarray, *, source="mask") -> np.ndarray:
    """Turn a lab mask image (black = cell) into a boolean cell mask.

    Masks resized with smoothing have gray edges: they are thresholded at mid-gray. RGB(A)
    images are reduced to their mean over colour channels first.

    >>> decode_lab_mask(np.array([[0, 100, 200, 255]], dtype=np.uint8))
    array([[ True,  True, False, False]])
    """
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=-1)
    if image.ndim != 2:
        raise MaskError(f"{source}: a mask must be a 2-D image, got shape {image.shape}.")
    if image.dtype == bool:
        # A boolean image read from a 1-bit PNG: True is white, i.e. background.
        return ~image
    if np.issubdtype(image.dtype, np.floating):
        mid = 0.5 if image.max(initial=0) <= 1.0 else 127.5
    elif image.dtype.itemsize > 1:
        mid = 32768 if image.max(initial=0) > 255 else 128
    else:
        mid = 128
    return image < mid
