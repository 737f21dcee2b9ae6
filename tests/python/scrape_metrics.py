"""Scrapes a collector's /metrics as Prometheus does and prints what the official Python client's
strict OpenMetrics parser reads, as JSON: {"content_type": ..., "families": {name: {"type",
"help", "samples": [[sample name, labels, value], ...]}}}. Exits non-zero if the exposition is
not valid OpenMetrics text (the parser raises) or is served with another content type.

    scrape_metrics.py URL
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode("utf-8")
    if not content_type.startswith("application/openmetrics-text"):
        sys.exit(f"/metrics served as {content_type!r}, not OpenMetrics text")
    families = {
        family.name: {
            "type": family.type,
            "help": family.documentation,
            "samples": [[s.name, s.labels, s.value] for s in family.samples],
        }
        for family in text_string_to_metric_families(text)
    }
    json.dump({"content_type": content_type, "families": families}, sys.stdout)


if __name__ == "__main__":
    main()
