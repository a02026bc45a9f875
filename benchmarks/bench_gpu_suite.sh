#!/usr/bin/env bash
# The GPU benchmarks in one command, each part under its own time limit; logs and JSON lines under $OUT.
#
#   bash benchmarks/bench_gpu_suite.sh [--tiny] [--device cuda|cpu] [PART ...]
#
# PARTs, run in the order given (default: env distill train autoattack export):
#   env         device, driver, versions, onnxruntime providers                      -> env.txt
#   distill     `compressor distill benchmarks/gpu-cifar-synthetic.yaml` end to end (bench_distill_e2e.py): GPU
#               defaults, cifar_resnet18 from wrn_34_10 + cifar_resnet18 on synthetic 32x32 RGB, 100 steps per teacher,
#               300 student steps, evaluate, export, verify                          -> distill-run.tar.gz
#   train       CIARD step throughput vs the authors' loop, MFU, peak memory, PGD-20 throughput
#               (bench_train_throughput.py; cifar_resnet18 only, with the fp32-eager variant)
#   autoattack  our AutoAttack vs torchattacks' on 1000 digits images (bench_autoattack.py): seconds, per-image agreement
#   export      latency of the exported formats vs PyTorch eager, onnxruntime CUDA when present (bench_export_latency.py)
# By name only: bf16 (bench_bf16_attack.py), pgd (bench_pgd.py), and
#   mnist       scripts/compare_methods.py recipes/mnist-ciard.yaml (8 methods, rates tuned on validation, 3 seeds), then
#               bf16-vs-fp32 attack strength on the MNIST CIARD student and robust teacher (needs MNIST_GZ's files)
# --tiny shrinks every part to seconds (small models, few steps) to check the wiring on a CPU first.
#
# Files under $OUT (default /tmp/bench-out), at most 8: suite.log, env.txt, results.jsonl (every benchmark's JSON
#   line: device, driver, torch, command), distill-run.tar.gz, profile-<student>.txt; with mnist:
#   mnist-methods.jsonl + .md, mnist-runs.tar.gz. The runs themselves go to $RUNS (default /tmp/suite-runs).
# Variables: PYTHON (python3), RUNS, T_<PART> (seconds a part may run before it gets SIGINT, then SIGKILL 10 s
#   later; the other parts still run), T_TOTAL (seconds for the whole suite, default 410: a part never runs past
#   it, and one that would start with under 20 s left is skipped), TRAIN_ARGS (extra flags for train),
#   DISTILL_OVERRIDES (extra KEY=VALUE overrides for distill), MNIST_GZ (.data/MNIST/raw, gzipped idx files),
#   MNIST_ROOT (/tmp/mnist), MNIST_OVERRIDES (extra KEY=VALUE overrides for the comparison).
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/bench-out}
DEVICE=cuda
TINY=0
PARTS=()
while (($#)); do
  case $1 in
    --tiny) TINY=1 ;;
    --device) DEVICE=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) PARTS+=("$1") ;;
  esac
  shift
done
((${#PARTS[@]})) || PARTS=(env distill train autoattack export)
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
LOG=$OUT/suite.log
RUNS=${RUNS:-/tmp/suite-runs}
TOTAL=${T_TOTAL:-410}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:$PWD/edge${PYTHONPATH:+:$PYTHONPATH}"

say() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

# part NAME DEFAULT_SECONDS COMMAND...: run with a time limit (never past T_TOTAL), log everything, keep going on failure.
part() {
  local name=$1 limit_var="T_${1^^}" default=$2
  shift 2
  local limit=${!limit_var:-$default} left=$((TOTAL - SECONDS))
  if ((left < 20)); then
    say "$name: skipped, ${left}s left of T_TOTAL=${TOTAL}s"
    return
  fi
  ((limit > left)) && limit=$left
  say "$name (limit ${limit}s): $*"
  local start=$SECONDS
  timeout --signal=INT --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local code=${PIPESTATUS[0]}
  say "$name: exit $code after $((SECONDS - start))s"
}

mnist_root() {
  local gz=${MNIST_GZ:-.data/MNIST/raw} root=${MNIST_ROOT:-/tmp/mnist}
  mkdir -p "$root/MNIST/raw"
  for f in "$gz"/*.gz; do
    [[ -f $root/MNIST/raw/$(basename "$f" .gz) ]] || gunzip -c "$f" >"$root/MNIST/raw/$(basename "$f" .gz)"
  done
  echo "$root"
}

for name in "${PARTS[@]}"; do
  case $name in
    env)
      {
        date -u
        timeout 20 nvidia-smi 2>/dev/null || echo "nvidia-smi: not available"
        timeout 60 "$PY" - <<'EOF'
import importlib.metadata as md, platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, "| SMs", p.multi_processor_count, "| memory GiB", round(p.total_memory / 2**30, 1))
for name in ("timm", "triton", "onnx", "onnxscript", "onnxruntime", "onnxruntime-gpu", "torchattacks",
             "pydantic", "pydantic-core", "typing-extensions", "open-clip-torch", "numpy", "pyyaml"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "-")
import onnxruntime
print("onnxruntime providers", onnxruntime.get_available_providers())
EOF
      } 2>&1 | tee "$OUT/env.txt" | tee -a "$LOG"
      ;;
    distill)
      if ((TINY)); then
        over=(run.name=gpu-cifar-synthetic-tiny student.name=tiny_cnn teachers.0.model.name=small_cnn
              teachers.1.model.name=small_cnn train.epochs=1 train.max_steps_per_epoch=2 data.synthetic.train_size=512
              data.synthetic.test_size=128 data.batch_size=32 evaluate.num_images=64 export.num_probes=32
              export.calibration_images=32 export.int8_robust_images=16 verify.allow_chance_reference=true)
      else
        over=()
      fi
      # shellcheck disable=SC2206
      over+=(run.device="$DEVICE" ${DISTILL_OVERRIDES:-})
      part distill 150 "$PY" benchmarks/bench_distill_e2e.py benchmarks/gpu-cifar-synthetic.yaml --runs "$RUNS" \
        --out "$RESULTS" --tar "$OUT/distill-run.tar.gz" "${over[@]}"
      ;;
    train)
      if ((TINY)); then
        args=(--students tiny_cnn --teacher-robust tiny_cnn --teacher-clean tiny_cnn --batch 16 --steps 2
              --warmup 1 --eval-n 16 --eval-reps 1 --flop-batch 8 --precision bf16 --compile on --channels-last on)
      else
        args=(--students cifar_resnet18 --steps 8 --warmup 1 --eval-reps 2 --variants)
      fi
      # shellcheck disable=SC2086
      part train 115 "$PY" benchmarks/bench_train_throughput.py --device "$DEVICE" "${args[@]}" \
        --profile-dir "$OUT" --out "$RESULTS" ${TRAIN_ARGS:-}
      ;;
    bf16)
      ((TINY)) && args=(--epochs 1 --n 64) || args=()
      part bf16 120 "$PY" benchmarks/bench_bf16_attack.py --device "$DEVICE" "${args[@]}" --out "$RESULTS"
      ;;
    pgd)
      ((TINY)) && args=(--model digits-cnn --batch 32 --iters 2 --repeat 1) || args=(--model resnet18 --batch 512)
      part pgd 90 "$PY" benchmarks/bench_pgd.py --device "$DEVICE" "${args[@]}" --out "$RESULTS"
      ;;
    autoattack)
      # the reference runs before torchattacks' own wrapper, so a run cut short by its limit still compares them
      ((TINY)) && args=(--n 32 --epochs 1 --batch-size 32 --skip-wrapper) || args=(--n 1000 --batch-size 1000)
      part autoattack 80 "$PY" benchmarks/bench_autoattack.py --device "$DEVICE" "${args[@]}" --out "$RESULTS"
      ;;
    export)
      if ((TINY)); then
        args=(--models small_cnn --batch-sizes 1 --runs 5 --warmup 1)
      else
        args=(--models cifar_resnet18 --batch-sizes 1,32 --runs 20 --warmup 3)
      fi
      part export 45 "$PY" benchmarks/bench_export_latency.py "${args[@]}" --out "$RESULTS"
      ;;
    mnist)
      root=$(mnist_root)
      over=("data.root=$root")
      if ((TINY)); then
        over+=(data.limit_train=640 data.limit_test=128 train.epochs=1 teachers.0.train.epochs=1
               teachers.1.train.epochs=1 evaluate.num_images=64 "evaluate.attacks=[pgd20]" "evaluate.eps_curve=[]"
               "export.formats=[fp32]" run.name=mnist-ciard-tiny)
        methods=ciard,pgd_at
        grid=(--lrs 0.5 --seeds 0)
      else
        methods=pgd_at,trades,ard,rslad,mtard,b_mtard,ciard,ciard@push_scale=1
        grid=(--lrs 0.1,0.5 --seeds 0,1,2)
      fi
      # shellcheck disable=SC2206
      over+=(${MNIST_OVERRIDES:-})
      part mnist 560 "$PY" scripts/compare_methods.py recipes/mnist-ciard.yaml --device "$DEVICE" \
        --methods "$methods" "${grid[@]}" --results "$OUT/mnist-methods.jsonl" "${over[@]}"
      name_=$( ((TINY)) && echo mnist-ciard-tiny || echo mnist-ciard)
      for role in student robust; do
        run_dir=runs/$name_-ciard-lr0.5-s0
        [[ $role == robust ]] && run_dir=runs/$name_-teachers
        [[ -d $run_dir ]] && part bf16 120 "$PY" benchmarks/bench_bf16_attack.py --device "$DEVICE" \
          --run "$run_dir" --role "$role" --out "$RESULTS" "data.root=$root"
      done
      tar czf "$OUT/mnist-runs.tar.gz" --exclude='*.safetensors' --exclude='checkpoints' --exclude='tensorboard' \
        runs/"$name_"-* 2>/dev/null || true
      ;;
    *) say "unknown part '$name' (env distill train autoattack export bf16 pgd mnist)" ;;
  esac
done
say "done; files in $OUT:"
ls -la "$OUT" | tee -a "$LOG"
