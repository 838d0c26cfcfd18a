"""What an absent channel becomes: the games that channel Shapley values can play.

A coalition ``S`` of channels is evaluated by keeping the channels in ``S`` from the image and
filling the others from ``R`` reference inputs, weighted::

    v(S) = Σ_r w_r f(x_S ∪ (ref_r)_{C∖S})

An absence definition supplies those references for a set of images and coalitions
(:meth:`references`) and the value of the empty coalition (:meth:`expected`); the engine
(:func:`explainable_salt.attribution.shapley.explain_game`) is the same for all of them:

- :class:`BackgroundAbsence` (``background``): the interventional game over ``K`` train images
  (random, or weighted k-means centroids); ``v(∅)`` is shared by all images.
- :class:`DrawnBackgroundAbsence` (``background`` too): each image against its own random draw of
  ``K`` images from a pool of train images; ``v(∅)`` is per image, its draw's mean output. Tiles
  of a large section played this way do not share one background, so its pattern does not repeat
  with every tile of the stitched section.
- :class:`BaselineAbsence` (``baseline``): each absent channel is its train mean; one reference.
- :class:`BlurAbsence` (``blur``): each absent channel is a Gaussian-smoothed copy of the
  image's own channel; ``v(∅) = f(blur(x))`` is per image.
- :class:`ConditionalAbsence` (``conditional``): the absent channels come from the ``K`` pool
  images nearest to the image in the present channels, on a block-averaged descriptor (the
  empirical conditional of Aas, Jullum & Løland 2021); ``v(∅)`` is the marginal, the pool mean.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.ndimage import gaussian_filter

from explainable_salt.attribution.inputs import require_count, require_stack

DEFINITIONS = ("background", "baseline", "blur", "conditional")

Predictor = Callable[[np.ndarray], np.ndarray]


class Absence(Protocol):
    """An absence definition: the game played by channel Shapley values."""

    name: str
    n_references: int  # R, the references each coalition value averages
    has_standard_error: bool  # whether those are K ≥ 2 equally weighted stand-ins for a distribution

    def references(
        self, images: np.ndarray, present: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """References broadcastable to ``(N, S, R, H, W, C)`` for ``images`` ``(N, H, W, C)`` and
        coalitions ``present`` ``(S, C)`` bool, and their weights ``(R,)`` summing to 1.
        ``rows`` ``(N,)``: the images' places in the explained stack (default ``0 … N − 1``)."""

    def expected(self, predict: Predictor, images: np.ndarray) -> np.ndarray:
        """``v(∅)``: ``(H, W)`` when shared by all images, else ``(N, H, W)``."""


def normalised_weights(weights: np.ndarray | None, k: int) -> np.ndarray:
    """``k`` reference weights summing to 1 (uniform when ``None``); refuses negative ones and
    ``k = 0``."""
    require_count(k, 1, "background", "images", "explainability.background.size")
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"background weights must be {k} non-negative numbers, not all 0")
    return w / w.sum()


def splice(images: np.ndarray, present: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Composite inputs ``(N, S, R, H, W, C)``: channel ``c`` from the image where coalition
    ``s`` holds it, else from each reference (``references`` broadcastable to that shape)."""
    return np.where(present[None, :, None, None, None, :], images[:, None, None], references)


@dataclass(frozen=True, eq=False)
class BackgroundAbsence:
    """Absent channels from each of ``K`` background images ``(K, H, W, C)``, weighted.

    ``sampled``: the images are a uniform random draw of train images (equal weights), so the
    estimate has a sampling error the engine can report; k-means summaries are not a draw."""

    background: np.ndarray
    weights: np.ndarray | None = None
    name: str = "background"
    sampled: bool = False

    def __post_init__(self):
        require_stack(self.background, "background")
        require_count(len(self.background), 1, "background", "images", "explainability.background.size")
        if self.sampled and (self.weights is not None and not np.allclose(self.weights, self.weights[0])):
            raise ValueError("a sampled background has equal weights; k-means summaries are not a random draw")

    @property
    def n_references(self) -> int:
        return len(self.background)

    @property
    def has_standard_error(self) -> bool:
        return self.sampled

    def references(self, images, present, rows=None):
        return self.background[None, None], normalised_weights(self.weights, len(self.background))

    def expected(self, predict, images):
        weights = normalised_weights(self.weights, len(self.background))
        return np.tensordot(weights, predict(self.background).astype(np.float64), axes=1)


@dataclass(frozen=True, eq=False)
class DrawnBackgroundAbsence:
    """Absent channels from ``size`` images of ``pool`` ``(P, H, W, C)`` drawn for each image on
    its own, uniformly without replacement; ``v(∅)`` ``(N, H, W)`` is the mean output of each
    image's own draw.

    The draw is seeded by ``seed``, the image's bytes and its place in the explained stack, so an
    image gets the same references however the engine chunks the stack and wherever it runs, and
    identical images (tiles of a blank region) get different ones; ``first_row`` is the place of
    the first image when a chunk of a larger stack is explained. Each image has its own
    ``v(∅)``, so the engine's shared-``v(∅)`` standard error does not apply: none is reported."""

    pool: np.ndarray
    size: int = 8
    seed: int = 0
    name: str = "background"
    first_row: int = 0
    has_standard_error = False

    def __post_init__(self):
        require_stack(self.pool, "pool")
        if not 1 <= self.size <= len(self.pool):
            raise ValueError(f"background: draws of {self.size} images from a pool of {len(self.pool)}; "
                             "explainability.background.size must be from 1 to the pool's size")

    @property
    def n_references(self) -> int:
        return self.size

    def draws(self, images: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Pool indices ``(N, size)`` of each image's references; ``rows`` as in :meth:`references`."""
        rows = self.first_row + (np.arange(len(images)) if rows is None else np.asarray(rows))
        keys = [(zlib.crc32(np.ascontiguousarray(image).tobytes()), int(row)) for image, row in zip(images, rows)]
        return np.stack([np.random.default_rng([self.seed, *key]).choice(len(self.pool), self.size, replace=False)
                         for key in keys]).reshape(len(images), self.size)

    def references(self, images, present, rows=None):
        return self.pool[self.draws(images, rows)][:, None], normalised_weights(None, self.size)

    def expected(self, predict, images):
        outputs = predict(self.pool).astype(np.float64)  # P passes, once per call: each draw's mean is read from them
        return outputs[self.draws(images)].mean(axis=1)


@dataclass(frozen=True, eq=False)
class BaselineAbsence:
    """Each absent channel set to one value per channel, ``means`` ``(C,)`` (the train mean)."""

    means: np.ndarray
    name: str = "baseline"
    n_references = 1
    has_standard_error = False

    def __post_init__(self):
        require_count(np.size(self.means), 1, "means", "channel means")

    def references(self, images, present, rows=None):
        return np.asarray(self.means, dtype=images.dtype).reshape(1, 1, 1, 1, 1, -1), np.ones(1)

    def expected(self, predict, images):
        reference = np.broadcast_to(np.asarray(self.means, dtype=images.dtype), (1, *images.shape[1:]))
        return predict(np.ascontiguousarray(reference))[0].astype(np.float64)


@dataclass(frozen=True, eq=False)
class BlurAbsence:
    """Each absent channel replaced by the image's own channel smoothed with a Gaussian of
    ``sigma`` pixels (reflected at the edges)."""

    sigma: float
    name: str = "blur"
    n_references = 1
    has_standard_error = False

    def smoothed(self, images: np.ndarray) -> np.ndarray:
        """``images`` ``(N, H, W, C)`` smoothed within each image and channel."""
        return gaussian_filter(images, sigma=(0, self.sigma, self.sigma, 0), mode="reflect")

    def references(self, images, present, rows=None):
        return self.smoothed(images)[:, None, None], np.ones(1)

    def expected(self, predict, images):
        return predict(self.smoothed(images)).astype(np.float64)


def block_means(images: np.ndarray, size: int) -> np.ndarray:
    """``images`` ``(N, H, W, C)`` averaged over a ``size × size`` grid of blocks:
    ``(N, size, size, C)``."""
    rows = np.linspace(0, images.shape[1], size + 1).astype(int)
    cols = np.linspace(0, images.shape[2], size + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(images.astype(np.float64), rows[:-1], axis=1), cols[:-1], axis=2)
    return sums / (np.diff(rows)[:, None, None] * np.diff(cols)[None, :, None])


@dataclass(frozen=True, eq=False)
class ConditionalAbsence:
    """Absent channels from the ``neighbours`` images of ``pool`` ``(P, H, W, C)`` nearest to
    the image in the present channels.

    The distance is the squared Euclidean distance between ``descriptor_size²`` block means per
    channel, each channel scaled by its spread over the pool, summed over the present channels.
    The empty coalition stays the marginal: ``v(∅)`` is the pool's mean output. The neighbours
    are ``K`` stand-ins for the conditional distribution, so with two or more the estimate has a
    standard error (the spread of the ``K`` games played against the ``k``-th neighbour alone).
    """

    pool: np.ndarray
    neighbours: int = 8
    descriptor_size: int = 8
    name: str = "conditional"
    _pool_descriptors: np.ndarray = field(init=False, repr=False)
    _scale: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        require_stack(self.pool, "pool")
        if not 1 <= self.neighbours <= len(self.pool):
            raise ValueError(f"conditional: {self.neighbours} neighbours from a pool of {len(self.pool)} images "
                             "(explainability.conditional.neighbours, .pool)")
        raw = block_means(self.pool, self.descriptor_size)
        scale = raw.std(axis=(0, 1, 2))
        object.__setattr__(self, "_scale", np.where(scale > 0, scale, 1.0))
        object.__setattr__(self, "_pool_descriptors", self.descriptors(self.pool))

    def descriptors(self, images: np.ndarray) -> np.ndarray:
        """Scaled block means ``(N, C, descriptor_size²)``."""
        d = block_means(images, self.descriptor_size) / self._scale
        return d.reshape(len(images), self.descriptor_size**2, d.shape[-1]).transpose(0, 2, 1)

    def nearest(self, images: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Pool indices ``(N, S, neighbours)`` nearest in the present channels (ties: lower index)."""
        x, p = self.descriptors(images), self._pool_descriptors
        per_channel = (  # (N, P, C) squared distances, channel by channel
            (x**2).sum(-1)[:, None] + (p**2).sum(-1)[None] - 2 * np.einsum("ncd,pcd->npc", x, p)
        )
        distance = np.einsum("npc,sc->nsp", per_channel, present.astype(np.float64))
        return np.argsort(distance, axis=-1, kind="stable")[..., : self.neighbours]

    @property
    def n_references(self) -> int:
        return self.neighbours

    @property
    def has_standard_error(self) -> bool:
        return self.neighbours >= 2  # one neighbour: no spread to estimate it from

    def references(self, images, present, rows=None):
        return self.pool[self.nearest(images, present)], np.full(self.neighbours, 1.0 / self.neighbours)

    def expected(self, predict, images):
        return predict(self.pool).astype(np.float64).mean(axis=0)
