# Debian packages the end-to-end tests need: a real Prometheus and its promtool. Installed
# once; apt-get update runs only when something is missing.
SYSTEM_PACKAGES := prometheus
SYSTEM_STAMP    := $(VENV)/.system-deps

.PHONY: system-deps
system-deps: $(SYSTEM_STAMP)

$(SYSTEM_STAMP): mk/system.mk | $(PY)
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing=" prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi
	@touch $@
