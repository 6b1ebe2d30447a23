# Debian packages the end-to-end tests need: a real Prometheus and its promtool, a real
# Alertmanager (and amtool), and chromium for the wallboard page's browser test (driven by
# Playwright at /usr/bin/chromium; no browser download), and Java 17 and Maven for the Apache
# Kafka broker of the tests and the benchmark (mk/kafka.mk). Installed once; apt-get update runs
# only when something is missing.
SYSTEM_PACKAGES := prometheus prometheus-alertmanager chromium openjdk-17-jre-headless maven
SYSTEM_STAMP    := $(VENV)/.system-deps

.PHONY: system-deps
system-deps: $(SYSTEM_STAMP)

$(SYSTEM_STAMP): mk/system.mk | $(PY)
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing=" prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi
	@touch $@
