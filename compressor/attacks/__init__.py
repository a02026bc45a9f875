"""Adversarial attacks on [0,1] image classifiers, L-inf and L2, by recipe name or as functions.

from compressor.attacks import get_attack
result = get_attack("autoattack")(model, x, y, eps=8 / 255, batch_size=256)
robust_accuracy = result.robust.float().mean()
"""

from compressor.attacks.apgd import apgd, apgd_targeted
from compressor.attacks.autoattack import autoattack
from compressor.attacks.base import AttackResult
from compressor.attacks.fab import fab_targeted
from compressor.attacks.fgsm import fgsm
from compressor.attacks.pgd import maximize
from compressor.attacks.pgd_attack import cw_attack, pgd_attack
from compressor.attacks.registry import ATTACKS, AttackSpec, attack_names, get_attack
from compressor.attacks.square import square

__all__ = [
    "ATTACKS",
    "AttackResult",
    "AttackSpec",
    "apgd",
    "apgd_targeted",
    "attack_names",
    "autoattack",
    "cw_attack",
    "fab_targeted",
    "fgsm",
    "get_attack",
    "maximize",
    "pgd_attack",
    "square",
]
