"""One schema for every parameter of every pipeline, checked at the start of each run.

``conf/base/parameters*.yml``, an environment's overrides (``conf/<env>/``, ``conf/local``) and
``--params`` are merged by Kedro; :func:`check_parameters` validates the result with pydantic. An
unknown (misspelt) key, a wrong type or a value out of range stops the run with
:class:`ParameterError`, which names the key and the file that sets it (:func:`where_set`), or
``--params``. The hook that calls it is :class:`~explainable_salt.hooks.ConfigurationHook`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class ParameterError(ValueError):
    """A parameter the schema refuses; the message names its key and where it was set."""


class Strict(BaseModel):
    """A block of parameters: every key known, every value of its type."""

    model_config = ConfigDict(extra="forbid", strict=False)


# parameters.yml
class Execution(Strict):
    mode: Literal["in_process", "local_cluster", "scheduler"]
    n_workers: PositiveInt
    threads_per_worker: PositiveInt
    address: str | None = None
    retries: NonNegativeInt
    max_chunks_in_flight: PositiveInt | None = None
    backend: Literal["tensorflow", "openvino"] = "tensorflow"


# parameters_data_engineering.yml
class SplitRatios(Strict):
    train: Fraction
    validation: Fraction
    internal_test: Fraction

    @model_validator(mode="after")
    def _add_up_to_one(self) -> SplitRatios:
        if abs(self.train + self.validation + self.internal_test - 1.0) > 1e-6:
            raise ValueError("train + validation + internal_test must add up to 1")
        return self


class DataEngineering(Strict):
    coverage_classes: PositiveInt
    split_ratios: SplitRatios
    n_folds: Annotated[int, Field(ge=2)]
    seed: int


# parameters_feature_engineering.yml
def _known_attributes(names: list[str]) -> list[str]:
    from explainable_salt.seismic.attributes import ATTRIBUTES

    unknown = [name for name in names if name not in ATTRIBUTES]
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; seismic/attributes.py has {sorted(ATTRIBUTES)}")
    return names


class FeatureEngineering(Strict):
    analysis_channels: list[str] = []
    attribute_settings: dict[str, dict[str, Any]] = {}
    normalisation: Literal["robust", "standard"]
    chunk_size: PositiveInt

    _channels = field_validator("analysis_channels")(_known_attributes)

    @field_validator("attribute_settings")
    @classmethod
    def _settings_of_known_attributes(cls, settings: dict[str, dict]) -> dict[str, dict]:
        _known_attributes(list(settings))
        return settings


# parameters_modelling.yml
Padding = Literal["reflect", "zero"]


class UNet(Strict):
    depth: Annotated[int, Field(ge=1, le=6)]
    base_filters: PositiveInt
    batch_norm: bool
    dropout: Annotated[float, Field(ge=0, lt=1)]
    kernel_size: PositiveInt
    padding: Padding


class ResidualUNet(UNet):
    use_scse: bool = False


class VGG16UNet(Strict):
    weights_path: str | None = None
    batch_norm: bool
    padding: Padding
    decoder_filters: PositiveInt


class Models(Strict):
    """Each architecture's own settings; a run builds the one ``modelling.architecture`` names."""

    unet: UNet
    residual_unet: ResidualUNet
    vgg16_unet: VGG16UNet


Loss = Literal["bce", "dice", "focal", "lovasz"]


class Stage(Strict):
    loss_weights: dict[Loss, Annotated[float, Field(ge=0)]]
    epochs: PositiveInt
    learning_rate: PositiveFloat
    schedule: Literal["cosine", "plateau"]
    max_minutes: PositiveFloat | None = None
    alpha: Fraction = 0.0          # cosine: the fraction of the rate it ends at
    patience: PositiveInt | None = None  # plateau: epochs without a better validation metric before stopping

    @model_validator(mode="after")
    def _patience_with_plateau_only(self) -> Stage:
        if (self.schedule == "plateau") != (self.patience is not None):
            raise ValueError("patience is required by a plateau stage and read by no other")
        return self


class Checkpoints(Strict):
    folder: str
    resume: bool


class Training(Strict):
    stages: Annotated[list[Stage], Field(min_length=1)]
    augmentation: dict[Literal["flip"], bool] = {}
    batch_size: PositiveInt
    presence_loss_weight: Annotated[float, Field(ge=0)]
    seed: int
    deterministic: bool
    checkpoints: Checkpoints | None = None


class Inference(Strict):
    batch_size: PositiveInt
    flip_tta: bool
    threshold_grid: Annotated[list[Fraction], Field(min_length=1)]
    min_area_grid: Annotated[list[NonNegativeInt], Field(min_length=1)]
    peak_threshold_grid: Annotated[list[Fraction], Field(min_length=1)]
    chunk_size: PositiveInt
    bootstrap_resamples: PositiveInt


class Modelling(Strict):
    channels: Annotated[list[str], Field(min_length=1)]
    architecture: Literal["unet", "residual_unet", "vgg16_unet"]
    dtype_policy: Literal["float32", "mixed_bfloat16", "auto"]
    model: Models
    training: Training
    inference: Inference

    _channels = field_validator("channels")(_known_attributes)


# parameters_explainability.yml
Definition = Literal["background", "baseline", "blur", "conditional"]


class Blur(Strict):
    sigma: PositiveFloat


class Conditional(Strict):
    pool: PositiveInt
    neighbours: PositiveInt
    descriptor_size: PositiveInt
    seed: int


class Background(Strict):
    method: Literal["random", "kmeans"]
    size: PositiveInt
    kmeans_pool: PositiveInt
    seed: int


class Analysis(Strict):
    n_bootstrap: PositiveInt
    depth_bands: Annotated[list[float], Field(min_length=2)]
    scatter_pixels: PositiveInt
    seed: int


class Deletion(Strict):
    images: PositiveInt
    n_random_orders: PositiveInt
    batch_size: PositiveInt
    seed: int


class Showcase(Strict):
    n_images: PositiveInt


class PixelMaps(Strict):
    n_samples: PositiveInt
    seed: int


class Randomisation(Strict):
    images: PositiveInt
    max_correlation: Annotated[float, Field(ge=-1, le=1)]
    batch_size: PositiveInt
    seed: int


class SamplingError(Strict):
    n_resamples: PositiveInt
    seed: int
    min_ranking_unchanged: Fraction


class Amortized(Strict):
    pool: Annotated[int, Field(ge=2)]
    label_images: PositiveInt
    validation_images: PositiveInt
    depth: PositiveInt
    base_filters: PositiveInt
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat
    seed: int


class Explainability(Strict):
    absence: Annotated[list[Definition], Field(min_length=1)]
    estimator: Literal["exact", "amortized"] = "exact"
    amortized: Amortized
    blur: Blur
    conditional: Conditional
    background: Background
    max_images: PositiveInt | None = None
    max_exact_channels: PositiveInt
    n_permutations: PositiveInt
    seed: int
    images_per_call: PositiveInt
    chunk_size: PositiveInt
    batch_size: PositiveInt
    additivity_tolerance: PositiveFloat
    analysis: Analysis
    deletion: Deletion
    showcase: Showcase
    pixel_maps: PixelMaps
    randomisation: Randomisation
    sampling_error: SamplingError

    @field_validator("absence")
    @classmethod
    def _distinct_with_a_shared_primary(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError(f"definitions must be distinct, not {names}")
        if names[0] == "blur":
            raise ValueError("blur cannot be primary: its expected value differs per image")
        return names

    @model_validator(mode="after")
    def _amortized_explains_the_background_game(self):
        if self.estimator == "amortized" and self.absence[0] != "background":
            raise ValueError(f"estimator amortized is trained on the background game: list background first in "
                             f"absence, not {self.absence}")
        if self.estimator == "amortized" and self.background.method != "random":
            raise ValueError("estimator amortized learns the game against random draws of train images: "
                             f"background.method must be random, not {self.background.method}")
        if self.estimator == "amortized" and self.background.size > self.amortized.pool:
            raise ValueError(f"estimator amortized draws background.size = {self.background.size} images per label "
                             f"from amortized.pool = {self.amortized.pool}: the pool must be at least as large")
        return self


# parameters_inference.yml
class InferenceExplanations(Strict):
    max_images: PositiveInt | None = None
    chunk_size: PositiveInt
    additivity_tolerance: PositiveFloat
    background_per_tile: bool
    background_pool: PositiveInt


class SeismicScaling(Strict):
    method: Literal["linear", "histogram"]
    matched_quantiles: Annotated[list[Fraction], Field(min_length=2, max_length=2)]

    @field_validator("matched_quantiles")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if not value[0] < value[1]:
            raise ValueError(f"{value}: the lower quantile first")
        return value


class Seismic(Strict):
    iline_byte: PositiveInt
    xline_byte: PositiveInt
    variable: str | None = None
    direction: Literal["inline", "crossline", "both"]
    polarity: Literal[1, -1]
    resample: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)]
    scaling: SeismicScaling
    depth: Annotated[float, Field(ge=0)] | None = None
    quicklooks: NonNegativeInt

    @field_validator("iline_byte", "xline_byte")
    @classmethod
    def _header_field(cls, value: int) -> int:
        from explainable_salt.seismic.segy import TRACE_FIELDS

        if value not in TRACE_FIELDS:
            raise ValueError(f"byte {value} starts no standard trace-header field (189: inline, 193: crossline, "
                             "21: CDP, 9: field record, ...)")
        return value


class InferenceSections(Strict):
    tile_overlap: NonNegativeInt
    explanations: InferenceExplanations
    seismic: Seismic
    # Given with --params only: where the catalog reads your sections (conf/base/catalog/09_inference.yml):
    # a folder or zip of PNGs, a SEG-Y file, a zarr store or a NetCDF file.
    sections: str | None = None
    member_dir: str | None = None
    depths: str | None = None


# parameters_reporting.yml
class Explorer(Strict):
    n_images: PositiveInt
    title: str


class Reporting(Strict):
    explorer: Explorer


# parameters_synthetic_data.yml
class SyntheticData(Strict):
    n_train: PositiveInt
    n_test: PositiveInt
    seed: int
    shape_probabilities: dict[Literal["none", "dome", "sheet", "diapir", "massive"], Fraction]
    wavelet_frequency: PositiveFloat
    noise_level: Annotated[float, Field(ge=0)]


class Parameters(Strict):
    """Every parameter of the project, by pipeline."""

    execution: Execution
    data_engineering: DataEngineering
    feature_engineering: FeatureEngineering
    modelling: Modelling
    explainability: Explainability
    inference: InferenceSections
    reporting: Reporting
    synthetic_data: SyntheticData


def where_set(key: tuple[str | int, ...], files: list[Path], runtime_params: dict | None) -> str:
    """The last of ``files`` (YAML, in merge order) that sets the deepest part of ``key``, or
    ``--params`` when the run's runtime parameters set it."""

    def depth_in(tree: Any) -> int:
        depth = 0
        for part in key:
            if isinstance(tree, dict) and part in tree or isinstance(tree, list) and isinstance(part, int) and part < len(tree):
                tree, depth = tree[part], depth + 1
            else:
                break
        return depth

    def nested(params: dict) -> dict:  # --params keys may be dotted: a.b=1
        tree: dict = {}
        for dotted, value in params.items():
            *parents, last = str(dotted).split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return tree

    found, best = "the merged configuration", 0
    for path in files:
        depth = depth_in(yaml.safe_load(path.read_text()) or {})
        if depth and depth >= best:
            found, best = str(path), depth
    if runtime_params and depth_in(nested(runtime_params)) >= max(best, 1):
        found = "--params"
    return found


def parameter_files(conf_source: Path, env: str, base_env: str = "base") -> list[Path]:
    """The parameter files Kedro merges for ``env``, in merge order (base first)."""
    folders = [conf_source / base_env] + ([conf_source / env] if env and env != base_env else [])
    return [path for folder in folders for path in sorted(folder.glob("parameters*.yml"))]


def check_parameters(params: dict, files: list[Path] = (), runtime_params: dict | None = None) -> Parameters:
    """The validated parameters; :class:`ParameterError` naming each refused key and its file."""
    try:
        return Parameters.model_validate(params)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            key = tuple(issue["loc"])
            dotted = ".".join(str(part) for part in key)
            message = "unknown key (misspelt?)" if issue["type"] == "extra_forbidden" else issue["msg"]
            problems.append(f"{where_set(key, list(files), runtime_params)}: {dotted}: {message}")
        raise ParameterError("The run's parameters do not fit the schema (configuration/schema.py):\n- "
                             + "\n- ".join(problems)) from None
