"""Robustness evaluation: clean and robust accuracy under attacks, sanity checks, reports and eps curves.

from compressor.evaluation import AttackSettings, evaluate_robustness, write_evaluation
result = evaluate_robustness(model, x, y, attacks=["pgd20", "autoattack"], settings=AttackSettings(eps=8 / 255))
write_evaluation(result, run_dir)
"""

from compressor.evaluation.curve import plot_robust_vs_eps, robust_vs_eps
from compressor.evaluation.output import print_evaluation, write_evaluation
from compressor.evaluation.result import EvaluationResult, SanityCheck
from compressor.evaluation.robustness import AttackSettings, evaluate_robustness

__all__ = [
    "AttackSettings",
    "EvaluationResult",
    "SanityCheck",
    "evaluate_robustness",
    "plot_robust_vs_eps",
    "print_evaluation",
    "robust_vs_eps",
    "write_evaluation",
]
