"""Where per-image work runs: in this process, or in image chunks on a Dask cluster.

The ``execution`` parameters (``conf/base/parameters.yml``) choose it:

- ``mode: in_process`` (default): chunks run one after the other in the Kedro process;
- ``mode: local_cluster``: a ``dask.distributed.LocalCluster`` of ``n_workers`` processes with
  ``threads_per_worker`` threads each, bound to ``127.0.0.1``, started for the node and closed after;
- ``mode: scheduler``: an existing cluster at ``address`` (``tcp://host:8786``; ``dask scheduler`` +
  ``dask worker``, dask-kubernetes, dask-jobqueue...), whose workers have this package installed.

The chunks are the same whichever mode runs them, so the results are too. Tasks are module-level
functions of this package (shipped by reference) applied to NumPy chunks; Keras models travel as
the bytes of their ``.keras`` file and are loaded once per worker process. Each task may be
retried ``retries`` times; a chunk that still fails (its worker died too often, say) raises
:class:`ChunkFailedError` naming its images, so no image goes missing silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm.auto import tqdm

from explainable_salt.stacks import ImageStack

logger = logging.getLogger(__name__)

MODES = ("in_process", "local_cluster", "scheduler")
DEFAULTS = {
    "mode": "in_process", "n_workers": 2, "threads_per_worker": 1, "address": None,
    "retries": 1, "max_chunks_in_flight": None,
}


class ChunkFailedError(RuntimeError):
    """A chunk of images could not be processed on the cluster, even after its retries."""


def settings(execution: dict | None) -> dict:
    """The ``execution`` parameters completed with :data:`DEFAULTS` and checked."""
    merged = {**DEFAULTS, **(execution or {})}
    if merged["mode"] not in MODES:
        raise ValueError(f"execution.mode must be one of {MODES}, not {merged['mode']!r}")
    if merged["mode"] == "scheduler" and not merged["address"]:
        raise ValueError("execution.mode 'scheduler' needs execution.address, e.g. tcp://scheduler:8786")
    return merged


def worker_environment(threads: int) -> dict[str, str]:
    """Environment limiting TensorFlow and the BLAS/OpenMP libraries to ``threads`` threads, so
    that workers sharing a machine do not oversubscribe its cores."""
    n = str(int(threads))
    return {
        "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def limit_tensorflow_threads(threads: int) -> None:
    """Limit TensorFlow in this process to ``threads`` intra-op threads (a no-op once TensorFlow
    has started executing: the environment of :func:`worker_environment` covers that case)."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)


_CLIENTS: dict[tuple, list] = {}
_CLIENTS_LOCK = threading.Lock()


def _connect(execution: dict) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    threads = int(execution["threads_per_worker"])
    if execution["mode"] == "local_cluster":
        cluster = LocalCluster(
            n_workers=int(execution["n_workers"]), threads_per_worker=threads, processes=True,
            host="127.0.0.1", dashboard_address=None, env=worker_environment(threads),
        )
        logger.info("Started a Dask LocalCluster: %d workers x %d thread(s)", execution["n_workers"], threads)
        return Client(cluster, set_as_default=False), cluster
    client = Client(execution["address"], set_as_default=False)
    # Workers of an existing cluster keep their own environment; limit TensorFlow where it has
    # not started yet.
    client.run(limit_tensorflow_threads, threads)
    logger.info("Connected to the Dask scheduler at %s (%d workers)", execution["address"],
                len(client.scheduler_info()["workers"]))
    return client, None


@contextlib.contextmanager
def dask_client(execution: dict | None) -> Iterator[Any]:
    """A ``distributed.Client`` for the configured cluster, or ``None`` for ``in_process``.

    Nodes running at the same time (``--runner ThreadRunner``) share one client and cluster; the
    last one to finish closes them.
    """
    execution = settings(execution)
    if execution["mode"] == "in_process":
        yield None
        return
    key = tuple(sorted((k, str(v)) for k, v in execution.items()))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = [*_connect(execution), 0]
        entry = _CLIENTS[key]
        entry[2] += 1
    try:
        yield entry[0]
    finally:
        with _CLIENTS_LOCK:
            entry[2] -= 1
            if entry[2] == 0:
                del _CLIENTS[key]
                entry[0].close()
                if entry[1] is not None:
                    entry[1].close()


def model_bytes(model: keras.Model) -> bytes:
    """The ``.keras`` file of ``model``, as bytes, for shipping to or from workers."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def model_from_bytes(payload: bytes) -> keras.Model:
    """The model whose ``.keras`` file ``payload`` is (the inverse of :func:`model_bytes`)."""
    # Registers the zoo's custom layers (Padding2D) in this process, a Dask worker's too.
    import explainable_salt.segmentation.models  # noqa: F401

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(payload)
        return keras.models.load_model(path, compile=False)


_MODELS: dict[str, keras.Model] = {}
_MODELS_LOCK = threading.Lock()


def _shippable(value: Any) -> Any:
    """``value`` with its Keras models (alone or in a list) as their ``.keras`` bytes."""
    if isinstance(value, keras.Model):
        return model_bytes(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.Model) for v in value):
        return [model_bytes(v) for v in value]
    return value


def as_model(model: keras.Model | bytes) -> keras.Model:
    """``model`` itself, or the model whose ``.keras`` bytes it is (loaded once per process)."""
    if isinstance(model, keras.Model):
        return model
    key = hashlib.sha1(model).hexdigest()
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = model_from_bytes(model)
        return _MODELS[key]


def chunk_slices(n: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def map_chunks(
    function: Callable[..., Any],
    chunks: Iterable[tuple],
    execution: dict,
    *,
    shared: dict[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    total: int | None = None,
    desc: str = "chunks",
    client: Any = None,
) -> Iterator[Any]:
    """Yield ``function(*chunk, **shared)`` for each chunk, in order.

    In process, one chunk after the other. On a cluster (``client`` given, or opened from
    ``execution``), ``shared`` is sent once (a task of its own, which workers fetch), at most ``max_chunks_in_flight``
    chunks (default: twice the worker threads) are submitted at a time, so memory stays bounded,
    and a failing chunk raises :class:`ChunkFailedError` with its label (e.g. its image ids).
    ``function`` must be importable on the workers (a module-level function of this package).
    """
    execution = settings(execution)
    shared = shared or {}
    labels = iter(labels) if labels is not None else None
    progress = tqdm(total=total, desc=desc, unit="chunk")
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(execution))
        if client is None:
            for chunk in chunks:
                yield function(*chunk, **shared)
                progress.update()
            progress.close()
            return
        # Models travel as their .keras bytes, loaded once per worker (see as_model).
        shared = {k: _shippable(v) for k, v in shared.items()}
        yield from _map_on_cluster(client, function, chunks, execution, shared, labels, progress)


def map_stack(
    function: Callable[..., Any],
    stack: ImageStack,
    execution: dict | None,
    *,
    chunk_size: int,
    channels: Sequence[str] | None = None,
    shared: dict[str, Any] | None = None,
    chunk_args: Callable[[int, slice], tuple] | None = None,
    desc: str = "images",
) -> Iterator[tuple[slice, Any]]:
    """Run a per-image stage over ``stack`` in chunks of ``chunk_size`` images, where
    ``execution`` says; yield each chunk's slice of the stack and its result, in order.

    Each chunk calls ``function(images, *chunk_args(k, s), **shared)`` with ``images`` the
    chunk's data (read from a memory map chunk by chunk, restricted to ``channels`` when given)
    and ``k``, ``s`` the chunk's number and slice. A failed chunk is named by its first and last
    ids. Join the results with :func:`concatenate_chunks`, or consume them one by one to keep
    memory bounded by a chunk.
    """
    index = None if channels is None else [stack.channels.index(c) for c in channels]
    slices = chunk_slices(len(stack), chunk_size)
    chunks = (
        (np.asarray(stack.data[s] if index is None else stack.data[s][..., index]),
         *(chunk_args(k, s) if chunk_args else ()))
        for k, s in enumerate(slices)
    )
    labels = (f"{desc} {stack.ids[s.start]} … {stack.ids[s.stop - 1]}" for s in slices)
    results = map_chunks(function, chunks, execution, shared=shared, labels=labels, total=len(slices), desc=desc)
    yield from zip(slices, results)


class StreamedMapping(Mapping):
    """``{key: value}`` whose values are computed as its :meth:`items` are iterated, one chunk at a
    time (by ``items_factory``, a generator of ``(key, value)`` in ``keys``' order), and never
    kept: a node returns it and a dataset that writes item by item (``SectionSetDataset``) saves
    results larger than memory. Looking one key up recomputes everything before it."""

    def __init__(self, keys: Sequence[str], items_factory: Callable[[], Iterator[tuple[str, Any]]]):
        self._keys, self._items_factory = list(keys), items_factory

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __getitem__(self, key: str) -> Any:
        for name, value in self.items():
            if name == key:
                return value
        raise KeyError(key)

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        return self._items_factory()


def concatenate_chunks(pieces: Iterable[tuple[slice, np.ndarray]]) -> np.ndarray:
    """The arrays of :func:`map_stack`'s chunks joined along the image axis."""
    return np.concatenate([result for _, result in pieces])


def _identity(value: Any) -> Any:
    return value


def _map_on_cluster(client, function, chunks, execution, shared, labels, progress) -> Iterator[Any]:
    from distributed import KilledWorker

    # Shared values become tasks of their own rather than scattered data: the scheduler keeps
    # them, so a copy lost with a dead worker is recomputed instead of cancelling its dependents.
    shared_futures = {name: client.submit(_identity, value, pure=False) for name, value in shared.items()}
    in_flight = execution["max_chunks_in_flight"] or 2 * max(1, sum(client.nthreads().values()))
    window: deque = deque()

    def collect():
        future, index, label = window.popleft()
        try:
            result = future.result()
        except KilledWorker as error:
            raise ChunkFailedError(
                f"Chunk {index} ({label or 'no label'}) failed: the workers running it died "
                f"repeatedly ({error}). No partial result was kept."
            ) from error
        except Exception as error:
            raise ChunkFailedError(
                f"Chunk {index} ({label or 'no label'}) failed after {execution['retries']} "
                f"retries: {type(error).__name__}: {error}"
            ) from error
        progress.update()
        return result

    try:
        for index, chunk in enumerate(chunks):
            label = next(labels) if labels is not None else ""
            # The chunk travels inside its task (not scattered to one worker), so the task can
            # rerun elsewhere if that worker dies.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*[Ll]arge graph.*")
                future = client.submit(function, *chunk, **shared_futures, retries=int(execution["retries"]),
                                       pure=False, key=f"{getattr(function, '__name__', 'task')}-{index}-{os.urandom(4).hex()}")
            window.append((future, index, label))
            while len(window) >= in_flight:
                yield collect()
        while window:
            yield collect()
    finally:
        for future, _, _ in window:
            future.cancel()
        progress.close()
