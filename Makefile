# tfc - a compiler for transformer models.
#
#   make                 build ./tfc and build/libtfrt.a (installs missing
#                        Debian build packages first, as root or with sudo)
#   make test            unit, error, golden, hostile-input and API tests, and
#                        valgrind memcheck (installs test packages)
#   make test SAN=1      the same suite under AddressSanitizer + UBSan (no valgrind)
#   make LLVM=0          tfc without the LLVM JIT (--run then takes the system C
#                        compiler); builds into build/nollvm, tfc there too
#   make mpi-test        tensor parallelism (--tp) under mpirun (also in make test)
#   make MPI=0           without MPI even where Open MPI is installed (no --tp)
#   make fuzz            every libFuzzer harness in tests/fuzz (see below)
#   make demo            generate Shakespeare-like text with the shipped model
#   make install PREFIX=/usr/local DESTDIR=
#
# CC, CFLAGS, LDFLAGS and CPPFLAGS are respected.  Generated scanner and
# parser sources go to the build folder, never into the source tree.

CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
PYTHON  ?= /usr/bin/python3

WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes
BASE_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)

# LLVM=1 (the default): --run compiles in memory through LLVM 14's C API
# (compiler/jit_llvm.c), found with llvm-config.
LLVM ?= 1
LLVM_CONFIG ?= $(shell command -v llvm-config-14 || command -v llvm-config || echo llvm-config-14)
ifeq ($(LLVM),1)
JIT_SRC     = compiler/jit_llvm.c compiler/jit_host.c
LLVM_CFLAGS = -DTFC_LLVM -isystem $(shell $(LLVM_CONFIG) --includedir)
# LLVM is linked statically, into a tfc that is not position-independent:
# with Debian's shared libLLVM-14 every start of tfc spent about 50 ms of
# CPU relocating the library (368,000 relocations, each page of its data
# copied on write), a third of --run's start-to-first-token budget
# (docs/jit.md).  Only the components the JIT calls are linked; the system
# libraries llvm-config names are linked only if something uses them.
LLVM_LIBS   = $(shell $(LLVM_CONFIG) --ldflags --link-static --libs orcjit native passes) \
              -Wl,--as-needed $(shell $(LLVM_CONFIG) --link-static --system-libs) -Wl,--no-as-needed -lstdc++
TFC_LDFLAGS = -no-pie
NOLLVM      =
else
JIT_SRC     =
LLVM_CFLAGS =
LLVM_LIBS   =
TFC_LDFLAGS =
NOLLVM      = nollvm
endif

# MPI (Open MPI from Debian: openmpi-bin, libopenmpi-dev) for tensor
# parallelism, --tp N (runtime/comm_mpi.c); found with mpicc --showme, else
# pkg-config ompi.  Without it the runtime has one rank (runtime/comm_none.c)
# and tfc refuses --tp.  MPI=0 builds without it even where it is installed.
MPI ?= 1
# Recursive (=): asked when a recipe runs, after the dependency step, so a
# fresh machine's first `make test` builds with the MPI it just installed.
ifeq ($(MPI),1)
MPI_LIBS   = $(shell mpicc --showme:link 2>/dev/null || pkg-config --libs ompi 2>/dev/null)
MPI_CFLAGS = $(if $(strip $(MPI_LIBS)),-DTFRT_MPI $(shell mpicc --showme:compile 2>/dev/null || pkg-config --cflags ompi 2>/dev/null))
endif
COMM_SRC = runtime/comm_mpi.c runtime/comm_none.c
MPIRUN  ?= mpirun

ifeq ($(SAN),1)
B        = build/san$(if $(NOLLVM),-$(NOLLVM))
TFC      = $(B)/tfc
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B        = build$(if $(NOLLVM),/$(NOLLVM))
TFC      = $(if $(NOLLVM),$(B)/tfc,./tfc)
SANFLAGS =
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(BLAS_CFLAGS) $(SANFLAGS) -fPIC $(CPPFLAGS) $(CFLAGS)

RUNTIME_SRC = runtime/status.c runtime/cpu.c runtime/pool.c runtime/kernels.c runtime/activation.c \
              runtime/gemv.c runtime/packed.c runtime/q8.c runtime/q8_x86.c runtime/linear.c runtime/attention.c \
              runtime/json.c runtime/safetensors.c runtime/ckpt_open.c runtime/ckpt_llama2c.c runtime/bind.c \
              runtime/tokenizer.c runtime/tokenizer_pretok.c runtime/unicode_tables.c \
              runtime/tok_unicode.c runtime/tok_trie.c runtime/tok_normalize.c runtime/tok_bpe.c \
              runtime/tok_models.c runtime/tok_load_json.c runtime/tok_load_files.c \
              runtime/sample.c runtime/sample_split.c runtime/text_stream.c runtime/generate.c $(COMM_SRC)
RUNTIME_SRC += runtime/quantize.c runtime/q8_file.c
COMPILER_SRC = compiler/main.c compiler/diag.c compiler/ast.c compiler/parse.c \
               compiler/model_limits.c compiler/strmap.c compiler/cli_parse.c compiler/output_files.c \
               compiler/sema.c compiler/ir.c compiler/verify.c compiler/verify_plan.c compiler/lower.c \
               compiler/passes/dce.c compiler/passes/kv_cache.c compiler/passes/partition.c compiler/passes/fuse.c \
               compiler/passes/shard.c compiler/passes/plan.c compiler/pipeline.c compiler/kprog.c \
               compiler/emit_kprog.c compiler/plan_report.c compiler/passes/quantize.c compiler/quant_report.c \
               compiler/report_html.c compiler/report_diagram.c compiler/report_svg.c compiler/report_scaling.c \
               compiler/report_attention.c compiler/report_heatmap.c \
               compiler/emit_c.c compiler/run.c compiler/generate.c compiler/prompt_file.c compiler/tokenize.c \
               compiler/checkpoint.c compiler/classify.c compiler/save_weights.c $(JIT_SRC)
COMPILER_GEN = $(B)/gen/parser.c $(B)/gen/lexer.c $(B)/gen/runtime_header.c
UNIT_SRC = tests/unit/test_main.c tests/unit/test_kernels.c tests/unit/test_pool.c \
           tests/unit/test_linear.c tests/unit/test_q8.c tests/unit/test_vmath.c \
           tests/unit/test_safetensors.c tests/unit/test_frontend.c \
           tests/unit/test_verify.c tests/unit/test_text.c tests/unit/test_generate.c \
           tests/unit/test_hardening.c

RUNTIME_OBJ  = $(RUNTIME_SRC:%.c=$(B)/%.o)
COMPILER_OBJ = $(COMPILER_SRC:%.c=$(B)/%.o) $(COMPILER_GEN:%.c=%.o)
FRONTEND_OBJ = $(filter-out $(B)/compiler/main.o,$(COMPILER_OBJ))
UNIT_OBJ     = $(UNIT_SRC:%.c=$(B)/%.o)

.PHONY: all deps test-deps test unit-test error-test report-test golden-test int8-test mpi-test fuzz fuzz-build \
        demo bench kernel-bench install clean

all: deps $(TFC) $(B)/libtfrt.a

deps:
	@LLVM=$(LLVM) MPI=$(MPI) tools/deps.sh build

test-deps:
	@LLVM=$(LLVM) MPI=$(MPI) tools/deps.sh test

$(B)/libtfrt.a: $(RUNTIME_OBJ)
	rm -f $@ && ar rcs $@ $^

# tfc carries the runtime in itself (exported with -rdynamic) so that code it
# compiles for --run resolves tfrt_* against the running compiler.
$(TFC): $(COMPILER_OBJ) $(B)/libtfrt.a
	$(CC) $(SANFLAGS) $(LDFLAGS) $(TFC_LDFLAGS) -rdynamic -o $@ $(COMPILER_OBJ) \
	    -Wl,--whole-archive $(B)/libtfrt.a -Wl,--no-whole-archive \
	    $(BLAS_LIBS) $(LLVM_LIBS) $(MPI_LIBS) -ldl -lm

$(B)/runtime/comm_mpi.o $(B)/runtime/comm_none.o: ALL_CFLAGS += $(MPI_CFLAGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LLVM_CFLAGS) -Iruntime -Icompiler -I$(B)/gen -MMD -MP -c -o $@ $<

$(B)/gen/%.o: $(B)/gen/%.c
	$(CC) $(ALL_CFLAGS) -Wno-unused-function -Wno-missing-prototypes -Wno-shadow \
	    -Iruntime -Icompiler -I$(B)/gen -c -o $@ $<

# &: one run of bison (flex) writes both files, so make -j runs it once
$(B)/gen/parser.c $(B)/gen/parser.h &: compiler/parser.y
	@mkdir -p $(B)/gen
	bison -Wall -Werror -o $(B)/gen/parser.c --header=$(B)/gen/parser.h $<

$(B)/gen/lexer.c $(B)/gen/lexer.h &: compiler/lexer.l $(B)/gen/parser.h
	@mkdir -p $(B)/gen
	flex -o $(B)/gen/lexer.c --header-file=$(B)/gen/lexer.h $<

# The runtime header as a C string, written next to generated code by --run.
$(B)/gen/runtime_header.c: runtime/tfrt.h
	@mkdir -p $(B)/gen
	{ echo 'const char tfc_runtime_header[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(COMPILER_SRC:%.c=$(B)/%.o) $(B)/gen/parser.o: $(B)/gen/parser.h $(B)/gen/lexer.h

# ---- tests -------------------------------------------------------------

$(B)/unit_tests: $(UNIT_OBJ) $(FRONTEND_OBJ) $(B)/libtfrt.a
	$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(FRONTEND_OBJ) \
	    $(B)/libtfrt.a -lcunit $(BLAS_LIBS) $(LLVM_LIBS) $(MPI_LIBS) -ldl -lm

# With LLVM, the golden suites run tfc's default back end, the JIT, and
# each case of run.sh and families.sh again with --jit cc, whose logits
# must be the same bits (GOLDEN_JIT_BOTH, tests/golden/lib.sh).
JIT_BOTH   = $(if $(NOLLVM),,1)
GOLDEN_ENV = TFC=$(TFC) SAN=$(SAN) PYTHON=$(PYTHON) B=$(B) GOLDEN_JIT_BOTH=$(JIT_BOTH)
# The same compiler with the fusion pass switched off: the golden, KV-cache
# and example suites run through both.  The unfused runs also take the
# kernels a CPU without AVX-512 gets (TFRT_ISA=avx2: unpacked weights, the
# AVX2 GEMV), so both kernel paths meet the references.
UNFUSED_ENV = TFC=$(B)/tfc-unfused TFRT_ISA=avx2 SAN=$(SAN) PYTHON=$(PYTHON) B=$(B) GOLDEN_JIT_BOTH=$(JIT_BOTH)

# --quantize int8: the golden and KV-cache suites again through a tfc that
# quantizes every model, judged against PyTorch's fp32 logits with the
# int8 criterion of tests/golden/compare.py (GOLDEN_QUANT), on the kernels
# this CPU picks and on the plain C ones (TFRT_ISA=c).
INT8_ENV = TFC=$(B)/tfc-int8 GOLDEN_QUANT=int8 GOLDEN_SKIP_BIG=1 KV_SKIP_BIG=1 SAN=$(SAN) \
           PYTHON=$(PYTHON) B=$(B) GOLDEN_JIT_BOTH=$(JIT_BOTH)

$(B)/tfc-int8: $(TFC)
	printf '#!/bin/sh\nexec "%s" --quantize int8 "$$@"\n' "$(abspath $(TFC))" > $@
	chmod +x $@

$(B)/tfc-unfused: $(TFC)
	printf '#!/bin/sh\nexec "%s" -fno-fuse "$$@"\n' "$(abspath $(TFC))" > $@
	chmod +x $@

test: test-deps all $(B)/unit_tests $(B)/tfc-unfused $(B)/tfc-int8
	$(B)/unit_tests
	tests/errors/run.sh $(TFC)
	TFC=$(TFC) tests/plan/run.sh
	TFC=$(TFC) tests/report/run.sh
	tests/passes/run.sh $(TFC)
	TFC=$(TFC) tests/jit.sh
	$(GOLDEN_ENV) tests/golden/run.sh
	$(GOLDEN_ENV) tests/golden/kv_cache.sh
	$(GOLDEN_ENV) tests/golden/families.sh
	$(GOLDEN_ENV) tests/golden/checkpoints.sh
	$(GOLDEN_ENV) SANFLAGS="$(SANFLAGS)" tests/examples.sh
	@echo "-- the same suites with -fno-fuse --"
	$(UNFUSED_ENV) tests/golden/run.sh
	$(UNFUSED_ENV) tests/golden/kv_cache.sh
	$(UNFUSED_ENV) tests/golden/families.sh
	$(UNFUSED_ENV) SANFLAGS="$(SANFLAGS)" tests/examples.sh
	@echo "-- the same suites with --quantize int8 --"
	$(INT8_ENV) tests/golden/run.sh
	$(INT8_ENV) tests/golden/kv_cache.sh
	$(INT8_ENV) tests/golden/families.sh
	$(if $(SAN)$(filter 0,$(LLVM)),,$(INT8_ENV) TFRT_ISA=c tests/golden/families.sh)
	TFC=$(TFC) SAN=$(SAN) PYTHON=$(PYTHON) tests/golden/save_weights.sh
	TFC=$(TFC) PYTHON=$(PYTHON) tests/golden/int8_accuracy.sh
	SAN=$(SAN) tests/tokenizer/run.sh
	TFC=$(TFC) PYTHON=$(PYTHON) tests/hostile/run.sh
	$(GOLDEN_ENV) SANFLAGS="$(SANFLAGS)" tests/api/run.sh
	TFC=$(TFC) PYTHON=$(PYTHON) tests/generate/options.sh
	$(if $(strip $(MPI_LIBS)),TFC=$(TFC) PYTHON=$(PYTHON) B=$(B) MPIRUN=$(MPIRUN) SANFLAGS="$(SANFLAGS)" tests/mpi/run.sh)
	$(GOLDEN_ENV) SANFLAGS="$(SANFLAGS)" MAKE="$(MAKE)" tests/generate/embed.sh
	$(if $(filter 1,$(SAN)),,$(GOLDEN_ENV) tests/valgrind.sh)
	SAN=$(SAN) PYTHON=$(PYTHON) tests/tokenizer/families.sh
	@echo "make test: all suites passed"

unit-test: test-deps all $(B)/unit_tests
	$(B)/unit_tests

error-test: all
	tests/errors/run.sh $(TFC)

# the --report pages: against the plans, and in headless Chromium
report-test: test-deps all
	TFC=$(TFC) tests/report/run.sh

golden-test: test-deps all $(B)/tfc-unfused $(B)/tfc-int8
	$(GOLDEN_ENV) tests/golden/run.sh
	$(GOLDEN_ENV) tests/golden/kv_cache.sh
	$(GOLDEN_ENV) tests/golden/families.sh
	$(UNFUSED_ENV) tests/golden/run.sh
	$(UNFUSED_ENV) tests/golden/kv_cache.sh
	$(GOLDEN_ENV) tests/golden/checkpoints.sh
	$(UNFUSED_ENV) tests/golden/families.sh
	$(INT8_ENV) tests/golden/run.sh
	$(INT8_ENV) tests/golden/kv_cache.sh
	$(INT8_ENV) tests/golden/families.sh

# The int8 suites alone (TFRT_ISA=c or avx2 make int8-test: the other kernels).
int8-test: test-deps all $(B)/tfc-int8
	$(INT8_ENV) tests/golden/run.sh
	$(INT8_ENV) tests/golden/kv_cache.sh
	$(INT8_ENV) tests/golden/families.sh
	TFC=$(TFC) SAN=$(SAN) PYTHON=$(PYTHON) tests/golden/save_weights.sh
	TFC=$(TFC) PYTHON=$(PYTHON) tests/golden/int8_accuracy.sh

# Tensor parallelism over MPI (--tp), when this build has MPI.
mpi-test: test-deps all
	$(if $(strip $(MPI_LIBS)),TFC=$(TFC) PYTHON=$(PYTHON) B=$(B) MPIRUN=$(MPIRUN) SANFLAGS="$(SANFLAGS)" tests/mpi/run.sh,echo "mpi-test: this build has no MPI (libopenmpi-dev)")

# ---- fuzzing (libFuzzer, clang) ------------------------------------------
#
# Every tests/fuzz/fuzz_NAME.c is a harness: `make fuzz` builds and runs
# each one, so adding a harness is dropping a file there.  The convention:
#   - the file defines LLVMFuzzerTestOneInput (and may define
#     LLVMFuzzerInitialize); its first comment says what an input is;
#   - it is linked with build/fuzz/libtfc.a: the runtime and the compiler
#     without main.c (a harness of the command line includes main.c),
#     built with ASan, UBSan and the fuzzer's coverage; headers come from
#     runtime/, compiler/ and the generated parser's folder;
#   - its seeds are the files in tests/fuzz/corpus/NAME/ (small, committed);
#     what it finds goes to build/fuzz/corpus/NAME/ (not committed);
#   - tests/fuzz/NAME.options, when present, holds extra libFuzzer flags
#     on one line (-max_len=4096 -dict=tests/fuzz/NAME.dict ...).
# tests/fuzz/run.sh runs the harnesses, as many at once as there are CPUs
# (FUZZ_JOBS), and prints runs, coverage and corpus size for each; a crash
# fails the run with its input saved.
#   make fuzz                          every harness, FUZZ_SECONDS (30) each
#   make fuzz FUZZ="frontend cli"      only those
#   make fuzz FUZZ_RUNS=10000000       a number of runs instead of a time
#   make fuzz FUZZ_JOBS=1              one harness at a time
FUZZ_CC    = clang
FUZZ_FLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
             -fsanitize=address,undefined -fno-sanitize-recover=undefined $(BLAS_CFLAGS)
FUZZ_SRC   = $(RUNTIME_SRC) $(filter-out compiler/main.c $(JIT_SRC),$(COMPILER_SRC))   # one rank: no TFRT_MPI
FUZZ_OBJ   = $(FUZZ_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/parser.o \
             build/fuzz/obj/gen/lexer.o build/fuzz/obj/gen/runtime_header.o
FUZZERS    = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

build/fuzz/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Iruntime -Icompiler -Ibuild/gen -c -o $@ $<

build/fuzz/obj/%.o: %.c build/gen/parser.h build/gen/lexer.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Iruntime -Icompiler -Ibuild/gen -c -o $@ $<

build/fuzz/libtfc.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libtfc.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Iruntime -Icompiler -Ibuild/gen -o $@ $< \
	    build/fuzz/libtfc.a $(BLAS_LIBS) -ldl -lm

fuzz-build: test-deps $(FUZZERS:%=build/fuzz/fuzz_%)

fuzz: fuzz-build
	tests/fuzz/run.sh $(or $(FUZZ),$(FUZZERS))

# ---- the shipped demo ----------------------------------------------------

demo: all
	tools/demo.sh $(TFC)

# Speed beside llama.cpp, llama2.c, PyTorch and ONNX Runtime on the same
# random weights (docs/benchmarks.md: LLAMA_CPP_DIR, LLAMA2C_DIR, BENCH_*);
# the header's memory figures against measured use; with MPI, one rank of
# --tp 2 against one process (tools/bench/tp_bench.sh, docs/parallelism.md).
bench: test-deps all
	tools/bench/setup.sh build/bench/node
	$(PYTHON) tools/bench/bench.py --tfc $(TFC) --python $(PYTHON)
	tools/memcheck.sh $(TFC)
	$(if $(strip $(MPI_LIBS)),MPIRUN=$(MPIRUN) tools/bench/tp_bench.sh $(TFC) $(PYTHON) build/bench)

# Kernel throughput beside DRAM bandwidth and OpenBLAS in the same run
# (tools/kernel_bench.c); KERNEL_BENCH_ARGS="gemv -t 1,2 -r 9" picks parts.
$(B)/kernel_bench: tools/kernel_bench.c $(B)/libtfrt.a
	$(CC) $(ALL_CFLAGS) -Iruntime $(LDFLAGS) -o $@ $< $(B)/libtfrt.a $(BLAS_LIBS) -lm

kernel-bench: deps $(B)/kernel_bench
	$(B)/kernel_bench $(KERNEL_BENCH_ARGS)

# ---- install -------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(TFC) $(DESTDIR)$(PREFIX)/bin/tfc
	install -m 644 $(B)/libtfrt.a $(DESTDIR)$(PREFIX)/lib/libtfrt.a
	install -m 644 runtime/tfrt.h runtime/tfrt_text.h runtime/tfrt_generate.h runtime/q8.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@BLAS_LIBS@|$(BLAS_LIBS)|' \
	    runtime/tfrt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tfrt.pc

clean:
	rm -rf build tfc

-include $(shell find build -name '*.d' 2>/dev/null)
