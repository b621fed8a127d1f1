# Two commands do all set-up on a fresh Debian/Ubuntu machine with Python 3.10+:
#   make demo   create .venv, install everything, run the main job on the default twin task
#   make test   create .venv, install everything, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU wheel of this version is what these machines carry; an unpinned torch pulls CUDA builds.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= sim,ros,camera,export,dev,reward

# DDS must never leave loopback; every rclpy process we start inherits these.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 77
# One intra-op thread: two threads on two shared cores collapse small-network throughput.
export OMP_NUM_THREADS ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint format venv system-deps clean

venv: $(STAMP)

$(STAMP): setup.py setup.cfg package.xml robot_rl/ros_install.py tools/install_system_deps.sh
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is required (found " + sys.version.split()[0] + "); install python3.10 or newer and re-run make.")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): install the venv module (apt-get install python3-venv) and re-run make."; exit 1; }
	@bash tools/install_system_deps.sh
	$(PY) -m pip install --quiet $(TORCH_SPEC) 2>&1 | grep -v 'is ignored' ; exit $${PIPESTATUS[0]}
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]' 2>&1 | grep -v 'is ignored' ; exit $${PIPESTATUS[0]}
	@# an editable install skips data_files: write what `ros2 launch robot_rl ...` looks up in the venv
	@$(VENV)/bin/robot-rl ros-install > /dev/null
	@touch $(STAMP)

system-deps:
	@bash tools/install_system_deps.sh

demo: $(STAMP)
	$(VENV)/bin/robot-rl demo

# The suite in two parts: the tests that may share a core run on TEST_WORKERS processes
# (pytest-xdist), then the `solo` ones (wall-clock timing, whole ROS graphs) one at a time with
# the machine to themselves. Exit code 5 is pytest's "no test selected" (a -k matching one part).
TEST_WORKERS ?= 2
test: $(STAMP)
	@$(PY) -m pytest -q -n $(TEST_WORKERS) -m 'not solo' --durations=10 $(PYTEST_ARGS); \
	shared=$$?; \
	$(PY) -m pytest -q -m solo --durations=10 $(PYTEST_ARGS); \
	solo=$$?; \
	for code in $$shared $$solo; do [ $$code -eq 0 ] || [ $$code -eq 5 ] || exit $$code; done

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info
