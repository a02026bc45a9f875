"""Adversarial attacks on [0,1] image classifiers, L-inf and L2, by recipe name.

from compressor.attacks import get_attack
result = get_attack("autoattack")(model, x, y, eps=8 / 255, batch_size=256)
robust_accuracy = result.robust.float().mean()

Each module here registers the attacks it defines (``@register_attack``); the registry imports them on the
first lookup, so importing this package costs no torch and adding an attack is one module.
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
