# The two commands of the README: `make run` and `make test`.
# Each installs what is missing and starts what it needs, so a fresh Debian 12
# machine (as root) goes from clone to running with one of them. Every step is
# guarded by a stamp or a check, so a second run is quick.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
VAR := var
REDIS_PORT ?= 6390
HOST ?= 127.0.0.1
PORT ?= 8000

export REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
export MLN_VAR_DIR ?= $(CURDIR)/$(VAR)
# This checkout's own mln.conf (set-up writes the tiny template's kernel and
# initrd into it); a service host's administrator points MLN_CONF at /etc/mln.
export MLN_CONF ?= $(CURDIR)/$(VAR)/mln.conf
export DJANGO_SETTINGS_MODULE := mlnweb.settings

# Debian packages for guests (libvirt, qemu, a kernel and busybox for the tiny
# template, mmdebstrap for the debian one), Redis, Chromium for the browser
# tests, the headers libvirt-python compiles against, and iproute2 for the
# network namespaces of the live migration test (its `unshare` is util-linux,
# always there).
APT_PACKAGES := gcc python3-dev pkg-config libvirt-dev libvirt-daemon-system \
	libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base redis-server \
	chromium busybox-static linux-image-amd64 e2fsprogs cpio libxml2-utils iproute2 \
	curl procps mmdebstrap

.PHONY: help run test check lint setup apt venv services redis libvirtd stop-services clean tiny debian novnc

help:
	@echo "make run    install what is missing, start everything, serve http://$(HOST):$(PORT)/"
	@echo "make test   install what is missing, start what tests need, run the whole suite"
	@echo "make check  the quick tier: no guest, no browser, no daemon processes (Redis only), under a minute"
	@echo "make lint   ruff check and ruff format --check"

# --- installing ---------------------------------------------------------------

setup: apt venv $(MLN_VAR_DIR)/secret_key

# Django's SECRET_KEY (sessions; the daemons' job signatures when mln.conf has no cluster_secret),
# made once, readable by root only. mlnweb/settings.py reads it, so the site, the daemon and the
# `mln` command line share it; without it (and without SECRET_KEY) the site refuses to start.
$(MLN_VAR_DIR)/secret_key:
	@mkdir -p $(@D)
	@umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(50))' > $@.new && mv $@.new $@

apt: $(VAR)/.apt-stamp
$(VAR)/.apt-stamp: Makefile
	@mkdir -p $(VAR)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v npm >/dev/null || missing="$$missing npm"; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$(echo $$missing)" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt pyproject.toml | $(VAR)/.apt-stamp
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# noVNC from npm, pinned by package-lock.json, copied into static/vendor/ (git-ignored:
# third-party code is installed, never committed). Version 1.7.0 ships ES modules
# (core/, vendor/pako), which the console page imports as they are: no bundler.
NOVNC := static/vendor/novnc
novnc: $(NOVNC)/.stamp
$(NOVNC)/.stamp: package.json package-lock.json $(VAR)/.apt-stamp
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(NOVNC) && mkdir -p $(NOVNC)
	cp -r node_modules/@novnc/novnc/{core,vendor,LICENSE.txt,AUTHORS} $(NOVNC)/
	@touch $@

# --- services -----------------------------------------------------------------

services: redis

# Our own Redis on a private port, its data under var/, so nothing else on the
# machine is touched and a second checkout can run beside this one.
redis: apt
	@mkdir -p $(VAR)/redis
	@redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || \
		redis-server --daemonize yes --bind 127.0.0.1 --port $(REDIS_PORT) \
			--dir $(CURDIR)/$(VAR)/redis --pidfile $(CURDIR)/$(VAR)/redis/redis.pid \
			--logfile $(CURDIR)/$(VAR)/redis/redis.log --save "" --appendonly no
	@for i in $$(seq 50); do redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 && exit 0; sleep 0.1; done; \
		echo "redis did not start: see $(VAR)/redis/redis.log"; exit 1

# libvirt 9 here is the monolithic daemon; without systemd we start it by hand.
libvirtd: apt
	@virsh -c qemu:///system uri >/dev/null 2>&1 || { \
		pgrep -x virtlogd >/dev/null || virtlogd -d; \
		pgrep -x libvirtd >/dev/null || libvirtd -d; \
		for i in $$(seq 100); do virsh -c qemu:///system uri >/dev/null 2>&1 && exit 0; sleep 0.1; done; \
		echo "libvirtd did not answer on qemu:///system"; exit 1; }

stop-services:
	@-redis-cli -p $(REDIS_PORT) shutdown nosave >/dev/null 2>&1 || true

# --- the tiny template -----------------------------------------------------------

# A busybox guest configured from its cloud-init seed (templates_registry/tiny):
# built under var/templates when its inputs changed (about 3 s), registered as
# `tiny` (pv), and mln.conf ($$MLN_CONF) given the
# kernel and initrd that pv templates boot with, when it names none.
tiny: setup
	@templates_registry/tiny/build.sh $(VAR)/templates "$$MLN_CONF"
	@# The demo and the article's OS course pin VNC displays (vncdisplay 1..4 + 300): this checkout's
	@# administrator allows 300-399, once; a course may pin no display that mln.conf does not allow.
	@grep -qs '^vncdisplay_range' "$$MLN_CONF" || echo 'vncdisplay_range 300-399' >> "$$MLN_CONF"
	@$(PY) manage.py migrate --noinput -v 0
	@$(VENV)/bin/mln rt -t $(VAR)/templates/tiny.ext4 --name tiny --boot pv \
		--description "busybox, configured at boot from its cloud-init NoCloud seed"

# --- the debian template ---------------------------------------------------------

# Debian 12 with real cloud-init, from Debian's packages through apt's own mirror
# (templates_registry/debian): var/templates/debian.qcow2 (an ext4 filesystem, no
# partitions) and the kernel and initrd it boots with, debian.vmlinuz and
# debian.initrd.img. Built as root when its inputs changed (66-104 s on two idle
# cores, up to 4.5 min when they are busy; 112 MB of packages downloaded once and
# kept in var/templates/.debian-debs), a no-op otherwise.
debian: setup
	@templates_registry/debian/build.sh $(VAR)/templates

# --- the two commands -----------------------------------------------------------

# Redis, libvirtd (the test driver where it cannot start), migrations, the demo course, the
# daemon and the web server; Ctrl-C stops what it started (scripts/run.sh says what and why).
run: setup novnc tiny
	@# Ctrl-C is how a run ends: run.sh exits 130 then, which is not a failure of make.
	@HOST=$(HOST) PORT=$(PORT) REDIS_PORT=$(REDIS_PORT) VENV=$(VENV) scripts/run.sh || test $$? -eq 130

# The tests' own Redis database: a `make run` beside them keeps its daemon's
# heartbeat, queues and channel groups in database 0, where the tests would meet them.
test: setup services lint libvirtd tiny debian novnc
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/1 $(VENV)/bin/pytest

# The quick tier, while you work: everything that needs no real guest, no browser and no daemon,
# server or manage.py process (markers qemu, browser, slow; pyproject.toml), on two workers,
# hypothesis at 25 examples a property (tests/conftest.py). No libvirtd, tiny or debian: the
# daemon's tests use libvirt's test driver. `make test` stays the whole suite.
check: setup services lint
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/1 HYPOTHESIS_PROFILE=quick \
		$(VENV)/bin/pytest -m "not qemu and not browser and not slow" -n 2 -q

# ruff (lint and format) and the layers of the code (import-linter's contracts in pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

clean: stop-services
	rm -rf $(VAR) $(VENV)
