"""Per-method parameters, validated by name (torch-free, so `compressor validate` stays fast).

Each class registers its method (`register_params`: teacher roles, whether it trains a model on its own,
whether validation attacks); the implementation in `compressor.methods.<module>` reads its parameters from
the model here with the same `name`. Unknown keys are rejected like everywhere else in a recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny
from pydantic_core import PydanticCustomError

from compressor.config.method_registry import method_info, method_names, register_params
from compressor.config.numbers import Number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Params(_Strict):
    """Base of every method's parameters (a user's own method subclasses it too)."""

    name: str

    def needed_teachers(self) -> tuple[str, ...]:
        """The teacher roles the recipe must provide for this method."""
        return method_info(self.name).teacher_roles

    @classmethod
    def resolve_for(cls, data: Any) -> type[Params]:
        """The registered parameters class a `method:` mapping names (this class when it names none)."""
        name = data.get("name") if isinstance(data, Mapping) else None
        return method_info(name).params if name in method_names() else cls  # type: ignore[return-value]


@register_params(single_model=True, robust_validation=False)
class NaturalParams(Params):
    """Cross-entropy on clean images (clean teachers, references)."""

    name: Literal["natural"]


@register_params(single_model=True)
class PGDATParams(Params):
    """Madry et al. 2018: cross-entropy on PGD examples."""

    name: Literal["pgd_at"]


@register_params(single_model=True)
class FastATParams(Params):
    """Wong et al. 2020 ("Fast is better than free"): CE on one FGSM step from a uniform random start.

    About 1/5 of PGD-10 training's cost. The step is alpha_scale x eps (the paper's 1.25). Guard against
    catastrophic overfitting: every guard_every steps PGD (the recipe's training attack, same random start)
    is run on one fixed training batch (the first, as the paper's); when its accuracy falls more than
    guard_drop (the paper's 0.2) below its best so far, training switches to PGD for good.
    """

    name: Literal["fast_at"]
    alpha_scale: Number = Field(1.25, gt=0, le=2)
    guard_every: int = Field(50, ge=1)
    guard_drop: Number = Field(0.2, gt=0, le=1)


@register_params(single_model=True)
class TRADESParams(Params):
    """Zhang et al. 2019: CE(S(x)) + beta * KL(S(x') || S(x))."""

    name: Literal["trades"]
    beta: Number = Field(6.0, ge=0)


@register_params(robust_validation=False)
class KDParams(Params):
    """Hinton et al. 2015: (1-alpha) CE + alpha tau^2 KL on clean images, from one teacher."""

    name: Literal["kd"]
    tau: Number = Field(4.0, gt=0)
    alpha: Number = Field(0.9, ge=0, le=1)
    teacher: Literal["robust", "clean"] = "clean"

    def needed_teachers(self) -> tuple[str, ...]:
        """KD distils from the one teacher its `teacher` parameter names."""
        return (self.teacher,)


@register_params(teacher_roles=("robust",))
class ARDParams(Params):
    """Goldblum et al. 2020: alpha tau^2 KL(S(x')/tau || T(x)/tau) + (1-alpha) CE(S(x), y).

    tau defaults to 1, not the authors' CIFAR value 30 (`method.tau=30` restores it): on digits, at each
    tau's best learning rate, the validation score ((clean + PGD-10) / 2) is 93.8% with tau 1 against 88.9%
    with tau 30 (results/digits-methods-sgd.jsonl); on MNIST at eps 0.3, tau 30 drives the student to a
    constant predictor (the teacher's mean logits; issue 13), tau 1 does not.
    """

    name: Literal["ard"]
    tau: Number = Field(1.0, gt=0)
    alpha: Number = Field(1.0, ge=0, le=1)


@register_params(teacher_roles=("robust",))
class RSLADParams(Params):
    """Zi et al. 2021: robust soft labels T_rob(x) for both the adversarial and the clean term.

    Its KL terms are averaged over batch x classes, as in the authors' code, so their gradient is 1/C of a
    cross-entropy's: under SGD it needs a larger learning rate than PGD-AT (digits, chosen on validation
    from {0.05, 0.1, 0.2, 0.5}: 0.5 against PGD-AT's 0.1; results/digits-methods-sgd.md).
    """

    name: Literal["rslad"]
    adv_weight: Number = Field(5 / 6, ge=0)
    nat_weight: Number = Field(1 / 6, ge=0)


@register_params(teacher_roles=("robust",))
class AdaADParams(Params):
    """Huang et al. 2023: the attack and the loss query the teacher at the same point x'."""

    name: Literal["adaad"]
    adv_weight: Number = Field(1.0, ge=0, le=1)


class TeacherRetrainParams(_Strict):
    """CIARD's continuous retraining of the robust teacher on the student's adversarial examples."""

    enabled: bool = True
    warmup_fraction: Number = Field(50 / 300, ge=0, le=1)
    lr: Number = Field(1e-4, ge=0)
    momentum: Number = Field(0.1, ge=0, lt=1)
    weight_decay: Number = Field(2e-4, ge=0)
    batchnorm: Literal["update", "frozen"] = "update"


class DualTeacherParams(Params):
    """Shared by MTARD, B-MTARD and CIARD: loss weights and entropy-balanced temperatures.

    Their KL terms are averaged over batch x classes (the authors' convention): 1/C of a cross-entropy's
    gradient, so under SGD they want a larger learning rate than PGD-AT (see RSLADParams); the shipped
    digits and MNIST recipes set the rate chosen on the validation split.
    """

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


@register_params(teacher_roles=("robust", "clean"))
class MTARDParams(DualTeacherParams):
    """Zhao et al. 2022: two teachers, adaptive weights, fixed temperatures."""

    name: Literal["mtard"]
    weights: Literal["fixed", "adaptive"] = "adaptive"
    balance_temperatures: bool = False


@register_params(teacher_roles=("robust", "clean"))
class BMTARDParams(DualTeacherParams):
    """Zhao et al. 2024: MTARD with entropy-balanced temperatures."""

    name: Literal["b_mtard"]
    weights: Literal["fixed", "adaptive"] = "adaptive"


@register_params(teacher_roles=("robust", "clean"))
class CIARDParams(DualTeacherParams):
    """Lu et al. 2025 (arXiv 2509.12633): dual teachers, push term, robust-teacher retraining."""

    name: Literal["ciard"]
    push_temperature: Number = Field(5.0, gt=0)
    push_scale: Literal["auto"] | Number = "auto"
    push_cap: Number | None = Field(10.0, gt=0)
    teacher_retrain: TeacherRetrainParams = Field(default_factory=TeacherRetrainParams)
    quirk_teacher_train_mode: bool = False


@register_params(teacher_roles=("robust", "clean"))
class MMTARDParams(Params):
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

    def needed_teachers(self) -> tuple[str, ...]:
        """Both teachers, or only the robust one in the single-robust-teacher baseline."""
        return ("robust", "clean") if self.clean_teacher == "clean" else ("robust",)


@register_params(single_model=True)
class TeCoAParams(Params):
    """Mao et al. 2023: CE on the zero-shot logits of adversarial images."""

    name: Literal["tecoa"]


@register_params(single_model=True)
class FAREParams(Params):
    """Schlarmann et al. 2024: ||f(x') - f_orig(x)||^2 on image embeddings (unsupervised)."""

    name: Literal["fare"]


def parse_method(value: Any) -> Any:
    """A `method:` mapping validated as the parameters class its `name` registered, whenever that was.

    A second pass through the registry (no schema rebuilt when a plugin registers a method later); an
    unknown name is pydantic's `union_tag_invalid` error, which the loader turns into a did-you-mean line.
    """
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        return value  # not a method mapping: Params' own validation says what is wrong
    if value["name"] not in method_names():
        raise PydanticCustomError(
            "union_tag_invalid",
            "unknown method {tag}",
            {"tag": value["name"], "expected_tags": ", ".join(method_names())},
        )
    return method_info(value["name"]).params.model_validate(value)


def single_model_methods() -> list[str]:
    """Methods that train one model on their own (so they can train a teacher)."""
    return [name for name in method_names() if method_info(name).single_model]


if TYPE_CHECKING:
    MethodParams = Params
else:  # serialised as the registered class, with all its fields
    MethodParams = Annotated[SerializeAsAny[Params], BeforeValidator(parse_method)]
