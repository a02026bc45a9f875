"""The recipe: one YAML file validated by these pydantic models (unknown keys are rejected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from compressor.config.methods import MethodParams, single_model_methods
from compressor.config.numbers import Number

Role = Literal["robust", "clean"]
Format = Literal["fp32", "fp16", "int8"]
Logger = Literal["tensorboard", "wandb", "mlflow"]  # report.loggers: where training metrics go
Auto = Literal["auto"]


class Strict(BaseModel):
    """Base for every recipe section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class RunConfig(Strict):
    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$")
    output_dir: Path = Path("runs")
    seed: int = 0
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    smoke: bool = False  # set by `distill --smoke`: a wiring check whose numbers mean nothing


class SyntheticData(Strict):
    num_classes: int = Field(10, ge=2)
    image_size: int = Field(32, ge=4)
    channels: int = Field(3, ge=1)
    train_size: int = Field(256, ge=8)
    test_size: int = Field(128, ge=8)


class DataConfig(Strict):
    dataset: str = "digits"  # a registered data set (compressor.data.registry; plugins add more)
    root: Path | None = None
    download: bool = False
    image_size: int | None = Field(None, ge=4)
    channels: Literal[1, 3] | None = None
    val_fraction: Number = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    num_workers: int = Field(2, ge=0)
    augment: Literal["none", "crop_flip", "crop"] = "none"
    limit_train: int | None = Field(None, ge=1)
    limit_test: int | None = Field(None, ge=1)
    on_device: bool | Auto = "auto"
    class_names: list[str] | None = None
    synthetic: SyntheticData = Field(default_factory=SyntheticData)
    # ImageFolder: how test images reach image_size (auto: none when they already have it), and whether a
    # test split lacking some of train's classes (or having others) is mapped by class name instead of refused
    eval_transform: Literal["auto", "none", "resize", "resize_center_crop"] = "auto"
    allow_missing_classes: bool = False

    @field_validator("val_fraction")
    @classmethod
    def _validation_is_not_test(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(
                "must be > 0: validation is carved from train to select the best checkpoint, "
                "and the test split never selects one"
            )
        return value


class LoRAConfig(Strict):
    rank: int = Field(16, ge=1)
    alpha: Number = Field(32.0, gt=0)
    dropout: Number = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | None = None


class ClipPretrain(Strict):
    """Contrastive pre-training of an open_clip model here, on captions made from the class names."""

    epochs: int = Field(30, ge=1)
    lr: Number = Field(3e-3, gt=0)
    batch_size: int = Field(64, ge=2)


class ModelSpec(Strict):
    """A model by name: timm (our small-input zoo included), open_clip or RobustBench, optionally from a file."""

    source: Literal["timm", "open_clip", "robustbench"] = "timm"
    name: str
    # source: robustbench: the entry's data set and threat model, read from <model_dir>/<dataset>/<threat_model>/<name>.pt
    dataset: Literal["cifar10", "cifar100", "imagenet"] | None = None
    threat_model: Literal["Linf", "L2", "corruptions"] = "Linf"
    model_dir: Path = Path("models")
    pretrained: bool | str = False
    checkpoint: Path | None = None
    checkpoint_format: Literal["auto", "robustbench"] = "auto"
    trust_pickle: bool = False
    mean: list[Number] | None = None
    std: list[Number] | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    templates: str = "default"
    lora: LoRAConfig | None = None
    pretrain: ClipPretrain | None = None  # `checkpoint:` then names where the pre-trained weights go

    @model_validator(mode="after")
    def _pretrain_clip_only(self) -> ModelSpec:
        if self.pretrain is not None and (self.source != "open_clip" or self.pretrained is not False):
            raise ValueError("pretrain: is for open_clip models without `pretrained` weights")
        return self

    @model_validator(mode="after")
    def _robustbench_fields(self) -> ModelSpec:
        robustbench = self.source == "robustbench"
        if robustbench and self.dataset is None:
            raise ValueError("source: robustbench needs `dataset:` (cifar10, cifar100 or imagenet)")
        fields = ("dataset", "threat_model", "model_dir")
        stray = [f for f in fields if getattr(self, f) != type(self).model_fields[f].default]
        if stray and not robustbench:  # defaults pass: a resolved recipe writes every field
            raise ValueError(f"{', '.join(stray)}: only for source: robustbench")
        return self


class AttackConfig(Strict):
    """The training attack (the evaluation attacks live in `evaluate`)."""

    norm: Literal["linf", "l2"] = "linf"
    eps: Number = Field(8 / 255, ge=0)
    alpha: Number = Field(2 / 255, gt=0)
    steps: int = Field(10, ge=1)
    init: Literal["uniform", "normal", "zero"] = "uniform"
    init_std: Number = Field(0.001, ge=0)


class OptimConfig(Strict):
    name: Literal["sgd", "adamw", "adam"] = "sgd"
    lr: Number = Field(0.1, gt=0)
    momentum: Number = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: Number = Field(2e-4, ge=0)
    betas: tuple[Number, Number] = (0.9, 0.999)


class ScheduleConfig(Strict):
    name: Literal["constant", "step", "cosine", "ciard"] = "cosine"
    warmup_fraction: Number = Field(0.0, ge=0, lt=1)
    milestones: list[Number] = Field(default_factory=lambda: [0.5, 0.75])
    gamma: Number = Field(0.1, gt=0, le=1)


class TrainConfig(Strict):
    epochs: int = Field(10, ge=1)
    max_steps_per_epoch: int | None = Field(None, ge=1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool | Auto = "auto"
    channels_last: bool | Auto = "auto"
    val_every: int = Field(1, ge=1)
    log_every: int = Field(20, ge=1)
    checkpoint_every_steps: int = Field(0, ge=0)
    grad_clip: Number | None = Field(None, gt=0)
    quirk_select_on_test: bool = False
    allow_chance_teacher: bool = False  # distil even when a teacher's clean accuracy is at chance


class TeacherTraining(Strict):
    """Train a teacher inside the pipeline when no pretrained one is available."""

    method: MethodParams
    epochs: int = Field(10, ge=1)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    attack: AttackConfig | None = None

    @model_validator(mode="after")
    def _single_model(self) -> TeacherTraining:
        if self.method.name not in single_model_methods():
            raise ValueError(f"a teacher trains with one of {', '.join(single_model_methods())}")
        return self


class TeacherSpec(Strict):
    role: Role
    model: ModelSpec
    train: TeacherTraining | None = None


class EvaluateConfig(Strict):
    attacks: list[str] = Field(default_factory=lambda: ["pgd20"])
    eps: Number | None = Field(None, ge=0)
    norm: Literal["linf", "l2"] | None = None
    num_images: int = Field(1000, ge=1)
    batch_size: int = Field(256, ge=1)
    sanity_checks: bool = True
    eps_curve: list[Number] = Field(default_factory=list)
    zero_shot: list[DataConfig] = Field(default_factory=list)
    zero_shot_eps: list[Number] = Field(default_factory=lambda: [2 / 255, 4 / 255])
    # the teachers stage measures each teacher with this white-box attack at the evaluation threat; the
    # robust teacher should beat the distilled student under it by more than teacher_margin (else a warning)
    teacher_attack: str = "pgd20"
    teacher_margin: Number = Field(0.0, ge=0, lt=1)


BatchSizes = list[PositiveInt]


class TensorRTConfig(Strict):
    enabled: bool = False
    batch_sizes: BatchSizes = Field(default_factory=lambda: [1, 32], min_length=1)  # engine profiles


class ExportConfig(Strict):
    formats: list[Format] = Field(default_factory=lambda: list[Format](["fp32", "fp16", "int8"]))
    opset: int = Field(18, ge=13)
    dynamic_batch: bool = True
    exporter: Literal["dynamo", "torchscript"] = "dynamo"
    calibration_images: int = Field(256, ge=1)
    calibrate_on_adversarial: bool = False
    int8_calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    int8_reduce_range: bool | Literal["auto"] = "auto"  # auto: 7-bit weights only on CPUs without VNNI
    num_probes: int = Field(256, ge=1)
    probe_attack: str = "pgd20"  # crafts the adversarial probes (and robust-int8 images) in PyTorch
    # PyTorch Square at export on the robust probes nearest to failing, then per file and runtime at verify,
    # and on as many held-out points per int8 candidate: up to queries x points forward passes each (100 x
    # 12: a ResNet-18 student exports and verifies in under 3 minutes on one thread; one lost point already
    # fails every format's Square gate, and tests/bundling/test_square_teeth.py fails a damaged file with it)
    square_queries: int = Field(100, ge=0)
    square_points: int = Field(12, ge=1)
    # robustness-aware int8: layers stay in float while int8 loses more robust accuracy than this on
    # int8_robust_images held-out validation images attacked with PGD-20 in PyTorch (null: off)
    int8_max_robust_drop: float | None = Field(0.03, ge=0)
    int8_robust_images: int = Field(128, ge=1)  # each costs PGD-20; Square: square_points of them per file
    tensorrt: TensorRTConfig = Field(default_factory=TensorRTConfig)


class VerifyConfig(Strict):
    backends: list[str] = Field(default_factory=lambda: ["onnxruntime-cpu"])  # the edge kit's registry
    formats: list[Format] | None = None
    square_queries: int | None = Field(None, ge=1)  # None: the export's budget (compared with PyTorch)
    skip_square: bool = False  # no Square attack: the verdict is then INCOMPLETE, never a pass
    latency_runs: int = Field(10, ge=1)  # the pipeline's check; `compressor-edge verify` on a device: 30
    # latency batches, every row timed interleaved (TensorRT's profile batches are timed too when enabled)
    batch_sizes: BatchSizes = Field(default_factory=lambda: [1, 32], min_length=1)
    threads: int | None = Field(None, ge=1)
    tolerances: dict[str, dict[str, Number]] = Field(default_factory=dict)
    allow_chance_reference: bool = False  # pass even when PyTorch itself is at chance on the probes

    @field_validator("batch_sizes")
    @classmethod
    def _batch_one_timed(cls, sizes: list[int]) -> list[int]:
        if 1 not in sizes:
            raise ValueError(
                "must include 1 (the fastest passing row and max_latency_ms are judged at batch 1)"
            )
        return sizes


class ReportConfig(Strict):
    plots: bool = True
    # besides metrics.jsonl; wandb / mlflow need their extras (README: experiment trackers)
    loggers: list[Logger] = Field(default_factory=lambda: list[Logger](["tensorboard"]))


class Recipe(Strict):
    description: str = ""
    plugins: list[str] = Field(default_factory=list)  # modules that register methods / attacks (README)
    run: RunConfig = Field(default_factory=RunConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    teachers: list[TeacherSpec] = Field(default_factory=list)
    student: ModelSpec
    method: MethodParams
    attack: AttackConfig = Field(default_factory=AttackConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @model_validator(mode="after")
    def _teachers_match_method(self) -> Recipe:
        roles = [t.role for t in self.teachers]
        if len(set(roles)) != len(roles):
            raise ValueError("teachers: each role (robust, clean) may appear once")
        needed = self.method.needed_teachers()
        missing = [r for r in needed if r not in roles]
        if missing:
            raise ValueError(f"method '{self.method.name}' needs a {' and a '.join(missing)} teacher")
        return self

    def teacher(self, role: str) -> TeacherSpec | None:
        """The teacher with this role, if the recipe has one."""
        return next((t for t in self.teachers if t.role == role), None)

    def evaluation_threat(self) -> tuple[float, Literal["linf", "l2"]]:
        """The radius and norm every robustness number is measured at: `evaluate`'s, else the training attack's."""
        eps = self.evaluate.eps if self.evaluate.eps is not None else self.attack.eps
        return float(eps), self.evaluate.norm or self.attack.norm
