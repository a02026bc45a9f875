#!/usr/bin/env bash
# The Fashion-MNIST study (README, "Distillation on Fashion-MNIST"): every step resumable, so rerunning this
# script continues where it stopped (finished rows are kept in results/*.jsonl, finished stages are skipped).
#   bash scripts/fashion_mnist_study.sh [STEP...]
#   steps: teachers main strength sizes fast lowdata recheck table
#   (default: the first four; `table` only redraws the teacher-strength table and plot from the rows there)
# Python: $PYTHON (default .venv/bin/python). Data: ../shared/data (the recipe's data.root). Training
# precision: $PRECISION (default auto; the rows recorded before 2026-12-02 trained in bf16 on an AVX-512 BF16
# CPU, later ones as auto chose; evaluation is always fp32). Seeds of the strength step: $SEEDS (default 0,1,2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RECIPE=recipes/fashion-mnist-ciard.yaml
EXTRA=("$@")
# the shared teachers: the recorded ones in results/ when present, else the ones the teachers step trains
TEACHERS=runs/fashion-mnist-ciard-teachers
[ -f results/fashion-mnist-teachers/teachers/summary.json ] && TEACHERS=results/fashion-mnist-teachers
steps=${EXTRA[*]:-teachers main strength sizes}
P="train.precision=${PRECISION:-auto}"
SEEDS=${SEEDS:-0,1,2}
# the rates the main comparison chose on validation on its first grid (its KL distillers tried 1.0 later)
CHOSEN=(--lrs-from results/fashion-mnist-methods.jsonl --lrs 0.1,0.5)
compare() { "$PY" scripts/compare_methods.py "$RECIPE" "$@" "train.epochs=${STUDENT_EPOCHS:-5}" "$P"; }
shared_teacher_rows() {  # the shared teachers' test rows into results file $1 (same test images: reused)
  [ -f "$1" ] || grep '"phase": "teacher"' results/fashion-mnist-methods.jsonl > "$1"
}
teachers() {  # train the shared teachers of run $1 resumably, once (a finished summary is reused as it is)
  [ -f "runs/$1/teachers/summary.json" ] || "$PY" -m compressor.cli.main distill "$RECIPE" --stages teachers \
    --resume "$P" "run.name=$1" "${@:2}"
}

strength_table() {  # the table and plot from the settings measured so far (the shared teacher: 15 epochs);
  # the wider student and the small data set are judged against their own students trained alone
  budgets=()
  for epochs in 1 3; do
    f=results/fashion-mnist-teacher-e$epochs.jsonl
    [ ! -f "$f" ] || budgets+=("$f=$epochs epoch(s)")
  done
  budgets+=("results/fashion-mnist-methods.jsonl=15 epochs")
  f=results/fashion-mnist-methods-w32.jsonl && [ ! -f "$f" ] || budgets+=("$f=15 epochs, 29k student")
  f=results/fashion-mnist-n3000.jsonl && [ ! -f "$f" ] || budgets+=("$f=15 epochs, 3,000 images")
  "$PY" scripts/teacher_strength.py --baseline results/fashion-mnist-methods.jsonl "${budgets[@]}" \
    --out results/fashion-mnist-teacher-strength
}

for step in $steps; do
  case $step in
    teachers)  # the shared teachers, resumable mid-epoch (compare_methods reuses them as they are)
      [ "$TEACHERS" != runs/fashion-mnist-ciard-teachers ] || teachers fashion-mnist-ciard-teachers ;;
    main)  # tiny_cnn (10k): trained alone vs distilled, rates chosen on validation, 3 seeds; the KL
      # distillers' best rate was the top of the first grid (0.5), so their grid goes one step further
      compare --methods pgd_at,trades --lrs 0.1,0.5 --seeds 0,1,2 --teachers-run "$TEACHERS" \
        --results results/fashion-mnist-methods.jsonl
      compare --methods rslad,ciard --lrs 0.1,0.5,1 --seeds 0,1,2 --teachers-run "$TEACHERS" \
        --results results/fashion-mnist-methods.jsonl ;;
    strength)  # the same distillers from weaker robust teachers (1 and 3 epochs), at the rates chosen above;
      # only the robust teacher's budget varies: the clean teacher is the shared one, loaded, not retrained
      clean=("teachers.1.train=null" "teachers.1.model.checkpoint=$TEACHERS/teachers/clean.safetensors")
      for epochs in 1 3; do
        run=fashion-mnist-t$epochs-teachers shared=()  # a recorded copy in results/ is reused as it is
        if [ -f "results/$run/teachers/summary.json" ]; then shared=(--teachers-run "results/$run")
        else teachers "$run" "teachers.0.train.epochs=$epochs" "${clean[@]}"; fi
        compare --methods rslad,ciard "${CHOSEN[@]}" --seeds "$SEEDS" \
          --results results/fashion-mnist-teacher-e$epochs.jsonl run.name=fashion-mnist-t$epochs \
          teachers.0.train.epochs=$epochs "${clean[@]}" "${shared[@]}"
      done
      strength_table ;;
    sizes)  # a 3x wider student (29k parameters) from the same teachers, at the rates chosen for tiny_cnn
      # the same teachers on the same test images: their rows (an AutoAttack run each) are reused, not re-measured
      shared_teacher_rows results/fashion-mnist-methods-w32.jsonl
      compare --methods pgd_at,rslad,ciard "${CHOSEN[@]}" --seeds 0,1,2 \
        --results results/fashion-mnist-methods-w32.jsonl run.name=fashion-mnist-w32 \
        --teachers-run "$TEACHERS" \
        "student.kwargs={width: 32, pool: 4}" ;;
    fast)  # the shared robust teacher's recipe with fast_at (one FGSM step of $FAST_ALPHA x eps from a random
      # start, default the paper's 1.25) instead of PGD-10: what the cheaper teacher costs in robust accuracy
      alpha=${FAST_ALPHA:-1.25} run=fashion-mnist-fast-a${FAST_ALPHA:-1.25}-teachers
      clean=("teachers.1.train=null" "teachers.1.model.checkpoint=$TEACHERS/teachers/clean.safetensors")
      teachers "$run" "teachers.0.train.method={name: fast_at, alpha_scale: $alpha}" "${clean[@]}"
      compare --methods pgd_at --teachers-only --teachers-run "runs/$run" --results "results/$run.jsonl" ;;
    lowdata)  # the student's own labelled set cut to $LOW_N images ($LOW_N/10 for validation), $LOW_EPOCHS
      # epochs, from the shared teachers trained on all 54,000: a strong teacher and a small student data set;
      # each method's rate chosen again on this setting's own validation split; students evaluated on the
      # first $LOW_IMAGES test images (AutoAttack on 1,000 costs ~17 min a row on one thread), the shared
      # teachers' rows (1,000 images) reused; the table also fills README.md's fashion-mnist-n$LOW_N block
      # when it has one
      n=${LOW_N:-3000} out=results/fashion-mnist-n${LOW_N:-3000}.jsonl
      shared_teacher_rows "$out"
      readme=() && grep -q "<!-- table:fashion-mnist-n$n -->" README.md && readme=(--readme README.md)
      STUDENT_EPOCHS=${LOW_EPOCHS:-20} compare --methods "${LOW_METHODS:-pgd_at,rslad,ciard}" \
        --lrs 0.1,0.5 --seeds "$SEEDS" --results "$out" run.name=fashion-mnist-n$n data.limit_train=$n \
        "evaluate.num_images=${LOW_IMAGES:-500}" --teachers-run "$TEACHERS" "${readme[@]}" ;;
    recheck)  # PGD-AT's rows were judged before the black-box check retried Square's points: judge them again
      compare --methods pgd_at --lrs 0.1,0.5 --seeds 0,1,2 --teachers-run "$TEACHERS" --recheck \
        --results results/fashion-mnist-methods.jsonl ;;
    table) strength_table ;;
    *) echo "unknown step '$step' (teachers main strength sizes fast lowdata recheck table)" >&2; exit 2 ;;
  esac
done
