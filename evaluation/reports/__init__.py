"""Report writers: benchmark_report.csv, report.json, report.md, report.html with plots."""
