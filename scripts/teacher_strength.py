"""How strong must a teacher be for distillation to pay? Gain over training alone against teacher robustness.

    python scripts/compare_methods.py recipes/fashion-mnist-ciard.yaml --methods rslad,ciard --lrs 0.5 \
        --results results/fashion-mnist-teacher-e2.jsonl run.name=fmnist-t2 teachers.0.train.epochs=2
    python scripts/teacher_strength.py --baseline results/fashion-mnist-methods.jsonl \
        results/fashion-mnist-teacher-e2.jsonl results/fashion-mnist-methods.jsonl \
        --out results/fashion-mnist-teacher-strength

Each results file is one teacher budget (a comparison run with its own shared teachers; its `teacher` rows
hold the robust teacher's clean and AutoAttack accuracy). The students trained alone (methods that read no
teacher) come from `--baseline`; each distillation method's gain is its mean (clean + AA) / 2 over seeds
minus the best trained-alone mean. Rows that failed a sanity check are left out (masked, not ranked). Writes
`OUT.md` (the table) and `OUT.png` (gain against the teacher's AutoAttack accuracy, one line per method).
"""

from compressor.experiments.strength import main

if __name__ == "__main__":
    main()
