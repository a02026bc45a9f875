"""Compare robust-distillation methods fairly: shared teachers, a tuned learning rate each, several seeds.

    python scripts/compare_methods.py recipes/quickstart.yaml --results results/digits-methods.jsonl
    python scripts/compare_methods.py recipes/mnist-ciard.yaml --methods pgd_at,rslad,ciard@push_scale=1 \
        --lrs 0.0003,0.001,0.003 --seeds 0,1,2 --results results/mnist-methods.jsonl
    python scripts/compare_methods.py recipes/quickstart.yaml --results results/digits-methods.jsonl --render

1. The recipe's teachers are trained once (runs/<name>-teachers) and every student distils from those files.
2. Tuning: each method trains at every learning rate of `--lrs` with the first seed; the rate whose best
   checkpoint scores highest on the validation split ((clean + PGD) / 2, the trainer's own validation) is
   chosen. The test split is never looked at to choose.
3. Testing: each method trains with its chosen rate for every seed (the tuning run is reused for the first
   seed) and is evaluated on the test split with the recipe's attacks.

A method may carry parameters after `@` (`ciard@push_scale=1`): an ablation row. Every finished run appends
one JSON line to `--results` at once; a rerun skips the rows already there, so an interrupted comparison
resumes. `--render` only rebuilds the Markdown table (`--results` with `.md`) from the rows.
"""

from compressor.experiments.comparison import main

if __name__ == "__main__":
    main()
