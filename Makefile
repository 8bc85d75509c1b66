# postern build. Sources are found by folder: src/proxy is the standalone codec library,
# every other src/<module>/ goes into the core library, src/cli is the program.
#   make            build everything (gcc by default)
#   make run        build and start postern on its embedded default configuration
#   make test       install missing packages, build, run every suite, fuzz smoke, ASan+UBSan suite
#   make check      run the suites against an existing build (BUILD=...)
#   make asan       the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (clang)
#   make fuzz-smoke each libFuzzer target for FUZZ_SECONDS
#   make bench      benchmarks, with baselines measured in the same run
# Variables: WERROR=1 adds -Werror (CI), SAN=1 builds with sanitizers, BUILD=dir.

BUILD ?= build
CC ?= cc
OPT ?= -O2
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 10
PYTHON ?= /usr/bin/python3

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
            -Wformat=2 -Wno-format-nonliteral
CPPFLAGS := -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS := -std=c17 $(OPT) -g $(WARNINGS) -fno-strict-aliasing -MMD -MP
LDFLAGS :=
LDLIBS := -lssl -lcrypto -lcrypt -lpthread

ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif

PROXY_SRC := $(wildcard src/proxy/*.c)
CORE_SRC := $(filter-out src/proxy/% src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tools/*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# Objects of test and tool programs are not intermediate: keep them between runs.
.SECONDARY:

PROXY_LIB := $(BUILD)/libpostern-proxy.a
CORE_LIB := $(BUILD)/libpostern-core.a
POSTERN := $(BUILD)/postern
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_BINS := $(patsubst tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps run test check unit asan fuzz fuzz-smoke bench soak clean fixtures
.DEFAULT_GOAL := all

all: $(POSTERN) $(PROXY_LIB) $(CORE_LIB) $(UNIT_BINS) $(TOOL_BINS)

deps:
	@sh scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(PROXY_LIB): $(call obj,$(PROXY_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(CORE_LIB): $(call obj,$(CORE_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(POSTERN): $(call obj,$(CLI_SRC)) $(CORE_LIB) $(PROXY_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(CORE_LIB) $(PROXY_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(LDLIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tools/%.o $(CORE_LIB) $(PROXY_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(CORE_LIB) $(PROXY_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

run: deps $(POSTERN)
	./$(POSTERN)

# The whole suite: gcc build, clang fuzz smoke, clang ASan+UBSan build of every suite.
test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) fuzz-smoke
	$(MAKE) asan

check: all
	$(PYTHON) tests/run_tests.py --build $(BUILD)

asan: deps
	$(MAKE) BUILD=build-asan CC=clang SAN=1 check

# Fuzz targets: libFuzzer with ASan+UBSan, every object built with clang's coverage hooks.
FUZZ_BUILD := build-fuzz
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))

fuzz: deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="-O1" \
	    CFLAGS_EXTRA="$(FUZZ_FLAGS)" $(FUZZ_BINS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libpostern-core.a $(FUZZ_BUILD)/libpostern-proxy.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LDLIBS)

fuzz-smoke: fuzz
	$(PYTHON) tests/fuzz/smoke.py --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS)

bench: deps
	$(MAKE) BUILD=build-bench OPT=-O2 $(patsubst bench/%.c,build-bench/bench/%,$(BENCH_SRC)) \
	    build-bench/postern build-bench/tools/postern-load
	$(PYTHON) bench/run.py --build build-bench

# 10 000 connections plus churn for a bounded time; fd and memory counts checked after.
soak: deps
	$(MAKE) BUILD=build-bench OPT=-O2 build-bench/postern build-bench/tools/postern-load
	$(PYTHON) bench/soak.py --build build-bench

# Regenerates tests/fixtures/proxy from real HAProxy and nginx processes.
fixtures: deps $(POSTERN)
	$(PYTHON) tests/fixtures/capture.py --out tests/fixtures/proxy

clean:
	rm -rf build build-asan build-fuzz build-bench

CFLAGS += $(CFLAGS_EXTRA)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- Installation ----------------------------------------------------------------------------
#   make man                              build/postern.8 from doc/postern.8.md (doc/mkman.py)
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#   make uninstall PREFIX=/usr/local DESTDIR=/tmp/stage
# The program goes to $(BINDIR) (bin: its subcommands serve users too; BINDIR=$(PREFIX)/sbin
# for sbin), the unit's ExecStart follows BINDIR. Installs nothing outside PREFIX: the data
# directory is created by the unit (or by the operator).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
DOCDIR ?= $(DATAROOTDIR)/doc/postern
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install
VERSION := $(shell sed -n 's/^\#define POSTERN_VERSION "\(.*\)"/\1/p' src/version.h)
MANPAGE := $(BUILD)/postern.8

# Paths inside PREFIX are written relative to ${prefix} in the .pc file.
pc_path = $(patsubst $(PREFIX)%,$${prefix}%,$(1))

.PHONY: man install uninstall

man: $(MANPAGE)

$(MANPAGE): doc/postern.8.md doc/mkman.py src/version.h
	@mkdir -p $(@D)
	$(PYTHON) doc/mkman.py doc/postern.8.md $@ --version-header src/version.h

install: $(POSTERN) $(PROXY_LIB) $(MANPAGE)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/postern $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0755 $(POSTERN) $(DESTDIR)$(BINDIR)/postern
	$(INSTALL) -m 0644 $(PROXY_LIB) $(DESTDIR)$(LIBDIR)/libpostern-proxy.a
	$(INSTALL) -m 0644 include/postern/proxy.h $(DESTDIR)$(INCLUDEDIR)/postern/proxy.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_path,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_path,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|' \
	    contrib/postern-proxy.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/postern-proxy.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/postern-proxy.pc
	sed -e 's|/usr/local/bin/postern|$(BINDIR)/postern|' contrib/postern.service \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/postern.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/postern.service
	$(INSTALL) -m 0644 contrib/postern.toml.example $(DESTDIR)$(DOCDIR)/postern.toml.example
	$(INSTALL) -m 0644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man8/postern.8

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/postern $(DESTDIR)$(LIBDIR)/libpostern-proxy.a \
	    $(DESTDIR)$(INCLUDEDIR)/postern/proxy.h $(DESTDIR)$(PKGCONFIGDIR)/postern-proxy.pc \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/postern.service \
	    $(DESTDIR)$(DOCDIR)/postern.toml.example $(DESTDIR)$(MANDIR)/man8/postern.8
	-rmdir $(DESTDIR)$(INCLUDEDIR)/postern $(DESTDIR)$(DOCDIR) 2>/dev/null
