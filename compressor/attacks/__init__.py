"""Adversarial attacks on [0,1] image classifiers, L-inf and L2, by recipe name.

from compressor.attacks import get_attack
result = get_attack("autoattack")(model, x, y, eps=8 / 255, batch_size=256)
robust_accuracy = result.robust.float().mean()

The registry is importable without torch; each attack function (compressor.attacks.apgd.apgd, ...) loads
on first use.
"""

from compressor.attacks.registry import (
    ATTACKS,
    AttackSpec,
    attack_grammars,
    attack_names,
    get_attack,
    register_attack,
    register_attack_family,
)

__all__ = [
    "ATTACKS",
    "AttackSpec",
    "attack_grammars",
    "attack_names",
    "get_attack",
    "register_attack",
    "register_attack_family",
]
