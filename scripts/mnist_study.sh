#!/usr/bin/env bash
# MNIST (eps 0.3) redone with a robust teacher stronger than its students (README, "Methods compared on
# MNIST"): every step resumable, so rerunning continues where it stopped (finished rows stay in results/).
#   bash scripts/mnist_study.sh [STEP...]   steps: teachers fast_teachers students table
#   (default: teachers students)
# teachers       the robust SmallCNN by PGD-AT (10 steps) on all 54,000 training images for $EPOCHS epochs
#                (default 15), the clean one as the recipe trains it; their test rows (AutoAttack) first
# fast_teachers  the same robust teacher by fast_at (one FGSM step from a random start, Wong et al. 2020):
#                what the cheaper recipe costs in robust accuracy, same epochs, same evaluation
# students       the recipe's tiny_cnn students at the budget of results/mnist-methods.jsonl (12,000 images,
#                4 epochs, rates chosen there) distilled from the PGD-AT teacher, seeds $SEEDS (default 0,1,2);
#                PGD-AT and TRADES alone do not depend on a teacher: their rows are taken from that file
# table          the students' table into README.md (block mnist-t15-methods) and the gain of each distiller
#                over training alone, weak (13.7% AA) vs strong teacher (results/mnist-teacher-strength)
# Python: $PYTHON (default .venv/bin/python). Data: ../shared/data (the recipe's data.root).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RECIPE=recipes/mnist-ciard.yaml
EPOCHS=${EPOCHS:-15}
SEEDS=${SEEDS:-0,1,2}
STUDENTS=(data.limit_train=12000 'evaluate.eps_curve=[]' train.epochs=4)
steps=${*:-teachers students}

recorded() {  # the teachers of run $1: the recorded copy in results/ when there is one, else runs/
  if [ -f "results/$1/teachers/summary.json" ]; then echo "results/$1"; else echo "runs/$1"; fi
}

teachers() {  # train the teachers of run $1 resumably, once; then their test rows into results file $2
  [ -f "$(recorded "$1")/teachers/summary.json" ] || "$PY" -m compressor.cli.main distill "$RECIPE" \
    --stages teachers --resume "run.name=$1" "teachers.0.train.epochs=$EPOCHS" "${@:3}"
  "$PY" scripts/compare_methods.py "$RECIPE" --methods pgd_at --seeds 0 --teachers-only \
    --teachers-run "$(recorded "$1")" --results "$2" "${STUDENTS[@]}"
}

students() {  # the students of the strong teacher (options: --render, --readme)
  "$PY" scripts/compare_methods.py "$RECIPE" --methods pgd_at,trades,rslad,ciard@push_scale=1 \
    --lrs-from results/mnist-methods.jsonl --seeds "$SEEDS" --results "results/mnist-t$EPOCHS-methods.jsonl" \
    --teachers-run "$(recorded "mnist-t$EPOCHS-teachers")" "run.name=mnist-t$EPOCHS" "${STUDENTS[@]}" "$@"
}

for step in $steps; do
  case $step in
    teachers) teachers mnist-t$EPOCHS-teachers results/mnist-t$EPOCHS-methods.jsonl ;;
    fast_teachers)
      teachers mnist-fast$EPOCHS-teachers results/mnist-fast$EPOCHS-teachers.jsonl \
        'teachers.0.train.method={name: fast_at}' ;;
    students)
      out=results/mnist-t$EPOCHS-methods.jsonl
      grep -q '"method": "pgd_at"' "$out" 2>/dev/null ||  # the trained-alone baselines, teacher-free
        grep -E '"method": "(pgd_at|trades)"' results/mnist-methods.jsonl >> "$out"
      students ;;
    table)  # the README's table of these students, and gain against teacher strength (weak vs strong)
      students --render --readme README.md
      "$PY" scripts/teacher_strength.py --baseline results/mnist-methods.jsonl \
        "results/mnist-methods.jsonl=8 epochs, 12k images" \
        "results/mnist-t$EPOCHS-methods.jsonl=$EPOCHS epochs, 54k images" \
        --out results/mnist-teacher-strength ;;
    *) echo "unknown step '$step' (teachers fast_teachers students table)" >&2; exit 2 ;;
  esac
done
