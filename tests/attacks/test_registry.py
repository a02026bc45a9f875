"""Recipe names resolve to attacks; unknown names fail in one line with a suggestion."""

from __future__ import annotations

import pytest

from compressor.attacks import ATTACKS, attack_names, get_attack
from compressor.attacks.registry import REFERENCE_EPS
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
