"""Recipe names resolve to attacks; unknown names fail in one line with a suggestion."""

from __future__ import annotations

import pytest

from compressor.attacks import ATTACKS, attack_names, get_attack
from compressor.attacks.pgd import REFERENCE_EPS
from compressor.errors import UserInputError


def test_names_in_a_recipe_resolve():
    for name in [
        "fgsm",
        "pgd20",
        "pgd20-0.003",
        "pgd100",
        "cw20",
        "apgd-ce",
        "apgd-t",
        "fab-t",
        "square",
        "autoattack",
    ]:
        assert name in attack_names() and get_attack(name) is ATTACKS[name]
    assert get_attack(" PGD20 ").name == "pgd20"


def test_step_conventions_scale_with_eps():
    assert ATTACKS["pgd20"].params == {"steps": 20, "rel_step": 0.25}  # 2/255 at 8/255
    assert ATTACKS["pgd20-0.003"].params["rel_step"] * REFERENCE_EPS == pytest.approx(0.003)
    assert get_attack("pgd50").params == {"steps": 50, "rel_step": 0.25}
    assert get_attack("pgd7-0.01").params["rel_step"] * REFERENCE_EPS == pytest.approx(0.01)
    assert get_attack("cw40").params["steps"] == 40


@pytest.mark.parametrize("bad", ["pgd", "pgd0", "apgd", "autoatack", "fab"])
def test_unknown_names_are_one_line_errors(bad):
    with pytest.raises(UserInputError) as err:
        get_attack(bad)
    assert "\n" not in str(err.value) and "unknown attack" in str(err.value)


def test_suggestion():
    with pytest.raises(UserInputError, match="did you mean 'autoattack'"):
        get_attack("autoatack")


def test_the_grammar_is_in_the_error() -> None:
    with pytest.raises(UserInputError, match=r"pgd<N>, pgd<N>-<step>, cw<N>"):
        get_attack("pgd0")


def test_autoattack_reads_its_stages_and_needs_from_the_registry() -> None:
    from compressor.attacks.autoattack import AUTOATTACK_STAGES

    spec = ATTACKS["autoattack"]
    assert spec.params["stages"] == AUTOATTACK_STAGES == ("apgd-ce", "apgd-t", "fab-t", "square")
    assert spec.min_classes == max(ATTACKS[n].min_classes for n in AUTOATTACK_STAGES) == 4
    assert [n for n in AUTOATTACK_STAGES if ATTACKS[n].row_budget] == ["apgd-t", "fab-t"]
    assert ATTACKS["square"].params["n_queries"] == 5000 and ATTACKS["apgd-t"].params["n_target_classes"] == 9


def test_a_user_attack_registers_with_a_decorator(monkeypatch) -> None:
    import torch

    from compressor.attacks import register_attack, registry
    from compressor.attacks.base import AttackResult

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_attack("noise", kind="black-box", params={"scale": 1.0}, min_classes=3)
    def noise(model, x, y, *, eps, norm="linf", seed=0, scale=1.0):
        """Uniform noise of size eps (a weak black-box baseline)."""
        g = torch.Generator().manual_seed(seed)
        x_adv = (x + scale * eps * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1)
        return AttackResult(x_adv, model(x_adv).argmax(1) == y)

    spec = get_attack("NOISE")
    assert (spec.name, spec.kind, spec.min_classes, spec.description) == (
        "noise",
        "black-box",
        3,
        "Uniform noise of size eps (a weak black-box baseline).",
    )
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    result = spec(model, torch.rand(5, 1, 2, 2), torch.zeros(5, dtype=torch.long), eps=0.1, batch_size=2)
    assert result.x_adv.shape == (5, 1, 2, 2) and result.robust.shape == (5,)
    with pytest.raises(ValueError, match="already registered"):
        register_attack("noise")(noise)
