"""Facts about the system (probes) and the support-archive builder."""
