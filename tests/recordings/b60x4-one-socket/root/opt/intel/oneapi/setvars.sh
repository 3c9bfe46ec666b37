#!/bin/sh
# RECORDING STAND-IN for /opt/intel/oneapi/setvars.sh (multiarc test recording).
# It is not Intel software: it only exports the variables the evaluation reads and prints
# what the real script prints on success. Source it: . setvars.sh [--force]
_mra_root="$(cd "$(dirname "${BASH_SOURCE:-$0}")" 2>/dev/null && pwd)"
_mra_force=0
for _mra_arg in "$@"; do [ "$_mra_arg" = "--force" ] && _mra_force=1; done
if [ "${SETVARS_COMPLETED:-0}" = "1" ] && [ "$_mra_force" = "0" ]; then
  echo ":: WARNING: setvars.sh has already been run. Skipping re-execution."
  echo "   To force a re-execution of setvars.sh, use the '--force' option."
  echo "   Using '--force' can result in excessive use of your environment variables."
  return 3 2>/dev/null || exit 3
fi
echo
echo ":: initializing oneAPI environment ..."
echo "   ${0##*/}: BASH_VERSION = ${BASH_VERSION:-unknown}"
echo "   args: Using \"\$@\" for setvars.sh arguments: $*"
for _mra_c in ccl compiler debugger dev-utilities dpcpp-ct dpl mkl mpi pti tbb umf; do
  echo ":: $_mra_c -- latest"
done
echo ":: oneAPI environment initialized ::"
echo " "
export ONEAPI_ROOT="$_mra_root"
export SETVARS_COMPLETED=1
export CMPLR_ROOT="$_mra_root/compiler/2025.1"
export MKLROOT="$_mra_root/mkl/2025.1"
export CCL_ROOT="$_mra_root/ccl/2021.15"
export I_MPI_ROOT="$_mra_root/mpi/2021.15"
export CCL_CONFIGURATION=cpu_gpu_dpcpp
unset _mra_root _mra_force _mra_arg _mra_c
return 0 2>/dev/null || exit 0
