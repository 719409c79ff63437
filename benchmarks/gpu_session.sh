#!/usr/bin/env bash
# The GPU session (issues 13 and 21) in one command, sized for the device's 15-minute loan
# (its 1-3 minutes of start-up included): about 6 minutes expected on an H100/H200, and
# never more than 8: the steps' time limits add up to 480 s (of the 540 s a run may take;
# the rest is for `source .whl/gpu-env.sh`); NNKIT_SESSION_BUDGET_S=N caps the session lower
# (a step's limit is cut to what is left, and a step is skipped with under 10 s left).
# On the device, from the project root, with the run's timeout_s >= 540:
#     source .whl/gpu-env.sh && bash benchmarks/gpu_session.sh
# The steps, most valuable first (limit in s). Each one's files land in $OUT as it ends (the
# lecture runs rewrite theirs after each combination), so a run stopped at any point keeps
# what it measured; a failing or slow step never stops the session.
#   nvidia-smi        10  the card
#   info              25  `nnkit info`; the GPU backends: backends.available() less numpy
#                         and array_api_strict (cupy, jax, torch: whichever load here), the
#                         compiled ones (can_scan: jax), the eager ones, and all of them
#                         with a compiled step (can_compile_step: torch) batched only ("lean":
#                         torch.compile would compile once per batch size) -> backends.txt
#   gpu-tests         70  pytest -m gpu (-v: a cut run still logs each result)
#   lecture-compiled  50  the lecture's 40,000 minibatches of 64 end to end on JAX: fused,
#                         then batched, float32 and bfloat16, cold and warm
#                                                                 -> lecture-compiled.json
#   bench-s1          75  S1 at batch 64 and 1024, float32: every GPU backend batched and fused
#                         (torch fused: the step compiled by torch.compile, CUDA graphs) beside
#                         torch_cuda (PyTorch CUDA eager), torch_compile_cuda (its step
#                         compiled, CUDA graphs) and jax_optax_scan, 10 rounds; compile times
#                         on their own lines                                 -> s1.json/png/md
#   bench-s6          70  S6 (K lecture MLPs at once, batch 64) at K = 1, 16, 256, 1024: every
#                         GPU backend's Sweep, and its K sequential fits at K <= 16 (1024 fits
#                         would take minutes), beside torch_func_cuda (torch.func vmap) and
#                         jax_vmap, 5 rounds; the K=256 target: within 2x K=1's time
#                                                                            -> s6.json/png/md
#   lecture-eager     35  the lecture run on CuPy and torch, batched float32, the cold pass
#                         only (no compile to amortise)                   -> lecture-eager.json
#   bench-s2          60  S2 at batch 4096 and 8192 (matmul-bound), float32 (TF32 off) and
#                         bfloat16, the GPU backends lean, held against the n x n matmul peaks of the same run
#                         (n = 4096, 8192; CuPy's, JAX's and torch's: cuBLAS), 5 rounds
#                                                                            -> s2.json/png/md
#   bench-s4-s5       25  S4 and S5 at batch 64 (S1 for 100 epochs: one fit call, ten of ten
#                         epochs): JAX's default fit vs the JAX+Optax scan -> s4-s5.json/png/md
#   bench-crossover   35  S1 at batch 1, 8, 64, 256, 1024 on NumPy (the CPU) and every GPU
#                         backend (lean): the crossover batch size and the batch-1 step overhead
#                                                                     -> crossover.json/png/md
#   device-tests      25  the backend-parametrised tests, the GPU backends' cases (-k), -v
# $OUT (default ./gpu-session-out) also gets session.log, appended line by line. Commit the
# files under benchmarks/results/ with the device in their names.
#     bash benchmarks/gpu_session.sh --dry-run
# runs the same steps on the CPU (CI: tests/test_gpu_session.py; a minute or two): tiny
# shapes (NNKIT_BENCH_SMOKE), whatever backends exist, one batch size a bench step (S6: K = 1
# and 4, sequential fits at K = 1 only), one timed round, 50 lecture steps (fused only on
# JAX), pytest --collect-only, limits x3.
# TF32 stays off (NNKIT_TF32 unset; CUPY_TF32 is unset too); NNKIT_TF32=1 measures TF32.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
dry=0
[[ "${1:-}" == "--dry-run" ]] && dry=1
out=${OUT:-$PWD/gpu-session-out}
mkdir -p "$out"
log="$out/session.log"
py=${PYTHON:-python3}
budget=${NNKIT_SESSION_BUDGET_S:-480}
scale=1  # the dry run: 3, for a small CPU that compiles slower than the device's host
export PYTHONUNBUFFERED=1 CI=1
unset NNKIT_BENCH_SMOKE
[[ "${NNKIT_TF32:-}" == 1 ]] || unset CUPY_TF32
ran=0 skipped=0 limits=0 start=$SECONDS

say() { echo "$*" | tee -a "$log"; }

step() {  # step SECONDS NAME COMMAND...: run under a time limit, logged; never stops the session
  local limit=$1 name=$2 left rc
  shift 2
  limit=$((limit * scale))
  left=$((budget - (SECONDS - start) - 5))  # 5 s for timeout's kill after the limit
  if ((left < 10)); then
    skip "$name" "$((budget - (SECONDS - start))) s of the session's $budget s left"
    return
  fi
  ((limit > left)) && limit=$left
  ran=$((ran + 1)) limits=$((limits + limit))
  say "=== $name ($(date -u +%T), limit ${limit}s): $*"
  timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  say "=== $name: exit $rc ($((SECONDS - start)) s into the session)"
}

skip() {  # skip NAME WHY
  skipped=$((skipped + 1))
  say "=== $1: skipped ($2)"
}

dv() { if ((dry)); then echo "$2"; else echo "$1"; fi; }  # dv DEVICE DRY: this run's value
collect=()
if ((dry)); then
  export NNKIT_BENCH_SMOKE=1
  collect=(--collect-only -q) scale=3 budget=$((budget * 3))
fi
mode=device
((dry)) && mode="dry run, CPU"
say "=== gpu session ($mode): budget ${budget}s, results in $out, TF32 ${NNKIT_TF32:-off}"

# the info step also writes the backend lists the later steps use
pick='
import sys
from nnkit import backends
from nnkit.cli import main
rc = main(["info"])
gpu = [b for b in backends.available() if b not in ("numpy", "array_api_strict")]
scan = [b for b in gpu if backends.get(b).can_scan]
eager = [b for b in gpu if b not in scan]
lean = [b + ":batched" if backends.get(b).can_compile_step else b for b in gpu]
with open(sys.argv[1], "w") as f:
    for key, names in (("gpu", gpu), ("scan", scan), ("eager", eager), ("lean", lean)):
        f.write(key + "=" + ",".join(names) + "\n")
print(f"GPU backends: {gpu} (compiled: {scan}, eager: {eager}, lean: {lean})")
sys.exit(rc)'
gpu="" scan="" eager="" lean=""
rm -f "$out/backends.txt"  # never a stale list from an earlier run into the same $OUT
step 10 nvidia-smi bash -c 'if command -v nvidia-smi >/dev/null; then nvidia-smi
  else echo "no nvidia-smi here"; fi'
step 25 info "$py" -c "$pick" "$out/backends.txt"
if [[ -f "$out/backends.txt" ]]; then
  while IFS="=" read -r key value; do
    case $key in
      gpu) gpu=$value ;; scan) scan=$value ;; eager) eager=$value ;; lean) lean=$value ;;
    esac
  done <"$out/backends.txt"
fi
[[ -n $gpu ]] || say "=== no GPU backend: the lecture and bench steps are skipped"
bench=("$py" -m nnkit bench)
# PyTorch CUDA eager, its step compiled (S1 only: a compile per batch size) and the JAX+Optax
# scan; each skipped by the bench where it cannot run (no CUDA, not installed)
peers_s1=torch_cuda,torch_compile_cuda,jax_optax_scan
peers=torch_cuda,jax_optax_scan
# S6: the peers that stack K models by hand (torch.func's vmap on CUDA, JAX's vmap)
peers_s6=torch_func_cuda,jax_vmap

step 70 gpu-tests "$py" -m pytest -m gpu -v -rfEs "${collect[@]}"

if [[ -n $scan ]]; then
  step 50 lecture-compiled "$py" benchmarks/lecture_run.py --backends "$scan" \
    --dtypes float32,bfloat16 --modes "$(dv fused,batched fused)" --steps "$(dv 40000 50)" \
    --out "$out/lecture-compiled.json"
else skip lecture-compiled "no GPU backend compiles a scan"; fi

if [[ -n $gpu ]]; then
  step 75 bench-s1 "${bench[@]}" --scenarios S1 --batch-sizes "$(dv 64,1024 64)" --dtype float32 \
    --backends "$gpu" --strategies batched,fused --peers "$peers_s1" --repeats "$(dv 10 1)" \
    --matmul-size "$(dv 2048 32)" --out "$out/s1.json" --plot "$out/s1.png" \
    --markdown "$out/s1.md"
else skip bench-s1 "no GPU backend"; fi

# S6: a Sweep of K models on each GPU backend; K sequential fits where K <= 16 only
if [[ -n $gpu ]]; then
  step 70 bench-s6 "${bench[@]}" --scenarios S6 --models "$(dv 1,16,256,1024 1,4)" \
    --max-sequential "$(dv 16 1)" --dtype float32 --backends "$gpu" --peers "$peers_s6" \
    --repeats "$(dv 5 1)" --matmul-size "$(dv 2048 32)" --out "$out/s6.json" \
    --plot "$out/s6.png" --markdown "$out/s6.md"
else skip bench-s6 "no GPU backend"; fi

if [[ -n $eager ]]; then
  step 35 lecture-eager "$py" benchmarks/lecture_run.py --backends "$eager" \
    --dtypes float32 --modes batched --steps "$(dv 40000 50)" --no-warm \
    --out "$out/lecture-eager.json"
else skip lecture-eager "no eager GPU backend"; fi

# S2 at 4096+: matmul-bound, held against the best n x n matmul of the same run
if [[ -n $gpu ]]; then
  step 60 bench-s2 "${bench[@]}" --scenarios S2 --batch-sizes "$(dv 4096,8192 4096)" \
    --dtype float32,bfloat16 --backends "$lean" --strategies batched,fused --peers "$peers" \
    --repeats "$(dv 5 1)" --matmul-size "$(dv 4096,8192 32,64)" --out "$out/s2.json" \
    --plot "$out/s2.png" --markdown "$out/s2.md"
else skip bench-s2 "no GPU backend"; fi

if [[ ,$scan, == *,jax,* ]]; then
  step 25 bench-s4-s5 "${bench[@]}" --scenarios S4,S5 --batch-sizes 64 --dtype float32 \
    --backends jax --strategies fused --peers jax_optax_scan --repeats "$(dv 5 1)" \
    --matmul-size "$(dv 1024 32)" --out "$out/s4-s5.json" --plot "$out/s4-s5.png" \
    --markdown "$out/s4-s5.md"
else skip bench-s4-s5 "no JAX backend"; fi

if [[ -n $gpu ]]; then
  step 35 bench-crossover "${bench[@]}" --scenarios S1 --batch-sizes "$(dv 1,8,64,256,1024 1,8)" \
    --dtype float32 --backends "numpy,$lean" --strategies batched,fused --peers none \
    --repeats "$(dv 3 1)" --matmul-size "$(dv 1024 32)" --out "$out/crossover.json" \
    --plot "$out/crossover.png" --markdown "$out/crossover.md"
else skip bench-crossover "no GPU backend"; fi

if [[ -n $gpu ]]; then
  step 25 device-tests "$py" -m pytest -v -rfEs "${collect[@]}" -m "not gpu" \
    -k "${gpu//,/ or }" tests/test_cross_backend.py tests/test_gradients.py \
    tests/test_fused.py tests/test_precision.py tests/test_strategies.py tests/test_fit.py \
    tests/test_io.py
else skip device-tests "no GPU backend"; fi

say "=== session: $ran steps run, $skipped skipped, limits ${limits}s of the ${budget}s budget," \
  "took $((SECONDS - start)) s"
