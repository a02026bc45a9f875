"""Per-method parameters, validated by name (torch-free, so `compressor validate` stays fast).

Each distillation method in `compressor.methods` reads its parameters from the model here with the
same `name`; unknown keys are rejected like everywhere else in a recipe.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from compressor.config.numbers import Number


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NaturalParams(_Params):
    """Cross-entropy on clean images (clean teachers, references)."""

    name: Literal["natural"]


class PGDATParams(_Params):
    """Madry et al. 2018: cross-entropy on PGD examples."""

    name: Literal["pgd_at"]


class TRADESParams(_Params):
    """Zhang et al. 2019: CE(S(x)) + beta * KL(S(x') || S(x))."""

    name: Literal["trades"]
    beta: Number = Field(6.0, ge=0)


class KDParams(_Params):
    """Hinton et al. 2015: (1-alpha) CE + alpha tau^2 KL on clean images, from one teacher."""

    name: Literal["kd"]
    tau: Number = Field(4.0, gt=0)
    alpha: Number = Field(0.9, ge=0, le=1)
    teacher: Literal["robust", "clean"] = "clean"


class ARDParams(_Params):
    """Goldblum et al. 2020: alpha tau^2 KL(S(x')/tau || T(x)/tau) + (1-alpha) CE(S(x), y)."""

    name: Literal["ard"]
    tau: Number = Field(30.0, gt=0)
    alpha: Number = Field(1.0, ge=0, le=1)


class RSLADParams(_Params):
    """Zi et al. 2021: robust soft labels T_rob(x) for both the adversarial and the clean term."""

    name: Literal["rslad"]
    adv_weight: Number = Field(5 / 6, ge=0)
    nat_weight: Number = Field(1 / 6, ge=0)


class AdaADParams(_Params):
    """Huang et al. 2023: the attack and the loss query the teacher at the same point x'."""

    name: Literal["adaad"]
    adv_weight: Number = Field(1.0, ge=0, le=1)


class TeacherRetrainParams(_Params):
    """CIARD's continuous retraining of the robust teacher on the student's adversarial examples."""

    enabled: bool = True
    warmup_fraction: Number = Field(50 / 300, ge=0, le=1)
    lr: Number = Field(1e-4, ge=0)
    momentum: Number = Field(0.1, ge=0, lt=1)
    weight_decay: Number = Field(2e-4, ge=0)
    batchnorm: Literal["update", "frozen"] = "update"


class DualTeacherParams(_Params):
    """Shared by MTARD, B-MTARD and CIARD: loss weights and entropy-balanced temperatures."""

    weights: Literal["fixed", "adaptive"] = "fixed"
    weight_lr: Number = Field(0.025, ge=0)
    balance_temperatures: bool = True
    tau_adv: Number = Field(1.0, ge=1)
    tau_nat: Number = Field(1.0, ge=1)
    tau_lr: Number = Field(0.001, ge=0)
    tau_min: Number = Field(1.0, gt=0)
    tau_max: Number = Field(10.0, gt=0)
    tau_decay_at: list[Number] = Field(default_factory=lambda: [215 / 300, 260 / 300, 285 / 300])
    tau_decay_factor: Number = Field(0.1, gt=0, le=1)
    quirk_tau_decay_every_step: bool = False


class MTARDParams(DualTeacherParams):
    """Zhao et al. 2022: two teachers, adaptive weights, fixed temperatures."""

    name: Literal["mtard"]
    weights: Literal["fixed", "adaptive"] = "adaptive"
    balance_temperatures: bool = False


class BMTARDParams(DualTeacherParams):
    """Zhao et al. 2024: MTARD with entropy-balanced temperatures."""

    name: Literal["b_mtard"]
    weights: Literal["fixed", "adaptive"] = "adaptive"


class CIARDParams(DualTeacherParams):
    """Lu et al. 2025 (arXiv 2509.12633): dual teachers, push term, robust-teacher retraining."""

    name: Literal["ciard"]
    push_temperature: Number = Field(5.0, gt=0)
    push_scale: Literal["auto"] | Number = "auto"
    push_cap: Number | None = Field(10.0, gt=0)
    teacher_retrain: TeacherRetrainParams = Field(default_factory=TeacherRetrainParams)
    quirk_teacher_train_mode: bool = False


class MMTARDParams(_Params):
    """Li et al. 2025 (arXiv 2511.17448): confidence-weighted dual-teacher KL for CLIP students."""

    name: Literal["mmt_ard"]
    w_adv: Number = Field(50.0, ge=0)
    w_clean: Number = Field(5.0, ge=0)
    confidence: Literal["cosine", "softmax", "none"] = "cosine"
    balance: Literal["fixed", "sigmoid"] = "fixed"
    sigmoid_k: Number = Field(5.0, gt=0)
    sigmoid_momentum: Number = Field(0.9, ge=0, lt=1)
    attack_momentum: Number = Field(0.9, ge=0, lt=1)
    clean_teacher: Literal["clean", "robust"] = "clean"  # robust: the single-robust-teacher baseline


class TeCoAParams(_Params):
    """Mao et al. 2023: CE on the zero-shot logits of adversarial images."""

    name: Literal["tecoa"]


class FAREParams(_Params):
    """Schlarmann et al. 2024: ||f(x') - f_orig(x)||^2 on image embeddings (unsupervised)."""

    name: Literal["fare"]


MethodParams = Annotated[
    NaturalParams
    | PGDATParams
    | TRADESParams
    | KDParams
    | ARDParams
    | RSLADParams
    | AdaADParams
    | MTARDParams
    | BMTARDParams
    | CIARDParams
    | MMTARDParams
    | TeCoAParams
    | FAREParams,
    Field(discriminator="name"),
]

METHOD_NAMES = [
    "natural",
    "pgd_at",
    "trades",
    "kd",
    "ard",
    "rslad",
    "adaad",
    "mtard",
    "b_mtard",
    "ciard",
    "mmt_ard",
    "tecoa",
    "fare",
]
SINGLE_MODEL_METHODS = ("natural", "pgd_at", "trades", "tecoa", "fare")
